"""Promises of the job record's writes and of the poll loop, shown by executions of the real ASL on the local cloud.

docs/testing.md listed these ASL mutants of ingestion-sync as survivors; each test below pins the promise one of them
breaks (the mutant it kills is named in the test's docstring):

- ``updatedAt`` is the time of the record's last write: after the job id, START_FAILED, COALESCED, POLL_FAILED or
  the outcome is written it is the moment that writing state entered, later than the STARTING write before it;
- once Bedrock named the job, the record carries Bedrock's status of it as the start returned it (a start whose
  response was lost and that was retried returns the job already IN_PROGRESS);
- the conditional writes never create a record: if the record is deleted mid-execution, the job-id, START_FAILED,
  COALESCED and POLL_FAILED writes fail, nothing half-written appears, and the execution dies with the DynamoDB
  error, which the catch-all alerts (EXECUTION_DIED, once, naming the error and the execution);
- the poll schedule is a cost promise: a job of a given length is polled at most as often as the schedule says
  (first wait PollIntervalSeconds, each next wait x1.5, capped); machine overhead only delays polls;
- when Bedrock can no longer give the full job, the alert shows the trimmed reasons the workflow carried in its
  state, the same ones the record keeps.

Faults come from the Bedrock emulator's documented control, or from a patch of the emulated service around one call
(a call held until the test lets it go, a response lost, a job Bedrock no longer returns). Every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud.bench.cost import poll_schedule
from kbsync_localcloud.workflow import AlertInbox, Source, WorkflowRig, wait_until

from tests.workflow.scenarios import GOOD_DOCS, STACK_PARAMETERS

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.002
#: Deadline (real seconds) for anything a test waits on.
DEADLINE = 60.0
#: History timestamps are cut to milliseconds; $$.State.EnteredTime has microseconds.
CLOCK_SLACK = timedelta(milliseconds=2)
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"


@pytest.fixture(scope="module")
def rig() -> Iterator[WorkflowRig]:
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    # boto3 inside the in-process functions retries nothing, so each injected error reaches its caller.
    saved = {name: os.environ.get(name) for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")}
    os.environ.update({"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
    try:
        with LocalCloud(time_scale=TIME_SCALE) as cloud:
            outputs = deploy_stack(REPO / "template.yaml", "kbsync", STACK_PARAMETERS)
            services = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent")
            clients = {name: cloud.client(name) for name in services}
            inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name="kbsync-record-alerts")
            yield WorkflowRig(clients=clients, outputs=outputs, inbox=inbox, timeout=DEADLINE)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def faults(rig: WorkflowRig) -> Iterator[Any]:
    from kbsync_localcloud.bedrock import faults as control

    f = control()
    f.reset()
    f.set_start_rate_limit(None)
    yield f
    f.reset()


# ------------------------------------------------------------------ the emulated Bedrock, around one call


class BedrockCalls:
    """Hooks around the Bedrock emulator's operations, outside its lock (so other calls go on while one is held).

    ``hold(operation)``: the next call of `operation` waits until ``release(operation)`` (``arrived(operation)``
    tells when it is waiting); ``instead``: a function run in place of the operation's answer (it gets the
    original call to make or not).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from kbsync_localcloud.bedrock.state import IngestionState

        self._held: dict[str, tuple[threading.Event, threading.Event]] = {}
        self.instead: dict[str, Callable[[Any, Callable[[], dict[str, Any]]], dict[str, Any]]] = {}
        original = IngestionState.call
        calls = self

        def call(state: Any, operation: str, params: Any) -> dict[str, Any]:
            held = calls._held.pop(operation, None)
            if held is not None:
                arrived, go_on = held
                arrived.set()
                go_on.wait(DEADLINE)
            hook = calls.instead.get(operation)
            if hook is not None:
                return hook(params, lambda: original(state, operation, params))
            answer: dict[str, Any] = original(state, operation, params)
            return answer

        monkeypatch.setattr(IngestionState, "call", call)
        self._events: dict[str, tuple[threading.Event, threading.Event]] = {}

    def hold(self, operation: str) -> None:
        events = (threading.Event(), threading.Event())
        self._held[operation] = self._events[operation] = events

    def arrived(self, operation: str) -> bool:
        return self._events[operation][0].wait(DEADLINE)

    def release(self, operation: str) -> None:
        self._events[operation][1].set()

    def release_all(self) -> None:
        for _, go_on in self._events.values():
            go_on.set()


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[BedrockCalls]:
    calls = BedrockCalls(monkeypatch)
    try:
        yield calls
    finally:
        calls.release_all()  # never leave an execution blocked in the emulator


