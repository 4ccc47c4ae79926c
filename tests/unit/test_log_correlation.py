"""Every log line of every function carries a correlation id: the Step Functions execution ARN wherever there is one
(states send it as `executionArn`, the catch-all reads the dead execution's), the EventBridge event id for the
upload router, the scheduled time for the reconciler (kbsync_names.LOG_CORRELATION_ID_PATH, given to Powertools'
`logger.inject_lambda_context(correlation_id_path=...)`:
https://docs.aws.amazon.com/powertools/python/latest/core/logger/#setting-a-correlation-id).

Each handler runs on a contract-valid event; what lies behind it that needs AWS is replaced by a stand-in that logs
through the function's own logger, so the handler's lines and the logic's lines are both checked. Each function
gets its own id: all nine share one Powertools logger in a test session, so a stale id could not pass for a new one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import kbsync_contracts
import pytest

from tests.helpers.functions import FUNCTIONS_DIR, FakeLambdaContext, load_function
from tests.unit.test_fn_get_job_status import CONFIG  # as the state Initialize builds it

ACCOUNT = "123456789012"
KB, DS = "KB12345678", "DS12345678"
REQUEST = {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual"}


class Context(FakeLambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def execution_arn(machine: str, name: str) -> str:
    return f"arn:aws:states:us-east-1:{ACCOUNT}:execution:kbsync-{machine}:{name}"


@contextmanager
def captured(module: ModuleType) -> Iterator[io.StringIO]:
    """The JSON lines the module's Powertools logger writes, through its own formatter (where correlation_id lives)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(module.logger.registered_formatter)
    module.logger.addHandler(handler)
    try:
        yield stream
    finally:
        module.logger.removeHandler(handler)


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def logging_stand_in(module: ModuleType, result: Any) -> Callable[..., Any]:
    """A replacement for the logic behind a handler: logs a line as the logic would, returns `result`."""

    def stand_in(*_args: Any, **_kwargs: Any) -> Any:
        module.logger.info("logic ran")
        return result

    return stand_in


