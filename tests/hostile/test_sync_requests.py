"""Hostile sync requests through the contract (kbsync_contracts) and the workflow's validate function.

Never a crash; a clear refusal naming the field; a request is accepted exactly when the schema accepts it; the
accepted request is exactly what was sent (plus empty optional fields) — nothing injected, nothing lost.
"""

from __future__ import annotations

import re
from typing import Any

import kbsync_contracts
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers.functions import FakeLambdaContext, load_function
from tests.hostile.strategies import json_values, near_valid_requests, unstorable_text, valid_requests

fn = load_function("validate_request")
FIELDS = ("knowledgeBaseId", "dataSourceId", "trigger", "reason", "requestedBy")
ID = re.compile(r"^[0-9a-zA-Z]{10}$")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _is_valid(document: Any) -> bool:
    """The contract, restated independently of jsonschema (a second opinion on the schema)."""
    if not isinstance(document, dict) or not set(document) <= {*FIELDS[:5]}:
        return False
    ids_ok = all(
        isinstance(document.get(k), str) and ID.fullmatch(document[k]) for k in ("knowledgeBaseId", "dataSourceId")
    )
    texts_ok = all(
        isinstance(document.get(k, ""), str) and len(document.get(k, "")) <= limit and _printable(document.get(k, ""))
        for k, limit in (("reason", 500), ("requestedBy", 200))
    )
    return bool(ids_ok and texts_ok and document.get("trigger") in ("schedule", "s3", "manual"))


def _printable(text: str) -> bool:
    """Storable in DynamoDB and publishable in SNS: UTF-8 encodable (no lone surrogate), no C0/C1 control
    character or DEL, no U+FFFE/U+FFFF."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\ufffe\uffff" for c in text)


@FAST
@given(valid_requests())
def test_valid_requests_are_accepted_unchanged(request: dict[str, Any]) -> None:
    verdict = fn.check_request(request)
    assert verdict["valid"] is True, verdict
    assert verdict["request"] == {"reason": "", "requestedBy": "", **request}


@FAST
@given(near_valid_requests() | json_values)
@example({"knowledgeBaseId": "KB12345678\n", "dataSourceId": "DS12345678", "trigger": "manual"})
@example({"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual", "reason": None})
@example({"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual", "reason": "\ud800"})
@example({"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual", "requestedBy": "a\nb"})
def test_hostile_requests_are_refused_naming_the_field_never_a_crash(document: Any) -> None:
    problems = kbsync_contracts.problems("sync-request", document)
    assert (problems == []) == _is_valid(document), (document, problems)
    verdict = fn.check_request(document)
    assert verdict["valid"] is (problems == [])
    if not verdict["valid"]:
        assert "request" not in verdict  # nothing half-accepted travels on
        assert verdict["message"].startswith("invalid sync request: ")
        # Each problem: "<JSON pointer>: <rule>: <sentence>", the pointer naming a field of the contract, an extra
        # field (additionalProperties) or the whole document.
        for problem in problems:
            where, rule, _ = problem.split(": ", 2)
            assert where == "(document)" or where.startswith("/"), problem
            assert where == "(document)" or where.split("/")[1] in FIELDS or rule == "additionalProperties", problem
        assert len(verdict["message"]) < 20_000  # the Fail state's Cause stays small whatever was sent
        verdict["message"].encode("utf-8")  # and storable: the offending text is never echoed raw


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(["request", "Request", "input"]), json_values)))
def test_validate_handler_never_raises_on_any_event(event: Any) -> None:
    result = fn.lambda_handler(event, FakeLambdaContext())
    assert set(result) in ({"valid", "request"}, {"valid", "problems", "message"})


@FAST
@given(st.text(max_size=3000))
def test_contract_error_message_is_bounded_per_field(value: str) -> None:
    problems = kbsync_contracts.problems(
        "sync-request", {"knowledgeBaseId": value, "dataSourceId": value, "trigger": value}
    )
    assert all(len(problem) <= 300 for problem in problems)


@FAST
@given(valid_requests(), st.sampled_from(["reason", "requestedBy"]), unstorable_text)
def test_unstorable_free_text_is_refused_naming_the_field_and_the_rule(
    request: dict[str, Any], field: str, text: str
) -> None:
    """A lone surrogate or a control character in reason/requestedBy passed validation, the job started and the
    record write failed: a Bedrock job without a record. Now it is refused before anything starts."""
    verdict = fn.check_request({**request, field: text[:200]})
    assert verdict["valid"] is False
    assert any(problem.startswith(f"/{field}: text: contains ") for problem in verdict["problems"]), verdict
