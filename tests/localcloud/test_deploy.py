"""SAM -> CloudFormation (sam.py) and deploy_stack (deploy.py)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.cloud import LocalCloud
from kbsync_localcloud.deploy import (
    DeployError,
    deploy_stack,
    verify_moto_internals,
    wait_for_stack,
    zip_directory,
)
from kbsync_localcloud.sam import SamTemplateError, load_template, transform_template

TINY = Path(__file__).parent / "tiny_app"
TEMPLATE = TINY / "template.yaml"
PARAMETERS = {"KnowledgeBaseId": "KB12345678", "DataSourceId": "DS12345678"}


# --- transform (no cloud) ---------------------------------------------------------------------------------


def _resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def test_load_template_reads_short_form_intrinsics() -> None:
    template = load_template(TEMPLATE)
    substitutions = template["Resources"]["TinyStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert substitutions["TableName"] == {"Ref": "JobsTable"}
    assert substitutions["FunctionArn"] == {"Fn::GetAtt": ["DescribeFunction", "Arn"]}


def test_transform_is_plain_cloudformation_with_placeholder_code_locations() -> None:
    transformed = transform_template(TEMPLATE, PARAMETERS)
    assert "Transform" not in transformed
    assert not [r for r in transformed["Resources"].values() if r["Type"].startswith("AWS::Serverless::")]
    (function,) = _resources_of_type(transformed, "AWS::Lambda::Function").values()
    assert function["Properties"]["Code"] == {"S3Bucket": "kbsync-sam-artifacts", "S3Key": "DescribeFunction.zip"}
    (layer,) = _resources_of_type(transformed, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["Content"] == {"S3Bucket": "kbsync-sam-artifacts", "S3Key": "HelperLayer.zip"}


def test_transform_inlines_the_definition_and_keeps_substitutions_for_cloudformation() -> None:
    transformed = transform_template(TEMPLATE, PARAMETERS)
    (machine,) = _resources_of_type(transformed, "AWS::StepFunctions::StateMachine").values()
    properties = machine["Properties"]
    lines = properties["DefinitionString"]["Fn::Join"][1]
    definition = json.loads("\n".join(lines))
    asl = json.loads((TINY / "statemachine" / "tiny.asl.json").read_text())
    assert definition == asl
    assert set(properties["DefinitionSubstitutions"]) == {
        "TableName",
        "TopicArn",
        "FunctionArn",
        "KnowledgeBaseId",
        "DataSourceId",
    }


def test_transform_turns_events_into_a_rule_with_input_transformer_and_a_schedule() -> None:
    transformed = transform_template(TEMPLATE, PARAMETERS)
    (rule,) = _resources_of_type(transformed, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "TinyStateMachine"}
    assert target["InputTransformer"]["InputPathsMap"] == {"key": "$.detail.object.key", "reason": "$.detail.reason"}
    (schedule,) = _resources_of_type(transformed, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["State"] == "DISABLED"


def test_managed_policies_resolve_without_iam(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return event\n")
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "fn/",
                    "Handler": "app.handler",
                    "Runtime": "python3.11",
                    "Policies": ["AWSXrayWriteOnlyAccess"],
                },
            }
        },
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    transformed = transform_template(tmp_path / "template.json")
    (role,) = _resources_of_type(transformed, "AWS::IAM::Role").values()
    assert "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess" in role["Properties"]["ManagedPolicyArns"]


def test_missing_code_dir_is_an_error_naming_the_resource(tmp_path: Path) -> None:
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Ghost": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "nowhere/", "Handler": "app.handler", "Runtime": "python3.11"},
            }
        },
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    with pytest.raises(SamTemplateError, match="Ghost"):
        transform_template(tmp_path / "template.json")


def test_invalid_sam_is_a_transform_error(tmp_path: Path) -> None:
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {"Bad": {"Type": "AWS::Serverless::StateMachine", "Properties": {"Definition": 42}}},
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    with pytest.raises(SamTemplateError, match="Bad"):
        transform_template(tmp_path / "template.json")


# --- packaging --------------------------------------------------------------------------------------------


def test_zip_is_deterministic_and_layers_go_under_python(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    first = zip_directory(tmp_path, "python/")
    assert first == zip_directory(tmp_path, "python/")
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["python/pkg/mod.py"]


# --- deploy on the local cloud ----------------------------------------------------------------------------


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def test_verify_moto_internals_passes_on_the_pinned_moto() -> None:
    verify_moto_internals()


def test_redeploy_with_new_parameters_updates_the_stack(cloud: LocalCloud) -> None:
    first = deploy_stack(TEMPLATE, "tiny", PARAMETERS)
    second = deploy_stack(TEMPLATE, "tiny", {**PARAMETERS, "DataSourceId": "DSZZZZZZZZ"})
    assert second["StateMachineArn"] == first["StateMachineArn"]
    stack = cloud.client("cloudformation").describe_stacks(StackName="tiny")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    sfn = cloud.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=first["StateMachineArn"])["definition"])
    assert definition["States"]["StartIngestion"]["Parameters"]["DataSourceId"] == "DSZZZZZZZZ"


def test_invalid_definition_fails_the_deploy_naming_the_machine(cloud: LocalCloud, tmp_path: Path) -> None:
    broken = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": "broken-machine",
                    "DefinitionString": '{"StartAt": "Nowhere", "States": {}}',
                    "RoleArn": "arn:aws:iam::123456789012:role/x",
                },
            }
        }
    }
    (tmp_path / "template.json").write_text(json.dumps(broken))
    with pytest.raises(ClientError, match="broken-machine") as raised:
        deploy_stack(tmp_path / "template.json", "broken")
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "Invalid" in raised.value.response["Error"]["Message"]


class _RolledBackStack:
    """A CloudFormation client answering like AWS for a stack whose creation failed."""

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"StackName": StackName, "StackStatus": "ROLLBACK_COMPLETE"}]}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        failed = {"LogicalResourceId": "Table", "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "boom"}
        done = {"LogicalResourceId": StackName, "ResourceStatus": "ROLLBACK_COMPLETE"}
        return {"StackEvents": [done, failed]}


def test_wait_for_stack_raises_with_the_failed_resources() -> None:
    with pytest.raises(DeployError, match="ROLLBACK_COMPLETE: Table: boom"):
        wait_for_stack(_RolledBackStack(), "s", timeout_s=1)
