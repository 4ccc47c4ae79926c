"""Any legal stack name deploys: no name the template derives from the stack exceeds its service's limit.

CloudFormation stack names may be 128 characters (a letter, then letters, digits and hyphens), while a state machine
name may be 80, a Scheduler schedule or an EventBridge rule 64. The template AS DEPLOYED (SAM-transformed) is
resolved for the shortest-looking real stack name and for the longest legal one, the way CloudFormation evaluates
it, and every explicit name is checked against the limits in ``cfn_names.NAME_LIMITS`` (each with its AWS page).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from tests.security import cfn_names as n
from tests.security import properties as p

#: The longest legal stack name, and a second stack in the same account and region sharing its first 127 characters.
LONGEST = ("tenant-" + "a" * 200)[: n.STACK_NAME_MAX]
STACKS = {
    "short": n.Stack("kbsync", "51af3dc0-da77-11e4-872e-1234567db123"),
    "longest": n.Stack(LONGEST, "0b6a4d90-3c1e-11ef-9f3b-0a1b2c3d4e5f"),
}
NEIGHBOUR = n.Stack(LONGEST[:-1] + "b", "7e2d11f0-3c1e-11ef-9f3b-0a1b2c3d4e5f")
#: Names that must be unique in an account and region (inline policy names are per role, layer names are shared
#: by design: each stack publishes its own version of the layer).
ACCOUNT_UNIQUE = {(limit.resource_type, limit.prop) for limit in n.NAME_LIMITS if "[]" not in limit.prop} - {
    ("AWS::Lambda::LayerVersion", "LayerName")
}
#: The generated names nearest their limits: each must be checked (else the check proves nothing about them).
MUST_BE_CHECKED = {
    ("SyncGateStateMachine", "StateMachineName"),
    ("NightlyFanOutStateMachine", "StateMachineName"),
    ("NightlySchedule", "Name"),
    ("AlertsKeyAlias", "AliasName"),
    ("SyncGateLogGroup", "LogGroupName"),
    ("NightlyFanOutLogGroup", "LogGroupName"),
    ("IngestionSyncLogGroup", "LogGroupName"),
}
_STATES_ARN = re.compile(r"arn:[^:]+:states:[^:]*:[^:]*:(stateMachine|execution):([^:]+)")


@pytest.fixture
def template() -> dict[str, Any]:
    return p.deployed()


def _stacks() -> list[Any]:
    return [pytest.param(stack, id=key) for key, stack in STACKS.items()]


def test_the_stacks_used_here_have_legal_names() -> None:
    for stack in [*STACKS.values(), NEIGHBOUR]:
        assert len(stack.name) <= n.STACK_NAME_MAX and re.fullmatch(n.STACK_NAME_PATTERN, stack.name)
    assert len(STACKS["longest"].name) == n.STACK_NAME_MAX


@pytest.mark.parametrize("stack", _stacks())
def test_every_explicit_name_fits_its_service(template: dict[str, Any], stack: n.Stack) -> None:
    checked = {(name.logical_id, name.limit.prop) for name in n.explicit_names(template, stack)}
    assert checked >= MUST_BE_CHECKED, MUST_BE_CHECKED - checked
    assert n.name_violations(template, stack) == []


def test_two_stacks_never_share_a_name(template: dict[str, Any]) -> None:
    """Names must be unique per account and region: two stacks whose names differ only in their last character
    (so a name truncated from the stack name would collide) get distinct names, every one of them legal."""
    longest = STACKS["longest"]
    assert n.name_violations(template, longest) == [] and n.name_violations(template, NEIGHBOUR) == []

    def unique_names(stack: n.Stack) -> dict[str, str]:
        return {
            name.logical_id: name.value
            for name in n.explicit_names(template, stack)
            if (name.limit.resource_type, name.limit.prop) in ACCOUNT_UNIQUE
        }

    first, second = unique_names(longest), unique_names(NEIGHBOUR)
    assert first.keys() == second.keys()
    assert set(first.values()).isdisjoint(second.values()), set(first.values()) & set(second.values())


def test_every_name_property_of_the_template_has_a_known_limit(template: dict[str, Any]) -> None:
    assert n.unknown_name_properties(template) == []


@pytest.mark.parametrize("stack", _stacks())
def test_alerts_print_the_sync_gate_that_is_deployed(template: dict[str, Any], stack: n.Stack) -> None:
    """SendAlert and CatchAll cannot Ref the gate (a dependency cycle): their !Sub of its ARN must name exactly the
    state machine CloudFormation creates, and that name must be a legal one."""
    resolver = n.Resolver(template, stack)
    gate_arn = resolver.ref("SyncGateStateMachine")
    with_gate = {
        logical_id: variables["SYNC_GATE_STATE_MACHINE_ARN"]
        for logical_id, function in p.resources(template, "AWS::Lambda::Function").items()
        if "SYNC_GATE_STATE_MACHINE_ARN" in (variables := _environment(function))
    }
    # The upload router and the freshness check Ref it (no cycle); the three other alert senders must !Sub it.
    assert sorted(with_gate) == [
        "CatchAllFunction",
        "FreshnessFunction",
        "ReconcilerFunction",
        "SendAlertFunction",
        "UploadRouterFunction",
    ]
    for logical_id, expression in with_gate.items():
        assert resolver.resolve(expression) == gate_arn, logical_id
    name = gate_arn.rsplit(":", 1)[1]
    limit = n.limit_of("AWS::StepFunctions::StateMachine", "StateMachineName")
    assert limit is not None and len(name) <= limit.max_length and re.fullmatch(limit.pattern, name), name


@pytest.mark.parametrize("stack", _stacks())
def test_every_state_machine_arn_built_by_hand_names_a_state_machine_of_the_stack(
    template: dict[str, Any], stack: n.Stack
) -> None:
    """ARNs assembled with !Sub (environment variables, IAM resources) instead of Ref/GetAtt."""
    assert state_machine_arn_problems(template, stack) == []


def state_machine_arn_problems(template: dict[str, Any], stack: n.Stack) -> list[str]:
    resolver = n.Resolver(template, stack)
    machines = {resolver.physical_name(lid) for lid in p.resources(template, "AWS::StepFunctions::StateMachine")}
    limit = n.limit_of("AWS::StepFunctions::StateMachine", "StateMachineName")
    assert limit is not None
    problems, seen = [], 0
    for where, expression in _subs(template.get("Resources", {}), ""):
        text = expression if isinstance(expression, str) else expression[0]
        if ":stateMachine:" not in text and ":execution:" not in text:
            continue
        for _kind, name in _STATES_ARN.findall(resolver.resolve({"Fn::Sub": expression})):
            seen += 1
            if name not in machines:
                problems.append(f"{where}: {name!r} is not a state machine of this stack ({sorted(machines)})")
            elif len(name) > limit.max_length:
                problems.append(f"{where}: {name!r} is longer than {limit.max_length}")
    if not seen:
        problems.append("no hand-built state machine ARN found: the check would be vacuous")
    return problems


def _subs(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            yield where, node["Fn::Sub"]
            return
        for key, value in node.items():
            yield from _subs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subs(value, f"{where}[{index}]")


def _environment(function: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = ((function.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
    return variables


# ------------------------------------------------------------------ the checker catches what it must


def test_a_name_built_from_the_whole_stack_name_is_caught(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["SyncGateStateMachine"]["Properties"]["StateMachineName"] = {
        "Fn::Sub": "${AWS::StackName}-sync-gate"
    }
    assert n.name_violations(broken, STACKS["short"]) == []
    assert any("SyncGateStateMachine.StateMachineName" in v for v in n.name_violations(broken, STACKS["longest"]))


def test_a_refused_character_is_caught(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["AlertsKeyAlias"]["Properties"]["AliasName"] = "alias/aws/kbsync"
    assert any("AlertsKeyAlias.AliasName" in v for v in n.name_violations(broken, STACKS["short"]))


def test_a_generated_name_is_assumed_as_long_as_cloudformation_may_make_it(template: dict[str, Any]) -> None:
    resolver = n.Resolver(template, STACKS["longest"])
    assert len(resolver.physical_name("SendAlertFunction")) == 64
    assert len(resolver.physical_name("IngestionSyncStateMachine")) == 80


def test_an_unknown_name_property_is_caught(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["AlertsTopic"]["Properties"]["FifoTopicName"] = "x"
    assert n.unknown_name_properties(broken) == ["AlertsTopic: AWS::SNS::Topic.FifoTopicName"]


def test_an_unresolvable_name_fails_instead_of_passing(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["NightlySchedule"]["Properties"]["Name"] = {"Fn::ImportValue": "elsewhere"}
    with pytest.raises(n.Unresolvable):
        n.name_violations(broken, STACKS["short"])


def test_a_hand_built_arn_to_a_wrong_name_is_caught(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    variables = _environment(broken["Resources"]["SendAlertFunction"])
    variables["SYNC_GATE_STATE_MACHINE_ARN"] = {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-gate"
    }
    problems = state_machine_arn_problems(broken, STACKS["short"])
    assert any("SendAlertFunction" in problem for problem in problems), problems


# ------------------------------------------------------------------ the limits are AWS's


def test_every_limit_names_the_aws_page_that_states_it() -> None:
    assert all(limit.url.startswith("https://docs.aws.amazon.com/") for limit in n.NAME_LIMITS)


@pytest.mark.parametrize(
    "limit", [pytest.param(x, id=f"{x.resource_type}.{x.prop}") for x in n.NAME_LIMITS if x.botocore is not None]
)
def test_limits_are_never_looser_than_the_aws_api_models(limit: n.NameLimit) -> None:
    """Where botocore's service model (AWS's published API definition) states a length, ours is within it."""
    assert limit.botocore is not None
    service, operation, member = limit.botocore
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    assert shape is not None
    metadata = shape.members[member].metadata
    assert metadata.get("min", 0) <= limit.min_length
    assert limit.max_length <= metadata["max"]
