"""The longest legal stack name deploys on the local cloud, which enforces AWS's name limits at create
(localcloud/kbsync_localcloud/adapters/aws_limits.py: a name over its limit rolls the stack back, as on AWS).

The statically resolved names (test_name_limits.py) are compared with what CloudFormation actually created: the
alert functions' hand-built sync-gate ARN is the deployed gate's, and the schedule output names a real schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.security import cfn_names as n
from tests.security import properties as p
from tests.security.test_name_limits import LONGEST

pytestmark = pytest.mark.e2e

REGION = "us-east-1"


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, str]]:
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    with LocalCloud(time_scale=0.01):
        yield deploy_stack(p.TEMPLATE, LONGEST, {})


def _client(service: str) -> Any:
    factory: Any = boto3.client  # any service name
    return factory(service, region_name=REGION)


def test_the_longest_stack_name_deploys(deployed: dict[str, str]) -> None:
    stack = _client("cloudformation").describe_stacks(StackName=LONGEST)["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack["StackStatus"]
    limit = n.limit_of("AWS::StepFunctions::StateMachine", "StateMachineName")
    assert limit is not None
    for output in ("SyncGateStateMachineArn", "NightlyFanOutStateMachineArn", "IngestionSyncStateMachineArn"):
        assert len(deployed[output].rsplit(":", 1)[1]) <= limit.max_length, deployed[output]


def test_deployed_names_are_the_statically_resolved_ones(deployed: dict[str, str]) -> None:
    stack_id = _client("cloudformation").describe_stacks(StackName=LONGEST)["Stacks"][0]["StackId"]
    resolver = n.Resolver(p.deployed(), n.Stack(LONGEST, stack_id.rsplit("/", 1)[1], region=REGION))
    assert deployed["SyncGateStateMachineArn"] == resolver.ref("SyncGateStateMachine")
    assert deployed["NightlyFanOutStateMachineArn"] == resolver.ref("NightlyFanOutStateMachine")
    assert deployed["NightlyScheduleName"] == resolver.ref("NightlySchedule")


def test_alerts_print_the_deployed_sync_gate(deployed: dict[str, str]) -> None:
    lambda_client = _client("lambda")
    for output in ("SendAlertFunctionName", "CatchAllFunctionName"):
        configuration = lambda_client.get_function_configuration(FunctionName=deployed[output])
        variables = configuration["Environment"]["Variables"]
        assert variables["SYNC_GATE_STATE_MACHINE_ARN"] == deployed["SyncGateStateMachineArn"], output
    assert _client("stepfunctions").describe_state_machine(stateMachineArn=deployed["SyncGateStateMachineArn"])


def test_the_schedule_output_names_the_deployed_schedule(deployed: dict[str, str]) -> None:
    schedule = _client("scheduler").get_schedule(Name=deployed["NightlyScheduleName"])
    assert schedule["Target"]["Arn"] == deployed["NightlyFanOutStateMachineArn"]
