"""The workflow suite's one run: the real template deployed on the local cloud, every scenario executed once.

Scenarios must run one after another (the Bedrock emulator's faults are account-wide), and the coverage test needs
the histories of all of them. Under pytest-xdist every worker would otherwise run them again, so the first worker
to ask runs them and writes the results (JSON) next to the session's temporary directory; the others wait on a file
lock and read them — the pattern pytest-xdist documents for once-per-session fixtures.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud.workflow import AlertInbox, WorkflowRig

from tests.workflow.scenarios import PUSH_PARAMETERS, PUSH_SCENARIOS, STACK_PARAMETERS, run_all

REPO = Path(__file__).resolve().parents[2]
#: One virtual second = 2 ms: the longest path (poll budget of 6 polls, ~100 virtual s) takes a fraction of a second.
TIME_SCALE = 0.002
RESULTS_FILE = "kbsync-workflow-results.json"


def run_workflow_suite() -> dict[str, Any]:
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", STACK_PARAMETERS)
        services = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent", "logs", "scheduler")
        clients = {name: cloud.client(name) for name in services}
        inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"])
        rig = WorkflowRig(clients=clients, outputs=outputs, inbox=inbox)
        results = run_all(rig, faults())
        # Push completion's paths: the same template deployed again with KnowledgeBaseLogs=on, after the poll paths
        # (its sweep runs every virtual minute from then on).
        push_outputs = deploy_stack(REPO / "template.yaml", "kbsync-push", PUSH_PARAMETERS)
        push_inbox = AlertInbox(
            clients["sns"], clients["sqs"], push_outputs["AlertsTopicArn"], name="kbsync-push-alerts"
        )
        push_rig = WorkflowRig(clients=clients, outputs=push_outputs, inbox=push_inbox)
        results.update(run_all(push_rig, faults(), PUSH_SCENARIOS))
        return {"outputs": outputs, "parameters": STACK_PARAMETERS, "scenarios": results}


def shared_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def workflow_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = shared_directory(tmp_path_factory)
    results_path = directory / RESULTS_FILE
    with (directory / (RESULTS_FILE + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not results_path.exists():
                results_path.write_text(json.dumps(run_workflow_suite(), default=str), encoding="utf-8")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    yield json.loads(results_path.read_text(encoding="utf-8"))


@pytest.fixture
def scenario_result(workflow_results: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The result of the scenario named like the test (test_<scenario>); fails if that scenario crashed."""
    name = request.node.name.removeprefix("test_").split("[")[0]
    result: dict[str, Any] = workflow_results["scenarios"][name]
    if "crashed" in result:
        pytest.fail(f"scenario {name} crashed:\n{result['crashed']}")
    return result
