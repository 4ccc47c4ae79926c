"""functions/targets: the account pacer keeps Bedrock's quotas; the nightly plan reads the registry, longest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.functions import load_function
from tests.triggers.support import DS, KB, KB2, aws, create_jobs_table, create_targets_table, register

fn = load_function("targets")
NOW = 1_800_000_000
PAYLOAD = {"trigger": "schedule", "requestedBy": "nightly-schedule"}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def kb(i: int) -> str:
    return f"KB{i:08d}"


def test_five_job_slots_then_wait_and_each_start_needs_the_token(table: Any) -> None:
    for i in range(fn.JOB_SLOTS):
        granted = fn.acquire_slot(table, f"h{i}", kb(i), NOW)
        assert granted == {"granted": True, "waitSeconds": 0, "spacingSeconds": fn.START_SPACING_SECONDS}
        # Until the holder gives the start token back (after the spacing), nobody else may start.
        blocked = fn.acquire_slot(table, "next", kb(99), NOW)
        assert (blocked["granted"], blocked["reason"]) == (False, "start spacing")
        fn.release_pacer(table, f"h{i}", slot=False, start_token=True)
    full = fn.acquire_slot(table, "sixth", kb(5), NOW)
    assert (full["granted"], full["reason"], full["waitSeconds"]) == (
        False,
        "account job slots full",
        fn.SLOT_POLL_SECONDS,
    )
    fn.release_pacer(table, "h0", slot=True, start_token=True)
    assert fn.acquire_slot(table, "sixth", kb(5), NOW)["granted"] is True


def test_one_job_per_knowledge_base(table: Any) -> None:
    assert fn.acquire_slot(table, "a", KB, NOW)["granted"] is True
    fn.release_pacer(table, "a", slot=False, start_token=True)
    same_kb = fn.acquire_slot(table, "b", KB, NOW)
    assert (same_kb["granted"], same_kb["reason"]) == (False, "knowledge base busy")
    assert fn.acquire_slot(table, "c", KB2, NOW)["granted"] is True


def test_a_vanished_holder_never_wedges_the_account(table: Any) -> None:
    for i in range(fn.JOB_SLOTS):
        fn.acquire_slot(table, f"h{i}", kb(i), NOW)
        fn.release_pacer(table, f"h{i}", slot=False, start_token=True)
    fn.acquire_slot(table, "h0", kb(0), NOW)  # already holds a slot: idempotent, takes the token again
    later = NOW + fn.GATE_LEASE_SECONDS + 1
    assert fn.acquire_slot(table, "fresh", kb(7), later)["granted"] is True


def test_release_is_idempotent(table: Any) -> None:
    fn.acquire_slot(table, "a", KB, NOW)
    assert fn.release_pacer(table, "a", slot=True, start_token=True) == {"released": True}
    assert fn.release_pacer(table, "a", slot=True, start_token=True) == {"released": True}
    assert fn.release_pacer(table, "never", slot=True, start_token=True) == {"released": True}


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (None, "expected a JSON object"),
        ({"requestedBy": "x"}, "'trigger'"),
        ({"trigger": "schedule"}, "'requestedBy'"),
        ({"trigger": "schedule", "requestedBy": ""}, "'requestedBy'"),
    ],
)
def test_a_bad_schedule_payload_is_rejected_naming_the_field(table: Any, payload: Any, named: str) -> None:
    with pytest.raises(fn.InvalidRequest, match=named):
        fn.plan_night(payload, table, None)


def job(jobs: Any, kb_id: str, ds: str, started: str, updated: str, status: str = "COMPLETE") -> None:
    jobs.put_item(
        Item={
            "pk": f"DS#{kb_id}#{ds}",
            "sk": f"JOB#{started}#ABCDEFGHIJ",
            "status": status,
            "startedAt": started,
            "updatedAt": updated,
        }
    )


def test_nightly_plan_orders_longest_previous_job_first_and_skips_nightly_off(table: Any) -> None:
    jobs = create_jobs_table()
    register(table, kb(1), DS, "b1")
    register(table, kb(2), DS, "b1")
    register(table, kb(3), DS, "b1")
    register(table, kb(4), DS, "b1", nightly=False)
    job(jobs, kb(1), DS, "2026-11-21T02:00:00+00:00", "2026-11-21T02:05:00+00:00")  # 5 min
    job(jobs, kb(2), DS, "2026-11-21T02:00:00+00:00", "2026-11-21T02:40:00+00:00")  # 40 min
    job(jobs, kb(2), DS, "2026-11-21T03:00:00+00:00", "2026-11-21T03:00:10+00:00", status="IN_PROGRESS")
    plan = fn.plan_night(PAYLOAD, table, jobs)
    order = [t["gateInput"]["request"]["knowledgeBaseId"] for t in plan["targets"]]
    assert plan["count"] == 3
    assert order == [kb(3), kb(2), kb(1)]  # never synced first (full scan), then 40 min, then 5 min
    first = plan["targets"][0]
    assert first["gateInput"] == {
        "request": {
            "knowledgeBaseId": kb(3),
            "dataSourceId": DS,
            "trigger": "schedule",
            "requestedBy": "nightly-schedule",
        },
        "settleSeconds": 0,
        "ifBusy": "skip",
    }
    assert first["executionName"].startswith(f"schedule-{kb(3)}-{DS}-")
    assert len(first["executionName"]) <= 80


def test_nightly_plan_reads_every_page_of_the_registry(table: Any) -> None:
    class Paged:
        """A table whose scan returns one item per page, as DynamoDB does past 1 MB."""

        def __init__(self, items: list[dict[str, Any]]) -> None:
            self.items = items

        def scan(self, **kwargs: Any) -> dict[str, Any]:
            start = int(kwargs.get("ExclusiveStartKey", {}).get("i", 0))
            page: dict[str, Any] = {"Items": self.items[start : start + 1]}
            if start + 1 < len(self.items):
                page["LastEvaluatedKey"] = {"i": start + 1}
            return page

    items = [{"pk": f"DS#{kb(i)}#{DS}", "knowledgeBaseId": kb(i), "dataSourceId": DS} for i in range(7)]
    assert fn.plan_night(PAYLOAD, Paged(items), None)["count"] == 7


def test_spread_keeps_a_knowledge_base_out_of_parallel_lanes_when_it_can() -> None:
    targets = [{"kb": "A"}, {"kb": "A"}, {"kb": "A"}, {"kb": "B"}, {"kb": "C"}, {"kb": "D"}, {"kb": "E"}]
    spread = [t["kb"] for t in fn.spread_knowledge_bases(targets, lanes=3)]
    assert spread == ["A", "B", "C", "A", "D", "E", "A"]
