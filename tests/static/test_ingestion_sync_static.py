"""Static gates of the ingestion-sync workflow: placeholders, engine compilation, cfn-lint after the SAM transform."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

from tests.helpers.sam import definition_file, load_template, transformed_template

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
STATE_MACHINE = "IngestionSyncStateMachine"


@cache
def template() -> dict[str, Any]:
    return load_template()


def asl_text() -> str:
    return definition_file(template(), STATE_MACHINE).read_text(encoding="utf-8")


def asl() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(asl_text())
    return loaded


def substitutions() -> dict[str, Any]:
    subs: dict[str, Any] = template()["Resources"][STATE_MACHINE]["Properties"]["DefinitionSubstitutions"]
    return subs


def plausible_values() -> dict[str, str]:
    """What CloudFormation would substitute: ARNs for functions, a name for the table, parameter defaults."""
    params = template()["Parameters"]
    values = {}
    for key, value in substitutions().items():
        if key.endswith("FunctionArn"):
            values[key] = f"arn:aws:lambda:us-east-1:123456789012:function:kbsync-{key}"
        elif key == "JobsTableName":
            values[key] = "kbsync-JobsTable-ABC"
        else:
            values[key] = str(params[value["Ref"]]["Default"])
    return values


def substituted(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


# ------------------------------------------------------------------ placeholders


def test_every_placeholder_is_a_substitution_key_and_vice_versa() -> None:
    used = set(PLACEHOLDER.findall(asl_text()))
    assert used == set(substitutions()), (
        f"only in ASL: {used - set(substitutions())}, unused: {set(substitutions()) - used}"
    )


def test_no_arn_or_resource_name_is_hard_coded_in_the_asl() -> None:
    hard_coded = [
        arn for arn in re.findall(r"arn:aws[a-z-]*:[^\"]*", asl_text()) if not arn.startswith("arn:aws:states:::")
    ]
    assert hard_coded == []


def test_numeric_substitutions_come_from_number_parameters() -> None:
    """What the ASL reads as a number (States.StringToJson('${X}')) is a Number parameter; any other parameter it
    takes is text from a closed list (AllowedValues), so no value can break the definition's JSON."""
    params = template()["Parameters"]
    numeric = set(re.findall(r"States\.StringToJson\('\$\{([A-Za-z0-9_]+)\}'\)", asl_text()))
    checked = 0
    for key, value in substitutions().items():
        if "Ref" in value and value["Ref"] in params:
            parameter = params[value["Ref"]]
            if key in numeric:
                assert parameter["Type"] == "Number", key
            else:
                assert parameter["Type"] == "String" and parameter["AllowedValues"], key
            checked += 1
    assert checked and numeric


# ------------------------------------------------------------------ the local engine


def test_asl_compiles_in_the_local_engine() -> None:
    AmazonStateLanguageParser.parse(substituted(asl_text(), plausible_values()))


def test_the_engine_check_rejects_a_broken_definition() -> None:
    """Negative control: the compile check above can fail."""
    broken = asl()
    broken["States"]["Initialize"]["Type"] = "Bogus"
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse(substituted(json.dumps(broken), plausible_values()))


def test_every_state_is_reachable_and_every_target_exists() -> None:
    states = asl()["States"]
    targets: dict[str, set[str]] = {name: set() for name in states}
    for name, state in states.items():
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
        targets[name] = {n for n in nexts if n}
        assert targets[name] <= set(states), f"{name} -> {targets[name] - set(states)}"
    seen, todo = set(), [asl()["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += targets[name]
    assert seen == set(states)


def test_fail_states_use_our_own_error_names() -> None:
    fails = {name: s["Error"] for name, s in asl()["States"].items() if s["Type"] == "Fail"}
    assert fails and all(error.startswith("KbSync.") for error in fails.values()), fails


def test_every_task_retries() -> None:
    tasks = {name: s for name, s in asl()["States"].items() if s["Type"] == "Task"}
    assert tasks and all(s.get("Retry") for s in tasks.values()), [n for n, s in tasks.items() if not s.get("Retry")]


# ------------------------------------------------------------------ cfn-lint on the SAM-transformed template


def with_definition_object(cfn: dict[str, Any]) -> dict[str, Any]:
    """SAM emits DefinitionString (an Fn::Join of lines), which cfn-lint does not look into; the equivalent
    Definition object is what its state-machine rules validate."""
    result = copy.deepcopy(cfn)
    for resource in result["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and "DefinitionString" in props:
            separator, lines = props.pop("DefinitionString")["Fn::Join"]
            props["Definition"] = json.loads(separator.join(lines))
    return result


def lint_matches(cfn: dict[str, Any]) -> list[str]:
    matches = lint(json.dumps(cfn), config=ManualArgs(regions=["us-east-1"]))
    return [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches]


@cache
def transformed() -> dict[str, Any]:
    return with_definition_object(transformed_template())


def test_sam_transform_produces_the_state_machine_with_its_definition() -> None:
    props = transformed()["Resources"][STATE_MACHINE]["Properties"]
    assert props["Definition"]["StartAt"] == asl()["StartAt"]
    assert set(props["DefinitionSubstitutions"]) == set(substitutions())
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["StateMachineType"] == "STANDARD"


def test_cfn_lint_passes_on_the_transformed_template() -> None:
    assert lint_matches(transformed()) == []


def test_cfn_lint_sees_inside_the_state_machine_definition() -> None:
    """Negative control: a broken state in the transformed definition is reported."""
    broken = copy.deepcopy(transformed())
    broken["Resources"][STATE_MACHINE]["Properties"]["Definition"]["States"]["Initialize"]["Type"] = "Bogus"
    assert any("Bogus" in match for match in lint_matches(broken))


# ------------------------------------------------------------------ template facts the workflow requires


def test_iam_is_scoped_to_knowledge_bases_never_bedrock_star() -> None:
    text = json.dumps(transformed())
    assert '"bedrock:*"' not in text
    for resource in transformed()["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("bedrock:") for a in actions):
                    assert statement["Resource"] != "*"
                    assert "knowledge-base/" in json.dumps(statement["Resource"])


def test_required_outputs_exist() -> None:
    outputs = template()["Outputs"]
    for name in ("IngestionSyncStateMachineArn", "JobsTableName", "AlertsTopicArn", "AlertsKeyArn"):
        assert name in outputs


def test_jobs_table_is_protected_and_has_the_status_index() -> None:
    table = template()["Resources"]["JobsTable"]
    assert table["DeletionPolicy"] == "Retain"
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    indexes = {
        index["IndexName"]: [k["AttributeName"] for k in index["KeySchema"]]
        for index in props["GlobalSecondaryIndexes"]
    }
    assert indexes == {"byStatus": ["status", "startedAt"], "byJobId": ["ingestionJobId"]}


def test_default_budgets_fit_the_execution_timeout_and_the_history_limit() -> None:
    params = {name: int(p["Default"]) for name, p in template()["Parameters"].items() if p["Type"] == "Number"}
    worst_case = (
        params["PollBudget"] * params["MaxPollIntervalSeconds"] * params["MaxStartAttempts"]
        + params["ConflictWaitSeconds"] * params["MaxConflictWaits"]
    )
    assert worst_case < asl()["TimeoutSeconds"]
    events_per_poll = 9  # Wait (2) + Lambda task (5) + Choice (2)
    most_polls = (
        template()["Parameters"]["PollBudget"]["MaxValue"] * template()["Parameters"]["MaxStartAttempts"]["MaxValue"]
    )
    assert most_polls * events_per_poll < 25_000 / 2
