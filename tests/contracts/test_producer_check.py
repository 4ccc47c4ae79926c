"""The producer check itself (tests/contracts/producers.py): it must see a broken message, name the function, the
contract and the field, and stay quiet for a valid one — otherwise every e2e test would vouch for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contracts import producers

SYNC_GATE = Path("functions/sync_gate")
RELEASE_GATE = {
    "action": "releaseGate",
    "holder": "s3-KB12345678-DS12345678-1",
    "knowledgeBaseId": "KB12345678",
    "dataSourceId": "DS12345678",
    "seen": 3,
}


def test_a_valid_message_is_not_reported() -> None:
    producers.taken()
    producers.check(SYNC_GATE, "kbsync-SyncGate", RELEASE_GATE)
    assert producers.taken() == []


def test_a_broken_message_is_reported_naming_the_function_the_contract_and_the_field() -> None:
    producers.taken()
    producers.check(SYNC_GATE, "kbsync-SyncGate", {**RELEASE_GATE, "seen": "3"})
    assert producers.taken() == [
        "kbsync-SyncGate (sync_gate) received an event that breaks sync-gate-input: "
        "/seen: type: '3' is not of type 'integer'"
    ]


def test_each_function_is_held_to_its_own_contract() -> None:
    assert producers.contract_for(Path("functions/upload_router"), {"detail-type": "Object Created"}) == "upload-event"
    assert producers.contract_for(SYNC_GATE, RELEASE_GATE) == "sync-gate-input"
    assert producers.contract_for(Path("functions/pacer"), {}) == "pacer-input"
    assert producers.contract_for(Path("functions/nightly_plan"), {}) == "nightly-plan-input"
    assert producers.contract_for(Path("functions/send_alert"), {}) == "send-alert-input"
    assert producers.contract_for(Path("tests/localcloud/tiny_app"), {}) is None


def test_a_step_sent_to_the_wrong_function_is_reported() -> None:
    """One contract per function: a pacer step sent to the sync gate function breaks the gate's contract."""
    producers.taken()
    producers.check(SYNC_GATE, "kbsync-SyncGate", {"action": "releaseSlot", "holder": "s3-KB12345678-DS12345678-1"})
    [found] = producers.taken()
    assert found.startswith(
        "kbsync-SyncGate (sync_gate) received an event that breaks sync-gate-input: /action: enum: "
    )


@pytest.mark.forged_events
def test_a_test_that_forges_events_is_excused() -> None:
    producers.check(SYNC_GATE, "kbsync-SyncGate", {"action": "nope"})
    assert producers.taken() == []


def test_every_function_of_the_template_has_a_contract() -> None:
    functions = {path.name for path in Path(__file__).resolve().parents[2].joinpath("functions").iterdir()
                 if (path / "app.py").is_file()}  # fmt: skip
    assert functions == set(producers.CONTRACTS)