# ------------------------------------------------------------------ reading what happened


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def entered_window(history: list[dict[str, Any]], state: str) -> tuple[datetime, datetime]:
    """When the last visit of `state` entered: between its StateEntered event and the event after it (the moment
    $$.State.EnteredTime is taken), with the milliseconds the history's timestamps lose."""
    for index in range(len(history) - 1, -1, -1):
        event = history[index]
        if event["type"].endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == state:
            return event["timestamp"] - CLOCK_SLACK, history[index + 1]["timestamp"] + CLOCK_SLACK
    raise AssertionError(f"{state} was never entered")


def first_write_time(history: list[dict[str, Any]]) -> datetime:
    """updatedAt of the STARTING record, as RecordJobStarting sent it."""
    for event in history:
        if event["type"] == "TaskScheduled" and event["taskScheduledEventDetails"]["resource"] == "putItem":
            item = json.loads(event["taskScheduledEventDetails"]["parameters"])["Item"]
            return at(item["updatedAt"]["S"])
    raise AssertionError("the STARTING record was never written")


def assert_written_by(record: dict[str, Any], history: list[dict[str, Any]], state: str) -> None:
    """The record's updatedAt is the moment `state` (its last write) entered, later than the STARTING write."""
    low, high = entered_window(history, state)
    updated = at(record["updatedAt"])
    assert low <= updated <= high, f"updatedAt {record['updatedAt']} is not when {state} ran ({low} .. {high})"
    assert updated > first_write_time(history), "updatedAt did not move forward from the STARTING write"


def polls(history: list[dict[str, Any]]) -> int:
    return sum(
        1
        for e in history
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "GetJobStatus"
    )


def records_of(rig: WorkflowRig, source: Source, arn: str) -> list[dict[str, Any]]:
    return [r for r in rig.records(source) if r.get("executionArn") == arn]


