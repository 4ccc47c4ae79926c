"""Push completion end to end (docs/push-completion.md): the real template.yaml deployed on the local cloud with
KnowledgeBaseLogs=on, the Bedrock emulator writing the knowledge base's application logs into the stack's log group
through a real delivery (PutDeliverySource + CreateDelivery to the stack's KnowledgeBaseLogDestinationArn), the
subscription filter invoking functions/job_events, the JobWatchSchedule running functions/job_watch.

Each test provokes one case of the issue: logs on (the logs wake the sync and name the failed files), logs off for a
knowledge base (the sweep wakes it), a lost, a duplicated and an out-of-order terminal event, the sweep stopped (the
heartbeat lapses: the execution polls as before), a burst of 10,000 document events (bounded record and alert),
and a job 30 times longer costing the same transitions. Every poll has a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kbsync_contracts
import kbsync_documents
import pytest

from tests.helpers.stacks import Stack, deployed

pytestmark = pytest.mark.e2e

#: One virtual second = 4 ms: the sweep (every virtual minute) runs every 0.24 s real.
TIME_SCALE = 0.004
PARAMETERS = {
    "KnowledgeBaseLogs": "on",
    "PollIntervalSeconds": "15",
    "MaxPollIntervalSeconds": "120",
    "PollBudget": "200",
    "WaitHeartbeatSeconds": "300",
}
DEADLINE_S = 120.0
GOOD = {"docs/guide.md": b"# Guide\n\nHow to sync.\n"}
#: Two files Bedrock cannot parse (unsupported extension): the job ends COMPLETE with 2 failed documents (PARTIAL).
BAD = {**GOOD, "docs/tool.exe": b"MZ\x90\x00", "docs/data.bin": b"\x00\x01"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with deployed(PARAMETERS, time_scale=TIME_SCALE, inbox="kbsync-push-alerts", deadline_s=DEADLINE_S) as running:
        running.faults.set_start_rate_limit(None)
        yield running


def wait(what: str, predicate: Any) -> Any:
    from kbsync_localcloud.workflow import wait_until

    return wait_until(predicate, DEADLINE_S, what, interval=0.05)


def run(stack: Stack, source: Any) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Start a sync of `source`, wait for its end: (execution arn, description, history)."""
    arn = stack.rig.start(stack.rig.request(source))
    described = stack.rig.wait(arn, timeout=DEADLINE_S)
    return arn, described, stack.rig.history(arn)


def entered(history: list[dict[str, Any]], state: str) -> int:
    return sum(
        1 for e in history if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state
    )


def transitions(history: list[dict[str, Any]]) -> int:
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


def record_of(stack: Stack, source: Any) -> dict[str, Any]:
    [record] = [r for r in stack.rig.records(source) if r.get("ingestionJobId")]
    kbsync_contracts.validate("job-record", record)
    return record


def test_the_logs_wake_the_sync_and_the_alert_names_the_failed_files(stack: Stack) -> None:
    source = stack.rig.new_source(BAD)
    stack.rig.enable_logs(source)
    _, described, history = run(stack, source)
    assert described["status"] == "SUCCEEDED"
    record = record_of(stack, source)
    assert (record["status"], record["wokenBy"], record["logStatus"]) == ("PARTIAL", "logs", "COMPLETE")
    assert record["statistics"]["numberOfDocumentsFailed"] == 2
    named = {key for failure in record["documentFailures"].values() for key in failure["keys"]}
    assert named == {"docs/tool.exe", "docs/data.bin"}
    assert record["documentFailuresTotal"] == 2
    # Woken once, no poll loop: one wait, one GetJobStatus, never a Wait state after the start.
    assert (entered(history, "WaitForJobEnd"), entered(history, "GetJobStatus")) == (1, 1)
    assert entered(history, "WaitBeforeNextPoll") == entered(history, "WaitForJobToStart") == 0
    [alert] = wait("the PARTIAL alert", lambda: stack.rig.inbox.alerts_for(source.knowledge_base_id))
    assert alert["attributes"]["alertType"] == "PARTIAL"
    for line in kbsync_documents.summary_lines(record["documentFailures"]):
        assert line in alert["message"]
    assert "docs/tool.exe" in alert["message"] and "docs/data.bin" in alert["message"]


def test_a_knowledge_base_without_logs_is_woken_by_the_sweep(stack: Stack) -> None:
    source = stack.rig.new_source(GOOD)
    _, described, history = run(stack, source)
    assert described["status"] == "SUCCEEDED"
    record = record_of(stack, source)
    assert (record["status"], record["wokenBy"]) == ("COMPLETE", "sweep")
    assert "logStatus" not in record and "documentFailures" not in record
    assert (entered(history, "WaitForJobEnd"), entered(history, "WaitBeforeNextPoll")) == (1, 0)


