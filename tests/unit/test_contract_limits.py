"""schemas/kbsync_contracts.py: the bounds of what a rejection says and of the text kbsync builds itself.

A rejection names every bad field but stays short enough for a Fail state's Cause (32,768 characters), a CLI line and
a log: it quotes at most 60 characters of an offending value, names a key in a pointer with at most 80, says at most
200 characters of a rule's own message, and lists MAX_LISTED problems then how many more. Text kbsync builds itself
(an upload's S3 key, the CLI's identity) is cut to the contract's maxLength, never rejected. The free-text rule names
the kind of character it refuses, lone surrogates (U+D800..U+DFFF, both ends included) apart.
"""

from __future__ import annotations

from typing import Any

import kbsync_contracts
import pytest
from jsonschema import Draft202012Validator

GOOD = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual"}
FIELDS = kbsync_contracts.schema("sync-request")["properties"]


def only(name: str, document: Any) -> kbsync_contracts.Violation:
    found = kbsync_contracts.violations(name, document)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ an unexpected field: quoted 60, pointer 80


@pytest.mark.parametrize("length", [59, 60])
def test_an_unexpected_field_up_to_60_characters_is_quoted_whole(length: int) -> None:
    key = "k" * length
    violation = only("sync-request", {**GOOD, key: 1})
    assert violation.message == f"unexpected field {key!r} (not in the contract)"


@pytest.mark.parametrize("length", [61, 79])
def test_a_longer_unexpected_field_is_quoted_as_its_first_57_characters_and_an_ellipsis(length: int) -> None:
    key = "".join(chr(ord("a") + i % 26) for i in range(length))
    violation = only("sync-request", {**GOOD, key: 1})
    assert violation.message == f"unexpected field {key[:57] + '...'!r} (not in the contract)"
    assert violation.pointer == f"/{key}"  # the pointer still names it whole


def test_the_quote_counts_the_escapes_of_forbidden_characters() -> None:
    key = "\x00" * 15  # 15 characters, 60 once each is written \x00
    assert only("sync-request", {**GOOD, key: 1}).message == f"unexpected field {'\\x00' * 15!r} (not in the contract)"
    longer = "\x00" * 16  # 64 once escaped: cut
    assert only("sync-request", {**GOOD, longer: 1}).message == (
        f"unexpected field {('\\x00' * 15)[:57] + '...'!r} (not in the contract)"
    )


@pytest.mark.parametrize("length", [79, 80])
def test_a_key_up_to_80_characters_is_named_whole_in_its_pointer(length: int) -> None:
    key = "p" * length
    assert only("sync-request", {**GOOD, key: 1}).pointer == f"/{key}"
    missing = kbsync_contracts.pointer([key, 0, "x"], base="/request")
    assert missing == f"/request/{key}/0/x"


@pytest.mark.parametrize("length", [81, 500])
def test_a_longer_key_is_named_by_its_first_77_characters_and_an_ellipsis(length: int) -> None:
    key = "".join(chr(ord("a") + i % 26) for i in range(length))
    assert only("sync-request", {**GOOD, key: 1}).pointer == f"/{key[:77]}..."
    assert kbsync_contracts.pointer_token(key + "/~") == f"{key[:77]}..."  # cut first, then RFC 6901 escapes


def test_rfc_6901_escapes_apply_to_the_key_as_shown() -> None:
    key = "a/b~c" + "d" * 75  # 80 characters: shown whole, ~ and / escaped
    assert kbsync_contracts.pointer_token(key) == "a~1b~0c" + "d" * 75


# ------------------------------------------------------------------ a rule's own message: 200 characters


def raw_trigger_message(value: str) -> str:
    """jsonschema's own message for an unknown trigger (what _violation shortens)."""
    errors = list(Draft202012Validator(kbsync_contracts.schema("sync-request")).iter_errors({**GOOD, "trigger": value}))
    assert [e.validator for e in errors] == ["enum"]
    return str(errors[0].message)


def trigger_of_message_length(length: int) -> str:
    base = len(raw_trigger_message(""))
    value = "".join(chr(ord("a") + i % 26) for i in range(length - base))
    assert len(raw_trigger_message(value)) == length
    return value


@pytest.mark.parametrize("length", [199, 200])
def test_a_rule_message_up_to_200_characters_is_given_whole(length: int) -> None:
    value = trigger_of_message_length(length)
    violation = only("sync-request", {**GOOD, "trigger": value})
    assert (violation.pointer, violation.rule) == ("/trigger", "enum")
    assert violation.message == raw_trigger_message(value)


@pytest.mark.parametrize("length", [201, 202, 5_000])
def test_a_longer_rule_message_is_cut_to_200_characters_ending_in_an_ellipsis(length: int) -> None:
    value = trigger_of_message_length(length)
    message = only("sync-request", {**GOOD, "trigger": value}).message
    assert message == raw_trigger_message(value)[:197] + "..."
    assert len(message) == 200