def starting_record(rig: WorkflowRig, source: Source, arn: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = wait_until(lambda: records_of(rig, source, arn), DEADLINE, f"the record of {arn}")
    (record,) = found
    assert record["status"] == "STARTING"
    return record


def delete_record(rig: WorkflowRig, record: dict[str, Any]) -> None:
    rig.clients["dynamodb"].delete_item(
        TableName=rig.outputs["JobsTableName"], Key={"pk": {"S": record["pk"]}, "sk": {"S": record["sk"]}}
    )


def assert_died_on_the_missing_record(rig: WorkflowRig, source: Source, arn: str, state: str) -> None:
    """The conditional write refused to create the deleted record: the execution died on it (no retry, no catch),
    nothing was written back, and the catch-all sent its one EXECUTION_DIED alert naming the error."""
    description = rig.wait(arn)
    assert (description["status"], description.get("error")) == ("FAILED", CONDITION_FAILED), description
    history = rig.history(arn)
    failed = [
        e["taskFailedEventDetails"]["error"]
        for index, e in enumerate(history)
        if e["type"] == "TaskFailed" and state_of(history, index) == state
    ]
    assert failed == [CONDITION_FAILED], failed
    assert records_of(rig, source, arn) == [], "a half-written record was created for the deleted one"
    alerts = wait_until(
        lambda: rig.inbox.alerts_for(source.knowledge_base_id), DEADLINE, "the catch-all's alert", interval=0.05
    )
    assert [a["attributes"]["alertType"] for a in alerts] == ["EXECUTION_DIED"]
    assert CONDITION_FAILED in alerts[0]["message"] and arn in alerts[0]["message"]
    assert records_of(rig, source, arn) == [], "the catch-all re-created the deleted record"


def state_of(history: list[dict[str, Any]], index: int) -> str | None:
    """The state an event belongs to (the last state entered before it)."""
    for event in reversed(history[: index + 1]):
        if event["type"].endswith("StateEntered"):
            name: str = event["stateEnteredEventDetails"]["name"]
            return name
    return None


def stop_running_jobs(rig: WorkflowRig, source: Source) -> None:
    """Stop what is still running (a job the workflow stops itself meanwhile is left alone)."""
    agent = rig.clients["bedrock-agent"]
    for job in rig.jobs(source):
        if job["status"] in ("STARTING", "IN_PROGRESS"):
            with suppress(agent.exceptions.ValidationException):  # no longer STARTING or IN_PROGRESS
                agent.stop_ingestion_job(
                    knowledgeBaseId=source.knowledge_base_id,
                    dataSourceId=source.data_source_id,
                    ingestionJobId=job["ingestionJobId"],
                )


def job_record(rig: WorkflowRig, source: Source, arn: str) -> dict[str, Any]:
    """The record of `arn` once it names its job."""

    def named() -> dict[str, Any] | None:
        mine = [r for r in records_of(rig, source, arn) if r.get("ingestionJobId")]
        return mine[0] if mine else None

    found: dict[str, Any] = wait_until(named, DEADLINE, f"the record of {arn} naming its job")
    return found


# ------------------------------------------------------------------ the job id write


def test_the_record_names_the_job_with_the_status_the_start_returned_and_the_time_of_that_write(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls
) -> None:
    """A start whose response was lost is retried with the same ClientToken and Bedrock returns the same job, by
    then IN_PROGRESS: between the job-id write and the outcome, `kbsync status` must read IN_PROGRESS (not the
    STARTING of the record written before the start) and an updatedAt of that write.

    Kills: RecordJobId `#status = :status` dropped, RecordJobId `updatedAt = :now` dropped."""
    from kbsync_localcloud.bedrock.errors import ERRORS_BY_CODE
    from kbsync_localcloud.bedrock.jobs import STARTING_SECONDS
    from kbsync_localcloud.clock import CLOCK

    faults.hang_next_jobs(1)  # STARTING for 5 s, then IN_PROGRESS until stopped
    answers: list[dict[str, Any]] = []

    def lose_the_first_response(params: Any, start: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        answer = start()
        if not answers:
            answers.append(answer)
            CLOCK.sleep(STARTING_SECONDS + 1)  # the job is IN_PROGRESS when the retry asks again
            raise ERRORS_BY_CODE["InternalServerException"]("An internal error occurred (the response was lost).")
        answers.append(answer)
        return answer

    bedrock.instead["StartIngestionJob"] = lose_the_first_response
    bedrock.hold("GetIngestionJob")  # the first poll waits: the record is read between RecordJobId and RecordOutcome
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source))
    assert bedrock.arrived("GetIngestionJob"), "the workflow never polled its job"
    try:
        (record,) = records_of(rig, source, arn)
    finally:
        bedrock.release("GetIngestionJob")
    assert len(answers) == 2, "the start was not retried after its response was lost"
    returned = answers[-1]["ingestionJob"]
    assert returned["ingestionJobId"] == answers[0]["ingestionJob"]["ingestionJobId"]  # the same job
    assert returned["status"] == "IN_PROGRESS"
    assert (record["ingestionJobId"], record["status"]) == (returned["ingestionJobId"], "IN_PROGRESS"), record
    stop_running_jobs(rig, source)
    assert rig.wait(arn).get("error") in ("KbSync.JobStopped", "KbSync.JobTimedOut")
    history = rig.history(arn)
    assert_written_by(record, history, "RecordJobId")
    assert at(record["updatedAt"]) >= at(record["jobStartedAt"])  # written after the start attempt it records
    (final,) = records_of(rig, source, arn)
    assert final["status"] in ("STOPPED", "TIMED_OUT")
    assert_written_by(final, history, "RecordOutcome")
    assert at(final["updatedAt"]) > at(record["updatedAt"])  # and on to the outcome's write


