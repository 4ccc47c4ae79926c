""" "Step Functions Execution Status Change" events reach EventBridge rules and their SQS targets."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import create_state_machine, wait_for_end

DETAIL_KEYS = {
    "executionArn",
    "stateMachineArn",
    "name",
    "status",
    "startDate",
    "stopDate",
    "input",
    "output",
    "inputDetails",
    "outputDetails",
    "error",
    "cause",
}


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


@pytest.fixture(scope="module")
def queue(cloud: LocalCloud) -> str:
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName="execution-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]}
    events.put_rule(Name="all-executions", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="all-executions", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _events_for(cloud: LocalCloud, queue: str, execution_arn: str, count: int, deadline_s: float = 5) -> list[Any]:
    """Drain the queue until `count` events of this execution arrived; fail at the deadline."""
    sqs, found, end = cloud.client("sqs"), [], time.monotonic() + deadline_s
    while len(found) < count:
        if time.monotonic() > end:
            raise AssertionError(f"only {len(found)} of {count} events for {execution_arn}")
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            if body["detail"]["executionArn"] == execution_arn:
                found.append(body)
    return found


def _start(cloud: LocalCloud, definition: dict[str, Any], payload: str = "{}", sm_type: str = "STANDARD") -> str:
    sfn = cloud.client("stepfunctions")
    arn = create_state_machine(sfn, definition, sm_type)
    return str(
        sfn.start_execution(stateMachineArn=arn, name=f"ev-{uuid.uuid4().hex[:8]}", input=payload)["executionArn"]
    )


def test_succeeded_execution_emits_running_then_succeeded(cloud: LocalCloud, queue: str) -> None:
    execution_arn = _start(cloud, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, '{"a":1}')
    wait_for_end(cloud.client("stepfunctions"), execution_arn)
    running, succeeded = _events_for(cloud, queue, execution_arn, 2)
    assert running["source"] == "aws.states"
    assert running["detail-type"] == "Step Functions Execution Status Change"
    assert running["resources"] == [execution_arn]
    assert set(running["detail"]) == DETAIL_KEYS
    assert running["detail"]["status"] == "RUNNING"
    assert running["detail"]["stopDate"] is None
    assert running["detail"]["output"] is None
    assert succeeded["detail"]["status"] == "SUCCEEDED"
    assert json.loads(succeeded["detail"]["input"]) == {"a": 1}
    assert json.loads(succeeded["detail"]["output"]) == {"a": 1}
    assert succeeded["detail"]["inputDetails"] == {"included": True}
    assert succeeded["detail"]["outputDetails"] == {"included": True}
    assert isinstance(succeeded["detail"]["startDate"], int)
    assert succeeded["detail"]["stopDate"] >= succeeded["detail"]["startDate"]
    assert succeeded["detail"]["error"] is None


def test_failed_execution_carries_error_and_cause(cloud: LocalCloud, queue: str) -> None:
    definition = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Sync.Failed", "Cause": "boom"}}}
    execution_arn = _start(cloud, definition)
    wait_for_end(cloud.client("stepfunctions"), execution_arn)
    _, failed = _events_for(cloud, queue, execution_arn, 2)
    assert failed["detail"]["status"] == "FAILED"
    assert (failed["detail"]["error"], failed["detail"]["cause"]) == ("Sync.Failed", "boom")
    assert failed["detail"]["output"] is None


def test_timed_out_execution(cloud: LocalCloud, queue: str) -> None:
    definition = {"TimeoutSeconds": 5, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**6, "End": True}}}
    execution_arn = _start(cloud, definition)
    wait_for_end(cloud.client("stepfunctions"), execution_arn)
    _, timed_out = _events_for(cloud, queue, execution_arn, 2)
    assert timed_out["detail"]["status"] == "TIMED_OUT"


def test_aborted_execution(cloud: LocalCloud, queue: str) -> None:
    execution_arn = _start(cloud, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 10**6, "End": True}}})
    time.sleep(0.05)
    cloud.client("stepfunctions").stop_execution(executionArn=execution_arn)
    _, aborted = _events_for(cloud, queue, execution_arn, 2)
    assert aborted["detail"]["status"] == "ABORTED"


def test_express_executions_emit_nothing(cloud: LocalCloud, queue: str) -> None:
    sfn = cloud.client("stepfunctions")
    arn = create_state_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "EXPRESS")
    sfn.start_execution(stateMachineArn=arn, name="express-1", input="{}")
    marker = _start(cloud, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    wait_for_end(sfn, marker)
    time.sleep(0.1)
    seen = []
    for message in cloud.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        seen.append(json.loads(message["Body"])["detail"]["stateMachineArn"])
    assert arn not in seen
