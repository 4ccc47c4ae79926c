"""kbsync_contracts: every problem names the field as a JSON pointer and the rule; free text is storable."""

from __future__ import annotations

import json
from typing import Any

import kbsync_contracts
import pytest

GOOD = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual"}


def _alert(**severity: Any) -> dict[str, Any]:
    attribute = {"DataType": "String", "StringValue": "CRITICAL", **severity}
    plain = {"DataType": "String", "StringValue": "x"}
    return {
        "subject": "[CRITICAL] kbsync FAILED: kb KB12345678 / ds DS12345678",
        "message": "body",
        "messageAttributes": {
            "severity": attribute,
            "alertType": {"DataType": "String", "StringValue": "FAILED"},
            "knowledgeBaseId": plain,
            "dataSourceId": plain,
        },
    }


def test_a_nested_extra_property_is_reported_at_its_own_pointer() -> None:
    """additionalProperties inside a nested object: the extra field of that object, not the top-level fields
    (which the old code listed: 'subject', 'message', 'messageAttributes' as 'unexpected' at the nested path)."""
    assert kbsync_contracts.problems("alert", _alert()) == []
    found = kbsync_contracts.problems("alert", _alert(Extra="1"))
    assert found == [
        "/messageAttributes/severity/Extra: additionalProperties: unexpected field 'Extra' (not in the contract)"
    ]


def test_top_level_extra_properties_each_have_a_pointer() -> None:
    found = kbsync_contracts.violations("sync-request", {**GOOD, "b": 1, "a/~x": 2})
    assert [(v.pointer, v.rule) for v in found] == [("/a~1~0x", "additionalProperties"), ("/b", "additionalProperties")]


def test_a_base_pointer_prefixes_every_field() -> None:
    found = kbsync_contracts.problems("sync-request", {"knowledgeBaseId": "KB12345678"}, base="/request")
    assert found == [
        "/request/dataSourceId: required: 'dataSourceId' is a required property",
        "/request/trigger: required: 'trigger' is a required property",
    ]


def test_a_non_object_document_is_named_as_the_document() -> None:
    assert kbsync_contracts.problems("sync-request", []) == ["(document): type: [] is not of type 'object'"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ok é 😀 \u202e", None),
        ("\ud800", "contains a lone surrogate U+D800 at index 0"),
        ("ab\tc", "contains a control character U+0009 at index 2"),
        ("\x9f", "contains a control character U+009F at index 0"),
        ("\ufffe", "contains a noncharacter U+FFFE at index 0"),
    ],
)
def test_text_problem(text: str, problem: str | None) -> None:
    found = kbsync_contracts.text_problem(text)
    assert found is None if problem is None else (found or "").startswith(problem)


def test_normalize_text_makes_any_text_storable() -> None:
    normalized = kbsync_contracts.normalize_text("a\ud800b\nc" + "x" * 600, 500)
    assert normalized.startswith("a\\ud800b\\nc") and len(normalized) == 500 and normalized.endswith("...")
    assert kbsync_contracts.text_problem(normalized) is None
    normalized.encode("utf-8")


def test_the_schema_and_the_code_forbid_the_same_characters() -> None:
    properties = kbsync_contracts.schema("sync-request")["properties"]
    for field in ("reason", "requestedBy"):
        assert properties[field]["not"] == {"pattern": kbsync_contracts.FORBIDDEN_TEXT_PATTERN}
        assert "Rejected, never normalized" in properties[field]["description"]
    # the pattern is a JSON-escaped regex (\uXXXX escapes), readable by any JSON Schema implementation
    assert json.dumps(kbsync_contracts.FORBIDDEN_TEXT_PATTERN).isascii()


def test_a_trailing_newline_is_refused() -> None:
    """Python's `$` matches before a final newline: the schema uses a search for a forbidden character instead."""
    assert kbsync_contracts.problems("sync-request", {**GOOD, "requestedBy": "alice\n"}) == [
        "/requestedBy: text: contains a control character U+000A at index 5 (free text must be printable UTF-8)"
    ]


def test_problems_are_listed_up_to_a_bound() -> None:
    problems = [f"/x{i}: additionalProperties: unexpected" for i in range(25)]
    listed = kbsync_contracts.listing(problems)
    assert listed.count("; ") == 20 and listed.endswith("... and 5 more problem(s)")