# ------------------------------------------------------------------ updatedAt of the closing writes


def test_a_refused_start_closes_the_record_with_the_time_of_that_write(rig: WorkflowRig, faults: Any) -> None:
    """START_FAILED: the record's updatedAt says when it was closed, not when it was opened.

    Kills: RecordStartFailed `updatedAt = :now` dropped."""
    source = rig.new_source(GOOD_DOCS)
    faults.deny_knowledge_base(source.knowledge_base_id)
    try:
        arn = rig.start(rig.request(source))
        assert rig.wait(arn).get("error") == "KbSync.StartFailed"
    finally:
        faults.deny_knowledge_base(source.knowledge_base_id, denied=False)
    (record,) = records_of(rig, source, arn)
    assert record["status"] == "START_FAILED"
    assert_written_by(record, rig.history(arn), "RecordStartFailed")


def test_a_failed_poll_closes_the_record_with_the_time_of_that_write(rig: WorkflowRig, faults: Any) -> None:
    """POLL_FAILED: the record's updatedAt says when kbsync stopped watching the job.

    Kills: RecordPollFailed `updatedAt = :now` dropped."""
    faults.fail_next_calls("GetIngestionJob", count=1, error="AccessDeniedException")
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source))
    assert rig.wait(arn).get("error") == "KbSync.PollFailed"
    (record,) = records_of(rig, source, arn)
    assert (record["status"], record["errorCode"]) == ("POLL_FAILED", "AccessDeniedException")
    assert_written_by(record, rig.history(arn), "RecordPollFailed")


#: Virtual seconds of one real second while two executions race for one data source: B's job (75 s = 1.5 real s)
#: must still run when A, let go, asks for its own start, whatever the machine's load.
COALESCE_SCALE = 0.02


@contextmanager
def slower_clock(scale: float) -> Iterator[None]:
    from kbsync_localcloud.clock import CLOCK

    saved = CLOCK.scale
    CLOCK.set_scale(scale)
    try:
        yield
    finally:
        CLOCK.set_scale(saved)


def coalesce_into_another_execution(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls, before_release: Callable[[str, Source], None] | None = None
) -> tuple[Source, str, str]:
    """Execution A is held at its StartIngestionJob; B starts after it and runs a job (started after A's request
    began, so it covers A); A is let go, gets Conflict and coalesces into B's job. Both executions have ended when
    this returns. Returns (source, A, B)."""
    faults.force_job_duration(75, count=1)  # B's job: ends within the poll budget
    bedrock.hold("StartIngestionJob")
    source = rig.new_source(GOOD_DOCS)
    with slower_clock(COALESCE_SCALE):
        first = rig.start(rig.request(source, reason="first request"))
        try:
            assert bedrock.arrived("StartIngestionJob"), "A never called StartIngestionJob"
            if before_release is not None:
                before_release(first, source)
            second = rig.start(rig.request(source, reason="second request"))
            job_record(rig, source, second)  # B's job runs and is recorded
        finally:
            bedrock.release("StartIngestionJob")
        rig.wait(first)
        rig.wait(second)
    return source, first, second


def test_a_coalesced_record_says_when_it_was_coalesced(rig: WorkflowRig, faults: Any, bedrock: BedrockCalls) -> None:
    """COALESCED: the record's updatedAt says when it was closed into the other execution's job.

    Kills: RecordCoalesced `updatedAt = :now` dropped."""
    source, first, second = coalesce_into_another_execution(rig, faults, bedrock)
    assert rig.wait(first)["status"] == "SUCCEEDED"
    assert rig.wait(second)["status"] == "SUCCEEDED"
    (record,) = records_of(rig, source, first)
    (covering,) = records_of(rig, source, second)
    assert (record["status"], record["coalescedInto"]) == ("COALESCED", covering["ingestionJobId"])
    assert_written_by(record, rig.history(first), "RecordCoalesced")
    assert rig.inbox.alerts_for(source.knowledge_base_id) == []


