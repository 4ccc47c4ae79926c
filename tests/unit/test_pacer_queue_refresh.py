"""functions/pacer: the pacer's queue of waiting rounds keeps each round's place for as long as it keeps asking,
and asking again costs a pacer write only every WAITER_TTL_SECONDS // 2.

Why the refresh is rare: every pacer write bumps its version (optimistic concurrency), so a write per ask from every
waiting round would make the one write that matters, a grant, lose to "contention" again and again. Why it is not
rarer: an entry not seen for WAITER_TTL_SECONDS leaves the queue (a round that died unnoticed), so a round that keeps
asking must refresh its entry well before that, or it loses its place to the rounds that came after it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

import kbsync_pacer
import pytest

from tests.helpers.functions import load_module
from tests.triggers.support import aws, create_targets_table

pacer_logic = load_module("pacer", "pacer_logic")
NOW = 1_800_000_000
#: Seconds between a Wait state's end and the pacer's answer (the Lambda invoke, the state transitions).
LATENCY = 1


class CountingPacer:
    """The pacer table (moto's DynamoDB), counting the writes the function makes."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.writes = 0

    def get_item(self, **kwargs: Any) -> Any:
        return self.table.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        self.writes += 1
        return self.table.put_item(**kwargs)


@pytest.fixture
def pacer(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingPacer]:
    with aws(monkeypatch):
        yield CountingPacer(create_targets_table())


def fill_the_account(pacer: CountingPacer) -> None:
    """JOB_SLOTS rounds hold a slot each (their jobs run for hours) and gave the start token back."""
    for i in range(pacer_logic.DEFAULTS.job_slots):
        assert pacer_logic.acquire_slot(pacer, f"h{i}", f"KB{i:08d}", NOW, ds=f"DS{i:08d}")["granted"] is True
        pacer_logic.release_pacer(pacer, f"h{i}", slot=False, start_token=True)


def test_rounds_that_keep_asking_keep_their_places_and_rarely_write(pacer: CountingPacer) -> None:
    """Three rounds wait for an hour, each asking again when told (plus a second of latency): their order never
    changes, and each writes the pacer about once per half TTL, not once per ask."""
    fill_the_account(pacer)
    waiters = ["first", "second", "third"]
    asks: list[tuple[int, str]] = []
    for index, holder in enumerate(waiters):
        answer = pacer_logic.acquire_slot(pacer, holder, f"KB{10 + index:08d}", NOW + index)
        assert answer["position"] == index
        heapq.heappush(asks, (NOW + index + answer["waitSeconds"] + LATENCY, holder))
    writes_before, count = pacer.writes, 0
    duration = 3600
    while asks[0][0] < NOW + duration:
        now, holder = heapq.heappop(asks)
        answer = pacer_logic.acquire_slot(pacer, holder, f"KB{10 + waiters.index(holder):08d}", now)
        assert (answer["granted"], answer["reason"]) == (False, "account job slots full")
        assert answer["position"] == waiters.index(holder), f"{holder} lost its place after {now - NOW} s"
        heapq.heappush(asks, (now + answer["waitSeconds"] + LATENCY, holder))
        count += 1
    refreshes = pacer.writes - writes_before
    half_ttl = pacer_logic.DEFAULTS.waiter_ttl_seconds // 2
    assert count > 10 * len(waiters) * duration // half_ttl  # the rounds asked often...
    assert refreshes <= len(waiters) * (duration // half_ttl + 1)  # ...and wrote about once per half TTL each
    assert refreshes >= len(waiters) * (
        duration // pacer_logic.DEFAULTS.waiter_ttl_seconds
    )  # (and did refresh: see the place)


def entry_seen(age: int) -> tuple[dict[str, Any], dict[str, Any]]:
    item = {"queueSeq": 7}
    return item, {"waiting": {"seq": 4, "seenAt": NOW - age}}


@pytest.mark.parametrize("age", [0, 1, pacer_logic.DEFAULTS.waiter_ttl_seconds // 2 - 1])
def test_an_entry_younger_than_half_the_ttl_is_left_alone(age: int) -> None:
    item, waiters = entry_seen(age)
    assert pacer_logic.join_queue(item, waiters, "waiting", NOW) is False  # nothing to write
    assert waiters["waiting"] == {"seq": 4, "seenAt": NOW - age} and item == {"queueSeq": 7}


@pytest.mark.parametrize(
    "age",
    [
        pacer_logic.DEFAULTS.waiter_ttl_seconds // 2,
        pacer_logic.DEFAULTS.waiter_ttl_seconds // 2 + 1,
        pacer_logic.DEFAULTS.waiter_ttl_seconds,
    ],
)
def test_an_entry_half_the_ttl_old_is_refreshed_keeping_its_place(age: int) -> None:
    item, waiters = entry_seen(age)
    assert pacer_logic.join_queue(item, waiters, "waiting", NOW) is True
    assert waiters["waiting"] == {"seq": 4, "seenAt": NOW} and item == {"queueSeq": 7}


def test_new_rounds_join_at_the_end_in_the_order_they_arrive() -> None:
    item, waiters = entry_seen(0)
    for holder in ("zz-later", "aa-latest"):  # names in the opposite order: only arrival may decide
        assert pacer_logic.join_queue(item, waiters, holder, NOW) is True
        assert waiters[holder]["seenAt"] == NOW
    assert [kbsync_pacer.queue_position(waiters, h) for h in ("waiting", "zz-later", "aa-latest")] == [0, 1, 2]
