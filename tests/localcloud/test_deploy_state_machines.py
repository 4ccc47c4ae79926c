"""CloudFormation AWS::StepFunctions::StateMachine -> an executable machine (cfn_state_machines adapter)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters import cfn_state_machines
from kbsync_localcloud.cloud import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/sfn"
LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:/sfn/m:*"


def test_substitute_definition_replaces_only_known_keys() -> None:
    text = '{"a": "${Table}", "b": ${Count}, "c": "${Unknown}", "d": "${Flag}"}'
    result = cfn_state_machines.substitute_definition(text, {"Table": "t-1", "Count": 3, "Flag": True})
    assert result == '{"a": "t-1", "b": 3, "c": "${Unknown}", "d": "true"}'


def _template(result: str = "one", name: str = "machine") -> dict[str, Any]:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Result": {"value": "${Value}", "topic": "${Topic}"}, "End": True}},
    }
    return {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "alerts"}},
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": name,
                    "DefinitionString": {"Fn::Join": ["\n", [json.dumps(definition)]]},
                    "DefinitionSubstitutions": {"Value": result, "Topic": {"Ref": "Topic"}},
                    "RoleArn": ROLE,
                    "LoggingConfiguration": {
                        "Level": "ALL",
                        "IncludeExecutionData": True,
                        "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": LOG_GROUP}}],
                    },
                    "TracingConfiguration": {"Enabled": True},
                    "Tags": [{"Key": "team", "Value": "platform"}],
                },
            },
            "Inline": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "Definition": {"StartAt": "S", "States": {"S": {"Type": "Succeed"}}},
                    "RoleArn": ROLE,
                },
            },
            "Subbed": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "DefinitionString": {
                        "Fn::Sub": json.dumps(
                            {
                                "StartAt": "P",
                                "States": {"P": {"Type": "Pass", "Result": {"t": "${Topic}"}, "End": True}},
                            }
                        )
                    },
                    "RoleArn": ROLE,
                },
            },
        },
        "Outputs": {
            "Arn": {"Value": {"Fn::GetAtt": ["Machine", "Arn"]}},
            "Ref": {"Value": {"Ref": "Machine"}},
            "Name": {"Value": {"Fn::GetAtt": ["Machine", "Name"]}},
            "InlineArn": {"Value": {"Ref": "Inline"}},
            "SubbedArn": {"Value": {"Ref": "Subbed"}},
            "TopicArn": {"Value": {"Ref": "Topic"}},
        },
    }


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def _stack(cloud: LocalCloud, template: dict[str, Any], update: bool = False) -> dict[str, str]:
    cfn = cloud.client("cloudformation")
    call = cfn.update_stack if update else cfn.create_stack
    call(StackName="machines", TemplateBody=json.dumps(template))
    stack = cfn.describe_stacks(StackName="machines")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _run(cloud: LocalCloud, arn: str) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, name=f"run-{time.monotonic_ns()}", input="{}")
    deadline = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution still RUNNING after 10 s"
        time.sleep(0.01)
    assert described["status"] == "SUCCEEDED", described
    return dict(described)


def test_cfn_state_machine_is_executable_with_substitutions(cloud: LocalCloud) -> None:
    outputs = _stack(cloud, _template())
    assert outputs["Arn"] == outputs["Ref"] == "arn:aws:states:us-east-1:123456789012:stateMachine:machine"
    assert outputs["Name"] == "machine"
    output = json.loads(_run(cloud, outputs["Arn"])["output"])
    assert output == {"value": "one", "topic": outputs["TopicArn"]}


def test_logging_tracing_and_tags_are_kept(cloud: LocalCloud) -> None:
    outputs = _stack(cloud, _template())
    sfn = cloud.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=outputs["Arn"])
    assert described["loggingConfiguration"] == {
        "level": "ALL",
        "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP}}],
    }
    assert described["tracingConfiguration"] == {"enabled": True}
    assert sfn.list_tags_for_resource(resourceArn=outputs["Arn"])["tags"] == [{"key": "team", "value": "platform"}]


def test_definition_object_and_fn_sub_forms(cloud: LocalCloud) -> None:
    outputs = _stack(cloud, _template())
    _run(cloud, outputs["InlineArn"])
    assert json.loads(_run(cloud, outputs["SubbedArn"])["output"]) == {"t": outputs["TopicArn"]}


def test_stack_update_changes_the_definition_in_place(cloud: LocalCloud) -> None:
    outputs = _stack(cloud, _template())
    updated = _stack(cloud, _template(result="two"), update=True)
    assert updated["Arn"] == outputs["Arn"]
    assert json.loads(_run(cloud, updated["Arn"])["output"])["value"] == "two"


def test_renaming_replaces_and_deleting_removes(cloud: LocalCloud) -> None:
    _stack(cloud, _template())
    renamed = _stack(cloud, _template(name="machine-2"), update=True)
    sfn = cloud.client("stepfunctions")
    names = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    assert "machine-2" in names and "machine" not in names
    _run(cloud, renamed["Arn"])
    cloud.client("cloudformation").delete_stack(StackName="machines")
    assert sfn.list_state_machines()["stateMachines"] == []


def test_verify_moto_internals_passes_on_the_pinned_moto() -> None:
    cfn_state_machines.verify_moto_internals()


def test_verify_moto_internals_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(cfn_state_machines.sfn_responses, "get_backend")
    with pytest.raises(cfn_state_machines.MotoInternalsChanged, match="get_backend"):
        cfn_state_machines.verify_moto_internals()