# ------------------------------------------------------------------ conditional writes never create a record


def test_a_record_deleted_before_the_job_id_is_written_is_not_recreated(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls
) -> None:
    """Kills: RecordJobId ConditionExpression `attribute_exists(pk)` dropped."""
    faults.force_job_duration(10, count=1)  # the job started ends on its own
    bedrock.hold("StartIngestionJob")
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source))
    try:
        assert bedrock.arrived("StartIngestionJob"), "StartIngestionJob was never called"
        delete_record(rig, starting_record(rig, source, arn))
    finally:
        bedrock.release("StartIngestionJob")
    assert_died_on_the_missing_record(rig, source, arn, "RecordJobId")
    (job,) = rig.jobs(source)  # the job did start: only the record is missing
    assert job["status"] in ("STARTING", "IN_PROGRESS", "COMPLETE")


def test_a_record_deleted_before_a_refused_start_is_closed_is_not_recreated(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls
) -> None:
    """Kills: RecordStartFailed ConditionExpression `attribute_exists(pk)` dropped."""
    bedrock.hold("StartIngestionJob")
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source))
    try:
        assert bedrock.arrived("StartIngestionJob"), "StartIngestionJob was never called"
        delete_record(rig, starting_record(rig, source, arn))
        faults.deny_knowledge_base(source.knowledge_base_id)  # the start is refused: AccessDenied
    finally:
        bedrock.release("StartIngestionJob")
    try:
        assert_died_on_the_missing_record(rig, source, arn, "RecordStartFailed")
    finally:
        faults.deny_knowledge_base(source.knowledge_base_id, denied=False)
    assert rig.jobs(source) == []


def test_a_record_deleted_before_it_is_coalesced_is_not_recreated(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls
) -> None:
    """Kills: RecordCoalesced ConditionExpression `attribute_exists(pk)` dropped."""

    def delete_the_first_record(first: str, source: Source) -> None:
        delete_record(rig, starting_record(rig, source, first))

    source, first, second = coalesce_into_another_execution(rig, faults, bedrock, delete_the_first_record)
    try:
        assert_died_on_the_missing_record(rig, source, first, "RecordCoalesced")
        assert rig.wait(second)["status"] == "SUCCEEDED"
        assert [r["status"] for r in records_of(rig, source, second)] == ["COMPLETE"]
    finally:
        stop_running_jobs(rig, source)


def test_a_record_deleted_before_a_failed_poll_is_recorded_is_not_recreated(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls
) -> None:
    """Kills: RecordPollFailed ConditionExpression `attribute_exists(pk)` dropped."""
    faults.force_job_duration(10, count=1)  # the job ends on its own
    bedrock.hold("GetIngestionJob")
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source))
    try:
        assert bedrock.arrived("GetIngestionJob"), "the workflow never polled its job"
        delete_record(rig, job_record(rig, source, arn))
        faults.fail_next_calls("GetIngestionJob", count=1, error="AccessDeniedException")  # this poll is refused
    finally:
        bedrock.release("GetIngestionJob")
    assert_died_on_the_missing_record(rig, source, arn, "RecordPollFailed")


# ------------------------------------------------------------------ the poll schedule (cost)

#: Virtual seconds of one real second for the schedule test: slow enough that the engine's own overhead (a few
#: real milliseconds per state) stays far below the first wait (5 s = 0.5 real s) and the job lengths.
SCHEDULE_SCALE = 0.1


