"""The alerts key and topic policies name only the AWS services that publish to the alerts topic.

Who publishes, and what each needs (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, "Enable
compatibility between event sources from AWS services and encrypted topics"):
- a Lambda function or a state machine publishes with its IAM role: the key policy's account statement delegates
  to IAM, and the role's policy grants kms:GenerateDataKey* + kms:Decrypt on the key (no service principal);
- a CloudWatch alarm's action would publish as cloudwatch.amazonaws.com: that principal would need the key (key
  policy) and sns:Publish (topic policy), each limited to this account and to the alarm (aws:SourceAccount,
  aws:SourceArn). kbsync's alarms have no actions (the alarm relay, a function, publishes their notices), so the key
  policy names no service principal and the template declares no topic policy;
- an EventBridge rule or a Scheduler schedule targeting the topic would need events.amazonaws.com /
  a role: none targets it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.security import cfn_names as n
from tests.security import properties as p

STACK = n.Stack("kbsync", "51af3dc0-da77-11e4-872e-1234567db123")
KEY, TOPIC, TOPIC_POLICY = "AlertsKey", "AlertsTopic", "AlertsTopicPolicy"
#: The exact service principals the key policy may name (each needs a publisher below): none.
EXPECTED_SERVICE_PRINCIPALS: set[str] = set()
PUBLISH_KEY_ACTIONS = {"kms:GenerateDataKey*", "kms:Decrypt"}


@pytest.fixture
def template() -> dict[str, Any]:
    return p.deployed()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _references(expression: Any, logical_id: str) -> bool:
    """Whether a (raw) expression is Ref/GetAtt of ``logical_id``."""
    return p._referenced_id(expression) == logical_id


def _statements(template: dict[str, Any], logical_id: str, document_key: str) -> list[dict[str, Any]]:
    """The Allow statements of a policy resource ([] when the template does not declare it)."""
    if logical_id not in template["Resources"]:
        return []
    properties = template["Resources"][logical_id]["Properties"]
    return [s for s in _as_list(properties[document_key]["Statement"]) if s.get("Effect") == "Allow"]


def service_statements(template: dict[str, Any], logical_id: str, document_key: str) -> dict[str, dict[str, Any]]:
    """Service principal -> its Allow statement, in a key or topic policy."""
    found: dict[str, dict[str, Any]] = {}
    for statement in _statements(template, logical_id, document_key):
        for service in _as_list((statement.get("Principal") or {}).get("Service", [])):
            found[service] = statement
    return found


def service_publishers(template: dict[str, Any]) -> dict[str, list[str]]:
    """Service principal -> the resources that make that service publish to the alerts topic."""
    publishers: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind == "AWS::CloudWatch::Alarm":
            actions = [*props.get("AlarmActions", []), *props.get("OKActions", [])]
            actions += props.get("InsufficientDataActions", [])
            if any(_references(action, TOPIC) for action in actions):
                publishers.setdefault("cloudwatch.amazonaws.com", []).append(logical_id)
        elif kind == "AWS::Events::Rule":
            if any(_references(target.get("Arn"), TOPIC) for target in props.get("Targets", [])):
                publishers.setdefault("events.amazonaws.com", []).append(logical_id)
        elif kind == "AWS::Scheduler::Schedule" and _references((props.get("Target") or {}).get("Arn"), TOPIC):
            publishers.setdefault("scheduler.amazonaws.com", []).append(logical_id)
    return publishers


def role_publishers(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """IAM role -> its statements, for every role allowed sns:Publish on the alerts topic."""
    roles: dict[str, list[dict[str, Any]]] = {}
    for logical_id, role in p.resources(template, "AWS::IAM::Role").items():
        statements = [
            s
            for policy in role["Properties"].get("Policies", [])
            for s in _as_list(policy["PolicyDocument"]["Statement"])
            if s.get("Effect") == "Allow"
        ]
        if any(
            "sns:Publish" in _as_list(s.get("Action")) and any(_references(r, TOPIC) for r in _as_list(s["Resource"]))
            for s in statements
        ):
            roles[logical_id] = statements
    return roles


def key_policy_problems(template: dict[str, Any]) -> list[str]:
    problems = []
    resolver = n.Resolver(template, STACK)
    key_services = service_statements(template, KEY, "KeyPolicy")
    topic_services = service_statements(template, TOPIC_POLICY, "PolicyDocument")
    publishers = service_publishers(template)
    if set(key_services) != EXPECTED_SERVICE_PRINCIPALS:
        expected = sorted(EXPECTED_SERVICE_PRINCIPALS)
        problems.append(f"key policy service principals {sorted(key_services)} != {expected}")
    if set(topic_services) != set(key_services):
        problems.append(f"topic policy service principals {sorted(topic_services)} != key's {sorted(key_services)}")
    for service in sorted(set(key_services) | set(publishers)):
        if service not in publishers:
            problems.append(f"{service} may use the key but publishes nothing to the topic")
            continue
        if service not in key_services:
            problems.append(f"{service} publishes ({publishers[service]}) but the key policy does not let it")
            continue
        expected_arns = sorted(resolver.get_att(publisher, "Arn") for publisher in publishers[service])
        for where, statement, actions in (
            ("key policy", key_services[service], PUBLISH_KEY_ACTIONS),
            ("topic policy", topic_services.get(service), {"sns:Publish"}),
        ):
            if statement is None:
                continue
            if set(_as_list(statement.get("Action"))) != actions:
                problems.append(f"{where}: {service} actions {statement.get('Action')} != {sorted(actions)}")
            condition = resolver.resolve(statement.get("Condition") or {})
            if condition.get("StringEquals", {}).get("aws:SourceAccount") != STACK.account:
                problems.append(f"{where}: {service} without aws:SourceAccount = this account")
            source_arns = sorted(_as_list(condition.get("ArnEquals", {}).get("aws:SourceArn", [])))
            if source_arns != expected_arns:
                problems.append(f"{where}: {service} aws:SourceArn {source_arns} != its publishers {expected_arns}")
    return problems


def test_key_policy_names_exactly_the_services_that_publish(template: dict[str, Any]) -> None:
    assert service_publishers(template) == {}
    assert key_policy_problems(template) == []
    assert TOPIC_POLICY not in template["Resources"]


def test_the_account_statement_delegates_the_key_to_iam(template: dict[str, Any]) -> None:
    (statement,) = [s for s in _statements(template, KEY, "KeyPolicy") if "AWS" in (s.get("Principal") or {})]
    resolved = n.Resolver(template, STACK).resolve(statement["Principal"]["AWS"])
    assert resolved == f"arn:aws:iam::{STACK.account}:root"


def test_every_role_that_publishes_can_use_the_key(template: dict[str, Any]) -> None:
    roles = role_publishers(template)
    assert sorted(roles) == [
        "AlarmRelayFunctionRole",
        "CatchAllFunctionRole",
        "FreshnessFunctionRole",
        "ReconcilerFunctionRole",
        "SendAlertFunctionRole",
    ]
    for logical_id, statements in roles.items():
        granted = {
            action
            for s in statements
            if any(_references(r, KEY) for r in _as_list(s["Resource"]))
            for action in _as_list(s.get("Action"))
        }
        assert granted >= PUBLISH_KEY_ACTIONS, logical_id


def test_no_state_machine_publishes_to_sns_directly(template: dict[str, Any]) -> None:
    """A state machine's SNS task would publish with its role: it would need the key in its policy, which none has."""
    for logical_id, machine in p.resources(template, "AWS::StepFunctions::StateMachine").items():
        definition = json.dumps(machine["Properties"])
        assert ":::sns:" not in definition and "aws-sdk:sns" not in definition, logical_id


