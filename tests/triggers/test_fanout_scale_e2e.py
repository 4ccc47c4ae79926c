"""The nightly fan-out at 1,000 targets on the local cloud: the real template, the real fan-out and
sync-gate definitions, every state's payload and every execution's length read back from GetExecutionHistory.

Step Functions caps a state's input/output at 256 KB and a history at 25,000 events; moto enforces neither, so the
histories are measured here. The old fan-out carried the whole plan (~300 bytes a target) in its state and one Map
result per target: at 1,000 targets its PlanNight result alone was over 256 KB.

Cheap targets: 1,000 real syncs cost ~2 CPU-minutes of gate and ingestion-sync executions on top of 1,000 x 10 s of
Bedrock start spacing, too slow for the test suite; the full 1,000-sync night is in ``make bench``
(kbsync_localcloud.bench.triggers). Here every target's gate is already held (as by a running upload sync), so each
target's gated sync is entered and skipped (`ifBusy: skip` -> NotStarted) in two states: the fan-out's own work, its
plan pages, lanes, claims and hand-offs, is exactly that of a real night; only what happens inside each gate is shorter.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest
from kbsync_localcloud.bench.triggers import HISTORY_LIMIT_EVENTS, PAYLOAD_LIMIT_BYTES, TriggerRig

from tests.helpers.functions import load_module
from tests.triggers.support import HOLDER, register_held_targets, run_night

pytestmark = pytest.mark.e2e

nightly = load_module("nightly_plan", "nightly_plan_logic")
TARGETS = 1000
TIME_SCALE = 0.001


@pytest.fixture(scope="module")
def night() -> Iterator[dict[str, Any]]:
    """1,000 registered targets with held gates, one nightly run; what the tests below read from it."""
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=TIME_SCALE), redirect_stdout(io.StringIO()):  # the handlers' JSON logs
        rig = TriggerRig.deploy()
        pairs = [(f"KBSCALE{i:03d}", f"DSSCALE{i:03d}") for i in range(TARGETS)]
        register_held_targets(rig.targets_table, pairs)
        night = run_night(rig, "the 1,000-target night", timeout_s=600, poll_s=0.5)
        yield {
            "pairs": pairs,
            **night,
            "limits": rig.history_limits(("NightlyFanOutStateMachineArn",), night["since"]),
            "held": [i for i in rig.targets_table.scan()["Items"] if i["sk"] == "GATE" and i["holder"] == HOLDER],
        }


def test_the_night_of_1000_targets_succeeds_with_every_target_synced_none_failed(night: dict[str, Any]) -> None:
    described = night["described"]
    assert described["status"] == "SUCCEEDED", (described.get("error"), described.get("cause"))
    summary = json.loads(described["output"])
    assert (summary["count"], summary["synced"], summary["notSynced"], summary["notReached"]) == (
        TARGETS,
        TARGETS,
        0,
        0,
    )


def test_every_target_got_exactly_one_gated_sync(night: dict[str, Any]) -> None:
    per_target = Counter("-".join(e["name"].split("-")[1:3]) for e in night["gates"])
    assert per_target == Counter({f"{kb}-{ds}": 1 for kb, ds in night["pairs"]})
    assert {e["status"] for e in night["gates"]} == {"SUCCEEDED"}
    assert len(night["held"]) == TARGETS  # each gate skipped, none taken from its holder


def test_no_state_payload_reaches_256_kb_nor_grows_with_the_targets(night: dict[str, Any]) -> None:
    limits = night["limits"]
    assert limits.executions == len(night["fanout"]) > 1
    assert limits.payload_bytes < PAYLOAD_LIMIT_BYTES, limits
    # A bound that does not depend on the number of targets: a lane's claim, 8 lane descriptors, the summary.
    assert limits.payload_bytes < 8 * 1024, limits


def test_no_history_reaches_25000_events_and_each_is_bounded_by_a_lane_executions_share(night: dict[str, Any]) -> None:
    limits = night["limits"]
    assert limits.history_events < HISTORY_LIMIT_EVENTS, limits
    # ~13 events per target in a lane execution, which hands its lane on after LANE_TARGETS_PER_EXECUTION targets;
    # the root's history is constant (8 lanes). Neither grows with the number of targets.
    assert limits.history_events <= 14 * nightly.DEFAULTS.lane_targets_per_execution + 100, limits


def test_lanes_handed_off_to_fresh_executions_and_never_more_than_8_ran_at_once(night: dict[str, Any]) -> None:
    lanes = [e for e in night["fanout"] if "-lane" in e["name"]]
    hops = Counter(int(e["name"].rsplit("-", 1)[1]) for e in lanes)
    assert hops[1] == nightly.FANOUT_LANES == 8
    assert hops[2] >= 1  # 1,000 targets over 8 lanes of 100 targets per execution: some lanes went on
    assert {e["status"] for e in night["fanout"]} == {"SUCCEEDED"}
