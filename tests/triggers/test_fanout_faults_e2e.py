"""The nightly fan-out's own fault paths and hand-offs, on the real template deployed on the local cloud.

One night of 20 targets with LANE_TARGETS_PER_EXECUTION = 2 (set on NightlyPlanFunction with UpdateFunctionConfiguration
before its first invocation, so its cold start reads it): the 8 lanes' first executions take 16 targets, and lanes
hand off to fresh executions for the last 4. Three faults are injected (real errors raised inside the invoked
function, as in test_gate_faults_e2e.py):

- one target's gate execution dies (its EnterGate raises AccessDenied): RunGate's catcher counts it not synced;
- one lane's first execution dies at its first claim: the Map's catcher lets the other lanes claim the rest;
- one hand-off execution (lane 1, hop 2) dies at its first claim: HandOff's catcher ends the lane that handed off
  normally, and the other lanes claim what it left.

Every target's gate is held (as by a running upload sync), so each gated sync that enters is skipped at once
(`ifBusy: skip` -> NOT_STARTED, a SUCCEEDED gate execution): the night's work is the fan-out's own.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import ExitStack, redirect_stdout
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.bench.triggers import TriggerRig

from tests.triggers.support import function_errors, register_held_targets, run_night

pytestmark = pytest.mark.e2e

TIME_SCALE = 0.01
TARGETS = 20
LANE_TARGETS = 2
FAILING_DS = "DSFAULT007"


def gate_entered_for(ds: str) -> Any:
    return lambda event: (
        isinstance(event, dict)
        and event.get("action") == "enter"
        and event.get("input", {}).get("request", {}).get("dataSourceId") == ds
    )


def first_claim_of(lane: int, hop: int) -> Any:
    return lambda event: (
        isinstance(event, dict)
        and event.get("action") == "claimTarget"
        and (event.get("lane"), event.get("hop"), event.get("step")) == (lane, hop, 0)
    )


def access_denied() -> Exception:
    return ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "PutItem")


def lane_lost() -> Exception:
    return RuntimeError("lane execution lost")


@pytest.fixture(scope="module")
def night() -> Iterator[dict[str, Any]]:
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=TIME_SCALE), redirect_stdout(io.StringIO()), ExitStack() as faults:
        rig = TriggerRig.deploy()
        lam = boto3.client("lambda", region_name="us-east-1")
        name = rig.outputs["NightlyPlanFunctionName"]
        variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        lam.update_function_configuration(
            FunctionName=name,
            Environment={"Variables": {**variables, "LANE_TARGETS_PER_EXECUTION": str(LANE_TARGETS)}},
        )
        pairs = [(f"KBFAULT{i:03d}", f"DSFAULT{i:03d}") for i in range(TARGETS)]
        register_held_targets(rig.targets_table, pairs)
        gate_failures = faults.enter_context(function_errors(gate_entered_for(FAILING_DS), access_denied, times=1))
        lane_failures = faults.enter_context(function_errors(first_claim_of(0, 1), lane_lost, times=1))
        handoff_failures = faults.enter_context(function_errors(first_claim_of(1, 2), lane_lost, times=1))
        night = run_night(rig, "the night", timeout_s=300, poll_s=0.1)
        yield {
            "pairs": pairs,
            **night,
            "injected": (len(gate_failures), len(lane_failures), len(handoff_failures)),
        }


def test_every_fault_was_injected_once(night: dict[str, Any]) -> None:
    assert night["injected"] == (1, 1, 1)


def test_the_night_succeeds_and_counts_the_dead_gate_as_not_synced_and_nothing_as_unreached(
    night: dict[str, Any],
) -> None:
    described = night["described"]
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    summary = json.loads(described["output"])  # the night's outcome, named after the night (its plan)
    assert summary == {
        "planId": described["name"],
        "count": TARGETS,
        "synced": TARGETS - 1,
        "notSynced": 1,
        "notReached": 0,
    }


def test_every_target_got_one_gated_sync_named_after_the_night(night: dict[str, Any]) -> None:
    per_target = sorted("-".join(e["name"].split("-")[1:3]) for e in night["gates"])
    assert per_target == sorted(f"{kb}-{ds}" for kb, ds in night["pairs"])
    failed = [e["name"] for e in night["gates"] if e["status"] != "SUCCEEDED"]
    assert len(failed) == 1 and f"-{FAILING_DS}-" in failed[0]


def test_lanes_hand_off_to_executions_named_by_lane_and_hop(night: dict[str, Any]) -> None:
    plan_id = night["described"]["name"]
    lanes = {e["name"]: e["status"] for e in night["fanout"] if e["name"] != plan_id}
    assert all(name.startswith(f"{plan_id}-lane") for name in lanes), sorted(lanes)
    hops = {name.removeprefix(f"{plan_id}-lane") for name in lanes}
    assert {f"{lane}-1" for lane in range(8)} <= hops
    assert len(hops - {f"{lane}-1" for lane in range(8)}) >= 1 and "1-2" in hops  # lanes went on in hop 2


def test_only_the_executions_that_died_failed(night: dict[str, Any]) -> None:
    """The dead hand-off does not fail the lane execution that handed off, nor does the dead lane fail the night."""
    plan_id = night["described"]["name"]
    failed = sorted(e["name"] for e in night["fanout"] if e["status"] != "SUCCEEDED")
    assert failed == [f"{plan_id}-lane0-1", f"{plan_id}-lane1-2"]
