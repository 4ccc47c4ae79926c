"""The producer check itself (tests/contracts/producers.py): it must see a broken message, name the function, the
contract and the field, and stay quiet for a valid one — otherwise every e2e test would vouch for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contracts import producers

TARGETS = Path("functions/targets")
RELEASE_GATE = {
    "action": "releaseGate",
    "holder": "s3-KB12345678-DS12345678-1",
    "knowledgeBaseId": "KB12345678",
    "dataSourceId": "DS12345678",
    "seen": 3,
}


def test_a_valid_message_is_not_reported() -> None:
    producers.taken()
    producers.check(TARGETS, "kbsync-Targets", RELEASE_GATE)
    assert producers.taken() == []


def test_a_broken_message_is_reported_naming_the_function_the_contract_and_the_field() -> None:
    producers.taken()
    producers.check(TARGETS, "kbsync-Targets", {**RELEASE_GATE, "seen": "3"})
    assert producers.taken() == [
        "kbsync-Targets (targets) received an event that breaks targets-input: "
        "/seen: type: '3' is not of type 'integer'"
    ]


def test_an_s3_event_to_the_targets_code_is_held_to_the_upload_contract() -> None:
    assert producers.contract_for(TARGETS, {"detail-type": "Object Created"}) == "upload-event"
    assert producers.contract_for(TARGETS, RELEASE_GATE) == "targets-input"
    assert producers.contract_for(Path("functions/send_alert"), {}) == "send-alert-input"
    assert producers.contract_for(Path("tests/localcloud/tiny_app"), {}) is None


@pytest.mark.forged_events
def test_a_test_that_forges_events_is_excused() -> None:
    producers.check(TARGETS, "kbsync-Targets", {"action": "nope"})
    assert producers.taken() == []


def test_every_function_of_the_template_has_a_contract() -> None:
    functions = {path.name for path in Path(__file__).resolve().parents[2].joinpath("functions").iterdir()
                 if (path / "app.py").is_file()}  # fmt: skip
    assert functions == set(producers.CONTRACTS)
