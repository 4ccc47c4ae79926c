"""functions/nightly_plan: the nightly plan kept outside the fan-out's state (DynamoDB pages + a shared cursor),
claimed one target at a time by the lanes, each lane execution handing off after LANE_TARGETS_PER_EXECUTION targets."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import kbsync_contracts
import kbsync_gate
import pytest

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.triggers.support import DS, aws, create_targets_table, register

nightly = load_module("nightly_plan", "nightly_plan_logic")
NOW = 1_800_000_000
PAYLOAD = {"trigger": "schedule", "requestedBy": "nightly-schedule", "reason": "nightly sync"}
PLAN = "c1f0a6de-1b7e-4d3c-9a55-0f6a2b1c9e77"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def kb(i: int) -> str:
    return f"KB{i:08d}"


def registered(table: Any, count: int) -> list[str]:
    for i in range(count):
        register(table, kb(i), DS, "b1")
    return [kb(i) for i in range(count)]


def claim(
    table: Any, lane: int, step: int, last: str = "NONE", hop: int = 1, settings: Any = nightly.DEFAULTS
) -> dict[str, Any]:
    return nightly.claim_target(table, PLAN, nightly.lane_name(PLAN, lane, hop), lane, hop, step, last, settings)


def test_the_stored_plan_answer_holds_counts_and_lanes_never_the_targets(table: Any) -> None:
    registered(table, 250)
    answer = nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    assert (answer["count"], answer["pages"], len(answer["lanes"])) == (250, 3, 8)
    assert answer["lanes"][3] == {
        "name": f"{PLAN}-lane3-1",
        "input": {"lane": {"planId": PLAN, "index": 3, "hop": 1}},
    }
    assert kb(0) not in json.dumps(answer)
    pages = [i for i in table.scan()["Items"] if i["pk"] == f"PLAN#{PLAN}" and i["sk"].startswith("PAGE#")]
    assert sorted(len(p["targets"]) for p in pages) == [50, 100, 100]
    assert {int(p["expiresAt"]) for p in pages} == {NOW + nightly.PLAN_TTL_SECONDS}


def test_the_answer_is_the_same_size_for_10_and_10000_targets() -> None:
    class Registry:
        """scan/batch_writer/put_item of a TargetsTable holding `count` nightly targets (no moto: 10,000 is fast)."""

        def __init__(self, count: int) -> None:
            self.items = [
                {"pk": f"DS#{kb(i)}#{DS}", "sk": "TARGET", "knowledgeBaseId": kb(i), "dataSourceId": DS}
                for i in range(count)
            ]
            self.written: list[dict[str, Any]] = []

        def scan(self, **kwargs: Any) -> dict[str, Any]:
            return {"Items": self.items}

        def batch_writer(self) -> Any:
            registry = self

            class Writer:
                def __enter__(self) -> Any:
                    return registry

                def __exit__(self, *exc: object) -> None:
                    return None

            return Writer()

        def put_item(self, Item: dict[str, Any]) -> None:
            self.written.append(Item)

    sizes = {}
    for count in (10, 10_000):
        registry = Registry(count)
        answer = nightly.store_plan(PAYLOAD, PLAN, registry, None, None, NOW)
        sizes[count] = len(json.dumps(answer).encode())
        assert answer["pages"] == -(-count // nightly.PLAN_PAGE_SIZE)
        assert max(len(json.dumps(item, default=int)) for item in registry.written) < 16 * 1024  # << 400 KB
    assert sizes[10_000] - sizes[10] <= 8  # only the digits of the counts differ
    assert sizes[10_000] < 2048


def test_the_dry_run_lists_each_targets_gate_input_as_the_lanes_will_claim_it(table: Any) -> None:
    """planNight: every target's gate input carries the schedule's requestedBy and reason (and skips a busy gate)."""
    registered(table, 2)
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    claimed = claim(table, 0, 0)["target"]  # the first claim of the night
    [first, _] = nightly.plan_night(PAYLOAD, table, None)["targets"]
    assert first["gateInput"] == claimed["gateInput"]
    request = {"knowledgeBaseId": kb(0), "dataSourceId": DS, "trigger": "schedule"}
    request |= {"requestedBy": "nightly-schedule", "reason": "nightly sync"}
    assert first["gateInput"] == {"request": request, "settleSeconds": 0, "ifBusy": "skip"}


def test_lanes_claim_the_plan_in_its_order_each_target_once_then_done(table: Any) -> None:
    registered(table, 23)
    expected = [
        t["gateInput"]["request"]["knowledgeBaseId"] for t in nightly.plan_night(PAYLOAD, table, None)["targets"]
    ]
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    claimed, steps, done = [], {0: 0, 1: 0, 2: 0}, set[int]()
    while len(done) < 3:
        for lane in range(3):
            if lane in done:
                continue
            answer = claim(table, lane, steps[lane], "NONE" if steps[lane] == 0 else "SUCCEEDED")
            steps[lane] = answer["step"]
            if answer["next"] == "DONE":
                done.add(lane)
                continue
            assert answer["next"] == "TARGET"
            claimed.append(answer["target"]["gateInput"]["request"]["knowledgeBaseId"])
    assert claimed == expected
    assert nightly.summarize_night(table, PLAN) == {
        "planId": PLAN,
        "count": 23,
        "synced": 23,
        "notSynced": 0,
        "notReached": 0,
    }


def test_a_claimed_target_is_a_valid_skip_if_busy_gate_request(table: Any) -> None:
    registered(table, 1)
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    target = claim(table, 0, 0)["target"]
    assert kbsync_gate.check_input(target["gateInput"]) == {
        "request": {
            "knowledgeBaseId": kb(0),
            "dataSourceId": DS,
            "trigger": "schedule",
            "requestedBy": "nightly-schedule",
            "reason": "nightly sync",
        },
        "settleSeconds": 0,
        "ifBusy": "skip",
    }
    assert target["executionName"].startswith(f"schedule-{kb(0)}-{DS}-") and len(target["executionName"]) <= 80


def test_the_nights_request_is_normalized_to_the_sync_request_contract_not_cut_short() -> None:
    """The nightly fan-out builds its requests itself, so they are normalized to the contract (schemas/sync-request:
    requestedBy at most 200 characters, reason 500, one printable line), never refused, never cut shorter: text at
    the limit is kept whole, longer text ends in '...' at the limit."""
    whole = nightly.schedule_request(kb(0), DS, "n" * 200, "r" * 500)
    assert (whole["requestedBy"], whole["reason"]) == ("n" * 200, "r" * 500)
    cut = nightly.schedule_request(kb(0), DS, "n\n" + "n" * 300, "r\n" + "r" * 600)
    assert cut["requestedBy"] == "n\\n" + "n" * 194 + "..." and len(cut["reason"]) == 500
    for request in (whole, cut):
        kbsync_contracts.validate("sync-request", request)


def test_a_retried_claim_answers_the_same_target_and_counts_the_outcome_once(table: Any) -> None:
    registered(table, 5)
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    first = claim(table, 0, 0)
    second = claim(table, 0, first["step"], "FAILED")
    again = claim(table, 0, first["step"], "FAILED")  # the answer was lost; Step Functions retried the task
    assert second["target"]["index"] == again["target"]["index"] == 1
    assert claim(table, 1, 0)["target"]["index"] == 2  # the retry took nothing from the other lanes
    summary = nightly.summarize_night(table, PLAN)
    assert (summary["synced"], summary["notSynced"], summary["notReached"]) == (0, 1, 4)


def test_a_lane_execution_hands_off_after_its_share_and_not_when_the_plan_is_used_up(table: Any) -> None:
    two = dataclasses.replace(nightly.DEFAULTS, lane_targets_per_execution=2)  # LANE_TARGETS_PER_EXECUTION=2
    registered(table, 3)
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW, two)
    a = claim(table, 0, 0, settings=two)
    b = claim(table, 0, a["step"], "SUCCEEDED", settings=two)
    hand = claim(table, 0, b["step"], "SUCCEEDED", settings=two)
    assert [a["next"], b["next"], hand["next"]] == ["TARGET", "TARGET", "HANDOFF"]
    assert hand["handoff"] == {"name": f"{PLAN}-lane0-2", "input": {"lane": {"planId": PLAN, "index": 0, "hop": 2}}}
    # The next execution of lane 0 starts counting again and takes the last target; its own share ends the plan.
    c = claim(table, 0, 0, hop=2, settings=two)
    d = claim(table, 0, c["step"], "SUCCEEDED", hop=2, settings=two)
    assert (c["target"]["index"], d["next"]) == (2, "DONE")
    none = dataclasses.replace(nightly.DEFAULTS, lane_targets_per_execution=0)  # every call is a hand-off now ...
    assert claim(table, 1, 0, settings=none)["next"] == "DONE"  # ... but with nothing left, no pointless next execution
    assert nightly.summarize_night(table, PLAN)["synced"] == 3


def test_a_retried_store_starts_the_night_over_and_a_missing_plan_is_refused(table: Any) -> None:
    registered(table, 2)
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    claim(table, 0, 0)
    nightly.store_plan(PAYLOAD, PLAN, table, None, None, NOW)
    assert claim(table, 1, 0)["target"]["index"] == 0
    with pytest.raises(kbsync_gate.InvalidRequest, match="does not exist"):
        nightly.claim_target(table, "no-such-plan", "x-lane0-1", 0, 1, 0, "NONE")
    with pytest.raises(kbsync_gate.InvalidRequest, match="does not exist"):
        nightly.summarize_night(table, "no-such-plan")


@pytest.mark.parametrize("plan_id", ["", "a" * 81, "has space", "semi;colon", None, 7])
def test_a_plan_id_must_be_an_execution_name(table: Any, plan_id: Any) -> None:
    with pytest.raises(kbsync_gate.InvalidRequest, match="planId"):
        nightly.store_plan(PAYLOAD, plan_id, table, None, None, NOW)


def test_a_bad_schedule_payload_is_refused_before_anything_is_stored(table: Any) -> None:
    registered(table, 1)
    with pytest.raises(kbsync_gate.InvalidRequest, match="requestedBy"):
        nightly.store_plan({"trigger": "schedule"}, PLAN, table, None, None, NOW)
    assert [i for i in table.scan()["Items"] if i["pk"].startswith("PLAN#")] == []


def test_lane_names_are_execution_names_unique_per_lane_and_hop() -> None:
    longest = "n" * 80
    names = {nightly.lane_name(longest, lane, hop) for lane in range(8) for hop in range(1, 1000)}
    assert len(names) == 8 * 999
    assert max(len(n) for n in names) <= 80
    assert all(set(n) <= set(nightly._PLAN_ID_CHARS) for n in names)
    assert nightly.lane_name(longest, 0, 1) != nightly.lane_name("n" * 79 + "m", 0, 1)


@pytest.mark.parametrize("length", [36, 60])
def test_a_night_name_of_up_to_60_characters_is_kept_whole_in_its_lane_names(length: int) -> None:
    """An operator finds a lane's executions by the night's name: kept whole while it leaves room for the suffix."""
    night = "n" * length
    assert nightly.lane_name(night, 7, 999) == f"{night}-lane7-999"


@pytest.mark.parametrize("length", [61, 80])
def test_a_longer_night_name_is_cut_to_47_characters_and_a_hash_of_the_whole(length: int) -> None:
    night = "n" * length
    name = nightly.lane_name(night, 7, 999)
    assert name.startswith("n" * 47 + "-") and name.endswith("-lane7-999")
    assert len(name) == 47 + 1 + 12 + len("-lane7-999")


# ------------------------------------------------------------------ the nightly plan function (functions/nightly_plan)


def test_the_nightly_plan_function_has_one_logic_function_per_action_of_its_contract() -> None:
    actions = kbsync_contracts.schema("nightly-plan-input")["properties"]["action"]["enum"]
    assert set(nightly.STEPS) == set(actions) == {"storePlan", "planNight", "claimTarget", "summarizeNight"}


def test_the_nightly_plan_function_runs_a_night_as_the_fanout_sends_its_steps(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PlanNight, ClaimTarget (one lane) and Summarize through the handler, with the settings of its cold start."""
    app = load_function("nightly_plan")
    settings = dataclasses.replace(nightly.DEFAULTS, targets_table="targets", lane_targets_per_execution=1)
    monkeypatch.setattr(app, "SETTINGS", settings)
    app.reset_clients()
    monkeypatch.setattr(app, "bedrock_agent", lambda: None)  # JOBS_TABLE unset, no Bedrock: every target unknown
    registered(table, 2)

    def step(action: str, **fields: Any) -> dict[str, Any]:
        answer: dict[str, Any] = app.lambda_handler({"action": action, **fields}, FakeLambdaContext())
        return answer

    stored = step("storePlan", planId=PLAN, payload=PAYLOAD)
    assert (stored["count"], stored["pages"], len(stored["lanes"])) == (2, 1, 2)
    lane = nightly.lane_name(PLAN, 0, 1)
    claim_fields = {"planId": PLAN, "laneExecution": lane, "lane": 0, "hop": 1}
    first = step("claimTarget", **claim_fields, step=0, lastStatus="NONE")
    assert first["next"] == "TARGET" and first["target"]["gateInput"]["ifBusy"] == "skip"
    handoff = step("claimTarget", **claim_fields, step=first["step"], lastStatus="SUCCEEDED")
    assert handoff["next"] == "HANDOFF"  # LANE_TARGETS_PER_EXECUTION=1, as set
    assert step("summarizeNight", planId=PLAN) == {
        "planId": PLAN,
        "count": 2,
        "synced": 1,
        "notSynced": 0,
        "notReached": 1,
    }
    app.reset_clients()


def test_the_nightly_plan_function_refuses_a_step_of_another_function_naming_the_field() -> None:
    with pytest.raises(kbsync_gate.InvalidRequest, match="nightly plan step: /action: enum: "):
        nightly.checked({"action": "enter", "holder": "h"})


def test_the_nightly_plan_settings_are_read_from_the_environment_with_their_documented_defaults() -> None:
    settings = load_module("nightly_plan", "nightly_plan_settings").Settings
    assert settings.from_env({}) == settings() == nightly.DEFAULTS
    tuned = settings.from_env(
        {"JOBS_TABLE": "jobs", "BEDROCK_HISTORY_SECONDS": "2.5", "LANE_TARGETS_PER_EXECUTION": "7"}
    )
    assert (tuned.jobs_table, tuned.bedrock_history_seconds, tuned.lane_targets_per_execution) == ("jobs", 2.5, 7)
