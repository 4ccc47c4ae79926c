"""Static checks of the trigger state machines, the template's trigger section and the eventbridge/ files."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

from tests.helpers.functions import load_module
from tests.helpers.sam import definition_file, load_template

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
MACHINES = ("SyncGateStateMachine", "NightlyFanOutStateMachine")
pacer_logic = load_module("pacer", "pacer_logic")
nightly = load_module("nightly_plan", "nightly_plan_logic")
router = load_module("upload_router", "upload_router_logic")


@cache
def template() -> dict[str, Any]:
    return load_template()


def asl_text(logical_id: str) -> str:
    return definition_file(template(), logical_id).read_text(encoding="utf-8")


def substitutions(logical_id: str) -> dict[str, Any]:
    subs: dict[str, Any] = template()["Resources"][logical_id]["Properties"]["DefinitionSubstitutions"]
    return subs


def substituted(logical_id: str, text: str | None = None) -> str:
    arns = {key: f"arn:aws:lambda:us-east-1:123456789012:function:{key}" for key in substitutions(logical_id)}
    return PLACEHOLDER.sub(lambda m: arns[m.group(1)], text if text is not None else asl_text(logical_id))


def all_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, nested ones (Parallel branches, Map item processors) included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch))
        if "ItemProcessor" in state:
            found.update(all_states(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize("logical_id", MACHINES)
def test_placeholders_are_exactly_the_substitution_keys(logical_id: str) -> None:
    assert set(PLACEHOLDER.findall(asl_text(logical_id))) == set(substitutions(logical_id))


@pytest.mark.parametrize("logical_id", MACHINES)
def test_compiles_in_the_local_engine_and_a_broken_one_does_not(logical_id: str) -> None:
    AmazonStateLanguageParser.parse(substituted(logical_id))
    broken = json.loads(asl_text(logical_id))
    broken["States"][broken["StartAt"]]["Type"] = "Bogus"
    with pytest.raises(ASLParserException):
        AmazonStateLanguageParser.parse(substituted(logical_id, json.dumps(broken)))


@pytest.mark.parametrize("logical_id", MACHINES)
def test_fail_states_use_our_error_names_and_every_task_retries(logical_id: str) -> None:
    states = all_states(json.loads(asl_text(logical_id)))
    fails = [s["Error"] for s in states.values() if s["Type"] == "Fail"]
    assert fails and all(error.startswith("KbSync.") for error in fails)
    assert [n for n, s in states.items() if s["Type"] == "Task" and not s.get("Retry")] == []


def test_the_fanout_has_a_few_more_lanes_than_bedrock_has_job_slots() -> None:
    """5 job slots are granted by the pacer (functions/pacer JOB_SLOTS); the extra lanes wait there for one."""
    lanes = json.loads(asl_text("NightlyFanOutStateMachine"))["States"]["SyncTargets"]["MaxConcurrency"]
    assert pacer_logic.DEFAULTS.job_slots == 5
    assert pacer_logic.DEFAULTS.job_slots < lanes <= 2 * pacer_logic.DEFAULTS.job_slots
    assert nightly.DEFAULTS.job_slots == pacer_logic.DEFAULTS.job_slots  # the plan spreads a KB over the slots
    assert lanes == nightly.FANOUT_LANES  # the plan starts one lane execution per lane of the Map


def test_the_nightly_schedule_ships_disabled_with_expression_and_timezone_parameters() -> None:
    params, schedule = template()["Parameters"], template()["Resources"]["NightlySchedule"]["Properties"]
    assert params["NightlyScheduleState"]["Default"] == "DISABLED"
    assert schedule["State"] == {"Ref": "NightlyScheduleState"}
    assert schedule["ScheduleExpression"] == {"Ref": "NightlyScheduleExpression"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "NightlyScheduleTimezone"}
    assert json.loads(schedule["Target"]["Input"]) == json.loads(
        (REPO / "eventbridge/nightly-schedule-input.json").read_text(encoding="utf-8")
    )


def test_rule_targets_retry_into_an_encrypted_alarmed_dead_letter_queue() -> None:
    resources = template()["Resources"]
    for rule in ("UploadRule", "CatchAllRule"):
        [target] = resources[rule]["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TriggersDeadLetterQueue", "Arn"]}}
    assert resources["TriggersDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    alarm = resources["DeadLetterQueueAlarm"]["Properties"]
    assert "AlarmActions" not in alarm  # the alarm relay notifies (AlarmRelayRule, tests/alarms)
    relayed = resources["AlarmRelayRule"]["Properties"]["EventPattern"]["detail"]["alarmName"]
    assert {"Ref": "DeadLetterQueueAlarm"} in relayed
    assert "dead-letter-queue.md" in json.dumps(alarm["AlarmDescription"])


def test_the_catch_all_pattern_matches_our_machines_deaths_only() -> None:
    pattern = template()["Resources"]["CatchAllRule"]["Properties"]["EventPattern"]
    documented = json.loads((REPO / "eventbridge/catch-all-rule.pattern.json").read_text(encoding="utf-8"))
    assert pattern["detail"]["status"] == documented["detail"]["status"] == ["FAILED", "TIMED_OUT", "ABORTED"]
    assert [ref["Ref"] for ref in pattern["detail"]["stateMachineArn"]] == [
        "IngestionSyncStateMachine",
        "SyncGateStateMachine",
        "NightlyFanOutStateMachine",
    ]


@pytest.mark.parametrize("sample", ["s3-object-created.json", "s3-object-deleted.json"])
def test_the_sample_s3_events_are_what_the_router_reads(sample: str) -> None:
    event = json.loads((REPO / "eventbridge/samples" / sample).read_text(encoding="utf-8"))
    detail_type, bucket, key = router.parse_s3_event(event)
    assert (detail_type, bucket) == (event["detail-type"], "kbsync-docs") and key.startswith("tenant-a/")


def test_the_schedule_input_is_a_valid_schedule_payload() -> None:
    payload = json.loads((REPO / "eventbridge/nightly-schedule-input.json").read_text(encoding="utf-8"))
    assert nightly.check_schedule_payload(payload) == payload
