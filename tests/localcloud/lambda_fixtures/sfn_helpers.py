"""Helpers for the Step Functions / Lambda adapter tests: run tiny ASL, create functions from fixture dirs."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent
ROLE_ARN = "arn:aws:iam::123456789012:role/sfn"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def create_state_machine(sfn: Any, definition: dict[str, Any], sm_type: str = "STANDARD") -> str:
    name = f"sm-{uuid.uuid4().hex[:10]}"
    return str(
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN, type=sm_type)[
            "stateMachineArn"
        ]
    )


def wait_for_end(sfn: Any, execution_arn: str, deadline_s: float = 10.0) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING; fail the test at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > end:
            raise AssertionError(f"execution still {described['status']} after {deadline_s}s: {execution_arn}")
        time.sleep(0.005)


def run(
    sfn: Any, definition: dict[str, Any], payload: Any = None, deadline_s: float = 10.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a state machine, start one named execution, wait for its end; return (describe, history events)."""
    arn = create_state_machine(sfn, definition)
    execution_arn = sfn.start_execution(
        stateMachineArn=arn, name=f"ex-{uuid.uuid4().hex[:10]}", input=json.dumps(payload or {})
    )["executionArn"]
    described = wait_for_end(sfn, execution_arn, deadline_s)
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return described, events


def output_of(described: dict[str, Any]) -> Any:
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*.py")):
            archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def lambda_role(iam: Any) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    name = f"fn-{uuid.uuid4().hex[:8]}"
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def create_function(
    lam: Any, iam: Any, name: str, fixture: str, env: dict[str, str] | None = None, code: dict[str, Any] | None = None
) -> str:
    """Create a Lambda function from tests/localcloud/lambda_fixtures/<fixture>/app.py; returns its ARN."""
    response = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=lambda_role(iam),
        Handler="app.lambda_handler",
        Code=code or {"ZipFile": zip_dir(FIXTURES / fixture)},
        Environment={"Variables": env or {}},
        Timeout=30,
        MemorySize=256,
    )
    return str(response["FunctionArn"])
