"""Local-cloud execution throughput, as ratios (``python -m kbsync_localcloud.bench.localcloud`` runs one measurement).

- ``executions/s with adapters vs plain moto``: sequential executions of a 10-state Pass machine per second in the
  local cloud (moto + every kbsync adapter) divided by the same in plain moto 5.2.5 with only
  ``execute_state_machine`` on. Below 1 is the price of the adapters; each side runs in its own fresh process, so
  the patches of one never leak into the other.
- ``aws-sdk task speed-up from the adapter's caches``: time of executions of a machine of aws-sdk tasks with the
  adapter's caches bypassed (every functools-cached botocore-model lookup swapped for the function it wraps, and
  moto's one-boto3-client-per-task restored), divided by the time with the caches.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from kbsync_localcloud.bench import Ratio

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/kbsync-bench"
EXECUTIONS = 30
DEADLINE_S = 120.0


def pass_chain(states: int = 10) -> dict[str, Any]:
    """A machine of `states` Pass states, each adding to the state (the interpreter's own cost, no service call)."""
    names = [f"Step{i:02d}" for i in range(states)]
    return {
        "StartAt": names[0],
        "States": {
            name: {
                "Type": "Pass",
                "Result": {"step": index},
                "ResultPath": f"$.{name}",
                **({"Next": names[index + 1]} if index + 1 < states else {"End": True}),
            }
            for index, name in enumerate(names)
        },
    }


def sdk_chain(tasks: int = 5) -> dict[str, Any]:
    """A machine of aws-sdk tasks (S3 ListBuckets): every one maps casing through the botocore models."""
    names = [f"List{i:02d}" for i in range(tasks)]
    return {
        "StartAt": names[0],
        "States": {
            name: {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
                "Parameters": {},
                "ResultPath": None,
                **({"Next": names[index + 1]} if index + 1 < tasks else {"End": True}),
            }
            for index, name in enumerate(names)
        },
    }


def run_sequentially(sfn: Any, definition: dict[str, Any], count: int) -> float:
    """Real seconds to run `count` executions one after another (each waited for, with a deadline)."""
    arn = sfn.create_state_machine(
        name=f"bench-{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    started = time.perf_counter()
    for index in range(count):
        execution = sfn.start_execution(stateMachineArn=arn, name=f"bench-{index}", input="{}")["executionArn"]
        _wait(sfn, execution)
    return time.perf_counter() - started


def _wait(sfn: Any, execution_arn: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
        if status == "SUCCEEDED":
            return
        if status != "RUNNING":
            raise RuntimeError(f"bench execution {execution_arn} ended {status}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"bench execution {execution_arn} still RUNNING after {DEADLINE_S}s")
        time.sleep(0.001)


def measure_plain_moto(count: int) -> dict[str, float]:
    """Plain moto 5.2.5, executing state machines, no kbsync import that patches anything."""
    import os

    import boto3
    from moto import mock_aws

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[key] = "testing"
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        run_sequentially(sfn, pass_chain(), 3)  # warm-up
        return {"passSeconds": run_sequentially(sfn, pass_chain(), count)}


def measure_local_cloud(count: int) -> dict[str, float]:
    """The local cloud (every adapter installed); aws-sdk tasks with warm and with cleared model caches."""
    from kbsync_localcloud.adapters import aws_sdk_tasks
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=0.001) as cloud:
        sfn = cloud.client("stepfunctions")
        run_sequentially(sfn, pass_chain(), 3)
        run_sequentially(sfn, sdk_chain(), 3)
        passes = run_sequentially(sfn, pass_chain(), count)
        warm = run_sequentially(sfn, sdk_chain(), count // 3)
        with uncached_models(aws_sdk_tasks), fresh_clients(aws_sdk_tasks):
            cold = run_sequentially(sfn, sdk_chain(), count // 3)
    return {"passSeconds": passes, "sdkWarmSeconds": warm, "sdkColdSeconds": cold}


@contextlib.contextmanager
def uncached_models(module: Any) -> Iterator[None]:
    """Swap every functools-cached function of `module` for the function it wraps (what the adapter would cost
    without its caches); module-level callers look the names up at call time, so they all see the uncached ones."""
    cached = {name: value for name, value in vars(module).items() if hasattr(value, "cache_clear")}
    try:
        for name, value in cached.items():
            setattr(module, name, value.__wrapped__)
        yield
    finally:
        for name, value in cached.items():
            setattr(module, name, value)


@contextlib.contextmanager
def fresh_clients(module: Any) -> Iterator[None]:
    """moto's own boto_client_for (a new boto3 client per task) instead of the adapter's one client per service."""
    users: dict[str, Any] = {name: importlib.import_module(name) for name in module.CLIENT_USERS}
    saved = {name: user.boto_client_for for name, user in users.items()}
    try:
        for user in users.values():
            user.boto_client_for = module._moto_boto_client_for()
        yield
    finally:
        for name, user in users.items():
            user.boto_client_for = saved[name]


def _in_fresh_process(mode: str, count: int) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-m", "kbsync_localcloud.bench.localcloud", "--mode", mode, "--count", str(count)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench {mode} failed:\n{completed.stderr[-2000:]}")
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def ratios(count: int = EXECUTIONS) -> list[Ratio]:
    plain = _in_fresh_process("plain-moto", count)
    ours = _in_fresh_process("local-cloud", count)
    return [
        Ratio(
            "local cloud",
            "executions/s with adapters vs plain moto",
            plain["passSeconds"] / ours["passSeconds"],
            f"10-state Pass machine, {count} sequential executions each side (1 = no overhead)",
        ),
        Ratio(
            "local cloud",
            "aws-sdk task speed-up from the adapter's caches",
            ours["sdkColdSeconds"] / ours["sdkWarmSeconds"],
            "5 aws-sdk tasks per execution: without its botocore-model and client caches / with them",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one local-cloud throughput measurement (JSON on stdout)")
    parser.add_argument("--mode", choices=["plain-moto", "local-cloud"])
    parser.add_argument("--count", type=int, default=EXECUTIONS)
    args = parser.parse_args(argv)
    if args.mode is None:
        for ratio in ratios(args.count):
            print(ratio.line())
        return 0
    measured = measure_plain_moto(args.count) if args.mode == "plain-moto" else measure_local_cloud(args.count)
    print(json.dumps(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main())
