"""One deploy creates each resource exactly once, even while clients read the stack as it is created.

The cause: moto's CloudFormation ResourceMap creates a resource lazily on first access, with no lock, and
DescribeStacks (its Outputs: `Ref IngestionSyncStateMachine`, `CatchAllFunctionName`...) and ListStackResources read
that map from other request threads while CreateStack walks it. Anyone polling the stack while `kbsync local up`
deploys (a script waiting for it, `aws cloudformation wait stack-create-complete`) made the two threads both create
a resource: two IngestionSync state machines, two CatchAll functions. The stack's outputs then named one machine while
the sync gate's definition named the other, so `kbsync sync --wait` could not find the round's execution.

Each round starts `kbsync local up` on a known port with clients hammering the stack from the first moment on.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from kbsync_localcloud.sam import load_template

from tests.localcloud.local_up import KBSYNC, LocalUp, start_local_up

pytestmark = pytest.mark.e2e

ROUNDS = 2
POLLERS = 4
STATE_MACHINES = ("IngestionSyncStateMachine", "SyncGateStateMachine", "NightlyFanOutStateMachine")
#: Every function of the template that a deploy with the default parameters creates, read from it (one deploy must
#: create each exactly once): the conditional ones (JobEventsFunction: KnowledgeBaseLogs=on) are not created.
FUNCTIONS = tuple(
    logical_id
    for logical_id, resource in load_template(Path(__file__).resolve().parents[2] / "template.yaml")[
        "Resources"
    ].items()
    if resource["Type"] == "AWS::Serverless::Function" and "Condition" not in resource
)


class Pollers:
    """Threads reading the stack (DescribeStacks, ListStackResources) as fast as the server answers."""

    def __init__(self, up: LocalUp) -> None:
        self.stop = threading.Event()
        self.calls = 0
        self._up = up
        self._config = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=60)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(POLLERS)]

    def _run(self) -> None:
        import boto3

        cfn = boto3.client(
            "cloudformation",
            endpoint_url=self._up.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=self._config,
        )
        while not self.stop.is_set():
            for call in (cfn.describe_stacks, cfn.list_stack_resources):
                try:
                    call(StackName="kbsync")
                    self.calls += 1
                except Exception:  # noqa: S112 - not up yet, or no stack yet: keep trying
                    continue

    def __enter__(self) -> Pollers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.fixture
def racy_local_up(tmp_path: Path) -> Iterator[Any]:
    started: list[LocalUp] = []

    def start(round_number: int) -> LocalUp:
        directory = tmp_path / f"round{round_number}"
        directory.mkdir()
        up = start_local_up(directory)
        started.append(up)
        with Pollers(up) as pollers:
            up.wait_ready()
        assert pollers.calls > 0, "the pollers never reached the server"
        return up

    yield start
    for up in started:
        up.stop()


def test_each_resource_is_created_once_while_clients_poll_the_stack(racy_local_up: Any) -> None:
    for round_number in range(ROUNDS):
        up: LocalUp = racy_local_up(round_number)
        machines = up.client("stepfunctions").list_state_machines()["stateMachines"]
        functions = up.client("lambda").list_functions()["Functions"]
        resources = up.client("cloudformation").list_stack_resources(StackName="kbsync")["StackResourceSummaries"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}

        machine_names = Counter(m["name"] for m in machines)
        assert len(machines) == len(STATE_MACHINES), sorted(machine_names)
        expected_machines = {physical[logical].rsplit(":", 1)[-1] for logical in STATE_MACHINES}
        assert set(machine_names) == expected_machines, (sorted(machine_names), expected_machines)

        function_names = Counter(f["FunctionName"] for f in functions)
        assert len(functions) == len(FUNCTIONS), sorted(function_names)
        assert set(function_names) == {physical[logical] for logical in FUNCTIONS}, sorted(function_names)

        outputs = up.outputs()
        assert outputs["IngestionSyncStateMachineArn"] == physical["IngestionSyncStateMachine"]
        assert outputs["CatchAllFunctionName"] == physical["CatchAllFunction"]


def test_a_sync_after_a_polled_deploy_names_its_job_and_record(racy_local_up: Any) -> None:
    """The path that broke: `kbsync sync --wait --json` on a stack deployed while it was polled names the ingestion
    job, its record and the ingestion-sync execution of the round (never the gate's, with "record": null)."""
    up: LocalUp = racy_local_up(0)
    kb, ds = up.seeded("knowledge base"), up.seeded("data source")
    done = subprocess.run(
        [str(KBSYNC), "--endpoint-url", up.endpoint, "sync", "--kb", kb, "--ds", ds, "--wait", "--json",
         "--interval", "0.2", "--timeout", "120"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stdout[-3000:], done.stderr)
    ended = json.loads(done.stdout)
    assert ended["outcome"] == "COMPLETE", ended
    assert ended["record"] and len(ended["record"]["ingestionJobId"]) == 10, ended
    machine = up.outputs()["IngestionSyncStateMachineArn"].rsplit(":", 1)[-1]
    assert ended["execution_arn"].split(":")[6] == machine, ended
    assert ended["execution_arn"] != ended["gate_execution_arn"], ended
    assert ended["record"]["executionArn"] == ended["execution_arn"]
