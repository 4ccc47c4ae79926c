"""functions/validate_request: a bad sync request is refused with every bad field named; a good one normalized."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.functions import FakeLambdaContext, load_function

fn = load_function("validate_request")
GOOD = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual"}


def test_valid_request_is_normalized_with_empty_optional_fields() -> None:
    verdict = fn.check_request(dict(GOOD))
    assert verdict == {"valid": True, "request": {**GOOD, "reason": "", "requestedBy": ""}}


def test_given_optional_fields_are_kept() -> None:
    request = {**GOOD, "reason": "rerun of job X", "requestedBy": "alice"}
    assert fn.check_request(request)["request"] == request


@pytest.mark.parametrize(
    ("request_doc", "named"),
    [
        ({**GOOD, "knowledgeBaseId": "kb-1"}, "/knowledgeBaseId: pattern: "),
        ({**GOOD, "dataSourceId": "DS1234567"}, "/dataSourceId: minLength: "),
        ({k: v for k, v in GOOD.items() if k != "trigger"}, "/trigger: required: 'trigger' is a required property"),
        ({**GOOD, "trigger": "cron"}, "/trigger: enum: "),
        ({**GOOD, "priority": "high"}, "/priority: additionalProperties: unexpected field 'priority'"),
        ({**GOOD, "reason": "r" * 501}, "/reason: maxLength: 501 characters, at most 500 allowed"),
        ({**GOOD, "reason": "fix \ud800"}, "/reason: text: contains a lone surrogate U+D800 at index 4"),
        ({**GOOD, "requestedBy": "alice\n"}, "/requestedBy: text: contains a control character U+000A at index 5"),
        ({**GOOD, "requestedBy": "a\x00b"}, "/requestedBy: text: contains a control character U+0000 at index 1"),
        ({**GOOD, "reason": "\x85"}, "/reason: text: contains a control character U+0085"),
        ({**GOOD, "reason": "\uffff"}, "/reason: text: contains a noncharacter U+FFFF"),
    ],
)
def test_invalid_request_names_the_field_as_a_pointer_and_the_rule(request_doc: dict[str, Any], named: str) -> None:
    verdict = fn.check_request(request_doc)
    assert verdict["valid"] is False
    assert named in verdict["message"]
    assert "request" not in verdict
    verdict["message"].encode("utf-8")  # the Cause itself is always storable: the bad value is never echoed raw


def test_thousands_of_extra_fields_give_a_short_answer() -> None:
    verdict = fn.check_request({**GOOD, **{f"x{i}": i for i in range(5000)}})
    assert verdict["valid"] is False and len(verdict["problems"]) == 20
    assert verdict["message"].endswith("... and 4980 more problem(s)")
    assert len(verdict["message"]) < 5000


def test_every_bad_field_is_named_at_once() -> None:
    verdict = fn.check_request({"knowledgeBaseId": "x", "extra": 1})
    message = verdict["message"]
    assert "/knowledgeBaseId: " in message
    assert "/dataSourceId: required: 'dataSourceId' is a required property" in message
    assert "/extra: additionalProperties: " in message


@pytest.mark.parametrize("event", [{"request": None}, {"request": ["KB12345678"]}, {"request": "text"}, {}])
def test_handler_refuses_non_object_requests(event: dict[str, Any]) -> None:
    verdict = fn.lambda_handler(event, FakeLambdaContext())
    assert verdict["valid"] is False
    assert verdict["message"].startswith("invalid sync request: ")


def test_handler_accepts_the_state_machine_payload_shape() -> None:
    assert fn.lambda_handler({"request": GOOD}, FakeLambdaContext())["valid"] is True


def test_a_request_the_gate_did_not_send_is_its_own_round_1_entered_when_its_execution_started() -> None:
    """The envelope ValidateRequest sends ($$.Execution.Id and StartTime): the normalized request carries the gate
    facts the job record names (a direct `aws stepfunctions start-execution`, outside the sync gate)."""
    arn = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-x"
    event = {"request": GOOD, "executionArn": arn, "executionStartedAt": "2026-11-22T05:04:03.123Z"}
    verdict = fn.lambda_handler(event, FakeLambdaContext())
    gate = {"executionArn": arn, "round": 1, "enteredAt": "2026-11-22T05:04:03.123Z"}
    assert verdict == {"valid": True, "request": {**GOOD, "reason": "", "requestedBy": "", "gate": gate}}