# ------------------------------------------------------------------ how many problems a rejection lists


def test_a_rejection_with_max_listed_problems_lists_them_all_and_no_more_line() -> None:
    extra = {f"x{i:02d}": i for i in range(kbsync_contracts.MAX_LISTED)}
    with pytest.raises(kbsync_contracts.ContractError) as raised:
        kbsync_contracts.validate("sync-request", {**GOOD, **extra})
    text = str(raised.value)
    assert text.count("unexpected field") == kbsync_contracts.MAX_LISTED
    assert "more problem(s)" not in text and not text.endswith("; ")


@pytest.mark.parametrize("more", [1, 2, 980])
def test_a_rejection_with_more_problems_lists_max_listed_then_says_how_many_more(more: int) -> None:
    extra = {f"x{i:04d}": i for i in range(kbsync_contracts.MAX_LISTED + more)}
    with pytest.raises(kbsync_contracts.ContractError) as raised:
        kbsync_contracts.validate("sync-request", {**GOOD, **extra})
    text = str(raised.value)
    assert text.count("unexpected field") == kbsync_contracts.MAX_LISTED
    assert text.endswith(f"; ... and {more} more problem(s)")
    assert len(raised.value.problems) == kbsync_contracts.MAX_LISTED + more  # the caller still has them all


def test_a_rejection_of_a_hostile_document_fits_a_fail_states_cause() -> None:
    hostile = {**GOOD, "trigger": "t" * 100_000, **{("\x00" + "k" * 5_000 + str(i)): i for i in range(2_000)}}
    with pytest.raises(kbsync_contracts.ContractError) as raised:
        kbsync_contracts.validate("sync-request", hostile)
    assert len(str(raised.value)) <= 32_768


# ------------------------------------------------------------------ lone surrogates: U+D800..U+DFFF


@pytest.mark.parametrize(("char", "kind"), [("\ud800", "a lone surrogate"), ("\udfff", "a lone surrogate")])
def test_both_ends_of_the_surrogate_range_are_named_lone_surrogates(char: str, kind: str) -> None:
    violation = only("sync-request", {**GOOD, "requestedBy": f"al{char}ice"})
    assert (violation.pointer, violation.rule) == ("/requestedBy", "text")
    assert violation.message == (f"contains {kind} U+{ord(char):04X} at index 2 (free text must be printable UTF-8)")


@pytest.mark.parametrize("char", ["\ud7ff", "\ue000", "\u00a0", "\U0001f600"])
def test_the_neighbours_of_the_surrogate_range_are_printable_text(char: str) -> None:
    assert kbsync_contracts.problems("sync-request", {**GOOD, "requestedBy": f"al{char}ice"}) == []


@pytest.mark.parametrize(
    ("char", "kind"), [("\x00", "a control character"), ("\x9f", "a control character"), ("\uffff", "a noncharacter")]
)
def test_other_forbidden_characters_are_not_called_surrogates(char: str, kind: str) -> None:
    assert kbsync_contracts.text_problem(f"x{char}") == (
        f"contains {kind} U+{ord(char):04X} at index 1 (free text must be printable UTF-8)"
    )


# ------------------------------------------------------------------ text kbsync builds: cut to the contract's maxLength


@pytest.mark.parametrize("field", ["reason", "requestedBy"])
def test_built_text_of_the_contracts_length_is_kept_whole(field: str) -> None:
    limit = FIELDS[field]["maxLength"]
    text = "".join(chr(ord("a") + i % 26) for i in range(limit))
    assert kbsync_contracts.normalize_text(text, limit) == text
    assert kbsync_contracts.problems("sync-request", {**GOOD, field: text}) == []


@pytest.mark.parametrize("field", ["reason", "requestedBy"])
@pytest.mark.parametrize("over", [1, 2, 10_000])
def test_longer_built_text_is_cut_to_the_contracts_length_ending_in_an_ellipsis(field: str, over: int) -> None:
    limit = FIELDS[field]["maxLength"]
    text = "".join(chr(ord("a") + i % 26) for i in range(limit + over))
    normalized = kbsync_contracts.normalize_text(text, limit)
    assert normalized == text[: limit - 3] + "..."
    assert kbsync_contracts.problems("sync-request", {**GOOD, field: normalized}) == []


def test_escapes_count_toward_the_length() -> None:
    text = "s3://bucket/" + "\n" * 200  # 12 + 400 characters once each newline is written \n
    normalized = kbsync_contracts.normalize_text(text, 200)
    assert normalized == ("s3://bucket/" + "\\n" * 200)[:197] + "..."
    assert kbsync_contracts.problems("sync-request", {**GOOD, "requestedBy": normalized}) == []


@pytest.mark.parametrize(("limit", "expected"), [(3, "..."), (4, "a..."), (5, "ab...")])
def test_a_tiny_limit_still_holds(limit: int, expected: str) -> None:
    assert kbsync_contracts.normalize_text("abcdefgh", limit) == expected
