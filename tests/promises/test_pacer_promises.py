"""The pacer's accounting and spacing (functions/pacer), pinned where it lives: the account-wide pacer item.

Promises (design.md section 3, Bedrock quotas): at most JOB_SLOTS jobs in the account, one per knowledge base, and
StartIngestionJob at most once per START_SPACING_SECONDS (0.1 request/s). Releasing gives back exactly what the
holder held: a slot released twice (a retried ReleaseSlot) frees one slot, never another holder's, and a release of
the start token alone keeps the slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kbsync_gate
import kbsync_keys
import pytest
from botocore.exceptions import ClientError

from tests.helpers.functions import load_module
from tests.triggers.support import aws, create_targets_table

pacer_logic = load_module("pacer", "pacer_logic")
NOW = 1_800_000_000


@pytest.fixture
def pacer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def kb(i: int) -> str:
    return f"KB{i:08d}"


def held_slots(pacer: Any) -> set[str]:
    item = pacer.get_item(Key=kbsync_keys.PACER_KEY, ConsistentRead=True).get("Item") or {}
    return set(item.get("slots", {}))


def fill(pacer: Any, count: int) -> None:
    """`count` holders, each granted a slot and the token, then giving the token back (their start was spaced)."""
    for i in range(count):
        assert pacer_logic.acquire_slot(pacer, f"h{i}", kb(i), NOW, ds=f"DS{i:08d}")["granted"] is True
        pacer_logic.release_pacer(pacer, f"h{i}", slot=False, start_token=True)


def test_bedrocks_quotas_are_the_pacers_constants() -> None:
    assert (pacer_logic.DEFAULTS.job_slots, pacer_logic.DEFAULTS.start_spacing_seconds) == (5, 10)


def test_a_slot_released_twice_frees_one_slot_only(pacer: Any) -> None:
    fill(pacer, pacer_logic.DEFAULTS.job_slots)
    assert pacer_logic.release_pacer(pacer, "h0", slot=True, start_token=True) == {"released": True}
    assert pacer_logic.release_pacer(pacer, "h0", slot=True, start_token=True) == {
        "released": True
    }  # a retried release
    assert held_slots(pacer) == {f"h{i}" for i in range(1, pacer_logic.DEFAULTS.job_slots)}
    assert pacer_logic.acquire_slot(pacer, "new1", kb(50), NOW)["granted"] is True
    pacer_logic.release_pacer(pacer, "new1", slot=False, start_token=True)
    refused = pacer_logic.acquire_slot(pacer, "new2", kb(51), NOW)
    assert (refused["granted"], refused["reason"]) == (False, "account job slots full")
    assert len(held_slots(pacer)) == pacer_logic.DEFAULTS.job_slots


def test_releasing_what_one_does_not_hold_frees_nothing(pacer: Any) -> None:
    fill(pacer, pacer_logic.DEFAULTS.job_slots)
    assert pacer_logic.release_pacer(pacer, "stranger", slot=True, start_token=True) == {"released": True}
    assert held_slots(pacer) == {f"h{i}" for i in range(pacer_logic.DEFAULTS.job_slots)}
    refused = pacer_logic.acquire_slot(pacer, "late", kb(60), NOW)
    assert (refused["granted"], refused["reason"]) == (False, "account job slots full")


def test_giving_the_start_token_back_keeps_the_slot(pacer: Any) -> None:
    assert pacer_logic.acquire_slot(pacer, "a", kb(1), NOW, ds="DS00000001")["granted"] is True
    pacer_logic.release_pacer(pacer, "a", slot=False, start_token=True)
    assert held_slots(pacer) == {"a"}
    item = pacer.get_item(Key=kbsync_keys.PACER_KEY, ConsistentRead=True)["Item"]
    assert "startHolder" not in item and item["slots"]["a"]["started"] is True


def test_no_second_start_until_the_first_holder_gives_the_start_token_back(pacer: Any) -> None:
    granted = pacer_logic.acquire_slot(pacer, "a", kb(1), NOW)
    assert granted == {"granted": True, "waitSeconds": 0, "spacingSeconds": pacer_logic.DEFAULTS.start_spacing_seconds}
    for later in (0, 1, pacer_logic.DEFAULTS.start_spacing_seconds, 5 * pacer_logic.DEFAULTS.start_spacing_seconds):
        refused = pacer_logic.acquire_slot(pacer, "b", kb(2), NOW + later)
        assert (refused["granted"], refused["reason"]) == (False, "start spacing"), later
        assert refused["waitSeconds"] == max(1, pacer_logic.DEFAULTS.start_spacing_seconds // 4)
    pacer_logic.release_pacer(pacer, "a", slot=False, start_token=True)
    assert (
        pacer_logic.acquire_slot(pacer, "b", kb(2), NOW + 5 * pacer_logic.DEFAULTS.start_spacing_seconds)["granted"]
        is True
    )


def test_an_abandoned_start_token_expires_after_its_lease(pacer: Any) -> None:
    assert pacer_logic.acquire_slot(pacer, "a", kb(1), NOW)["granted"] is True
    just_before = pacer_logic.acquire_slot(pacer, "b", kb(2), NOW + pacer_logic.DEFAULTS.start_token_lease_seconds)
    assert (just_before["granted"], just_before["reason"]) == (False, "start spacing")
    assert (
        pacer_logic.acquire_slot(pacer, "b", kb(2), NOW + pacer_logic.DEFAULTS.start_token_lease_seconds + 1)["granted"]
        is True
    )


def test_the_start_token_holder_asking_again_is_granted_without_a_second_slot(pacer: Any) -> None:
    assert pacer_logic.acquire_slot(pacer, "a", kb(1), NOW)["granted"] is True
    again = pacer_logic.acquire_slot(pacer, "a", kb(1), NOW + 1)  # a retried AcquireSlot
    assert again == {"granted": True, "waitSeconds": 0, "spacingSeconds": pacer_logic.DEFAULTS.start_spacing_seconds}
    assert held_slots(pacer) == {"a"}


class Contended:
    """The pacer table with another writer: the next `conflicts` conditional writes fail as DynamoDB fails them."""

    def __init__(self, table: Any, conflicts: int, code: str = "ConditionalCheckFailedException") -> None:
        self._table, self.conflicts, self.code, self.writes = table, conflicts, code, 0

    def get_item(self, **kwargs: Any) -> Any:
        return self._table.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        if self.conflicts > 0:
            self.conflicts -= 1
            error: Any = {"Error": {"Code": self.code, "Message": "The conditional request failed"}}
            raise ClientError(error, "PutItem")
        return self._table.put_item(**kwargs)


def test_a_grant_lost_to_a_concurrent_writer_is_not_a_grant(pacer: Any) -> None:
    contended = Contended(pacer, conflicts=1)
    answer = pacer_logic.acquire_slot(contended, "a", kb(1), NOW)
    assert (answer["granted"], answer["reason"]) == (False, "contention")
    assert held_slots(pacer) == set()
    assert pacer_logic.acquire_slot(contended, "a", kb(1), NOW)["granted"] is True  # asking again wins


def test_a_release_lost_to_a_concurrent_writer_is_written_again(pacer: Any) -> None:
    fill(pacer, 2)
    contended = Contended(pacer, conflicts=2)
    assert pacer_logic.release_pacer(contended, "h0", slot=True, start_token=True) == {"released": True}
    assert contended.writes == 3 and held_slots(pacer) == {"h1"}


def test_a_pacer_that_keeps_changing_is_reported_as_contention(pacer: Any) -> None:
    fill(pacer, 1)
    with pytest.raises(kbsync_gate.GateContention):
        pacer_logic.release_pacer(Contended(pacer, conflicts=100), "h0", slot=True, start_token=True)
    assert held_slots(pacer) == {"h0"}


def test_a_write_error_that_is_not_a_lost_race_is_raised(pacer: Any) -> None:
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        pacer_logic.acquire_slot(Contended(pacer, 1, "ProvisionedThroughputExceededException"), "a", kb(1), NOW)


class NothingRunning:
    """ListIngestionJobs answering that no job of the data source runs (a start still on its way, for instance)."""

    def list_ingestion_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return {"ingestionJobSummaries": []}


def test_a_job_never_seen_running_keeps_its_slot_however_often_the_pacer_looks(pacer: Any) -> None:
    fill(pacer, pacer_logic.DEFAULTS.job_slots)
    for attempt in range(3):
        refused = pacer_logic.acquire_slot(
            pacer, "next", kb(9), NOW + attempt, ds="DS00000009", bedrock=NothingRunning()
        )
        assert (refused["granted"], refused["reason"]) == (False, "account job slots full")
    assert held_slots(pacer) == {f"h{i}" for i in range(pacer_logic.DEFAULTS.job_slots)}


def test_a_lost_grant_says_ask_again_in_a_second(pacer: Any) -> None:
    answer = pacer_logic.acquire_slot(Contended(pacer, conflicts=1), "a", kb(1), NOW)
    assert answer == {"granted": False, "waitSeconds": 1, "reason": "contention", "position": 0}


def test_a_release_tries_ten_times_before_reporting_contention(pacer: Any) -> None:
    fill(pacer, 1)
    contended = Contended(pacer, conflicts=100)
    with pytest.raises(kbsync_gate.GateContention):
        pacer_logic.release_pacer(contended, "h0", slot=True, start_token=True)
    assert contended.writes == 10


def test_every_pacer_write_moves_its_version_by_one(pacer: Any) -> None:
    versions = []
    for holder, knowledge_base in (("a", kb(1)), ("b", kb(2))):
        pacer_logic.acquire_slot(pacer, holder, knowledge_base, NOW)
        versions.append(int(pacer.get_item(Key=kbsync_keys.PACER_KEY, ConsistentRead=True)["Item"]["version"]))
        pacer_logic.release_pacer(pacer, holder, slot=False, start_token=True)
        versions.append(int(pacer.get_item(Key=kbsync_keys.PACER_KEY, ConsistentRead=True)["Item"]["version"]))
    assert versions == [1, 2, 3, 4]


def test_waiting_rounds_keep_the_order_they_arrived_in_whatever_their_names(pacer: Any) -> None:
    fill(pacer, pacer_logic.DEFAULTS.job_slots)
    for name in ("zz", "mm", "aa"):
        pacer_logic.acquire_slot(pacer, name, kb(20 + len(name) + ord(name[0])), NOW)
    positions = {name: pacer_logic.acquire_slot(pacer, name, kb(99), NOW)["position"] for name in ("aa", "mm", "zz")}
    assert positions == {"zz": 0, "mm": 1, "aa": 2}


def test_a_slot_holder_asking_again_waits_for_the_token_another_holds(pacer: Any) -> None:
    fill(pacer, 1)  # h0 holds a slot and gave the token back
    assert pacer_logic.acquire_slot(pacer, "b", kb(2), NOW)["granted"] is True  # b now holds the token
    again = pacer_logic.acquire_slot(pacer, "h0", kb(0), NOW + 1)
    assert (again["granted"], again["reason"]) == (False, "start spacing")


def test_releasing_the_slot_only_keeps_the_start_token(pacer: Any) -> None:
    assert pacer_logic.acquire_slot(pacer, "a", kb(1), NOW)["granted"] is True
    pacer_logic.release_pacer(pacer, "a", slot=True, start_token=False)
    refused = pacer_logic.acquire_slot(pacer, "b", kb(2), NOW)
    assert (refused["granted"], refused["reason"]) == (False, "start spacing")


def test_releasing_the_token_only_keeps_a_place_in_the_queue(pacer: Any) -> None:
    fill(pacer, pacer_logic.DEFAULTS.job_slots)
    for name in ("w1", "w2"):
        pacer_logic.acquire_slot(pacer, name, kb(40 + int(name[1])), NOW)
    pacer_logic.release_pacer(pacer, "w1", slot=False, start_token=True)
    assert pacer_logic.acquire_slot(pacer, "w1", kb(41), NOW)["position"] == 0
