"""functions/targets: the per-data-source gate coalesces requests, never loses one, and never wedges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.functions import load_function
from tests.triggers.support import DS, DS2, GATE_SM_ARN, KB, aws, create_targets_table

fn = load_function("targets")
NOW = 1_800_000_000


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def enter(table: Any, holder: str, if_busy: str = "queue", now: int = NOW, ds: str = DS) -> Any:
    return fn.enter_gate(table, KB, ds, holder, fn.execution_arn(GATE_SM_ARN, holder), "s3", if_busy, now)


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
    later = NOW + fn.GATE_LEASE_SECONDS + 1
    taken = enter(table, "h2", now=later)
    assert (taken.outcome, taken.holder) == ("ACQUIRED", "h2")
    with pytest.raises(fn.GateLost):
        fn.begin_round(table, KB, DS, "crashed", later)


def test_release_with_nothing_new_deletes_the_gate(table: Any) -> None:
    enter(table, "h1")
    seen = fn.begin_round(table, KB, DS, "h1", NOW)["seen"]
    assert fn.release_gate(table, KB, DS, "h1", seen) == {"released": True, "dirty": False}
    assert enter(table, "h2").outcome == "ACQUIRED"


def test_a_change_after_the_round_began_makes_exactly_one_more_round(table: Any) -> None:
    enter(table, "h1")
    seen = fn.begin_round(table, KB, DS, "h1", NOW)["seen"]
    for i in range(50):
        enter(table, f"late{i}")
    assert fn.release_gate(table, KB, DS, "h1", seen)["dirty"] is True
    second = fn.begin_round(table, KB, DS, "h1", NOW)
    assert second["round"] == 2
    assert fn.release_gate(table, KB, DS, "h1", second["seen"])["released"] is True


def test_release_of_a_gate_taken_over_reports_lost_not_dirty(table: Any) -> None:
    enter(table, "h1")
    seen = fn.begin_round(table, KB, DS, "h1", NOW)["seen"]
    enter(table, "h2", now=NOW + fn.GATE_LEASE_SECONDS + 1)
    assert fn.release_gate(table, KB, DS, "h1", seen) == {"released": True, "dirty": False, "lost": True}


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
                    state["seen"] = fn.begin_round(table, KB, DS, holder, NOW)["seen"]
                    job_starts.append(clock)
                    state["phase"] = "job"
                else:
                    verdict = fn.release_gate(table, KB, DS, holder, state["seen"])
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
