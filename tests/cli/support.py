"""Helpers for the CLI tests: run kbsync in-process, make fresh data sources, a deployed local cloud.

Each test gets its own knowledge base and data source (Bedrock allows one job per knowledge base), so tests never
wait on each other's jobs.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbsync.cli import main

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.005
_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def cli(*argv: str) -> Result:
    """Run `kbsync argv...` in-process and capture what it printed (Lambda logs go elsewhere)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Target:
    kb: str
    ds: str
    bucket: str
    prefix: str


@dataclass
class Deployed:
    cloud: Any
    outputs: dict[str, str]

    def client(self, service: str) -> Any:
        return self.cloud.client(service)

    def new_target(self, documents: dict[str, bytes] | None = None, bucket_exists: bool = True) -> Target:
        """A fresh bucket (or a missing one), knowledge base and S3 data source with these documents."""
        from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

        n = next(_COUNTER)
        bucket, prefix = f"kbsync-cli-test-{n}", "docs/"
        agent = self.client("bedrock-agent")
        kb = seed_knowledge_base(agent, name=f"cli-test-kb-{n}")
        ds = seed_data_source(kb, bucket, prefix, agent, name=f"cli-test-ds-{n}")
        if bucket_exists:
            s3 = self.client("s3")
            s3.create_bucket(Bucket=bucket)
            for key, body in (documents or {"a.md": b"# A\n", "b.txt": b"b\n"}).items():
                s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)
        return Target(kb, ds, bucket, prefix)


def drain(cloud: Any, deadline_s: float = 30.0) -> None:
    """Stay inside the mock until every execution ended (they run on daemon threads)."""
    import contextlib
    import time

    sfn = cloud.client("stepfunctions")
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        running = [
            e
            for machine in sfn.list_state_machines()["stateMachines"]
            for e in sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")[
                "executions"
            ]
        ]
        if not running:
            return
        for execution in running:
            # moto cannot yet stop an execution whose worker thread has not begun (AttributeError inside moto's
            # ExecutionWorker.stop): the next pass stops it
            with contextlib.suppress(AttributeError):
                sfn.stop_execution(executionArn=execution["executionArn"], error="test.Teardown")
        time.sleep(0.1)
