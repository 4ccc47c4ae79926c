"""The callback pattern on the local cloud: ``lambda:invoke.waitForTaskToken``, SendTask* and their AWS errors.

A Task passes ``$$.Task.Token`` to an in-process Lambda that parks it in an SQS queue; the test (another thread)
or another Lambda then wakes the task with SendTaskSuccess / SendTaskFailure, keeps it alive with
SendTaskHeartbeat, or lets it time out. AWS's behaviour relied on:
https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token and
https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.inline_lambda import create_inline_function
from tests.localcloud.lambda_fixtures.sfn_helpers import create_state_machine, event_types, wait_for_end

#: 1 virtual second = 5 ms: a 30 s heartbeat lasts 150 ms of real time.
SCALE = 0.005

_PARK_TOKEN = """
import json
import boto3


def lambda_handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=event["queue"], MessageBody=json.dumps({"token": event["token"]}))
    return {"parked": True}
"""

_WAKE = """
import json
import boto3


def lambda_handler(event, context):
    boto3.client("stepfunctions").send_task_success(taskToken=event["token"], output=json.dumps(event["output"]))
    return {"sent": True}
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=SCALE, evaluate_alarms=False) as local:
        yield local


@pytest.fixture(scope="module")
def park(cloud: LocalCloud) -> str:
    return create_inline_function(cloud.client("lambda"), cloud.client("iam"), "park-token", _PARK_TOKEN)


@pytest.fixture(scope="module")
def wake(cloud: LocalCloud) -> str:
    return create_inline_function(cloud.client("lambda"), cloud.client("iam"), "wake-task", _WAKE)


@pytest.fixture
def sfn(cloud: LocalCloud) -> Any:
    return cloud.client("stepfunctions")