# ------------------------------------------------------------------ the check catches what it must


def _grant(service: str, source_arn: Any = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": sorted(PUBLISH_KEY_ACTIONS),
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }
    if source_arn is not None:
        statement["Condition"]["ArnEquals"] = {"aws:SourceArn": source_arn}
    return statement


@pytest.mark.parametrize(
    "service", ["cloudwatch.amazonaws.com", "states.amazonaws.com", "lambda.amazonaws.com", "events.amazonaws.com"]
)
def test_a_service_principal_without_a_publisher_is_caught(template: dict[str, Any], service: str) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"][KEY]["Properties"]["KeyPolicy"]["Statement"].append(_grant(service))
    assert any(f"{service} may use the key but publishes nothing" in x for x in key_policy_problems(broken))


def test_an_alarm_action_on_the_topic_without_a_key_grant_is_caught(template: dict[str, Any]) -> None:
    """An alarm action publishing straight to the topic again (it would also lose the message attributes)."""
    broken = copy.deepcopy(template)
    broken["Resources"]["DeadLetterQueueAlarm"]["Properties"]["AlarmActions"] = [{"Ref": TOPIC}]
    assert any("cloudwatch.amazonaws.com publishes" in x for x in key_policy_problems(broken))


def test_a_grant_without_its_source_conditions_is_caught(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["DeadLetterQueueAlarm"]["Properties"]["AlarmActions"] = [{"Ref": TOPIC}]
    broken["Resources"][KEY]["Properties"]["KeyPolicy"]["Statement"].append(_grant("cloudwatch.amazonaws.com"))
    assert any("aws:SourceArn" in x for x in key_policy_problems(broken))


def test_a_publishing_rule_without_a_key_grant_is_caught(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["UploadRule"]["Properties"]["Targets"].append({"Id": "alerts", "Arn": {"Ref": TOPIC}})
    assert any("events.amazonaws.com publishes" in x for x in key_policy_problems(broken))
