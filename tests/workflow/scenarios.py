"""One scenario per path of the ingestion-sync workflow, run on the local cloud.

Each scenario sets up its own data source (own bucket, knowledge base and data source, so records and alerts never
mix), causes its path (naturally where the local cloud can — unsupported files, unknown ids, a job started from
outside — and through the Bedrock emulator's documented fault control otherwise), runs the real state machine and
returns what happened: executions (status, error, cause, simplified history), the data source's job records, its
Bedrock jobs and the alerts that reached the SQS queue subscribed to the topic.

Scenarios run one after another in one local cloud (faults are account-wide), so the results are exact.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kbsync_localcloud.workflow import Source, WorkflowRig, simplify_events, wait_until

Scenario = Callable[[WorkflowRig, Any], dict[str, Any]]
SCENARIOS: dict[str, Scenario] = {}

#: Stack parameters for the workflow suite: short waits and a small budget keep every path a few hundred virtual
#: seconds; the logic is the same as with the defaults (localcloud/kbsync_localcloud/bench/cost.py measures those).
STACK_PARAMETERS = {
    "PollIntervalSeconds": "5",
    "MaxPollIntervalSeconds": "30",
    "PollBudget": "6",
    "MaxStartAttempts": "3",
    "ConflictWaitSeconds": "30",
    "MaxConflictWaits": "10",
}
#: A job that outlasts two conflict waits (30 s) and ends before the poll budget (6 polls, ~100 s) runs out.
JOB_SECONDS_WITHIN_BUDGET = 75
GOOD_DOCS = {"docs/guide.md": b"# Guide\n\nHow to sync.\n", "docs/faq.txt": b"Q: why?\nA: because.\n"}


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


def run_all(rig: WorkflowRig, faults: Any, scenarios: dict[str, Scenario] | None = None) -> dict[str, dict[str, Any]]:
    """Every scenario (of SCENARIOS, or `scenarios`) in order; a scenario that raises is reported (with its
    traceback), not fatal to the others."""
    results = {}
    for name, function in (SCENARIOS if scenarios is None else scenarios).items():
        faults.reset()
        faults.set_start_rate_limit(None)
        try:
            results[name] = function(rig, faults)
        except Exception:
            results[name] = {"crashed": traceback.format_exc()}
    faults.reset()
    return results


def execution_result(rig: WorkflowRig, arn: str) -> dict[str, Any]:
    description = rig.wait(arn)
    return {
        "arn": arn,
        "status": description["status"],
        "error": description.get("error"),
        "cause": description.get("cause"),
        "events": simplify_events(rig.history(arn)),
    }


def outcome(rig: WorkflowRig, source: Source, *arns: str, **extra: Any) -> dict[str, Any]:
    executions = [execution_result(rig, arn) for arn in arns]
    return {
        "source": {"knowledgeBaseId": source.knowledge_base_id, "dataSourceId": source.data_source_id},
        "executions": executions,
        "records": rig.records(source),
        "jobs": [{"ingestionJobId": j["ingestionJobId"], "status": j["status"]} for j in rig.jobs(source)],
        "alerts": rig.inbox.alerts_for(source.knowledge_base_id),
        **extra,
    }


def run(rig: WorkflowRig, source: Source, **extra: Any) -> dict[str, Any]:
    return outcome(rig, source, rig.start(rig.request(source)), **extra)


# ------------------------------------------------------------------ the paths


@scenario
def success(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def partial(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Natural cause: two files of an unsupported type next to good ones."""
    documents = {**GOOD_DOCS, "docs/diagram.xyz": b"?", "docs/archive.bin": b"\x00\x01"}
    return run(rig, rig.new_source(documents))