def _wait_task(park: str, **fields: Any) -> dict[str, Any]:
    """A Task state that hands its token to the `park` function (with the execution's queue) and waits for it."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": park, "Payload": {"token.$": "$$.Task.Token", "queue.$": "$.queue"}},
        **fields,
    }


def _state_machine(sfn: Any, **states: dict[str, Any]) -> str:
    """A state machine of `states` (in order), starting at the first."""
    return create_state_machine(sfn, {"StartAt": next(iter(states)), "States": states})


def _machine(sfn: Any, park: str, **wait: Any) -> str:
    """Park the token, wait for it; a Catch per timeout name records which one ended the wait."""
    return _state_machine(
        sfn,
        WaitForWake=_wait_task(
            park,
            **wait,
            ResultPath="$.wake",
            Catch=[
                {"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Heartbeat"},
                {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"},
                {"ErrorEquals": ["KbSync.Refused"], "ResultPath": "$.error", "Next": "Refused"},
            ],
            End=True,
        ),
        Heartbeat={"Type": "Pass", "Result": "heartbeat", "ResultPath": "$.by", "End": True},
        TimedOut={"Type": "Pass", "Result": "timeout", "ResultPath": "$.by", "End": True},
        Refused={"Type": "Pass", "Result": "refused", "ResultPath": "$.by", "End": True},
    )


_PATHS = {"HeartbeatSecondsPath": "$.heartbeat", "TimeoutSecondsPath": "$.timeout"}


def _start_parking(cloud: LocalCloud, machine: str, **limits: int) -> tuple[str, str]:
    """Start an execution whose tokens are parked in a new queue; return (execution ARN, queue URL)."""
    queue = cloud.client("sqs").create_queue(QueueName=f"tokens-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    execution = cloud.client("stepfunctions").start_execution(
        stateMachineArn=machine, name=f"cb-{uuid.uuid4().hex[:12]}", input=json.dumps({"queue": queue, **limits})
    )["executionArn"]
    return execution, queue


def _start(cloud: LocalCloud, machine: str, **limits: int) -> tuple[str, str]:
    """Start an execution; return (execution ARN, the task token its Lambda parked)."""
    execution, queue = _start_parking(cloud, machine, **limits)
    return execution, _parked_token(cloud, queue)


def _parked_token(cloud: LocalCloud, queue: str, deadline_s: float = 5.0) -> str:
    sqs, end = cloud.client("sqs"), time.monotonic() + deadline_s
    while time.monotonic() < end:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", [])
        if messages:
            return str(json.loads(messages[0]["Body"])["token"])
        time.sleep(0.005)
    raise AssertionError(f"no task token parked in {queue} after {deadline_s}s")


def _error_code(call: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


# --------------------------------------------------------------------------- waking the task


def test_send_task_success_from_another_thread_ends_the_wait_with_its_output(
    cloud: LocalCloud, sfn: Any, park: str
) -> None:
    machine = _machine(sfn, park, **_PATHS)
    execution, token = _start(cloud, machine, heartbeat=600, timeout=3600)
    sender = threading.Thread(
        target=lambda: sfn.send_task_success(taskToken=token, output=json.dumps({"woken": "by a thread"}))
    )
    sender.start()
    sender.join(5)
    described = wait_for_end(sfn, execution, deadline_s=5)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["wake"] == {"woken": "by a thread"}
    history = sfn.get_execution_history(executionArn=execution)["events"]
    assert {"TaskScheduled", "TaskSubmitted", "TaskSucceeded"} <= set(event_types(history))


def test_another_lambda_can_wake_the_task(cloud: LocalCloud, sfn: Any, park: str, wake: str) -> None:
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=600, timeout=3600)
    response = cloud.client("lambda").invoke(
        FunctionName=wake, Payload=json.dumps({"token": token, "output": {"woken": "by a Lambda"}})
    )
    assert "FunctionError" not in response, response["Payload"].read()
    described = wait_for_end(sfn, execution, deadline_s=5)
    assert json.loads(described["output"])["wake"] == {"woken": "by a Lambda"}


def test_a_spent_token_is_task_timed_out_for_every_send(cloud: LocalCloud, sfn: Any, park: str) -> None:
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=600, timeout=3600)
    sfn.send_task_success(taskToken=token, output="{}")
    wait_for_end(sfn, execution, deadline_s=5)
    assert _error_code(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"
    assert _error_code(lambda: sfn.send_task_heartbeat(taskToken=token)) == "TaskTimedOut"
    assert _error_code(lambda: sfn.send_task_failure(taskToken=token, error="E")) == "TaskTimedOut"


def test_a_token_spent_while_the_execution_still_runs_is_task_timed_out(cloud: LocalCloud, sfn: Any, park: str) -> None:
    # The heartbeat lapses (Catch -> a Pass), then a second wait parks a new token: the first is closed, the
    # execution still runs.
    machine = _state_machine(
        sfn,
        First=_wait_task(
            park,
            HeartbeatSeconds=10,
            TimeoutSeconds=3600,
            ResultPath="$.first",
            Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Second"}],
            Next="Second",
        ),
        Second=_wait_task(park, TimeoutSeconds=3600, End=True),
    )
    execution, queue = _start_parking(cloud, machine)
    first = _parked_token(cloud, queue)
    second = _parked_token(cloud, queue)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    assert _error_code(lambda: sfn.send_task_success(taskToken=first, output="{}")) == "TaskTimedOut"
    sfn.send_task_heartbeat(taskToken=second)  # no HeartbeatSeconds on this task: accepted
    sfn.send_task_success(taskToken=second, output='{"second": true}')
    assert wait_for_end(sfn, execution, deadline_s=5)["status"] == "SUCCEEDED"


def test_send_task_failure_fails_the_task_with_its_error(cloud: LocalCloud, sfn: Any, park: str) -> None:
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=600, timeout=3600)
    sfn.send_task_failure(taskToken=token, error="KbSync.Refused", cause="the test refused it")
    output = json.loads(wait_for_end(sfn, execution, deadline_s=5)["output"])
    assert output["by"] == "refused"
    assert output["error"] == {"Error": "KbSync.Refused", "Cause": "the test refused it"}


# --------------------------------------------------------------------------- heartbeats and timeouts (scaled)


def test_a_lapsed_heartbeat_is_states_heartbeat_timeout(cloud: LocalCloud, sfn: Any, park: str) -> None:
    # HeartbeatSecondsPath 20 virtual s = 100 ms; TimeoutSecondsPath 10**6 virtual s = 83 min: only the heartbeat
    # can end this wait within the deadline.
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=20, timeout=10**6)
    described = wait_for_end(sfn, execution, deadline_s=5)
    output = json.loads(described["output"])
    assert output["by"] == "heartbeat"
    assert output["error"]["Error"] == "States.HeartbeatTimeout"
    history = sfn.get_execution_history(executionArn=execution)["events"]
    timed_out = [event for event in history if event["type"] == "TaskTimedOut"]
    assert timed_out[0]["taskTimedOutEventDetails"]["error"] == "States.HeartbeatTimeout"
    assert _error_code(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"


def test_heartbeats_keep_the_task_waiting_past_its_heartbeat_seconds(cloud: LocalCloud, sfn: Any, park: str) -> None:
    # HeartbeatSeconds 30 virtual s = 150 ms; a heartbeat every 30 ms for 600 ms (4 heartbeat periods).
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=30, timeout=10**6)
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        sfn.send_task_heartbeat(taskToken=token)
        time.sleep(0.03)
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output='{"alive": true}')
    described = wait_for_end(sfn, execution, deadline_s=5)
    assert json.loads(described["output"])["wake"] == {"alive": True}


def test_the_task_timeout_is_states_timeout(cloud: LocalCloud, sfn: Any, park: str) -> None:
    # TimeoutSecondsPath 20 virtual s = 100 ms; HeartbeatSecondsPath 10 s (< the timeout, as AWS requires) kept
    # alive by heartbeats, so only the task timeout can end the wait.
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=10, timeout=20)
    end = time.monotonic() + 5
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() < end:
        try:
            sfn.send_task_heartbeat(taskToken=token)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "TaskTimedOut"
        time.sleep(0.01)
    output = json.loads(wait_for_end(sfn, execution, deadline_s=1)["output"])
    assert (output["by"], output["error"]["Error"]) == ("timeout", "States.Timeout")


def test_a_catch_on_states_timeout_also_catches_a_lapsed_heartbeat(cloud: LocalCloud, sfn: Any, park: str) -> None:
    catch = [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Caught"}]
    machine = _state_machine(
        sfn, W=_wait_task(park, **_PATHS, Catch=catch, End=True), Caught={"Type": "Pass", "End": True}
    )
    execution, _ = _start(cloud, machine, heartbeat=20, timeout=10**6)
    described = wait_for_end(sfn, execution, deadline_s=5)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["error"]["Error"] == "States.HeartbeatTimeout"


def test_a_stopped_execution_spends_its_token(cloud: LocalCloud, sfn: Any, park: str) -> None:
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=600, timeout=3600)
    sfn.stop_execution(executionArn=execution)
    assert wait_for_end(sfn, execution, deadline_s=5)["status"] == "ABORTED"
    assert _error_code(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"


# --------------------------------------------------------------------------- request limits


def test_output_over_262144_bytes_is_a_validation_exception(cloud: LocalCloud, sfn: Any, park: str) -> None:
    execution, token = _start(cloud, _machine(sfn, park, **_PATHS), heartbeat=600, timeout=3600)
    # Bytes of UTF-8, not characters: 131,074 characters here are 262,145 bytes (é is two bytes).
    raw = '"' + "é" * 131_071 + 'a"'
    assert len(raw.encode("utf-8")) == 262_145
    with pytest.raises(ClientError) as raised:
        sfn.send_task_success(taskToken=token, output=raw)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 262144" in raised.value.response["Error"]["Message"]
    assert _error_code(lambda: sfn.send_task_success(taskToken=token, output="{not json")) == "InvalidOutput"
    exactly = '"' + "é" * 131_071 + '"'  # 262,144 bytes: accepted (the task then fails on the payload quota)
    sfn.send_task_success(taskToken=token, output=exactly)
    assert wait_for_end(sfn, execution, deadline_s=5)["status"] != "RUNNING"


def test_token_length_and_unknown_tokens(sfn: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sfn.send_task_success(taskToken="t" * 2049, output="{}")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "less than or equal to 2048" in raised.value.response["Error"]["Message"]
    assert _error_code(lambda: sfn.send_task_success(taskToken="t" * 2048, output="{}")) == "InvalidToken"
    assert _error_code(lambda: sfn.send_task_heartbeat(taskToken="never-issued")) == "InvalidToken"
