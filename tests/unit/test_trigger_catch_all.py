"""functions/catch_all: one EXECUTION_DIED alert per death, none for executions that alerted themselves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kbsync_contracts
import kbsync_gate
import kbsync_keys
import pytest

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.helpers.sns import as_received
from tests.triggers.support import DS, KB, aws, create_jobs_table, create_targets_table
from tests.unit.test_metrics_emf import by_name

fn = load_function("catch_all")
pacer_logic = load_module("pacer", "pacer_logic")
LEASE = pacer_logic.DEFAULTS.gate_lease_seconds  # GateLeaseSeconds: the gate and the job slot share it
NOW = 1_800_000_000
SYNC_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-IngestionSync"
GATE_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate"
GATE_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-SyncGate"
REQUEST = {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "s3"}


def status_change(
    state_machine: str, name: str, status: str, doc: dict[str, Any], error: str | None = None
) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event as EventBridge delivers it."""
    arn = state_machine.replace(":stateMachine:", ":execution:") + ":" + name
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-22T05:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": state_machine,
            "name": name,
            "status": status,
            "startDate": 1_795_000_000_000,
            "stopDate": 1_795_000_060_000,
            "input": json.dumps(doc),
            "inputDetails": {"included": True},
            "output": None,
            "outputDetails": None,
            "error": error,
            "cause": "boom" if error else None,
        },
    }


class RecordingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(as_received(kwargs))  # the text e-mail and SQS receive
        return {"MessageId": f"m-{len(self.published)}"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with aws(monkeypatch):
        targets, jobs = create_targets_table(), create_jobs_table()
        monkeypatch.setenv("TARGETS_TABLE", "targets")
        monkeypatch.setenv("JOBS_TABLE", "jobs")
        monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts")
        monkeypatch.setenv("RUNBOOK_BASE_URL", "https://example.com/runbooks")
        monkeypatch.setenv("SYNC_GATE_STATE_MACHINE_ARN", GATE_SM)
        fn.reset_clients()
        sns = RecordingSns()
        fn._clients["sns"] = sns
        yield {"targets": targets, "jobs": jobs, "sns": sns}
        fn.reset_clients()


@pytest.mark.parametrize(
    ("status", "error"),
    [("FAILED", "KbSync.JobFailed"), ("FAILED", "KbSync.SyncFailed"), ("SUCCEEDED", None), ("RUNNING", None)],
)
def test_no_alert_for_executions_that_alerted_themselves_or_did_not_die(
    env: dict[str, Any], status: str, error: str | None
) -> None:
    result = fn.handle(status_change(SYNC_SM, "s3-x", status, REQUEST, error), NOW)
    assert result["alerted"] is False
    assert env["sns"].published == []


def test_a_died_execution_alerts_once_and_names_its_job(env: dict[str, Any]) -> None:
    event = status_change(SYNC_SM, "s3-x", "FAILED", REQUEST, "States.Runtime")
    env["jobs"].put_item(
        Item={
            "pk": f"DS#{KB}#{DS}",
            "sk": "JOB#2026-11-22T05:00:00Z#JOBAAAAAA1",
            "ingestionJobId": "JOBAAAAAA1",
            "executionArn": event["detail"]["executionArn"],
            "status": "IN_PROGRESS",
        }
    )
    assert fn.handle(event, NOW)["alerted"] is True
    assert fn.handle(event, NOW)["alerted"] is False  # EventBridge redelivered it
    [published] = env["sns"].published
    alert = {
        "subject": published["Subject"],
        "message": published["Message"],
        "messageAttributes": published["MessageAttributes"],
    }
    kbsync_contracts.validate("alert", alert)
    assert alert["subject"] == f"[CRITICAL] kbsync EXECUTION_DIED: kb {KB} / ds {DS}"
    assert alert["messageAttributes"]["alertType"]["StringValue"] == "EXECUTION_DIED"
    assert "https://example.com/runbooks/execution-died.md" in alert["message"]
    assert "kbsync rerun JOBAAAAAA1" in alert["message"]
    assert f"--state-machine-arn {GATE_SM} " in alert["message"]  # reruns go through the sync gate
    assert '"settleSeconds":0,"ifBusy":"skip"' in alert["message"]
    assert "States.Runtime" in alert["message"]


def test_an_aborted_gate_execution_releases_its_gate_and_job_slot(env: dict[str, Any]) -> None:
    targets = env["targets"]
    holder = "s3-held"
    kbsync_gate.enter(targets, KB, DS, holder, "arn", "s3", "queue", NOW, LEASE)
    pacer_logic.acquire_slot(targets, holder, KB, NOW)
    pacer_logic.acquire_slot(targets, "queued-dead", "KB00000077", NOW)  # refused (start spacing): it queues
    assert "queued-dead" in targets.get_item(Key=kbsync_keys.PACER_KEY)["Item"]["waiters"]
    assert fn.handle(status_change(GATE_SM, "queued-dead", "FAILED", {"request": REQUEST}), NOW)["released"]["pacer"]
    event = status_change(GATE_SM, holder, "ABORTED", {"request": REQUEST, "settleSeconds": 0, "ifBusy": "queue"})
    result = fn.handle(event, NOW)
    assert result["alerted"] is True
    assert result["released"] == {"gate": True, "pacer": True}
    assert kbsync_gate.enter(targets, KB, DS, "next", "arn", "s3", "queue", NOW, LEASE).outcome == "ACQUIRED"
    pacer = targets.get_item(Key=kbsync_keys.PACER_KEY)["Item"]
    assert pacer["slots"] == {} and pacer["waiters"] == {} and "startHolder" not in pacer
    assert "(stopped by StopExecution)" in env["sns"].published[-1]["Message"]


def test_a_dead_execution_does_not_release_a_gate_someone_else_holds(env: dict[str, Any]) -> None:
    kbsync_gate.enter(env["targets"], KB, DS, "alive", "arn", "s3", "queue", NOW, LEASE)
    result = fn.handle(status_change(SYNC_SM, "s3-child", "TIMED_OUT", REQUEST), NOW)
    assert result["released"] == {"gate": False, "pacer": False}
    assert env["targets"].get_item(Key=kbsync_keys.gate_key(KB, DS))["Item"]["holder"] == "alive"


def test_a_dead_fanout_alerts_without_a_data_source(env: dict[str, Any]) -> None:
    fanout = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-NightlyFanOut"
    event = status_change(fanout, "nightly-1", "FAILED", {"trigger": "schedule", "requestedBy": "n"}, "States.Timeout")
    assert fn.handle(event, NOW)["alerted"] is True
    published = env["sns"].published[0]
    assert published["Subject"] == "[CRITICAL] kbsync EXECUTION_DIED: kb n/a / ds n/a"
    assert "Rerun:" not in published["Message"]


def test_a_failed_publish_is_retried_not_lost(env: dict[str, Any]) -> None:
    class Down:
        def publish(self, **kwargs: Any) -> None:
            raise RuntimeError("SNS unavailable")

    event = status_change(SYNC_SM, "s3-y", "FAILED", REQUEST, "States.Runtime")
    fn._clients["sns"] = Down()
    with pytest.raises(RuntimeError):
        fn.handle(event, NOW)
    fn._clients["sns"] = env["sns"]
    assert fn.handle(event, NOW)["alerted"] is True
    assert len(env["sns"].published) == 1


def test_a_deliberate_stop_with_our_error_releases_the_gate_without_alerting(env: dict[str, Any]) -> None:
    targets = env["targets"]
    kbsync_gate.enter(targets, KB, DS, "s3-stopped", "arn", "s3", "queue", NOW, LEASE)
    event = status_change(GATE_SM, "s3-stopped", "ABORTED", {"request": REQUEST}, "KbSync.Stopped")
    result = fn.handle(event, NOW)
    assert result["alerted"] is False and result["released"]["gate"] is True
    assert env["sns"].published == []


@pytest.mark.parametrize("status", ["SUCCEEDED", "RUNNING"])
def test_an_execution_that_did_not_die_is_ignored_naming_its_status(env: dict[str, Any], status: str) -> None:
    result = fn.handle(status_change(SYNC_SM, "s3-x", status, REQUEST, None), NOW)
    assert result == {"alerted": False, "ignored": f"status {status!r} is not a death"}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # the invocations that count nothing
def test_each_death_counts_once_in_the_executions_died_metric(
    env: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """ExecutionsDied (README: the functions' metrics) counts the deaths alerted: 1 for a death, nothing for its
    redelivery or for an execution that did not die, so an alarm on it fires once per death."""
    event = status_change(SYNC_SM, "s3-x", "FAILED", REQUEST, "States.Runtime")
    capsys.readouterr()
    assert fn.lambda_handler(event, FakeLambdaContext())["alerted"] is True
    died = by_name(capsys.readouterr().out)["ExecutionsDied"]
    assert (died["unit"], died["values"]) == ("Count", [1.0])
    assert fn.lambda_handler(event, FakeLambdaContext())["alerted"] is False  # EventBridge redelivered it
    done = status_change(SYNC_SM, "s3-y", "SUCCEEDED", REQUEST)
    assert fn.lambda_handler(done, FakeLambdaContext())["alerted"] is False
    assert "ExecutionsDied" not in by_name(capsys.readouterr().out)
