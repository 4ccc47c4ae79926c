"""Faults in bookkeeping steps and retriers, on the real template deployed on the local cloud.

- A failed release of the start token (a Parallel branch beside the running sync) never aborts the sync: the child
  ingestion sync completes, its job is recorded, the gate and its slot are released.
- The gate starts without `settleSeconds` (optional in the gate-input contract, default 0).
- A Lambda error that cannot succeed on retry is not retried; a throttling error is (attempts counted).

Faults are real errors raised inside the invoked function (the in-process Lambda adapter turns them into the
`Unhandled` function error AWS returns, errorType = the exception's class name): botocore's own exception classes,
as the function's boto3 calls would raise them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.bench.triggers import TriggerRig, job_durations

from kbsync import targets as registry
from tests.triggers.support import function_errors

pytestmark = pytest.mark.e2e

TIME_SCALE = 0.01
QUIET_S = 90


@pytest.fixture(scope="module")
def rig() -> Iterator[TriggerRig]:
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=TIME_SCALE):
        yield TriggerRig.deploy({"SettleSeconds": "30"})


@pytest.fixture(autouse=True)
def fresh(rig: TriggerRig) -> Iterator[None]:
    from kbsync_localcloud.bedrock import faults

    rig.wait_until_quiet(QUIET_S)
    faults().reset()
    rig.drain_alerts()
    rig.alerts.clear()
    yield
    faults().reset()


def action(name: str) -> Callable[[Any], bool]:
    return lambda event: isinstance(event, dict) and event.get("action") == name


def is_send_alert(event: Any) -> bool:
    """SendAlert's message (schemas/send-alert-input.schema.json), not another function's event."""
    return isinstance(event, dict) and {"outcome", "record", "executionArn"} <= set(event)


def access_denied_on_the_pacer() -> Exception:
    """What DynamoDB answers a role without dynamodb:PutItem (unmodeled: boto3 raises a plain ClientError)."""
    return ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: dynamodb:PutItem"}},
        "PutItem",
    )


def sns_error(name: str) -> Callable[[], Exception]:
    """botocore's modeled SNS exception (errorType = its class name, as the Lambda runtime reports it)."""
    sns = boto3.client("sns", region_name="us-east-1")
    cls = getattr(sns.exceptions, name)
    return lambda: cls({"Error": {"Code": name.removesuffix("Exception"), "Message": name}}, "Publish")


def start_gate(rig: TriggerRig, target: registry.Target, label: str, **extra: Any) -> str:
    request = {
        "knowledgeBaseId": target.knowledge_base_id,
        "dataSourceId": target.data_source_id,
        "trigger": "manual",
        "requestedBy": "tests",
        "reason": label,
    }
    started = rig.clients["stepfunctions"].start_execution(
        stateMachineArn=rig.outputs["SyncGateStateMachineArn"],
        name=f"manual-{label}-{time.time_ns()}",
        input=json.dumps({"request": request, **extra}),
    )
    return str(started["executionArn"])


def described(rig: TriggerRig, arn: str) -> dict[str, Any]:
    result: dict[str, Any] = rig.clients["stepfunctions"].describe_execution(executionArn=arn)
    return result


def job_records(rig: TriggerRig, target: registry.Target) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = rig.clients["dynamodb"].query(
        TableName=rig.outputs["JobsTableName"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"DS#{target.knowledge_base_id}#{target.data_source_id}"}},
    )["Items"]
    return items


def pacer(rig: TriggerRig) -> dict[str, Any]:
    item: dict[str, Any] = (
        rig.targets_table.get_item(Key={"pk": "PACER", "sk": "ACCOUNT"}, ConsistentRead=True).get("Item") or {}
    )
    return item


# ------------------------------------------------------------------ a release failure never aborts a sync


