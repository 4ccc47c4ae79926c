"""Coverage of the ingestion-sync definition by the workflow suite, computed from the execution histories.

Every state, every Choice branch (each rule's target and the Default) and every Catch must have been visited by at
least one scenario; below 100% the test fails and lists what no scenario reached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kbsync_localcloud.workflow import Coverage, coverage_of, expected_coverage

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "ingestion-sync.asl.json"


def suite_coverage(workflow_results: dict[str, Any]) -> Coverage:
    histories = [
        execution["events"]
        for result in workflow_results["scenarios"].values()
        for execution in result.get("executions", [])
    ]
    return coverage_of(histories)


def test_every_state_branch_and_catch_is_visited(workflow_results: dict[str, Any]) -> None:
    expected = expected_coverage(json.loads(ASL.read_text(encoding="utf-8")))
    found = suite_coverage(workflow_results)
    missing = {
        "states": sorted(expected.states - found.states),
        "choice branches": sorted(expected.branches - found.branches),
        "catches": sorted(expected.catches - found.catches),
    }
    total = len(expected.states) + len(expected.branches) + len(expected.catches)
    visited = total - sum(len(v) for v in missing.values())
    assert visited == total, f"coverage {visited}/{total} ({100 * visited / total:.1f}%); not visited: {missing}"


def test_coverage_measure_sees_a_missing_branch(workflow_results: dict[str, Any]) -> None:
    """Negative control: without the scenarios that reach PARTIAL, the measure reports the branch missing."""
    expected = expected_coverage(json.loads(ASL.read_text(encoding="utf-8")))
    reaching_partial = ("partial", "push_woken_by_logs")
    without = {k: v for k, v in workflow_results["scenarios"].items() if k not in reaching_partial}
    found = suite_coverage({"scenarios": without})
    assert ("RouteOnJobStatus", "MarkPartial") not in found.branches
    assert ("RouteOnJobStatus", "MarkPartial") in expected.branches
