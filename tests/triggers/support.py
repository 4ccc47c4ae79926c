"""Shared helpers of the trigger tests: the TargetsTable layout in moto's in-memory DynamoDB, fakes for clients."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

REGION = "us-east-1"
KB = "KBAAAAAAA1"
KB2 = "KBAAAAAAA2"
DS = "DSAAAAAAA1"
DS2 = "DSAAAAAAA2"
GATE_SM_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-SyncGate"


def create_targets_table(name: str = "targets") -> Any:
    """The TargetsTable of template.yaml (keys pk/sk, sparse GSI byBucket on bucketName/pk)."""
    ddb = boto3.resource("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "bucketName", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byBucket",
                "KeySchema": [
                    {"AttributeName": "bucketName", "KeyType": "HASH"},
                    {"AttributeName": "pk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return ddb.Table(name)


def create_jobs_table(name: str = "jobs") -> Any:
    """The JobsTable key layout (pk = DS#<kb>#<ds>, sk = JOB#<startedAt>#<job>)."""
    ddb = boto3.resource("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    return ddb.Table(name)


@contextmanager
def aws(monkeypatch: Any) -> Iterator[None]:
    """moto's in-memory AWS (no network, no threads) with fake credentials."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def register(
    table: Any, kb: str, ds: str, bucket: str, prefixes: list[str] | None = None, nightly: bool = True
) -> None:
    """A TARGET item as kbsync/targets.py writes it."""
    table.put_item(
        Item={
            "pk": f"DS#{kb}#{ds}",
            "sk": "TARGET",
            "knowledgeBaseId": kb,
            "dataSourceId": ds,
            "dataSourceName": f"{kb}-{ds}",
            "bucketName": bucket,
            "inclusionPrefixes": prefixes or [],
            "nightly": nightly,
            "registeredAt": "2026-11-22T00:00:00Z",
        }
    )


def s3_event(bucket: str, key: str, detail_type: str = "Object Created") -> dict[str, Any]:
    """An S3 event as EventBridge delivers it (eventbridge/samples/s3-object-created.json)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": detail_type,
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-22T05:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": 5,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject" if detail_type == "Object Created" else "DeleteObject",
        },
    }


class RecordingStepFunctions:
    """Records StartExecution calls; answers like the real API (executionArn, startDate)."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.started: list[dict[str, Any]] = []
        self.fail_with = fail_with

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.started.append({"stateMachineArn": stateMachineArn, "name": name, "input": input})
        arn = stateMachineArn.replace(":stateMachine:", ":execution:") + ":" + name
        return {"executionArn": arn, "startDate": datetime(2026, 11, 22, 5, 0, tzinfo=UTC)}  # boto3 parses timestamps


@contextmanager
def function_errors(matches: Callable[[Any], bool], error: Callable[[], Exception], times: int) -> Iterator[list[Any]]:
    """The next `times` invocations whose event `matches` raise `error()` inside the function; yields the list of
    every matching invocation (attempts), failed or not."""
    from kbsync_localcloud.adapters import inprocess_lambda

    original = inprocess_lambda.load_handler
    seen: list[Any] = []
    lock = threading.Lock()

    def load_handler(*args: Any, **kwargs: Any) -> Callable[..., Any]:
        handler = original(*args, **kwargs)

        def faulty(event: Any, context: Any) -> Any:
            if matches(event):
                with lock:
                    seen.append(event)
                    fail = len(seen) <= times
                if fail:
                    raise error()
            return handler(event, context)

        return faulty

    inprocess_lambda.load_handler = load_handler  # type: ignore[assignment]
    try:
        yield seen
    finally:
        inprocess_lambda.load_handler = original  # type: ignore[assignment]


#: The holder of the gates register_held_targets writes, and its lease (2100-01-01: never runs out during a test).
HOLDER = "held-by-an-upload-sync"
FAR_FUTURE = 4_102_444_800


def register_held_targets(table: Any, pairs: list[tuple[str, str]]) -> None:
    """Nightly targets kb/ds (bucket kbsync-docs, every prefix), each with its gate held by HOLDER: a night that plans
    them all and can start none (the fan-out's tests, without Bedrock jobs)."""
    with table.batch_writer() as batch:
        for kb, ds in pairs:
            pk = f"DS#{kb}#{ds}"
            target = {"pk": pk, "sk": "TARGET", "knowledgeBaseId": kb, "dataSourceId": ds,
                      "bucketName": "kbsync-docs", "inclusionPrefixes": [], "nightly": True}  # fmt: skip
            batch.put_item(Item=target)
            batch.put_item(Item={"pk": pk, "sk": "GATE", "holder": HOLDER, "changeSeq": 1, "leaseUntil": FAR_FUTURE})


def run_night(rig: Any, what: str, timeout_s: float, poll_s: float) -> dict[str, Any]:
    """Fire the nightly fan-out, wait for it to end (`what` named at the deadline) and for every execution to end:
    its description, and the fan-out and sync-gate executions it started."""
    sfn = rig.clients["stepfunctions"]
    fanout = rig.fire_nightly()
    described = rig.wait_for(
        what,
        lambda: (d := sfn.describe_execution(executionArn=fanout))["status"] != "RUNNING" and d,
        timeout_s=timeout_s,
        poll_s=poll_s,
    )
    rig.wait_until_quiet(120)
    since = described["startDate"]
    return {
        "described": described,
        "since": since,
        "fanout": [e for e in rig.executions("NightlyFanOutStateMachineArn") if e["startDate"] >= since],
        "gates": [e for e in rig.executions("SyncGateStateMachineArn") if e["startDate"] >= since],
    }
