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
        ({**GOOD, "knowledgeBaseId": "kb-1"}, "knowledgeBaseId"),
        ({**GOOD, "dataSourceId": "DS1234567"}, "dataSourceId"),
        ({k: v for k, v in GOOD.items() if k != "trigger"}, "'trigger' is a required property"),
        ({**GOOD, "trigger": "cron"}, "trigger"),
        ({**GOOD, "priority": "high"}, "unexpected field(s) 'priority'"),
    ],
)
def test_invalid_request_names_the_field(request_doc: dict[str, Any], named: str) -> None:
    verdict = fn.check_request(request_doc)
    assert verdict["valid"] is False
    assert named in verdict["message"]
    assert "request" not in verdict


def test_every_bad_field_is_named_at_once() -> None:
    verdict = fn.check_request({"knowledgeBaseId": "x", "extra": 1})
    message = verdict["message"]
    assert "knowledgeBaseId" in message and "'dataSourceId' is a required property" in message
    assert "'extra'" in message


@pytest.mark.parametrize("event", [{"request": None}, {"request": ["KB12345678"]}, {"request": "text"}, {}])
def test_handler_refuses_non_object_requests(event: dict[str, Any]) -> None:
    verdict = fn.lambda_handler(event, FakeLambdaContext())
    assert verdict["valid"] is False
    assert verdict["message"].startswith("invalid sync request: ")


def test_handler_accepts_the_state_machine_payload_shape() -> None:
    assert fn.lambda_handler({"request": GOOD}, FakeLambdaContext())["valid"] is True