@scenario
def failed_then_succeeded(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    faults.fail_next_jobs(["The embedding model returned an error: ThrottlingException (request throttled)."], 1)
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def failed_after_all_attempts(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    faults.fail_next_jobs(["The embedding model arn:aws:bedrock:us-east-1::foundation-model/x is not accessible."], 3)
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def stopped(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Someone stops the job from outside while the workflow polls it."""
    source = rig.new_source(GOOD_DOCS)
    faults.hang_next_jobs(1)  # runs until stopped, whatever the machine's load
    arn = rig.start(rig.request(source))
    # The record exists before the start; wait for the job id it gets right after.
    record = wait_until(
        lambda: [r for r in rig.records(source) if r.get("ingestionJobId")], rig.timeout, "the job record's job id"
    )[0]
    rig.clients["bedrock-agent"].stop_ingestion_job(
        knowledgeBaseId=source.knowledge_base_id,
        dataSourceId=source.data_source_id,
        ingestionJobId=record["ingestionJobId"],
    )
    return outcome(rig, source, arn)


@scenario
def poll_budget_exhausted(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    faults.hang_next_jobs(1)
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def poll_budget_exhausted_and_stop_refused(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """StopIngestionJob itself fails (not retried): TIMED_OUT is still recorded and alerted (the Stop Catch)."""
    source = rig.new_source(GOOD_DOCS)
    faults.hang_next_jobs(1)
    faults.fail_next_calls("StopIngestionJob", count=1, error="AccessDeniedException")
    result = run(rig, source)
    stop_running_jobs(rig, source)
    return result


@scenario
def throttled_then_fine(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    faults.throttle_next_starts(2)
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def throttled_past_retries(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    faults.throttle_next_starts(7)  # the first call and its 6 retries
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def conflict_with_outside_job_then_fine(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Natural cause: a job started outside kbsync is running on the data source."""
    return conflict_then_fine(rig, faults)


@scenario
def conflict_reported_as_validation_then_fine(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Some accounts see a ValidationException mentioning the ongoing job instead of ConflictException."""
    faults.report_conflicts_as_validation(True)
    return conflict_then_fine(rig, faults)


@scenario
def conflict_outlasts_the_waits(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """The outside job never ends: after MaxConflictWaits the start is reported (START_FAILED), not retried forever."""
    source = rig.new_source(GOOD_DOCS)
    faults.hang_next_jobs(1)
    outside = start_outside_job(rig, source)
    result = run(rig, source, outsideJobId=outside)
    stop_running_jobs(rig, source)
    return result


@scenario
def access_denied(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    source = rig.new_source(GOOD_DOCS)
    faults.deny_knowledge_base(source.knowledge_base_id)
    arn = rig.start(rig.request(source))
    rig.wait(arn)
    faults.deny_knowledge_base(source.knowledge_base_id, denied=False)  # so the test can list the (no) jobs
    return outcome(rig, source, arn)


@scenario
def unknown_data_source(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Natural cause: a well-formed data source id that does not exist in the knowledge base."""
    real = rig.new_source(GOOD_DOCS)
    missing = Source(real.knowledge_base_id, "ZZZZZZZZZZ", real.bucket)
    return run(rig, missing)


@scenario
def invalid_request(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Wrong id pattern, missing field, extra field: refused with the field named; nothing starts."""
    source = rig.new_source(GOOD_DOCS)
    good = rig.request(source)
    bad_requests = {
        "wrong_pattern": {**good, "dataSourceId": "ds-1"},
        "missing_field": {k: v for k, v in good.items() if k != "trigger"},
        "extra_field": {**good, "priority": "high"},
    }
    arns = {label: rig.start(request) for label, request in bad_requests.items()}
    result = outcome(rig, source, *arns.values())
    result["labels"] = list(arns)
    return result


@scenario
def dynamodb_write_retried(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """The first PutItem of the job record is throttled by DynamoDB; the state's Retry writes it."""
    source = rig.new_source(GOOD_DOCS)
    with throttled_dynamodb_writes(1) as throttled:
        result = run(rig, source)
    result["throttledWrites"] = throttled["count"]
    return result


@scenario
def huge_failure_reasons(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """2,048 failureReasons of 2,048 chars (~4 MB) on every attempt: the state stays small, the alert fits SNS."""
    reasons = [huge_reason(i) for i in range(2048)]
    faults.fail_next_jobs(reasons, 3)
    return run(rig, rig.new_source(GOOD_DOCS))


@scenario
def concurrent_starts_coalesce(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """10 starts on one data source at once. Bedrock runs one job per data source, so the others are
    refused with ConflictException: expected, not an incident. Each either coalesces into a job that started after
    its request (record COALESCED) or, if its request came after that job started, waits and runs its own: never an
    alert. (The local cloud issues the 10 starts over a fraction of a real second, so which of the two each gets
    varies; concurrent_starts_held_then_released makes them truly simultaneous.)"""
    source = rig.new_source(GOOD_DOCS)
    faults.force_job_duration(JOB_SECONDS_WITHIN_BUDGET)
    arns = [rig.start(rig.request(source, reason=f"concurrent start {i}")) for i in range(10)]
    return outcome(rig, source, *arns)


@scenario
def concurrent_starts_held_then_released(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """The same 10 starts made truly simultaneous: all 10 requests are in (each seen waiting on an outside job's
    Conflict) before any kbsync job can start. Then exactly one job runs and the 9 others coalesce into it."""
    from kbsync_localcloud.clock import CLOCK

    source = rig.new_source(GOOD_DOCS)
    faults.hang_next_jobs(1)
    outside = start_outside_job(rig, source)
    faults.force_job_duration(JOB_SECONDS_WITHIN_BUDGET)
    scale = CLOCK.scale
    # Slower virtual time (1 s = 50 ms) for this scenario: the 10 conflict waits must not run out while the test
    # sees each start waiting, and the engine's real overhead per state must stay small next to a 30 s wait.
    CLOCK.set_scale(0.05)
    try:
        arns = [rig.start(rig.request(source, reason=f"held start {i}")) for i in range(10)]
        for arn in arns:
            wait_until(lambda arn=arn: entered_state(rig, arn, "WaitForRunningJob"), rig.timeout, "each start waiting")
        stop_running_jobs(rig, source)
        return outcome(rig, source, *arns, outsideJobId=outside)
    finally:
        CLOCK.set_scale(scale)


@scenario
def poll_access_denied(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """GetIngestionJob refused (AccessDenied, not retried) while the job runs: POLL_FAILED recorded and
    alerted once, with the AWS error code and message and no stack trace, path or repr."""
    source = rig.new_source(GOOD_DOCS)
    faults.fail_next_calls("GetIngestionJob", count=3, error="AccessDeniedException")
    return run(rig, source)


@scenario
def covering_query_refused(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """FindCoveringJob's Query is refused (not retried): the sync goes on as if nothing covered it (no alert)."""
    source = rig.new_source(GOOD_DOCS)
    with refused_dynamodb_queries(1) as refused:
        result = run(rig, source)
    result["refusedQueries"] = refused["count"]
    return result


@scenario
def lone_surrogate_in_free_text(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """A lone surrogate in reason/requestedBy. Whatever validation does with it (reject or normalize), no
    Bedrock job may exist without a record: the record is written before StartIngestionJob."""
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source, reason="nightly \ud800 run", requestedBy="ops-\udfff"))
    return outcome(rig, source, arn)


# ------------------------------------------------------------------ helpers


def conflict_then_fine(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """An outside job runs until the workflow is seen waiting for it, then it is stopped: deterministic on any
    machine load (a job of fixed virtual duration could end before the workflow's first start attempt)."""
    source = rig.new_source(GOOD_DOCS)
    faults.hang_next_jobs(1)
    outside = start_outside_job(rig, source)
    arn = rig.start(rig.request(source))
    wait_until(lambda: entered_state(rig, arn, "WaitForRunningJob"), rig.timeout, "the workflow waiting")
    stop_running_jobs(rig, source)
    return outcome(rig, source, arn, outsideJobId=outside)


def entered_state(rig: WorkflowRig, execution_arn: str, state: str) -> bool:
    return any(event.get("stateEnteredEventDetails", {}).get("name") == state for event in rig.history(execution_arn))


def huge_reason(index: int) -> str:
    """Bedrock-style reasons, half sharing one cause (groupable), half unique; exactly 2,048 characters each.

    The unique ones differ in letters, not only digits (the alert groups reasons that differ only in files/numbers).
    """
    if index % 2:
        text = f"Encountered error: document s3://kbsync-wf-docs/docs/file-{index:05d}.pdf could not be parsed: "
    else:
        word = "".join(chr(97 + (index // 26**k) % 26) for k in range(3))
        text = f"Encountered error in stage {word}: unique failure detail "
    return (text + "x" * 2048)[:2048]


def start_outside_job(rig: WorkflowRig, source: Source) -> str:
    job_id: str = rig.clients["bedrock-agent"].start_ingestion_job(
        knowledgeBaseId=source.knowledge_base_id, dataSourceId=source.data_source_id
    )["ingestionJob"]["ingestionJobId"]
    return job_id


def stop_running_jobs(rig: WorkflowRig, source: Source) -> None:
    """Stop what a scenario left running (hanging jobs would hold the account's 5 concurrent job slots)."""
    for job in rig.jobs(source):
        if job["status"] in ("STARTING", "IN_PROGRESS"):
            rig.clients["bedrock-agent"].stop_ingestion_job(
                knowledgeBaseId=source.knowledge_base_id,
                dataSourceId=source.data_source_id,
                ingestionJobId=job["ingestionJobId"],
            )


@contextmanager
def throttled_dynamodb_writes(count: int) -> Iterator[dict[str, int]]:
    """The next `count` PutItem calls on any table fail with DynamoDB's ProvisionedThroughputExceededException."""
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.models import DynamoDBBackend

    class ThroughputExceeded(DynamodbException):
        def __init__(self) -> None:
            super().__init__(
                ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API.",
            )

    original = DynamoDBBackend.put_item
    state = {"count": 0}
    lock = threading.Lock()

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            throttle = state["count"] < count
            if throttle:
                state["count"] += 1
        if throttle:
            raise ThroughputExceeded()
        return original(self, *args, **kwargs)

    DynamoDBBackend.put_item = put_item  # type: ignore[method-assign]
    try:
        yield state
    finally:
        DynamoDBBackend.put_item = original  # type: ignore[method-assign]


@contextmanager
def refused_dynamodb_queries(count: int) -> Iterator[dict[str, int]]:
    """The next `count` Query calls on any table fail with DynamoDB's AccessDeniedException (never retried)."""
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
    from moto.dynamodb.models import DynamoDBBackend

    class AccessDenied(DynamodbException):
        def __init__(self) -> None:
            super().__init__(
                ERROR_TYPE_PREFIX + "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/kbsync-sfn/x is not authorized to perform: "
                "dynamodb:Query",
            )

    original = DynamoDBBackend.query
    state = {"count": 0}
    lock = threading.Lock()

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            refuse = state["count"] < count
            if refuse:
                state["count"] += 1
        if refuse:
            raise AccessDenied()
        return original(self, *args, **kwargs)

    DynamoDBBackend.query = query  # type: ignore[method-assign]
    try:
        yield state
    finally:
        DynamoDBBackend.query = original  # type: ignore[method-assign]


# ------------------------------------------------------------------ push completion (docs/push-completion.md)
# A second stack in the same local cloud, deployed with KnowledgeBaseLogs=on (conftest.py): the paths only push
# completion takes (WaitForJobEnd, a wake that is only a wake-up, the wait's Catch).

PUSH_SCENARIOS: dict[str, Scenario] = {}
#: The poll budget is larger than the poll paths' so that, after a lapsed heartbeat (WaitHeartbeatSeconds, 300 s), a
#: job still running is polled to its end (40 polls of at most 30 s) however busy the machine is.
PUSH_PARAMETERS = {**STACK_PARAMETERS, "KnowledgeBaseLogs": "on", "PollBudget": "40"}


def push_scenario(function: Scenario) -> Scenario:
    PUSH_SCENARIOS[function.__name__] = function
    return function


def waiting_record(rig: WorkflowRig, source: Source, entered: int) -> dict[str, Any]:
    """The job record once its execution waits in WaitForJobEnd for the `entered`-th time (its token stored)."""

    def waiting() -> dict[str, Any] | None:
        records = [r for r in rig.records(source) if r.get("waitToken") and "wokenAt" not in r]
        if not records:
            return None
        history = rig.history(records[0]["executionArn"])
        times = sum(
            1
            for e in history
            if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitForJobEnd"
        )
        return records[0] if times >= entered else None

    found: dict[str, Any] = wait_until(waiting, rig.timeout, f"WaitForJobEnd entered {entered} time(s), token stored")
    return found


@push_scenario
def push_woken_by_logs(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """Logs delivered: the terminal event wakes the wait, the failed documents are named."""
    source = rig.new_source({**GOOD_DOCS, "docs/diagram.xyz": b"?", "docs/archive.bin": b"\x00\x01"})
    rig.enable_logs(source)
    return run(rig, source)


@push_scenario
def push_spurious_wake(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """A wake while the job still runs (a log event ahead of Bedrock's API): GetJobStatus reads IN_PROGRESS and the
    execution waits again (RouteOnJobStatus -> WaitForJobEnd); then the job is stopped and its STOPPED event ends it."""
    import json
    from datetime import UTC, datetime

    source = rig.new_source(GOOD_DOCS)
    rig.enable_logs(source)
    faults.hang_next_jobs(1)  # runs until stopped
    arn = rig.start(rig.request(source))
    record = waiting_record(rig, source, entered=1)
    wake = {
        "source": "logs",
        "ingestionJobId": record["ingestionJobId"],
        "status": "COMPLETE",
        "wokenAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    rig.clients["stepfunctions"].send_task_success(taskToken=record["waitToken"], output=json.dumps(wake))
    waiting_record(rig, source, entered=2)
    rig.clients["bedrock-agent"].stop_ingestion_job(
        knowledgeBaseId=source.knowledge_base_id,
        dataSourceId=source.data_source_id,
        ingestionJobId=record["ingestionJobId"],
    )
    return outcome(rig, source, arn)


@push_scenario
def push_heartbeat_lapse(rig: WorkflowRig, faults: Any) -> dict[str, Any]:
    """The sweep stopped and the terminal event lost: the heartbeat lapses (WaitHeartbeatSeconds, 300 s), the wait's
    Catch sends the execution to GetJobStatus, and it polls as with the logs off until the job's end."""
    scheduler = rig.clients["scheduler"]
    name = rig.outputs["JobWatchScheduleName"]
    editable = ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow", "Target", "Description")
    settings = {k: v for k, v in scheduler.get_schedule(Name=name).items() if k in editable}
    source = rig.new_source(GOOD_DOCS)
    rig.enable_logs(source)
    faults.drop_terminal_log_events(1)
    faults.force_job_duration(600.0, count=1)  # ends ~300 virtual s after the heartbeat lapses: polled to its end
    scheduler.update_schedule(**settings, State="DISABLED")
    try:
        return run(rig, source)
    finally:
        scheduler.update_schedule(**settings, State="ENABLED")
