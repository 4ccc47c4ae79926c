"""botocore Stubbers for unit tests: real clients (the service's own shapes validate every stubbed response), no
network, and every response a test queued consumed by its end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.stub import Stubber


@contextmanager
def stubbed(*services: str) -> Iterator[dict[str, Stubber]]:
    """A Stubber per service (its client is ``stubber.client``), active for the block; at the end, a test that left a
    queued response unused fails."""
    stubbers = {
        name: Stubber(
            boto3.client(name, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")  # type: ignore[call-overload]
        )
        for name in services
    }
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


@contextmanager
def two_page_registry_scan(kb: str, first_ds: str, second_ds: str) -> Iterator[Any]:
    """A TargetsTable resource whose registry Scan answers in two pages (`first_ds`'s target, LastEvaluatedKey, then
    `second_ds`'s), as DynamoDB does past 1 MB; yields the table, then fails if a page was not asked for."""
    table = boto3.resource(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).Table("targets")

    def item(ds: str) -> dict[str, Any]:
        return {"pk": {"S": f"DS#{kb}#{ds}"}, "sk": {"S": "TARGET"}, "knowledgeBaseId": {"S": kb},
                "dataSourceId": {"S": ds}, "bucketName": {"S": "docs"}, "inclusionPrefixes": {"L": []},
                "nightly": {"BOOL": True}}  # fmt: skip

    last = {"pk": {"S": f"DS#{kb}#{first_ds}"}, "sk": {"S": "TARGET"}}
    # The Table resource's parameters, before it serializes them (what Stubber compares): plain values.
    scan = {"TableName": "targets", "FilterExpression": "sk = :t", "ExpressionAttributeValues": {":t": "TARGET"}}
    with Stubber(table.meta.client) as stub:
        stub.add_response("scan", {"Items": [item(first_ds)], "LastEvaluatedKey": last}, scan)
        start = {"pk": f"DS#{kb}#{first_ds}", "sk": "TARGET"}
        stub.add_response("scan", {"Items": [item(second_ds)]}, {**scan, "ExclusiveStartKey": start})
        yield table
        stub.assert_no_pending_responses()
