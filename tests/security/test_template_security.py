"""Security properties of template.yaml AS DEPLOYED (after `sam package` + the SAM transform).

Each property is asserted on the product template, and on a copy broken on purpose, so a checker that silently
stopped seeing anything would fail here rather than pass forever.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security import properties as p


@pytest.fixture
def template() -> dict[str, Any]:
    return p.deployed()


def _first(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = p.resources(template, kind)
    assert found, f"the template has no {kind}"
    return next(iter(found.values()))


def _first_role_statement(template: dict[str, Any], action_prefix: str) -> dict[str, Any]:
    for _, statement in p.policy_statements(template):
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if any(str(a).startswith(action_prefix) for a in actions):
            return statement
    raise AssertionError(f"no statement grants {action_prefix}* actions")


# ------------------------------------------------------------------ IAM


def test_no_wildcard_resource_on_bedrock_dynamodb_sns_kms_actions(template: dict[str, Any]) -> None:
    assert p.wildcard_grants(template) == []


def test_no_admin_or_service_wide_actions(template: dict[str, Any]) -> None:
    assert p.admin_actions(template) == []


def test_only_expected_aws_managed_policies(template: dict[str, Any]) -> None:
    assert p.unexpected_managed_policies(template) == []


@pytest.mark.parametrize("prefix", ["bedrock:", "dynamodb:", "sns:"])
def test_wildcard_resource_is_caught(template: dict[str, Any], prefix: str) -> None:
    _first_role_statement(template, prefix)["Resource"] = "*"
    assert any(prefix.rstrip(":") in v for v in p.wildcard_grants(template))


def test_wildcard_hidden_in_a_condition_branch_is_caught(template: dict[str, Any]) -> None:
    _first_role_statement(template, "bedrock:")["Resource"] = {"Fn::If": ["C", ["arn:aws:bedrock:r:a:kb/x"], "*"]}
    assert p.wildcard_grants(template)


def test_service_wide_wildcard_arn_is_caught(template: dict[str, Any]) -> None:
    _first_role_statement(template, "sns:")["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:1:*"}
    assert p.wildcard_grants(template)


def test_knowledge_base_scoped_wildcard_is_allowed() -> None:
    assert not p.is_wildcard_resource("arn:${AWS::Partition}:bedrock:${AWS::Region}:1:knowledge-base/*")
    assert p.is_wildcard_resource("*")
    assert p.is_wildcard_resource("arn:aws:dynamodb:us-east-1:1:*")


def test_admin_action_is_caught(template: dict[str, Any]) -> None:
    _first_role_statement(template, "bedrock:")["Action"] = "bedrock:*"
    assert p.admin_actions(template)


# ------------------------------------------------------------------ data at rest


def test_alerts_topic_uses_a_rotated_customer_managed_key(template: dict[str, Any]) -> None:
    assert p.resources(template, "AWS::SNS::Topic")
    assert p.topics_without_customer_managed_key(template) == []


@pytest.mark.parametrize("key", ["alias/aws/sns", None])
def test_topic_with_aws_managed_or_no_key_is_caught(template: dict[str, Any], key: str | None) -> None:
    _first(template, "AWS::SNS::Topic")["Properties"]["KmsMasterKeyId"] = key
    assert p.topics_without_customer_managed_key(template)


def test_jobs_table_has_pitr_deletion_protection_and_retain(template: dict[str, Any]) -> None:
    assert p.resources(template, "AWS::DynamoDB::Table")
    assert p.unprotected_tables(template) == []


def test_table_without_pitr_is_caught(template: dict[str, Any]) -> None:
    table = _first(template, "AWS::DynamoDB::Table")
    table["Properties"].pop("PointInTimeRecoverySpecification", None)
    table["Properties"]["DeletionProtectionEnabled"] = False
    assert len(p.unprotected_tables(template)) >= 2


# ------------------------------------------------------------------ logs


def test_every_log_group_has_retention(template: dict[str, Any]) -> None:
    assert p.resources(template, "AWS::Logs::LogGroup")
    assert p.log_groups_without_retention(template) == []


def test_every_function_has_its_own_log_group(template: dict[str, Any]) -> None:
    assert p.resources(template, "AWS::Lambda::Function")
    assert p.functions_without_log_group(template) == []


def test_log_group_without_retention_is_caught(template: dict[str, Any]) -> None:
    _first(template, "AWS::Logs::LogGroup")["Properties"].pop("RetentionInDays")
    assert p.log_groups_without_retention(template)


def test_state_machines_log_errors_without_execution_data(template: dict[str, Any]) -> None:
    assert p.resources(template, "AWS::StepFunctions::StateMachine")
    assert p.state_machines_logging_problems(template) == []


def test_state_machine_logging_execution_data_is_caught(template: dict[str, Any]) -> None:
    machine = _first(template, "AWS::StepFunctions::StateMachine")
    machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] = True
    assert p.state_machines_logging_problems(template)


# ------------------------------------------------------------------ event delivery


def test_every_eventbridge_and_scheduler_target_has_retry_and_dead_letter_queue(template: dict[str, Any]) -> None:
    if not p.event_targets(template):
        pytest.skip("template.yaml has no EventBridge rule or Scheduler schedule yet (triggers)")
    assert p.targets_without_retry_or_dlq(template) == []


def test_target_without_retry_or_dead_letter_queue_is_caught() -> None:
    template = {
        "Resources": {
            "Rule": {"Type": "AWS::Events::Rule", "Properties": {"Targets": [{"Id": "t", "Arn": "x"}]}},
            "Nightly": {"Type": "AWS::Scheduler::Schedule", "Properties": {"Target": {"Arn": "x", "RetryPolicy": {}}}},
        }
    }
    assert sorted(p.targets_without_retry_or_dlq(template)) == [
        "Nightly: no DeadLetterConfig.Arn",
        "Nightly: no RetryPolicy",
        "Rule/t: no DeadLetterConfig.Arn",
        "Rule/t: no RetryPolicy",
    ]


# ------------------------------------------------------------------ traces


def test_traced_functions_do_not_copy_responses_into_traces(template: dict[str, Any]) -> None:
    assert p.resources(template, "AWS::Lambda::Function")
    assert p.functions_tracing_responses(template) == []


def test_traced_function_capturing_responses_is_caught() -> None:
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"TracingConfig": {"Mode": "Active"}}},
            "Quiet": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "TracingConfig": {"Mode": "Active"},
                    "Environment": {"Variables": {"POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false"}},
                },
            },
        }
    }
    assert p.functions_tracing_responses(template) == ["Fn: POWERTOOLS_TRACER_CAPTURE_RESPONSE is not 'false'"]


# ------------------------------------------------------------------ parameters


def test_knowledge_base_arns_parameter_cannot_widen_iam_to_everything(template: dict[str, Any]) -> None:
    assert p.widening_parameter_problems(template) == []


def test_widening_parameter_check_accepts_a_strict_pattern_and_catches_a_loose_one() -> None:
    strict = r"^(arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{12}:knowledge-base/[0-9a-zA-Z]{10})?$"
    assert p.widening_parameter_problems({"Parameters": {"KnowledgeBaseArns": {"AllowedPattern": strict}}}) == []
    loose = {"Parameters": {"KnowledgeBaseArns": {"AllowedPattern": r"^arn:.*|\*?$"}}}
    assert "KnowledgeBaseArns AllowedPattern accepts '*'" in p.widening_parameter_problems(loose)
