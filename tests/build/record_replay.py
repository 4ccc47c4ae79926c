"""Record the events the deployed stack really sends its functions, then replay each in the BUILT function.

Run as a script (a process of its own: the local cloud server sets process-wide state), by
tests/build/test_built_functions.py:

    .venv/bin/python -m tests.build.record_replay          -> one JSON report on the last line of stdout

1. Start the local cloud server (as `kbsync local up` does) with the real template.yaml deployed and the sample
   knowledge base seeded; record every in-process Lambda invocation (function, event, environment, outcome).
2. Drive the stack through its public APIs so that every function runs at least once: register the sample target
   (nightly off), upload an unsupported file (the on-upload sync ends COMPLETE with a failed document: a PARTIAL
   alert), then start an ingestion sync with a malformed request (it fails: the catch-all sees the execution die),
   then fire the reconciler's schedule and the freshness check's, then the nightly schedule (a night with no
   target: the plan is stored and summarized, and no gate or job slot is taken that a replay could find busy); the
   local cloud's alarm evaluator changes the alarms' states meanwhile, which runs the alarm relay.
3. Replay each function's first recorded event in the function as `sam build` packaged it, in a clean interpreter
   (tests/build/built.py), against the same server, with the environment the local cloud gave it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import boto3
from kbsync_localcloud.adapters import inprocess_lambda
from kbsync_localcloud.server import start_server

from kbsync.cli import main as kbsync_cli
from tests.build.built import REPO, built_functions, run_built

TIME_SCALE = 0.005
DEADLINE_S = 120.0
UNSUPPORTED_KEY = "clip.mp4"

_lock = threading.Lock()
recorded: dict[str, dict[str, Any]] = {}  # function name -> first invocation


def _recording(original: Any) -> Any:
    def invoke(fn: Any, event: Any) -> Any:
        result = original(fn, event)
        context = inprocess_lambda._make_context(fn, "replay")
        with _lock:
            recorded.setdefault(
                fn.function_name,
                {
                    "event": event,
                    "env": inprocess_lambda.runtime_environment(fn, context),
                    "functionError": result.function_error,
                    "payload": json.loads(result.payload or b"null"),
                },
            )
        return result

    return invoke


def _wait_for(what: str, done: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"record_replay: timed out waiting for {what}; recorded {sorted(recorded)}")
        time.sleep(0.1)


def main() -> int:
    inprocess_lambda.invoke_function = _recording(inprocess_lambda.invoke_function)
    server = start_server(port=0, time_scale=TIME_SCALE, template=REPO / "template.yaml", seed=True)
    try:
        endpoint, seeded = server.endpoint, server.seeded
        assert seeded is not None
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        cfn = session.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
        resources = cfn.describe_stack_resources(StackName=server.stack_name)["StackResources"]
        names = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("PhysicalResourceId")}
        logical = {physical: logical_id for logical_id, physical in names.items()}

        code = kbsync_cli(
            ["targets", "add", "--kb", seeded.knowledge_base_id, "--ds", seeded.data_source_id, "--no-nightly",
             "--endpoint-url", endpoint, "--region", "us-east-1"]
        )  # fmt: skip
        if code != 0:
            raise SystemExit(f"record_replay: `kbsync targets add` exited {code}")
        s3 = session.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.put_object(Bucket=seeded.bucket, Key=seeded.prefix + UNSUPPORTED_KEY, Body=b"\x00\x00\x00\x18ftypmp42")
        _wait_for("the PARTIAL alert", lambda: names["SendAlertFunction"] in recorded)

        sfn = session.client("stepfunctions", endpoint_url=endpoint, region_name="us-east-1")
        sfn.start_execution(
            stateMachineArn=server.outputs["IngestionSyncStateMachineArn"],
            name="build-check-malformed",
            input=json.dumps({"request": {"knowledgeBaseId": "not-an-id"}}),
        )
        _wait_for("the catch-all", lambda: names["CatchAllFunction"] in recorded)

        from kbsync_localcloud.scheduler import fire_schedule  # the reconciler's schedule (the local cloud never fires)

        fire_schedule(server.outputs["ReconcileScheduleName"])
        _wait_for("the reconciler", lambda: names["ReconcilerFunction"] in recorded)

        fire_schedule(server.outputs["FreshnessScheduleName"])  # the registered sample target: fresh, no alert
        _wait_for("the freshness check", lambda: names["FreshnessFunction"] in recorded)

        fire_schedule(server.outputs["NightlyScheduleName"], force=True)  # it ships DISABLED
        _wait_for("the nightly plan", lambda: names["NightlyPlanFunction"] in recorded)

        # The alarms' first evaluation (INSUFFICIENT_DATA -> OK) and the dead execution above: the alarm relay
        _wait_for("the alarm relay", lambda: names["AlarmRelayFunction"] in recorded)

        report: dict[str, Any] = {}
        for fn in built_functions():
            name = names[fn.logical_id]
            seen = recorded.get(name)
            if seen is None:
                report[fn.logical_id] = {"recorded": None}
                continue
            replayed = run_built(fn, {**seen["env"], "AWS_ENDPOINT_URL": endpoint}, seen["event"])
            report[fn.logical_id] = {"recorded": seen, "replayed": replayed, "name": name}
        unknown = sorted(n for n in recorded if n not in logical)
        print(json.dumps({"functions": report, "unknownFunctions": unknown}, default=str))
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