def test_a_lost_terminal_event_is_caught_by_the_sweep(stack: Stack) -> None:
    source = stack.rig.new_source(BAD)
    stack.rig.enable_logs(source)
    stack.faults.drop_terminal_log_events(1)
    _, described, history = run(stack, source)
    assert described["status"] == "SUCCEEDED"
    record = record_of(stack, source)
    assert (record["status"], record["wokenBy"]) == ("PARTIAL", "sweep")
    assert "logStatus" not in record
    # The documents' events were not lost: the files are named all the same.
    assert {k for f in record["documentFailures"].values() for k in f["keys"]} == {"docs/tool.exe", "docs/data.bin"}
    assert entered(history, "WaitBeforeNextPoll") == 0


def test_a_duplicated_terminal_event_wakes_the_sync_once(stack: Stack) -> None:
    source = stack.rig.new_source(BAD)
    stack.rig.enable_logs(source)
    stack.faults.duplicate_terminal_log_events(1)
    _, described, history = run(stack, source)
    assert described["status"] == "SUCCEEDED"
    record = record_of(stack, source)
    assert (record["status"], record["wokenBy"]) == ("PARTIAL", "logs")
    assert entered(history, "WaitForJobEnd") == 1
    assert sum(1 for e in history if e["type"] == "TaskSucceeded") >= 1
    alerts = wait("the PARTIAL alert", lambda: stack.rig.inbox.alerts_for(source.knowledge_base_id))
    assert [a["attributes"]["alertType"] for a in alerts] == ["PARTIAL"]  # one alert, not two
    assert record["documentFailuresTotal"] == 2  # the duplicate did not count the files twice


def test_a_terminal_event_before_the_document_events_still_names_every_file(stack: Stack) -> None:
    source = stack.rig.new_source(BAD)
    stack.rig.enable_logs(source)
    stack.faults.reorder_log_events(1)
    _, described, _ = run(stack, source)
    assert described["status"] == "SUCCEEDED"

    def named() -> set[str] | None:
        found = {k for f in (record_of(stack, source).get("documentFailures") or {}).values() for k in f["keys"]}
        return found if found == {"docs/tool.exe", "docs/data.bin"} else None

    assert wait("the late document events to reach the record", named)
    assert record_of(stack, source)["status"] == "PARTIAL"


def test_when_the_sweep_stops_the_heartbeat_lapses_and_the_execution_polls(stack: Stack) -> None:
    scheduler = stack.rig.clients["scheduler"]
    name = stack.rig.outputs["JobWatchScheduleName"]
    schedule = scheduler.get_schedule(Name=name)
    editable = ("Name", "GroupName", "ScheduleExpression", "FlexibleTimeWindow", "Target", "Description")
    settings = {k: v for k, v in schedule.items() if k in editable}
    source = stack.rig.new_source(GOOD)
    stack.rig.enable_logs(source)
    stack.faults.drop_terminal_log_events(1)
    stack.faults.force_job_duration(900.0, count=1)  # outlives WaitHeartbeatSeconds (300)
    scheduler.update_schedule(**settings, State="DISABLED")
    try:
        _, described, history = run(stack, source)
    finally:
        scheduler.update_schedule(**settings, State="ENABLED")
    assert described["status"] == "SUCCEEDED"
    assert entered(history, "WaitForJobEnd") == 1
    failed = [e for e in history if e["type"] == "TaskTimedOut"]
    assert failed and failed[0]["taskTimedOutEventDetails"]["error"] == "States.HeartbeatTimeout"
    assert entered(history, "WaitBeforeNextPoll") >= 1  # back to the poll loop, which saw the end
    record = record_of(stack, source)
    assert record["status"] == "COMPLETE" and "wokenBy" not in record


def test_a_burst_of_10000_document_events_is_bounded_in_the_record_and_the_alert(stack: Stack) -> None:
    source = stack.rig.new_source(GOOD)
    stack.rig.enable_logs(source)
    stack.faults.log_document_burst(10_000)
    _, described, _ = run(stack, source)
    assert described["status"] == "SUCCEEDED"

    def all_named() -> dict[str, Any] | None:
        record = record_of(stack, source)
        return record if record.get("documentFailuresTotal") == 10_000 else None

    record = wait("the 10,000 failures to be counted", all_named)
    assert record["status"] == "PARTIAL" and record["statistics"]["numberOfDocumentsFailed"] == 10_000
    failures = record["documentFailures"]
    assert len(failures) <= kbsync_documents.MAX_REASONS + 1
    assert all(len(f["keys"]) <= kbsync_documents.MAX_KEYS_PER_REASON for f in failures.values())
    assert sum(int(f["count"]) for f in failures.values()) == 10_000
    [alert] = wait("the PARTIAL alert", lambda: stack.rig.inbox.alerts_for(source.knowledge_base_id))
    assert alert["snsBytes"] < 256 * 1024
    assert "more" in alert["message"]


def test_a_job_thirty_times_longer_costs_the_same_transitions(stack: Stack) -> None:
    counts = []
    for seconds in (120.0, 3600.0):
        source = stack.rig.new_source(GOOD)
        stack.rig.enable_logs(source)
        stack.faults.force_job_duration(seconds, count=1)
        _, described, history = run(stack, source)
        assert described["status"] == "SUCCEEDED"
        assert record_of(stack, source)["wokenBy"] == "logs"
        counts.append(transitions(history))
    assert counts[0] == counts[1], counts