def case_validate_request(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    arn = execution_arn("IngestionSync", "manual-validate")
    # A refused request: the function logs only what it rejects.
    return "validate_request", "validate-request-input", {"executionArn": arn, "request": {"trigger": "x"}}, arn


def case_get_job_status(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("get_job_status")

    class Agent:
        def get_ingestion_job(self, **_kwargs: Any) -> dict[str, Any]:
            fn.logger.info("logic ran")
            return {"ingestionJob": {"ingestionJobId": "JOB1234567", "status": "IN_PROGRESS"}}

    monkeypatch.setattr(fn, "_client", Agent())
    arn = execution_arn("IngestionSync", "manual-poll")
    job = {"ingestionJobId": "JOB1234567", "status": "STARTING"}
    return (
        "get_job_status",
        "get-job-status-input",
        {"executionArn": arn, "request": REQUEST, "job": job, "config": CONFIG},
        arn,
    )


def case_send_alert(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("send_alert")
    monkeypatch.setattr(fn, "aws_clients", dict)
    monkeypatch.setattr(fn, "send_alert", logging_stand_in(fn, {"duplicate": True}))
    arn = execution_arn("IngestionSync", "manual-alert")
    event = {
        "executionArn": arn,
        "record": {"pk": f"DS#{KB}#{DS}", "sk": "JOB#2026-11-22T05:00:00Z#JOB1234567"},
        "request": REQUEST,
        "outcome": {"status": "FAILED", "alertType": "FAILED"},
        "attempt": 1,
        "maxAttempts": 3,
        "job": {"ingestionJobId": "JOB1234567", "status": "FAILED"},
    }
    return "send_alert", "send-alert-input", event, arn


def case_sync_gate_step(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("sync_gate")
    monkeypatch.setattr(fn, "run_step", logging_stand_in(fn, {"released": True, "dirty": False}))
    arn = execution_arn("SyncGate", "manual-gate")
    event = {
        "executionArn": arn,
        "action": "releaseGate",
        "holder": "manual-gate",
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "seen": 1,
    }
    return "sync_gate", "sync-gate-input", event, arn


def case_pacer_step(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("pacer")
    monkeypatch.setattr(fn, "run_step", logging_stand_in(fn, {"released": True}))
    arn = execution_arn("SyncGate", "manual-pacer")
    return "pacer", "pacer-input", {"executionArn": arn, "action": "releaseStart", "holder": "manual-pacer"}, arn


def case_nightly_plan_step(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("nightly_plan")
    summary = {"planId": "night-1", "count": 0, "synced": 0, "notSynced": 0, "notReached": 0}
    monkeypatch.setattr(fn, "run_step", logging_stand_in(fn, summary))
    arn = execution_arn("NightlyFanOut", "night-1")
    return (
        "nightly_plan",
        "nightly-plan-input",
        {"executionArn": arn, "action": "summarizeNight", "planId": "night-1"},
        arn,
    )


def case_upload_router(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("upload_router")
    routed = {"bucket": "docs", "key": "a.txt", "started": [], "queued": []}
    monkeypatch.setattr(fn, "route", logging_stand_in(fn, routed))
    event_id = "17793124-05d4-b198-2fde-7ededc63b103"
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-22T05:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::docs"],
        "detail": {"version": "0", "bucket": {"name": "docs"}, "object": {"key": "a.txt", "size": 1}},
    }
    return "upload_router", "upload-event", event, event_id


def case_catch_all(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    arn = execution_arn("IngestionSync", "manual-succeeded")
    event = {
        "version": "0",
        "id": "a1b2c3",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "time": "2026-11-22T05:00:00Z",
        "region": "us-east-1",
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:kbsync-IngestionSync",
            "name": "manual-succeeded",
            "status": "SUCCEEDED",
            "startDate": 1_800_000_000_000,
            "stopDate": 1_800_000_060_000,
        },
    }
    # A success needs no alert: the catch-all logs that, touching nothing (its contract is checked for deaths only).
    return "catch_all", "", event, arn


def case_reconciler(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("reconciler")
    monkeypatch.setattr(fn.Settings, "from_env", classmethod(lambda cls: None))
    monkeypatch.setattr(fn, "reconcile", logging_stand_in(fn, {"closed": [], "alerted": 0}))
    scheduled = "2026-11-22T05:00:00Z"
    return (
        "reconciler",
        "reconcile-schedule-input",
        {"source": "kbsync.reconcile-schedule", "scheduledTime": scheduled},
        scheduled,
    )


def case_freshness(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    fn = load_function("freshness")
    monkeypatch.setattr(fn, "run", logging_stand_in(fn, {"checked": 0, "states": {}, "alerted": [], "errors": []}))
    scheduled = "2026-11-22T06:00:00Z"
    return (
        "freshness",
        "freshness-schedule-input",
        {"source": "kbsync.freshness-schedule", "scheduledTime": scheduled},
        scheduled,
    )


def case_alarm_relay(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    from tests.alarms.test_alarm_relay_units import event

    fn = load_function("alarm_relay")
    monkeypatch.setattr(
        fn, "SETTINGS", dataclasses.replace(fn.SETTINGS, alarm_kinds='{"kbsync-FailedJobsAlarm": "ALARM_JOBS_FAILED"}')
    )
    alarm = event("OK", "INSUFFICIENT_DATA")  # nothing to publish: the run is logged all the same
    return "alarm_relay", "alarm-state-change-event", alarm, alarm["id"]


def stub_clients(monkeypatch: pytest.MonkeyPatch, fn: ModuleType) -> None:
    """The logic is a stand-in: the handler's clients are never used, so none is created (no region, no table)."""
    for name in ("jobs_table", "stepfunctions", "bedrock_agent"):
        monkeypatch.setattr(fn.CLIENTS, name, lambda: None)


def case_job_watch_wait(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    from tests.helpers.functions import load_module

    fn = load_function("job_watch")
    stub_clients(monkeypatch, fn)
    logic = load_module("job_watch", "job_watch_logic")
    monkeypatch.setattr(logic, "begin_wait", logging_stand_in(fn, {"stored": True, "wokenAtOnce": False}))
    arn = execution_arn("IngestionSync", "manual-waiting")
    event = {
        "action": "wait",
        "taskToken": "token-1",
        "record": {"pk": "DS#KB12345678#DS12345678", "sk": "JOB#2026-11-22T05:00:00Z#manual-waiting-1"},
        "ingestionJobId": "JOB1234567",
        "executionArn": arn,
        "pollIntervalSeconds": 15,
    }
    return "job_watch", "job-watch-input", event, arn


def case_job_watch_sweep(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], str]:
    from tests.helpers.functions import load_module

    fn = load_function("job_watch")
    stub_clients(monkeypatch, fn)
    logic = load_module("job_watch", "job_watch_logic")
    monkeypatch.setattr(logic, "sweep", logging_stand_in(fn, logic.Sweep()))
    scheduled = "2026-11-22T05:01:00Z"
    return (
        "job_watch",
        "job-watch-input",
        {"source": "kbsync.job-watch-schedule", "scheduledTime": scheduled},
        scheduled,
    )


def case_job_events(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dict[str, Any], Any]:
    """A log delivery carries no execution ARN, event id or scheduled time: no correlation id (functions/job_events)."""
    from tests.helpers.functions import load_module

    fn = load_function("job_events")
    stub_clients(monkeypatch, fn)
    logic = load_module("job_events", "job_events_logic")
    monkeypatch.setattr(logic, "handle", logging_stand_in(fn, logic.Outcome()))
    return "job_events", "log-subscription-event", {"awslogs": {"data": "H4sIAAAAAAAA/6uuBQBDv6ajAgAAAA=="}}, None


CASES = [
    case_validate_request,
    case_get_job_status,
    case_send_alert,
    case_sync_gate_step,
    case_pacer_step,
    case_nightly_plan_step,
    case_upload_router,
    case_catch_all,
    case_reconciler,
    case_freshness,
    case_alarm_relay,
    case_job_watch_wait,
    case_job_watch_sweep,
    case_job_events,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_every_log_line_carries_the_correlation_id(case: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name, contract, event, expected = case(monkeypatch)
    if contract:
        assert kbsync_contracts.problems(contract, event) == []
    fn = load_function(name)
    with captured(fn) as stream:
        fn.lambda_handler(event, Context())
    lines = log_lines(stream)
    assert lines, f"{name} logged nothing"
    assert [line.get("correlation_id") for line in lines] == [expected] * len(lines), lines


def test_every_function_takes_its_correlation_id_from_the_shared_path() -> None:
    """Static: each handler's Logger decorator names the one correlation path, and nothing else sets the id."""
    decorator = "@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)"
    apps = sorted(Path(FUNCTIONS_DIR).glob("*/app.py"))
    assert len(apps) == 13
    for app in apps:
        source = app.read_text()
        handlers = re.findall(r"((?:^@.*\n)+)def lambda_handler\(", source, re.M)
        assert len(handlers) == 1, app
        # The same decorators in the same order everywhere: Logger outermost, then Tracer, then Metrics.
        assert handlers[0].splitlines() == [
            decorator,
            "@tracer.capture_lambda_handler",
            "@metrics.log_metrics",
        ], app
        assert "set_correlation_id" not in source, app
        # Service and namespace both come from the environment (template Globals POWERTOOLS_*): kbsync_handlers.
        assert "logger, tracer, metrics = kbsync_handlers.powertools()\n" in source, app
    kit = (FUNCTIONS_DIR.parent / "schemas" / "kbsync_handlers.py").read_text()
    assert "return Logger(), Tracer(), Metrics()\n" in kit


def test_every_state_that_invokes_a_function_sends_the_execution_arn() -> None:
    """Static: each lambda:invoke state's Payload carries "executionArn.$": "$$.Execution.Id"."""
    found = 0
    for path in sorted((FUNCTIONS_DIR.parent / "statemachines").glob("*.asl.json")):
        for state_name, state in _task_states(json.loads(path.read_text())):
            if "lambda:invoke" in str(state.get("Resource", "")):
                found += 1
                payload = state["Parameters"]["Payload"]
                assert payload.get("executionArn.$") == "$$.Execution.Id", (path.name, state_name)
    assert found >= 10


def _task_states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in machine.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from _task_states(state[key])
