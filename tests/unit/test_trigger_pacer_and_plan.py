"""functions/pacer: the account pacer keeps Bedrock's quotas; functions/nightly_plan: the nightly plan reads the
registry, longest first."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import kbsync_contracts
import kbsync_gate
import kbsync_keys
import pytest
from botocore.exceptions import ClientError

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.triggers.support import DS, KB, KB2, aws, create_jobs_table, create_targets_table, register

pacer_logic = load_module("pacer", "pacer_logic")
nightly = load_module("nightly_plan", "nightly_plan_logic")
NOW = 1_800_000_000
PAYLOAD = {"trigger": "schedule", "requestedBy": "nightly-schedule"}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def kb(i: int) -> str:
    return f"KB{i:08d}"


def test_five_job_slots_then_wait_and_each_start_needs_the_token(table: Any) -> None:
    for i in range(pacer_logic.DEFAULTS.job_slots):
        granted = pacer_logic.acquire_slot(table, f"h{i}", kb(i), NOW)
        assert granted == {
            "granted": True,
            "waitSeconds": 0,
            "spacingSeconds": pacer_logic.DEFAULTS.start_spacing_seconds,
        }
        # Until the holder gives the start token back (after the spacing), nobody else may start (a full account
        # says so first).
        blocked = pacer_logic.acquire_slot(table, "next", kb(99), NOW)
        reason = "start spacing" if i < pacer_logic.DEFAULTS.job_slots - 1 else "account job slots full"
        assert (blocked["granted"], blocked["reason"]) == (False, reason)
        pacer_logic.release_pacer(table, f"h{i}", slot=False, start_token=True)
    pacer_logic.release_pacer(table, "next", slot=True, start_token=False)  # "next" gives up its place in the queue
    full = pacer_logic.acquire_slot(table, "sixth", kb(5), NOW)
    assert (full["granted"], full["reason"], full["waitSeconds"]) == (
        False,
        "account job slots full",
        pacer_logic.DEFAULTS.slot_poll_seconds,
    )
    pacer_logic.release_pacer(table, "h0", slot=True, start_token=True)
    assert pacer_logic.acquire_slot(table, "sixth", kb(5), NOW)["granted"] is True


def test_one_job_per_knowledge_base(table: Any) -> None:
    assert pacer_logic.acquire_slot(table, "a", KB, NOW)["granted"] is True
    pacer_logic.release_pacer(table, "a", slot=False, start_token=True)
    same_kb = pacer_logic.acquire_slot(table, "b", KB, NOW)
    assert (same_kb["granted"], same_kb["reason"]) == (False, "knowledge base busy")
    assert pacer_logic.acquire_slot(table, "c", KB2, NOW)["granted"] is True


def test_a_vanished_holder_never_wedges_the_account(table: Any) -> None:
    for i in range(pacer_logic.DEFAULTS.job_slots):
        pacer_logic.acquire_slot(table, f"h{i}", kb(i), NOW)
        pacer_logic.release_pacer(table, f"h{i}", slot=False, start_token=True)
    pacer_logic.acquire_slot(table, "h0", kb(0), NOW)  # already holds a slot: idempotent, takes the token again
    later = NOW + pacer_logic.DEFAULTS.gate_lease_seconds + 1
    assert pacer_logic.acquire_slot(table, "fresh", kb(7), later)["granted"] is True


def test_the_longest_waiting_round_asks_often_and_the_rest_rarely(table: Any) -> None:
    for i in range(pacer_logic.DEFAULTS.job_slots):
        pacer_logic.acquire_slot(table, f"h{i}", kb(i), NOW)
        pacer_logic.release_pacer(table, f"h{i}", slot=False, start_token=True)
    answers = [pacer_logic.acquire_slot(table, f"w{i}", kb(10 + i), NOW) for i in range(3)]
    assert [(a["reason"], a["position"], a["waitSeconds"]) for a in answers] == [
        ("account job slots full", 0, pacer_logic.DEFAULTS.slot_poll_seconds),
        ("account job slots full", 1, pacer_logic.DEFAULTS.queue_poll_seconds),
        ("account job slots full", 2, pacer_logic.DEFAULTS.queue_poll_seconds),
    ]
    assert pacer_logic.acquire_slot(table, "w2", kb(12), NOW)["position"] == 2  # asking again keeps one's place
    pacer_logic.release_pacer(table, "h0", slot=True, start_token=True)
    assert pacer_logic.acquire_slot(table, "w0", kb(10), NOW)["granted"] is True
    pacer_logic.release_pacer(table, "w0", slot=False, start_token=True)
    # w1 is now the head of the queue: it asks often.
    again = pacer_logic.acquire_slot(table, "w1", kb(11), NOW)
    assert (again["position"], again["waitSeconds"]) == (0, pacer_logic.DEFAULTS.slot_poll_seconds)
    pacer_logic.release_pacer(
        table, "w1", slot=True, start_token=True
    )  # its round ends some other way: it leaves the queue
    assert pacer_logic.acquire_slot(table, "w2", kb(12), NOW)["position"] == 0


def test_a_queued_round_that_stopped_asking_leaves_the_queue(table: Any) -> None:
    for i in range(pacer_logic.DEFAULTS.job_slots):
        pacer_logic.acquire_slot(table, f"h{i}", kb(i), NOW)
        pacer_logic.release_pacer(table, f"h{i}", slot=False, start_token=True)
    pacer_logic.acquire_slot(table, "dead", kb(10), NOW)  # its execution dies and the catch-all never hears of it
    assert pacer_logic.acquire_slot(table, "alive", kb(11), NOW)["position"] == 1
    later = NOW + pacer_logic.DEFAULTS.waiter_ttl_seconds + 1
    assert pacer_logic.acquire_slot(table, "alive", kb(11), later)["position"] == 0


class FakeBedrockJobs:
    """ListIngestionJobs filtered on the running statuses, answering from a set of running data sources."""

    def __init__(self, running: set[str]) -> None:
        self.running = running
        self.calls: list[str] = []

    def list_ingestion_jobs(self, knowledgeBaseId: str, dataSourceId: str, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["filters"] == [
            {"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS", "STOPPING"]}
        ]
        self.calls.append(dataSourceId)
        if dataSourceId not in self.running:
            return {"ingestionJobSummaries": []}
        summary = {
            "knowledgeBaseId": knowledgeBaseId,
            "dataSourceId": dataSourceId,
            "ingestionJobId": "JOBAAAAAA1",
            "status": "IN_PROGRESS",
            "startedAt": datetime(2026, 11, 22, 5, 0, tzinfo=UTC),  # botocore parses timestamps to datetimes
            "updatedAt": datetime(2026, 11, 22, 5, 1, tzinfo=UTC),
        }
        return {"ingestionJobSummaries": [summary]}


def fill_slots(table: Any) -> None:
    for i in range(pacer_logic.DEFAULTS.job_slots):
        pacer_logic.acquire_slot(table, f"h{i}", kb(i), NOW, ds=f"DS{i:08d}")
        pacer_logic.release_pacer(table, f"h{i}", slot=False, start_token=True)  # spacing passed: its job started


def test_a_slot_whose_job_bedrock_finished_is_free_before_its_execution_notices(table: Any) -> None:
    fill_slots(table)
    all_running = {f"DS{i:08d}" for i in range(pacer_logic.DEFAULTS.job_slots)}
    bedrock = FakeBedrockJobs(running=all_running)
    assert pacer_logic.acquire_slot(table, "next", kb(9), NOW, ds="DS00000009", bedrock=bedrock)["granted"] is False
    bedrock.running = all_running - {"DS00000002"}  # h2's job finished; its execution polls again later
    bedrock.calls.clear()
    granted = pacer_logic.acquire_slot(table, "next", kb(9), NOW, ds="DS00000009", bedrock=bedrock)
    assert granted["granted"] is True
    assert bedrock.calls == ["DS00000000", "DS00000001", "DS00000002"]  # stops at the first finished job
    slots = table.get_item(Key=kbsync_keys.PACER_KEY)["Item"]["slots"]
    assert slots["h2"]["finished"] is True and "next" in slots
    # The finished holder's own release later is a no-op for the others.
    pacer_logic.release_pacer(table, "next", slot=False, start_token=True)
    pacer_logic.release_pacer(table, "h2", slot=True, start_token=True)
    assert set(table.get_item(Key=kbsync_keys.PACER_KEY)["Item"]["slots"]) == {"h0", "h1", "h3", "h4", "next"}


def test_a_job_never_seen_running_keeps_its_slot(table: Any) -> None:
    """Its StartIngestionJob may still be on its way (startup, a throttling retry): not finished, not started."""
    fill_slots(table)
    bedrock = FakeBedrockJobs(running={f"DS{i:08d}" for i in range(pacer_logic.DEFAULTS.job_slots)} - {"DS00000002"})
    refused = pacer_logic.acquire_slot(table, "next", kb(9), NOW, ds="DS00000009", bedrock=bedrock)
    assert (refused["granted"], refused["reason"]) == (False, "account job slots full")


def test_while_bedrock_still_runs_every_job_the_slots_stay_full(table: Any) -> None:
    fill_slots(table)
    bedrock = FakeBedrockJobs(running={f"DS{i:08d}" for i in range(pacer_logic.DEFAULTS.job_slots)})
    refused = pacer_logic.acquire_slot(table, "next", kb(9), NOW, ds="DS00000009", bedrock=bedrock)
    assert (refused["granted"], refused["reason"]) == (False, "account job slots full")


def test_a_holder_that_never_gave_its_start_token_back_is_never_reclaimed(table: Any) -> None:
    for i in range(pacer_logic.DEFAULTS.job_slots):
        pacer_logic.acquire_slot(table, f"h{i}", kb(i), NOW, ds=f"DS{i:08d}")
        if i < pacer_logic.DEFAULTS.job_slots - 1:
            pacer_logic.release_pacer(table, f"h{i}", slot=False, start_token=True)
    later = NOW + pacer_logic.DEFAULTS.start_token_lease_seconds + 1  # h4's token expired; its job may not have started
    bedrock = FakeBedrockJobs(running={f"DS{i:08d}" for i in range(pacer_logic.DEFAULTS.job_slots - 1)})
    refused = pacer_logic.acquire_slot(table, "next", kb(9), later, ds="DS00000009", bedrock=bedrock)
    assert (refused["granted"], refused["reason"]) == (False, "account job slots full")
    assert "DS00000004" not in bedrock.calls


def test_release_is_idempotent(table: Any) -> None:
    pacer_logic.acquire_slot(table, "a", KB, NOW)
    assert pacer_logic.release_pacer(table, "a", slot=True, start_token=True) == {"released": True}
    assert pacer_logic.release_pacer(table, "a", slot=True, start_token=True) == {"released": True}
    assert pacer_logic.release_pacer(table, "never", slot=True, start_token=True) == {"released": True}


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (None, r"\(document\): type: must be a JSON object"),
        ({"requestedBy": "x"}, "/trigger: const: "),
        ({"trigger": "schedule"}, "/requestedBy: type: "),
        ({"trigger": "schedule", "requestedBy": ""}, "/requestedBy: type: "),
        ({"trigger": "schedule", "requestedBy": "nightly\ud800"}, "/requestedBy: text: contains a lone surrogate"),
        ({"trigger": "schedule", "requestedBy": "n", "reason": "a\x1bb"}, "/reason: text: contains a control"),
        ({"trigger": "schedule", "requestedBy": "n", "reason": 7}, "/reason: type: must be a string"),
        ({"trigger": "schedule", "requestedBy": "n", "reason": "r" * 501}, "/reason: maxLength: "),
    ],
)
def test_a_bad_schedule_payload_is_rejected_naming_the_field(table: Any, payload: Any, named: str) -> None:
    with pytest.raises(kbsync_gate.InvalidRequest, match=named):
        nightly.plan_night(payload, table, None)


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
    plan = nightly.plan_night(PAYLOAD, table, jobs)
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


class FakeBedrockHistory:
    """ListIngestionJobs newest first, from a fixed history per data source; or an error for every call."""

    def __init__(self, history: dict[str, list[dict[str, Any]]], error: str | None = None) -> None:
        self.history, self.error = history, error
        self.calls: list[str] = []

    def list_ingestion_jobs(self, knowledgeBaseId: str, dataSourceId: str, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["sortBy"] == {"attribute": "STARTED_AT", "order": "DESCENDING"}
        self.calls.append(knowledgeBaseId)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "Rate exceeded"}}, "ListIngestionJobs")
        return {"ingestionJobSummaries": self.history.get(knowledgeBaseId, [])}


def summary(status: str, minutes: float) -> dict[str, Any]:
    started = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    return {"status": status, "startedAt": started, "updatedAt": started + timedelta(minutes=minutes)}


def test_a_target_kbsync_never_synced_is_ordered_by_bedrocks_own_last_job(table: Any) -> None:
    jobs = create_jobs_table()
    for i in (1, 2, 3):
        register(table, kb(i), DS, "b1")
    job(jobs, kb(1), DS, "2026-11-21T02:00:00+00:00", "2026-11-21T02:20:00+00:00")  # kbsync's record: 20 min
    bedrock = FakeBedrockHistory(
        {
            kb(1): [summary("COMPLETE", 90)],  # ignored: kbsync's own record wins
            kb(2): [summary("IN_PROGRESS", 1), summary("COMPLETE", 45)],  # synced from the console: 45 min
        }
    )
    plan = nightly.plan_night(PAYLOAD, table, jobs, bedrock)
    order = [t["gateInput"]["request"]["knowledgeBaseId"] for t in plan["targets"]]
    assert order == [kb(3), kb(2), kb(1)]  # no history anywhere first, then 45 min, then 20 min
    assert sorted(bedrock.calls) == [kb(2), kb(3)]  # Bedrock asked only where kbsync has no record


def test_bedrock_history_that_cannot_be_read_leaves_the_target_unknown_not_the_night_failed(table: Any) -> None:
    register(table, kb(1), DS, "b1")
    register(table, kb(2), DS, "b1")
    plan = nightly.plan_night(PAYLOAD, table, create_jobs_table(), FakeBedrockHistory({}, error="ThrottlingException"))
    assert plan["count"] == 2


def test_the_plan_stops_asking_bedrock_when_its_time_budget_is_spent(table: Any) -> None:
    for i in range(3):
        register(table, kb(i), DS, "b1")
    no_time = dataclasses.replace(nightly.DEFAULTS, bedrock_history_seconds=0.0)  # BEDROCK_HISTORY_SECONDS=0
    bedrock = FakeBedrockHistory({kb(0): [summary("COMPLETE", 5)]})
    assert nightly.plan_night(PAYLOAD, table, create_jobs_table(), bedrock, no_time)["count"] == 3
    assert bedrock.calls == []


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
    assert nightly.plan_night(PAYLOAD, Paged(items), None)["count"] == 7


def test_spread_keeps_a_knowledge_base_out_of_parallel_lanes_when_it_can() -> None:
    targets = [{"kb": "A"}, {"kb": "A"}, {"kb": "A"}, {"kb": "B"}, {"kb": "C"}, {"kb": "D"}, {"kb": "E"}]
    spread = [t["kb"] for t in nightly.spread_knowledge_bases(targets, lanes=3)]
    assert spread == ["A", "B", "C", "A", "D", "E", "A"]


# ------------------------------------------------------------------ the pacer function (functions/pacer)


def test_the_pacer_function_has_one_logic_function_per_action_of_its_contract() -> None:
    actions = kbsync_contracts.schema("pacer-input")["properties"]["action"]["enum"]
    assert set(pacer_logic.STEPS) == set(actions) == {"acquireSlot", "releaseStart", "releaseSlot"}


def test_the_pacer_function_runs_the_sync_gates_pacer_steps(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """AcquireSlot, ReleaseStartToken and ReleaseSlot as the sync gate sends them, through the handler, with the
    settings it read at its cold start."""
    app = load_function("pacer")
    monkeypatch.setattr(
        app, "SETTINGS", dataclasses.replace(pacer_logic.DEFAULTS, targets_table="targets", job_slots=1)
    )
    app.reset_clients()
    monkeypatch.setattr(app, "bedrock_agent", lambda: FakeBedrockJobs(running={DS}))

    def step(action: str, holder: str, **fields: Any) -> dict[str, Any]:
        answer: dict[str, Any] = app.lambda_handler({"action": action, "holder": holder, **fields}, FakeLambdaContext())
        return answer

    ids = {"knowledgeBaseId": KB, "dataSourceId": DS}
    assert step("acquireSlot", "a", **ids)["granted"] is True
    assert step("releaseStart", "a") == {"released": True}
    refused = step("acquireSlot", "b", knowledgeBaseId=KB2, dataSourceId=DS)
    assert (refused["granted"], refused["reason"]) == (False, "account job slots full")  # JOB_SLOTS=1, as set
    assert step("releaseSlot", "a") == {"released": True}
    assert step("acquireSlot", "b", knowledgeBaseId=KB2, dataSourceId=DS)["granted"] is True
    app.reset_clients()


def test_the_pacer_function_refuses_a_step_of_another_function_naming_the_field() -> None:
    with pytest.raises(kbsync_gate.InvalidRequest, match="pacer step: /action: enum: "):
        pacer_logic.checked({"action": "releaseGate", "holder": "h"})


def test_the_pacer_settings_are_read_from_the_environment_with_their_documented_defaults() -> None:
    settings = load_module("pacer", "pacer_settings").Settings
    assert settings.from_env({}) == settings() == pacer_logic.DEFAULTS
    tuned = settings.from_env({"JOB_SLOTS": "3", "START_SPACING_SECONDS": "12", "WAITER_TTL_SECONDS": "60"})
    assert (tuned.job_slots, tuned.start_spacing_seconds, tuned.waiter_ttl_seconds) == (3, 12, 60)
