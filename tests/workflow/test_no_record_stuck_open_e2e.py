"""No record stuck open, end to end: the real template.yaml deployed on the local cloud. An execution that is
stopped mid-poll, times out or dies on a Lambda crash leaves no job record open: the catch-all closes it on the
execution's status-change event, and the scheduled reconciler closes what an undelivered event left open, alerting
once. Without them every one of these records stayed STARTING / IN_PROGRESS forever."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.stacks import Stack, deployed

pytestmark = pytest.mark.e2e

TIME_SCALE = 0.002
PARAMETERS = {
    "PollIntervalSeconds": "5",
    "MaxPollIntervalSeconds": "30",
    "PollBudget": "160",
    "ReconcileGraceSeconds": "0",
}
DOCS = {"docs/guide.md": b"# Guide\n\nHow to sync.\n"}
DEADLINE_S = 120.0
OPEN = ("STARTING", "IN_PROGRESS", "STOPPING")
LEAKS = ("Traceback", "stackTrace", "/var/task", "/var/runtime", 'File "', "requestId")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with deployed(PARAMETERS, time_scale=TIME_SCALE, inbox="kbsync-open-alerts", deadline_s=DEADLINE_S) as running:
        yield running


def wait(what: str, predicate: Any) -> Any:
    from kbsync_localcloud.workflow import wait_until

    return wait_until(predicate, DEADLINE_S, what, interval=0.05)


def stop_jobs(stack: Stack, source: Any) -> None:
    for job in stack.rig.jobs(source):
        if job["status"] in ("STARTING", "IN_PROGRESS"):
            stack.rig.clients["bedrock-agent"].stop_ingestion_job(
                knowledgeBaseId=source.knowledge_base_id,
                dataSourceId=source.data_source_id,
                ingestionJobId=job["ingestionJobId"],
            )


def polling(stack: Stack, arn: str) -> bool:
    """The execution has polled its job at least once (it is in the poll loop)."""
    return sum(1 for e in stack.rig.history(arn) if e["type"] == "TaskStateEntered"
               and e["stateEnteredEventDetails"]["name"] == "GetJobStatus") >= 1  # fmt: skip


def closed_record(stack: Stack, source: Any, arn: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        mine = [r for r in stack.rig.records(source) if r["executionArn"] == arn and r.get("ingestionJobId")]
        return mine[0] if mine and mine[0]["status"] not in OPEN else None

    found: dict[str, Any] = wait(f"the record of {arn} to be closed", find)
    return found


def assert_clean(record: dict[str, Any]) -> None:
    import kbsync_contracts

    kbsync_contracts.validate("job-record", record)
    for leak in LEAKS:
        assert leak not in record.get("cause", "") and leak not in record.get("errorCode", ""), record


def test_stop_execution_mid_poll_closes_the_record_as_aborted(stack: Stack) -> None:
    stack.faults.hang_next_jobs(1)
    source = stack.rig.new_source(DOCS)
    arn = stack.rig.start(stack.rig.request(source))
    try:
        wait("the execution to poll its job", lambda: polling(stack, arn))
        stack.rig.clients["stepfunctions"].stop_execution(executionArn=arn, error="Operator", cause="killed mid-poll")
        assert stack.rig.wait(arn)["status"] == "ABORTED"
        record = closed_record(stack, source, arn)
        assert (record["status"], record["executionStatus"], record["closedBy"]) == (
            "EXECUTION_ABORTED",
            "ABORTED",
            "catch-all",
        )
        # StopExecution's error/cause reach the record when the event carries them (the local cloud's ABORTED event
        # has none: then the record says StopExecution).
        assert record["errorCode"] in ("Operator", "StopExecution") and "StopExecution" in record["cause"]
        assert_clean(record)
        alerts = wait("the alert", lambda: stack.rig.inbox.alerts_for(source.knowledge_base_id))
        assert [a["attributes"]["alertType"] for a in alerts] == ["EXECUTION_DIED"]  # one alert, the catch-all's
    finally:
        stop_jobs(stack, source)


def test_an_execution_timeout_closes_the_record_as_timed_out(stack: Stack) -> None:
    """A short TimeoutSeconds through the real API (UpdateStateMachine), the rest of the definition as deployed."""
    sfn = stack.rig.clients["stepfunctions"]
    machine = stack.rig.state_machine_arn
    original = sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    short = {**json.loads(original), "TimeoutSeconds": 600}  # 10 virtual minutes: a hung job outlives it
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(short))
    stack.faults.hang_next_jobs(1)
    source = stack.rig.new_source(DOCS)
    try:
        arn = stack.rig.start(stack.rig.request(source))
        assert stack.rig.wait(arn)["status"] == "TIMED_OUT"
    finally:
        sfn.update_state_machine(stateMachineArn=machine, definition=original)
    try:
        record = closed_record(stack, source, arn)
        assert (record["status"], record["executionStatus"]) == ("EXECUTION_TIMED_OUT", "TIMED_OUT")
        assert record["errorCode"] == "States.Timeout" and "TimeoutSeconds" in record["cause"]
        assert_clean(record)
    finally:
        stop_jobs(stack, source)


def test_a_lambda_crash_leaves_no_record_open_and_a_clean_cause(stack: Stack) -> None:
    """GetJobStatus (a Lambda task) crashes on AccessDenied: the record ends closed, naming the execution and the AWS
    error code with its message, never the function's stack trace."""
    stack.faults.fail_next_calls("GetIngestionJob", count=1, error="AccessDeniedException")
    source = stack.rig.new_source(DOCS)
    arn = stack.rig.start(stack.rig.request(source))
    try:
        stack.rig.wait(arn)
        record = closed_record(stack, source, arn)
        assert record["executionArn"] == arn
        assert "AccessDenied" in record.get("errorCode", ""), record
        assert_clean(record)
    finally:
        stop_jobs(stack, source)