@pytest.mark.parametrize("job_seconds", [4.5, 20.0])
def test_a_job_is_polled_no_more_often_than_the_schedule(rig: WorkflowRig, faults: Any, job_seconds: float) -> None:
    """Polls cost state transitions: a job of a given length is polled at most as often as the schedule says
    (first wait PollIntervalSeconds after the job id is recorded, then x1.5, capped at MaxPollIntervalSeconds).
    Overhead only delays polls, so fewer is possible, more never. 4.5 s: one poll (none before the first wait);
    20 s: three (5, 13, 25).

    Kills: WaitForJobToStart and WaitBeforeNextPoll `SecondsPath -> 0 seconds`."""
    scheduled, _ = poll_schedule(
        job_seconds, int(STACK_PARAMETERS["PollIntervalSeconds"]), int(STACK_PARAMETERS["MaxPollIntervalSeconds"])
    )
    assert scheduled == (1 if job_seconds < 5 else 3)
    source = rig.new_source(GOOD_DOCS)
    faults.force_job_duration(job_seconds, count=1)
    with slower_clock(SCHEDULE_SCALE):
        arn = rig.start(rig.request(source))
        description = rig.wait(arn)
    history = rig.history(arn)
    assert description["status"] == "SUCCEEDED", description
    assert [r["status"] for r in records_of(rig, source, arn)] == ["COMPLETE"]
    assert 1 <= polls(history) <= scheduled, f"{polls(history)} polls for a {job_seconds} s job"


# ------------------------------------------------------------------ failure reasons when Bedrock cannot give them

#: 30 reasons (over the 25 the state and the record keep), each distinct in its letters (the alert groups reasons
#: that differ only in files and numbers).
REASONS = [
    f"Encountered error in stage {chr(97 + i // 26)}{chr(97 + i % 26)}: the embedding model refused the chunk"
    for i in range(30)
]


def test_when_bedrock_cannot_give_the_failed_job_the_alert_shows_the_reasons_the_workflow_kept(
    rig: WorkflowRig, faults: Any, bedrock: BedrockCalls
) -> None:
    """The job fails on every attempt; when the alert asks Bedrock for the full job, Bedrock no longer has it (the
    data source was deleted: ResourceNotFound). The alert still shows the failure reasons: the first 25 that
    GetJobStatus kept in the state, the same ones the record holds.

    Kills: GetJobStatus ResultSelector `failureReasons` and `failureReasonsTotal` dropped (the alert says how many
    Bedrock reported, and that it shows the first 25)."""
    from kbsync_localcloud.bedrock.errors import ERRORS_BY_CODE

    seen_failed: set[str] = set()

    def gone_once_seen_failed(params: Any, get: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        job_id = params["ingestionJobId"]
        if job_id in seen_failed:
            raise ERRORS_BY_CODE["ResourceNotFoundException"](f"Ingestion job with id {job_id} does not exist")
        answer = get()
        if answer["ingestionJob"]["status"] == "FAILED":
            seen_failed.add(job_id)
        return answer

    bedrock.instead["GetIngestionJob"] = gone_once_seen_failed
    faults.fail_next_jobs(REASONS, int(STACK_PARAMETERS["MaxStartAttempts"]))
    source = rig.new_source(GOOD_DOCS)
    arn = rig.start(rig.request(source))
    assert rig.wait(arn).get("error") == "KbSync.JobFailed"
    assert len(seen_failed) == int(STACK_PARAMETERS["MaxStartAttempts"])
    record = records_of(rig, source, arn)[0]  # newest first: the last attempt
    assert (record["status"], record["failureReasonsTotal"]) == ("FAILED", len(REASONS))
    assert record["failureReasons"] == REASONS[:25]
    (alert,) = rig.inbox.alerts_for(source.knowledge_base_id)
    assert alert["attributes"]["alertType"] == "FAILED"
    message = alert["message"]
    assert f"Failure reasons ({len(REASONS)} reported, the first 25 kept," in message, message
    shown = [line.removeprefix("- ") for line in message.splitlines() if line.startswith("- ")]
    assert shown == record["failureReasons"], message