def test_a_failed_start_token_release_never_aborts_the_running_sync(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="relfail")
    with (
        job_durations({target.data_source_id: 60}),  # still running when the token is released (10 s spacing)
        function_errors(action("releaseStart"), access_denied_on_the_pacer, times=100) as attempts,
    ):
        gate = start_gate(rig, target, "relfail", settleSeconds=0, ifBusy="skip")
        rig.wait_until_quiet(QUIET_S)
    result = described(rig, gate)
    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    output = json.loads(result["output"])
    assert output["sync"]["child"]["status"] == "SUCCEEDED"
    assert output["sync"]["startToken"] == {"released": False, "error": "ClientError"}
    assert len(attempts) == 1  # access denied cannot succeed on retry: caught, not retried
    assert [j["status"] for j in rig.jobs(target)] == ["COMPLETE"]
    assert [r["status"]["S"] for r in job_records(rig, target)] == ["COMPLETE"]
    holder = gate.rsplit(":", 1)[-1]
    state = pacer(rig)
    assert state.get("startHolder") != holder  # ReleaseSlot gave the token back with the slot
    assert holder not in state.get("slots", {})
    assert rig.targets_table.get_item(Key={"pk": target.pk, "sk": "GATE"}).get("Item") is None
    assert rig.drain_alerts() == []


# ------------------------------------------------------------------ settleSeconds is optional


def test_the_gate_runs_without_settle_seconds(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="nosettle")
    gate = start_gate(rig, target, "nosettle")  # neither settleSeconds nor ifBusy: both optional
    rig.wait_until_quiet(QUIET_S)
    result = described(rig, gate)
    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    assert json.loads(result["output"])["settleSeconds"] == 0
    assert [j["status"] for j in rig.jobs(target)] == ["COMPLETE"]


def test_a_given_settle_seconds_is_kept(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="settle")
    gate = start_gate(rig, target, "settle", settleSeconds=5, ifBusy="skip")
    rig.wait_until_quiet(QUIET_S)
    result = described(rig, gate)
    assert result["status"] == "SUCCEEDED", (result.get("error"), result.get("cause"))
    assert json.loads(result["output"])["settleSeconds"] == 5


# ------------------------------------------------------------------ what is retried (attempts counted)


def start_refused_sync(rig: TriggerRig, label: str) -> tuple[str, registry.Target]:
    """An ingestion sync whose StartIngestionJob is refused (unknown data source): START_FAILED, then SendAlert."""
    [target] = rig.seed_targets(1, prefix_root=label)
    request = {"knowledgeBaseId": target.knowledge_base_id, "dataSourceId": "ZZZZZZZZZZ", "trigger": "manual"}
    started = rig.clients["stepfunctions"].start_execution(
        stateMachineArn=rig.outputs["IngestionSyncStateMachineArn"],
        name=f"manual-{label}-{time.time_ns()}",
        input=json.dumps(request),
    )
    return str(started["executionArn"]), target


def test_an_alert_publish_that_cannot_succeed_is_not_retried(rig: TriggerRig) -> None:
    with function_errors(is_send_alert, sns_error("AuthorizationErrorException"), times=100) as attempts:
        arn, _ = start_refused_sync(rig, "noretry")
        rig.wait_until_quiet(QUIET_S)
    result = described(rig, arn)
    assert (result["status"], result.get("error")) == ("FAILED", "AuthorizationErrorException")
    assert len(attempts) == 1
    rig.drain_alerts()  # the catch-all's EXECUTION_DIED alert for this execution


def test_a_throttled_alert_publish_is_retried(rig: TriggerRig) -> None:
    with function_errors(is_send_alert, sns_error("ThrottledException"), times=1) as attempts:
        arn, _ = start_refused_sync(rig, "retry")
        rig.wait_until_quiet(QUIET_S)
    result = described(rig, arn)
    assert (result["status"], result.get("error")) == ("FAILED", "KbSync.StartFailed")
    assert len(attempts) == 2
    alerts = rig.drain_alerts()
    assert [a["attributes"]["alertType"] for a in alerts] == ["START_FAILED"]
