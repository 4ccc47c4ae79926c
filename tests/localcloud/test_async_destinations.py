"""An asynchronous invocation of the upload router or the catch-all that still fails after Lambda's retries
lands in the dead-letter queue as Lambda's invocation record (the template's EventInvokeConfig OnFailure), against
`kbsync local up`, provoked by real causes: the alerts topic or the targets table deleted by someone.

The record's shape is AWS's ("Capturing records of Lambda asynchronous invocations", Lambda developer guide):
version, timestamp, requestContext {requestId, functionArn, condition, approximateInvokeCount}, requestPayload,
responseContext {statusCode, executedVersion, functionError}, responsePayload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localcloud.local_up import AWS, LocalUp, aws_json, clean_env, poll, serve, shell

pytestmark = pytest.mark.e2e

RECORD_KEYS = {"version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"}


@pytest.fixture
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    """A local cloud of its own for each test: each one deletes a resource (the topic, the targets table), and the
    other test must not see it gone (the catch-all would fail on the table first, in either order)."""
    yield from serve(tmp_path_factory.mktemp("local-up-async"))


def dead_letters(up: LocalUp, function_name: str) -> list[dict[str, Any]]:
    """The invocation records of `function_name` in the dead-letter queue (read, left visible again at once)."""
    url = up.outputs()["DeadLetterQueueUrl"]
    found = aws_json(
        up, "sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "10", "--visibility-timeout", "0"
    )
    records = [json.loads(message["Body"]) for message in (found or {}).get("Messages", [])]
    return [r for r in records if isinstance(r, dict) and _function_of(r) == function_name]


def _function_of(record: dict[str, Any]) -> str:
    parts = str((record.get("requestContext") or {}).get("functionArn", "")).split(":")
    return parts[6] if len(parts) > 6 else ""


def assert_lambda_failure_record(record: dict[str, Any], function_name: str, payload: Any, error_type: str) -> None:
    assert set(record) == RECORD_KEYS, record
    assert record["version"] == "1.0"
    context = record["requestContext"]
    assert context["functionArn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}:$LATEST"
    assert (context["condition"], context["approximateInvokeCount"]) == ("RetriesExhausted", 3)
    assert len(context["requestId"]) == 36
    assert record["requestPayload"] == payload
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == error_type
    assert {"errorMessage", "errorType", "stackTrace"} <= set(record["responsePayload"])


def test_an_async_catch_all_failure_lands_in_the_dlq_after_two_retries(up: LocalUp, tmp_path: Path) -> None:
    outputs = up.outputs()
    function, topic = outputs["CatchAllFunctionName"], outputs["AlertsTopicArn"]
    aws_json(up, "sns", "delete-topic", "--topic-arn", topic)  # the catch-all's alert cannot be published
    machine = outputs["IngestionSyncStateMachineArn"]
    event = {
        "version": "0",
        "id": "6d2c5e8e-1f0a-4f3c-9a51-2a7d3f3b0001",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-22T05:04:03Z",
        "region": "us-east-1",
        "resources": [machine.replace(":stateMachine:", ":execution:") + ":lc-died"],
        "detail": {
            "executionArn": machine.replace(":stateMachine:", ":execution:") + ":lc-died",
            "stateMachineArn": machine,
            "name": "lc-died",
            "status": "TIMED_OUT",
            "startDate": 1795237443000,
            "stopDate": 1795237503000,
            "input": json.dumps({"knowledgeBaseId": "AB12CD34EF", "dataSourceId": "GH56IJ78KL", "trigger": "manual"}),
        },
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    home = tmp_path / "home"
    home.mkdir()
    env = {**clean_env(home), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    done = shell(
        f"{AWS} --endpoint-url {up.endpoint} --region us-east-1 lambda invoke --function-name {function} "
        f"--invocation-type Event --payload fileb://{tmp_path / 'event.json'} {tmp_path / 'out.json'}",
        env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["StatusCode"] == 202
    records = poll(lambda: dead_letters(up, function), "the catch-all's invocation record in the DLQ", 60)
    assert len(records) == 1, records
    assert_lambda_failure_record(records[0], function, event, "NotFoundException")


def test_an_upload_routed_while_the_targets_table_is_gone_lands_in_the_dlq(up: LocalUp) -> None:
    """The real path: S3 Object Created -> EventBridge rule -> upload router (async) failing on every attempt."""
    outputs = up.outputs()
    function = outputs["UploadRouterFunctionName"]
    bucket = up.seeded("documents").removeprefix("s3://").split("/", 1)[0]
    aws_json(
        up, "s3api", "put-bucket-notification-configuration", "--bucket", bucket,
        "--notification-configuration", '{"EventBridgeConfiguration": {}}',
    )  # fmt: skip
    table = outputs["TargetsTableName"]
    aws_json(up, "dynamodb", "update-table", "--table-name", table, "--no-deletion-protection-enabled")
    aws_json(up, "dynamodb", "delete-table", "--table-name", table)
    aws_json(up, "s3api", "put-object", "--bucket", bucket, "--key", "docs/upload.md", "--body", __file__)
    records = poll(lambda: dead_letters(up, function), "the upload router's invocation record in the DLQ", 60)
    assert len(records) == 1, records
    payload = records[0]["requestPayload"]
    assert (payload["source"], payload["detail-type"]) == ("aws.s3", "Object Created")
    assert payload["detail"]["object"]["key"] == "docs/upload.md"
    assert_lambda_failure_record(records[0], function, payload, "ResourceNotFoundException")
