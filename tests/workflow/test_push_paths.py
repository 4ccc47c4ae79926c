"""The push-completion paths of the workflow suite (tests/workflow/scenarios.py, PUSH_SCENARIOS: a second stack
deployed with KnowledgeBaseLogs=on), checked from what each scenario recorded."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def states(result: dict[str, Any]) -> list[str]:
    [execution] = result["executions"]
    return [e["name"] for e in execution["events"] if e["type"].endswith("StateEntered")]


def test_push_woken_by_logs(scenario_result: dict[str, Any]) -> None:
    [execution] = scenario_result["executions"]
    assert execution["status"] == "SUCCEEDED"
    [record] = [r for r in scenario_result["records"] if r.get("ingestionJobId")]
    assert (record["status"], record["wokenBy"]) == ("PARTIAL", "logs")
    assert {k for f in record["documentFailures"].values() for k in f["keys"]} == {
        "docs/diagram.xyz",
        "docs/archive.bin",
    }
    entered = states(scenario_result)
    assert entered.count("WaitForJobEnd") == 1 and "WaitForJobToStart" not in entered
    assert [a["attributes"]["alertType"] for a in scenario_result["alerts"]] == ["PARTIAL"]


def test_push_spurious_wake(scenario_result: dict[str, Any]) -> None:
    """A wake is only a wake-up: the job still ran, so the execution waited again; its STOPPED event then ended it."""
    [execution] = scenario_result["executions"]
    entered = states(scenario_result)
    assert entered.count("WaitForJobEnd") == 2 and entered.count("GetJobStatus") == 2
    assert "WaitBeforeNextPoll" not in entered
    [record] = [r for r in scenario_result["records"] if r.get("ingestionJobId")]
    assert record["status"] == "STOPPED" and execution["status"] == "FAILED"
    assert [a["attributes"]["alertType"] for a in scenario_result["alerts"]] == ["STOPPED"]


def test_push_heartbeat_lapse(scenario_result: dict[str, Any]) -> None:
    [execution] = scenario_result["executions"]
    assert execution["status"] == "SUCCEEDED"
    entered = states(scenario_result)
    assert entered.count("WaitForJobEnd") == 1 and "WaitBeforeNextPoll" in entered  # polled after the lapse
    [record] = [r for r in scenario_result["records"] if r.get("ingestionJobId")]
    assert record["status"] == "COMPLETE" and "wokenBy" not in record