def test_the_reconciler_closes_what_the_catch_all_missed_and_alerts_once(stack: Stack) -> None:
    """The status-change event is never delivered (the catch-all rule disabled, as a lost best-effort event would
    leave it): the scheduled reconciler finds the open record, closes it and alerts RECORD_RECONCILED, once."""
    from kbsync_localcloud.scheduler import fire_schedule

    events = stack.rig.clients["events"]
    rule = next(r["Name"] for r in events.list_rules()["Rules"] if "CatchAllRule" in r["Name"])
    stack.faults.hang_next_jobs(1)
    source = stack.rig.new_source(DOCS)
    arn = stack.rig.start(stack.rig.request(source))
    events.disable_rule(Name=rule)
    try:
        wait("the execution to poll its job", lambda: polling(stack, arn))
        stack.rig.clients["stepfunctions"].stop_execution(executionArn=arn)
        assert stack.rig.wait(arn)["status"] == "ABORTED"
        (open_record,) = [r for r in stack.rig.records(source) if r["executionArn"] == arn]
        assert open_record["status"] in OPEN  # nobody closed it
    finally:
        events.enable_rule(Name=rule)
    try:
        fire_schedule(stack.rig.outputs["ReconcileScheduleName"])
        record = closed_record(stack, source, arn)
        assert (record["status"], record["closedBy"], record["jobStatus"]) == (
            "EXECUTION_ABORTED",
            "reconciler",
            "IN_PROGRESS",
        )
        wait("the record's alert to be marked sent", lambda: stack.rig.records(source)[0].get("alertSent") is True)
        assert_clean(stack.rig.records(source)[0])
        alerts = wait("the alert", lambda: stack.rig.inbox.alerts_for(source.knowledge_base_id))
        assert [a["attributes"]["alertType"] for a in alerts] == ["RECORD_RECONCILED"]
        assert f"Execution:       {arn}" in alerts[0]["message"]
        again = stack.rig.clients["lambda"].invoke(  # what the ReconcileSchedule sends (its contract)
            FunctionName=stack.rig.outputs["ReconcilerFunctionName"],
            Payload=json.dumps({"source": "kbsync.reconcile-schedule", "scheduledTime": "2026-12-06T02:15:00Z"}),
        )
        assert json.loads(again["Payload"].read())["closed"] == []
        assert len(stack.rig.inbox.alerts_for(source.knowledge_base_id)) == 1  # once
    finally:
        stop_jobs(stack, source)
