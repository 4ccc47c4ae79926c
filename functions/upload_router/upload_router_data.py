"""The upload router's data access: the registered targets an S3 object belongs to (TargetsTable TARGET items, sparse
GSI ``byBucket``) and the sync gate's executions (Step Functions). The GATE item is kbsync_gate's (the shared core)."""

from __future__ import annotations

import json
from typing import Any

import kbsync_keys
import kbsync_values
from botocore.exceptions import ClientError

#: The TargetsTable's sparse index of target items by bucket (template.yaml TargetsTable).
BY_BUCKET_INDEX = "byBucket"


def targets_for_object(targets_table: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Registered targets whose bucket and inclusion prefixes cover s3://bucket/key (GSI byBucket, paginated)."""
    matched = []
    kwargs: dict[str, Any] = {
        "IndexName": BY_BUCKET_INDEX,
        "KeyConditionExpression": "bucketName = :b",
        "ExpressionAttributeValues": {":b": bucket},
    }
    while True:
        page = targets_table.query(**kwargs)
        for item in page.get("Items", []):
            target = kbsync_values.plain(item)
            if kbsync_values.prefix_matches(key, list(target.get("inclusionPrefixes") or [])):
                matched.append(target)
        if "LastEvaluatedKey" not in page:
            return matched
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def start_gated_sync(sfn: Any, gate_sm_arn: str, name: str, gate_input: dict[str, Any]) -> None:
    """Start the sync gate execution `name` with `gate_input`."""
    sfn.start_execution(stateMachineArn=gate_sm_arn, name=name, input=json.dumps(gate_input))


def stamp_change(targets_table: Any, kb: str, ds: str, when: str) -> None:
    """Record an S3 change of a registered target on its TARGET item: lastChangeAt = `when`, and pendingSince =
    `when` unless a change already waits (the freshness check clears it once a successful sync covers it). One
    UpdateItem; a target removed meanwhile is not written back."""
    try:
        targets_table.update_item(
            Key=kbsync_keys.target_key(kb, ds),
            UpdateExpression="SET lastChangeAt = :when, pendingSince = if_not_exists(pendingSince, :when)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":when": when},
        )
    except ClientError as error:
        if not kbsync_values.is_condition_failure(error):
            raise
