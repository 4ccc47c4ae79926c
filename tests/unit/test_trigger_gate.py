"""The per-data-source gate (kbsync_gate, the shared core; run by functions/sync_gate and functions/upload_router)
coalesces requests, never loses one, and never wedges; the sync gate function runs it step by step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import kbsync_gate
import kbsync_keys
import kbsync_names
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.triggers.support import DS, DS2, GATE_SM_ARN, KB, aws, create_targets_table

app = load_function("sync_gate")
logic = load_module("sync_gate", "sync_gate_logic")
SETTINGS = load_module("sync_gate", "sync_gate_settings").Settings(targets_table="targets")
LEASE = SETTINGS.gate_lease_seconds
NOW = 1_800_000_000


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def enter(table: Any, holder: str, if_busy: str = "queue", now: int = NOW, ds: str = DS) -> Any:
    arn = kbsync_names.execution_arn(GATE_SM_ARN, holder)
    return kbsync_gate.enter(table, KB, ds, holder, arn, "s3", if_busy, now, LEASE)


def begin_round(table: Any, holder: str, now: int) -> dict[str, Any]:
    return kbsync_gate.begin_round(table, KB, DS, holder, now, LEASE)


def test_first_request_takes_the_gate_and_later_ones_are_counted_on_it(table: Any) -> None:
    first = enter(table, "h1")
    assert (first.outcome, first.holder, first.change_seq) == ("ACQUIRED", "h1", 1)
    outcomes = [enter(table, f"h{i}") for i in range(2, 122)]
    assert {o.outcome for o in outcomes} == {"QUEUED"}
    assert {o.holder for o in outcomes} == {"h1"}
    assert outcomes[-1].change_seq == 121


def test_skip_reports_the_holder_without_counting(table: Any) -> None:
    enter(table, "h1")
    skipped = enter(table, "nightly", if_busy="skip")
    assert (skipped.outcome, skipped.holder, skipped.change_seq) == ("NOT_STARTED", "h1", 1)


def test_the_holder_entering_again_is_idempotent(table: Any) -> None:
    enter(table, "h1")
    again = enter(table, "h1")
    assert (again.outcome, again.holder) == ("ACQUIRED", "h1")


def test_data_sources_have_independent_gates(table: Any) -> None:
    assert enter(table, "a", ds=DS).outcome == "ACQUIRED"
    assert enter(table, "b", ds=DS2).outcome == "ACQUIRED"


def test_an_expired_lease_is_taken_over(table: Any) -> None:
    enter(table, "crashed")
    later = NOW + LEASE + 1
    taken = enter(table, "h2", now=later)
    assert (taken.outcome, taken.holder) == ("ACQUIRED", "h2")
    with pytest.raises(kbsync_gate.GateLost):
        begin_round(table, "crashed", later)


def test_release_with_nothing_new_deletes_the_gate(table: Any) -> None:
    enter(table, "h1")
    seen = begin_round(table, "h1", NOW)["seen"]
    assert kbsync_gate.release(table, KB, DS, "h1", seen) == {"released": True, "dirty": False}
    assert enter(table, "h2").outcome == "ACQUIRED"


def test_a_change_after_the_round_began_makes_exactly_one_more_round(table: Any) -> None:
    enter(table, "h1")
    seen = begin_round(table, "h1", NOW)["seen"]
    for i in range(50):
        enter(table, f"late{i}")
    dirty = kbsync_gate.release(table, KB, DS, "h1", seen)
    assert dirty == {"released": False, "dirty": True, "changeSeq": int(dirty["changeSeq"])}  # kept: one more round
    second = begin_round(table, "h1", NOW)
    assert second["round"] == 2
    assert kbsync_gate.release(table, KB, DS, "h1", second["seen"])["released"] is True


def test_release_of_a_gate_taken_over_reports_lost_not_dirty(table: Any) -> None:
    enter(table, "h1")
    seen = begin_round(table, "h1", NOW)["seen"]
    enter(table, "h2", now=NOW + LEASE + 1)
    assert kbsync_gate.release(table, KB, DS, "h1", seen) == {"released": True, "dirty": False, "lost": True}


# A model of the sync-gate state machine driven by the real gate functions: uploads interleave with the holder's
# steps in any order; afterwards every upload must be covered by a job that started after it.
STEPS = st.lists(st.sampled_from(["upload", "upload", "upload", "step"]), min_size=1, max_size=25)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=STEPS)
def test_every_upload_is_covered_by_a_job_started_after_it(monkeypatch: pytest.MonkeyPatch, ops: list[str]) -> None:
    with aws(monkeypatch):
        table = create_targets_table()
        clock = 0
        uploads: list[int] = []  # times of uploads
        job_starts: list[int] = []
        running: dict[str, Any] = {}  # holder -> {"phase": "settle"|"job", "seen": int}
        names = iter(f"e{i}" for i in range(10_000))

        def step_holders() -> None:
            for holder, state in list(running.items()):
                if state["phase"] == "settle":
                    state["seen"] = begin_round(table, holder, NOW)["seen"]
                    job_starts.append(clock)
                    state["phase"] = "job"
                else:
                    verdict = kbsync_gate.release(table, KB, DS, holder, state["seen"])
                    if verdict["dirty"]:
                        state["phase"] = "settle"
                    else:
                        del running[holder]

        for op in [*ops, *["step"] * 100]:
            clock += 1
            if op == "upload":
                uploads.append(clock)
                name = next(names)
                if enter(table, name).outcome == "ACQUIRED":
                    running[name] = {"phase": "settle"}
            else:
                step_holders()
            if not running and op == "step" and clock > len(ops):
                break
        assert not running
        for at in uploads:
            assert any(start > at for start in job_starts), f"upload at {at} not covered by {job_starts}"
        # Coalescing: never more jobs than uploads, and one holder at a time (rounds are sequential).
        assert len(job_starts) <= len(uploads)


# ------------------------------------------------------------------ the sync gate function (functions/sync_gate)


def test_the_sync_gate_function_has_one_logic_function_per_action_of_its_contract() -> None:
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas/sync-gate-input.schema.json").read_text())
    assert set(logic.STEPS) == set(schema["properties"]["action"]["enum"]) == {"enter", "beginRound", "releaseGate"}


def test_the_sync_gate_function_runs_a_round_step_by_step(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """EnterGate, BeginRound and ReleaseGate as the state machine sends them, through the handler."""
    monkeypatch.setattr(app, "SETTINGS", SETTINGS)
    app.reset_clients()
    holder = "manual-KBAAAAAAA1-DSAAAAAAA1-20261122T050000-abcd"
    ids = {"holder": holder, "knowledgeBaseId": KB, "dataSourceId": DS}

    def step(action: str, **fields: Any) -> dict[str, Any]:
        event = {"executionArn": kbsync_names.execution_arn(GATE_SM_ARN, holder), "action": action, **fields}
        answer: dict[str, Any] = app.lambda_handler(event, FakeLambdaContext())
        return answer

    gate_input = {"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual"}}
    entered = step("enter", holder=holder, holderArn=kbsync_names.execution_arn(GATE_SM_ARN, holder), input=gate_input)
    assert entered == {"outcome": "ACQUIRED", "heldBy": holder, "changeSeq": 1}
    gate = table.get_item(Key=kbsync_keys.gate_key(KB, DS))["Item"]
    assert int(gate["leaseUntil"]) - int(gate["acquiredAt"]) == LEASE
    began = step("beginRound", **ids, trigger="manual")
    assert (began["seen"], began["round"]) == (1, 1)
    assert began["childName"].startswith(f"manual-{KB}-{DS}-")
    assert step("releaseGate", **ids, seen=began["seen"]) == {"released": True, "dirty": False}
    assert "Item" not in table.get_item(Key=kbsync_keys.gate_key(KB, DS))
    app.reset_clients()


def test_the_sync_gate_function_refuses_a_bad_gate_input_naming_the_field() -> None:
    holder = "s3-KBAAAAAAA1-DSAAAAAAA1-1"
    step = {
        "action": "enter",
        "holder": holder,
        "holderArn": kbsync_names.execution_arn(GATE_SM_ARN, holder),
        "input": {"request": {"knowledgeBaseId": KB, "dataSourceId": "bad", "trigger": "s3"}},
    }
    with pytest.raises(kbsync_gate.InvalidRequest, match=r"^invalid gate input: .*/request/dataSourceId: pattern: "):
        logic.STEPS["enter"](logic.checked(step), None, SETTINGS, NOW)
    with pytest.raises(kbsync_gate.InvalidRequest, match="sync gate step: /action: enum: "):
        logic.checked({"action": "acquireSlot", "holder": holder})  # the pacer's step, not the gate's


def test_the_sync_gate_settings_are_read_from_the_environment_with_their_documented_defaults() -> None:
    settings_type = type(SETTINGS)
    assert settings_type.from_env({}) == settings_type()
    assert settings_type.from_env({"TARGETS_TABLE": "t", "GATE_LEASE_SECONDS": "7200"}) == settings_type("t", 7200)


def test_a_holder_gives_back_only_a_gate_it_still_holds(table: Any) -> None:
    """release_holder (the router's undo after a failed start): another holder's gate is left alone, quietly."""
    enter(table, "s3-first")
    kbsync_gate.release_holder(table, KB, DS, "s3-someone-else")  # not ours: no error, nothing deleted
    assert table.get_item(Key=kbsync_keys.gate_key(KB, DS))["Item"]["holder"] == "s3-first"
    kbsync_gate.release_holder(table, KB, DS, "s3-first")
    assert "Item" not in table.get_item(Key=kbsync_keys.gate_key(KB, DS))


def test_a_release_that_dynamodb_refuses_for_another_reason_raises(table: Any) -> None:
    """Only "not the holder any more" is quiet: any other refusal (here, no such table) is the caller's to see."""
    missing = boto3.resource("dynamodb", region_name="us-east-1").Table("no-such-table")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        kbsync_gate.release_holder(missing, KB, DS, "s3-first")
