"""AWS::Scheduler::Schedule from CloudFormation into moto's scheduler backend, and fire_schedule."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud import scheduler
from kbsync_localcloud.cloud import LocalCloud
from kbsync_localcloud.deploy import deploy_stack

ROLE = "arn:aws:iam::123456789012:role/scheduler"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def _template(state: str = "ENABLED", expression: str = "cron(0 2 * * ? *)") -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": json.dumps(PASS), "RoleArn": ROLE},
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "scheduled"}},
            "Nightly": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Name": "nightly",
                    "ScheduleExpression": expression,
                    "ScheduleExpressionTimezone": "Europe/Paris",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "State": state,
                    "Target": {
                        "Arn": {"Ref": "Machine"},
                        "RoleArn": ROLE,
                        "Input": '{"trigger": "schedule", "schedule": "<aws.scheduler.schedule-arn>"}',
                    },
                },
            },
            "ToQueue": {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "ScheduleExpression": "rate(1 hour)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}, "RoleArn": ROLE, "Input": "hello"},
                },
            },
        },
        "Outputs": {
            "ScheduleName": {"Value": {"Ref": "Nightly"}},
            "ScheduleArn": {"Value": {"Fn::GetAtt": ["Nightly", "Arn"]}},
            "QueueScheduleName": {"Value": {"Ref": "ToQueue"}},
            "MachineArn": {"Value": {"Ref": "Machine"}},
        },
    }


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def _deploy(tmp_path: Path, **kwargs: Any) -> dict[str, str]:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(_template(**kwargs)))
    return deploy_stack(path, "sched")


def _wait_succeeded(cloud: LocalCloud, execution_arn: str) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still RUNNING after 10 s"
        time.sleep(0.01)
    assert described["status"] == "SUCCEEDED", described
    return dict(described)


def test_cloudformation_creates_the_schedule_in_moto_scheduler(cloud: LocalCloud, tmp_path: Path) -> None:
    outputs = _deploy(tmp_path)
    assert outputs["ScheduleName"] == "nightly"
    assert outputs["ScheduleArn"] == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"
    schedule = cloud.client("scheduler").get_schedule(Name="nightly")
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["Target"]["Arn"] == outputs["MachineArn"]
    assert outputs["QueueScheduleName"].startswith("sched-ToQueue-")


def test_fire_starts_the_state_machine_with_the_target_input(cloud: LocalCloud, tmp_path: Path) -> None:
    outputs = _deploy(tmp_path)
    result = scheduler.fire_schedule("nightly")
    assert result.target_arn == outputs["MachineArn"]
    described = _wait_succeeded(cloud, result.result["ExecutionArn"])
    assert json.loads(described["input"]) == {"trigger": "schedule", "schedule": outputs["ScheduleArn"]}
    second = scheduler.fire_schedule("nightly")
    assert second.result["ExecutionArn"] != result.result["ExecutionArn"]
    _wait_succeeded(cloud, second.result["ExecutionArn"])


def test_fire_sends_to_an_sqs_target(cloud: LocalCloud, tmp_path: Path) -> None:
    outputs = _deploy(tmp_path)
    scheduler.fire_schedule(outputs["QueueScheduleName"])
    sqs = cloud.client("sqs")
    url = sqs.get_queue_url(QueueName="scheduled")["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "hello"


def test_disabled_schedule_is_refused_unless_forced(cloud: LocalCloud, tmp_path: Path) -> None:
    _deploy(tmp_path, state="DISABLED")
    with pytest.raises(scheduler.ScheduleDisabled, match="DISABLED"):
        scheduler.fire_schedule("nightly")
    forced = scheduler.fire_schedule("nightly", force=True)
    _wait_succeeded(cloud, forced.result["ExecutionArn"])


def test_unknown_schedule_is_resource_not_found(cloud: LocalCloud, tmp_path: Path) -> None:
    _deploy(tmp_path)
    with pytest.raises(Exception, match="nightly2"):
        scheduler.fire_schedule("nightly2")


def test_stack_update_and_delete_follow_the_schedule(cloud: LocalCloud, tmp_path: Path) -> None:
    _deploy(tmp_path)
    _deploy(tmp_path, expression="cron(30 3 * * ? *)")
    client = cloud.client("scheduler")
    assert client.get_schedule(Name="nightly")["ScheduleExpression"] == "cron(30 3 * * ? *)"
    cloud.client("cloudformation").delete_stack(StackName="sched")
    assert client.list_schedules()["Schedules"] == []


def test_a_second_stack_with_the_same_schedule_name_fails_naming_it(cloud: LocalCloud, tmp_path: Path) -> None:
    _deploy(tmp_path)
    path = tmp_path / "template.json"
    with pytest.raises(ClientError, match="AWS::Scheduler::Schedule nightly") as raised:
        deploy_stack(path, "sched-2")
    assert raised.value.response["Error"]["Code"] == "ValidationError"


def test_verify_moto_internals_passes_on_the_pinned_moto() -> None:
    scheduler.verify_moto_internals()


def test_fire_invokes_a_lambda_target(cloud: LocalCloud) -> None:
    from tests.localcloud.test_eventbridge_targets import _recording_function

    arn = _recording_function(cloud)
    cloud.client("scheduler").create_schedule(
        Name="to-lambda",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": ROLE, "Input": '{"source": "scheduled", "n": 1}'},
    )
    assert scheduler.fire_schedule("to-lambda").result == {"StatusCode": 202}
    s3 = cloud.client("s3")
    deadline = time.monotonic() + 10
    while not s3.list_objects_v2(Bucket="seen").get("Contents"):
        assert time.monotonic() < deadline, "the Lambda target was not invoked within 10 s"
        time.sleep(0.01)
    assert json.loads(s3.get_object(Bucket="seen", Key="scheduled")["Body"].read()) == {"source": "scheduled", "n": 1}
