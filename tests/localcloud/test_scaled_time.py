"""Scaled time: Wait states, Retry intervals and timeouts run on CLOCK and still honour StopExecution."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kbsync_localcloud.adapters import scaled_time
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import (
    create_function,
    create_state_machine,
    event_types,
    output_of,
    run,
    wait_for_end,
)

SCALE = 0.002  # 1 virtual second = 2 ms


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=SCALE) as local:
        yield local


@pytest.fixture
def sfn(cloud: LocalCloud) -> Any:
    return cloud.client("stepfunctions")


def _missing_table_task(retry: dict[str, Any] | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:dynamodb:describeTable",
        "Parameters": {"TableName": "does-not-exist"},
        "End": True,
    }
    if retry:
        state["Retry"] = [{"ErrorEquals": ["DynamoDb.ResourceNotFoundException"], **retry}]
    return state


def test_wait_seconds_sleeps_the_virtual_duration_scaled(sfn: Any) -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 150, "End": True}}}
    started = time.monotonic()
    described, events = run(sfn, definition, {"keep": 1})
    elapsed = time.monotonic() - started
    assert output_of(described) == {"keep": 1}
    assert 150 * SCALE <= elapsed < 150 * SCALE + 3.0  # 0.3 s, not 150 s
    assert event_types(events)[1:3] == ["WaitStateEntered", "WaitStateExited"]


def test_wait_seconds_path_uses_the_input(sfn: Any) -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}}}
    started = time.monotonic()
    described, _ = run(sfn, definition, {"delay": 100})
    assert described["status"] == "SUCCEEDED"
    assert time.monotonic() - started >= 100 * SCALE


def test_wait_timestamp_compares_with_the_date_now_and_waits_scaled(sfn: Any) -> None:
    """A Timestamp is a date on the one (wall) clock; the 120 s to go are waited as scaled virtual seconds."""
    target = (datetime.now(UTC) + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.until", "End": True}}}
    started = time.monotonic()
    described, _ = run(sfn, definition, {"until": target})
    elapsed = time.monotonic() - started
    assert described["status"] == "SUCCEEDED"
    # up to 1 virtual second is lost to the timestamp's whole-second precision
    assert 119 * SCALE <= elapsed < 120 * SCALE + 3.0


def test_wait_timestamp_in_the_past_does_not_wait(sfn: Any) -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z", "End": True}}}
    described, _ = run(sfn, definition)
    assert described["status"] == "SUCCEEDED"


def test_stop_execution_interrupts_a_long_wait(sfn: Any) -> None:
    arn = create_state_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**7, "End": True}}})
    execution_arn = sfn.start_execution(stateMachineArn=arn, name="long-wait", input="{}")["executionArn"]
    time.sleep(0.05)
    sfn.stop_execution(executionArn=execution_arn, error="Operator", cause="test")
    assert wait_for_end(sfn, execution_arn, deadline_s=5)["status"] == "ABORTED"


def _retry_gaps(events: list[dict[str, Any]]) -> list[float]:
    """Real seconds between each TaskFailed and the next TaskScheduled (the retry interval)."""
    gaps, failed_at = [], None
    for event in events:
        if event["type"] == "TaskFailed":
            failed_at = event["timestamp"]
        elif event["type"] == "TaskScheduled" and failed_at is not None:
            gaps.append((event["timestamp"] - failed_at).total_seconds())
            failed_at = None
    return gaps


def test_retry_intervals_follow_backoff_and_max_delay_in_virtual_time(sfn: Any) -> None:
    retry = {"IntervalSeconds": 20, "BackoffRate": 2.0, "MaxAttempts": 3, "MaxDelaySeconds": 30}
    started = time.monotonic()
    described, events = run(sfn, {"StartAt": "T", "States": {"T": _missing_table_task(retry)}})
    elapsed = time.monotonic() - started
    assert described["status"] == "FAILED"
    assert described["error"] == "DynamoDb.ResourceNotFoundException"
    assert event_types(events).count("TaskFailed") == 4  # first try + 3 retries
    gaps = _retry_gaps(events)
    assert len(gaps) == 3
    # intervals 20, min(40, 30), min(80, 30) virtual seconds; history timestamps have ms resolution
    for gap, virtual in zip(gaps, (20, 30, 30), strict=True):
        assert gap >= virtual * SCALE - 0.002
    assert elapsed < 80 * SCALE + 3.0  # 80 virtual seconds of waiting, not 80 real ones


def test_stop_execution_interrupts_a_retry_interval(sfn: Any) -> None:
    retry = {"IntervalSeconds": 10**6, "MaxAttempts": 2}
    arn = create_state_machine(sfn, {"StartAt": "T", "States": {"T": _missing_table_task(retry)}})
    execution_arn = sfn.start_execution(stateMachineArn=arn, name="long-retry", input="{}")["executionArn"]
    time.sleep(0.1)
    sfn.stop_execution(executionArn=execution_arn)
    assert wait_for_end(sfn, execution_arn, deadline_s=5)["status"] == "ABORTED"
    time.sleep(0.05)
    types = event_types(sfn.get_execution_history(executionArn=execution_arn)["events"])
    assert types.count("TaskScheduled") == 1  # the retry never ran


def test_execution_timeout_seconds_is_scaled(sfn: Any) -> None:
    definition = {
        "TimeoutSeconds": 60,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 10**6, "End": True}},
    }
    started = time.monotonic()
    described, _ = run(sfn, definition, deadline_s=5)
    assert described["status"] == "TIMED_OUT"
    assert 60 * SCALE <= time.monotonic() - started < 5


def test_state_timeout_seconds_is_scaled(cloud: LocalCloud, sfn: Any) -> None:
    arn = create_function(cloud.client("lambda"), cloud.client("iam"), "sleepy", "sleepy")
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": arn,
                "TimeoutSeconds": 10,  # 20 ms at this scale; the handler sleeps 500 ms
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
                "End": True,
            },
            "TimedOut": {"Type": "Pass", "Result": {"outcome": "timed out"}, "End": True},
        },
    }
    described, _ = run(sfn, definition, {"sleep": 0.5})
    assert output_of(described) == {"outcome": "timed out"}


def _wait_for_token(cloud: LocalCloud, **timeouts: int) -> dict[str, Any]:
    queue = cloud.client("sqs").create_queue(QueueName=f"tokens-{len(timeouts)}-{sum(timeouts.values())}")["QueueUrl"]
    return {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                **timeouts,
                "End": True,
            }
        },
    }


def test_task_token_timeout_is_scaled(cloud: LocalCloud, sfn: Any) -> None:
    described, _ = run(sfn, _wait_for_token(cloud, TimeoutSeconds=30), deadline_s=5)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Timeout"


def test_heartbeat_timeout_is_scaled(cloud: LocalCloud, sfn: Any) -> None:
    # TimeoutSeconds is ~2000 real seconds here: only the scaled heartbeat can end the task within the deadline
    described, _ = run(sfn, _wait_for_token(cloud, TimeoutSeconds=10**6, HeartbeatSeconds=30), deadline_s=5)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.HeartbeatTimeout"  # AWS names a lapsed heartbeat so (adapters/task_tokens.py)


def _parent_of_waiting_child(sfn: Any, wait_seconds: int) -> dict[str, Any]:
    child = create_state_machine(
        sfn,
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "Seconds": wait_seconds, "Next": "P"},
                "P": {"Type": "Pass", "Result": {"done": True}, "End": True},
            },
        },
    )
    parent = {
        "StartAt": "S",
        "States": {
            "S": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child, "Name": "child-1", "Input": {"x": 1}},
                "End": True,
            }
        },
    }
    return parent


def test_sync_integration_polls_on_the_scaled_clock(sfn: Any) -> None:
    output = output_of(run(sfn, _parent_of_waiting_child(sfn, 10))[0])
    assert output["Status"] == "SUCCEEDED"
    assert output["Output"] == {"done": True}


def test_a_child_execution_ending_wakes_its_sync_parent_at_once(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The safety-net poll is made 10**6 virtual s (2,000 real s): only the end-of-execution wake-up can finish the
    # parent within the 5 s deadline. Without it, the parent would notice its child only at the next poll.
    monkeypatch.setattr(scaled_time, "SYNC_POLL_VIRTUAL_SECONDS", 10**6)
    monkeypatch.setattr(scaled_time, "SYNC_POLL_MAX_REAL_SECONDS", 10**4)
    ends_before = scaled_time.EXECUTION_ENDS.count
    output = output_of(run(sfn, _parent_of_waiting_child(sfn, 10), deadline_s=5)[0])
    assert output["Status"] == "SUCCEEDED"
    assert scaled_time.EXECUTION_ENDS.count >= ends_before + 2  # the child's end and the parent's


def test_execution_ends_wait_returns_on_an_end_or_the_timeout() -> None:
    ends = scaled_time.ExecutionEnds()
    assert ends.wait_after(ends.count, 0.01) is False  # nothing ended: the timeout
    seen = ends.count
    ends.ended()
    assert ends.wait_after(seen, 10) is True  # an end after `seen` returns at once, even if it came first


def test_sync_poll_delay_follows_the_clock_within_bounds() -> None:
    saved = CLOCK.scale
    try:
        CLOCK.set_scale(0.001)
        assert scaled_time.sync_poll_delay() == pytest.approx(0.3)  # 300 virtual s
        CLOCK.set_scale(0.000001)
        assert scaled_time.sync_poll_delay() == scaled_time.SYNC_POLL_MIN_REAL_SECONDS
        CLOCK.set_scale(10)
        assert scaled_time.sync_poll_delay() == 0.5
    finally:
        CLOCK.set_scale(saved)
