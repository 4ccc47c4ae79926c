"""Server mode: moto's ThreadedMotoServer on 127.0.0.1 executes state machines with the same adapters."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kbsync_localcloud.adapters.server_mode import SERVER_CONFIG, post_config, prepare_in_process_server
from kbsync_localcloud.clock import CLOCK
from moto.core.config import default_user_config
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from tests.localcloud.lambda_fixtures.sfn_helpers import create_function, event_types, output_of, run


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    saved_config = {key: default_user_config.get(key) for key in SERVER_CONFIG}
    saved_port, saved_scale = os.environ.get("MOTO_PORT"), CLOCK.scale
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        prepare_in_process_server(port)
        CLOCK.set_scale(0.001)
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        CLOCK.set_scale(saved_scale)
        for key, value in saved_config.items():
            if value is None:
                default_user_config.pop(key, None)
            else:
                default_user_config[key] = value
        if saved_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = saved_port


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_post_config_sets_the_executing_config(endpoint: str) -> None:
    default_user_config["stepfunctions"] = {"execute_state_machine": False}  # as a fresh server starts
    reported = post_config(endpoint)
    assert reported["lambda"]["use_docker"] is False  # moto reports batch and lambda only
    assert default_user_config["stepfunctions"] == {"execute_state_machine": True}


def test_server_executes_wait_aws_sdk_and_in_process_lambda(endpoint: str) -> None:
    s3 = _client(endpoint, "s3")
    bucket = f"server-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    function_arn = create_function(_client(endpoint, "lambda"), _client(endpoint, "iam"), "server-echo", "echo_env")
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 100, "Next": "ListBuckets"},
            "ListBuckets": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
                "ResultSelector": {"names.$": "$.Buckets[*].Name"},
                "ResultPath": "$.sdk",
                "Next": "Lambda",
            },
            "Lambda": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function_arn, "Payload": {"list_buckets": True}},
                "ResultSelector": {"buckets.$": "$.Payload.buckets"},
                "ResultPath": "$.lambda",
                "End": True,
            },
        },
    }
    started = time.monotonic()
    described, events = run(_client(endpoint, "stepfunctions"), definition, deadline_s=20)
    output = output_of(described)
    assert bucket in output["sdk"]["names"]
    assert bucket in output["lambda"]["buckets"]  # the handler's boto3 reached the server via AWS_ENDPOINT_URL
    assert "WaitStateExited" in event_types(events)
    assert time.monotonic() - started < 20
    assert json.loads(described["input"]) == {}
