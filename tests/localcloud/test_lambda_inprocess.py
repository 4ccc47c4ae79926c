"""In-process Lambda: the function's own handler file runs with its environment; errors look like AWS's."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud import code_registry
from kbsync_localcloud.adapters.inprocess_lambda import applied_environment, error_payload, load_handler
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import FIXTURES, create_function, event_types, output_of, run, zip_dir


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


@pytest.fixture(scope="module")
def functions(cloud: LocalCloud) -> dict[str, str]:
    lam, iam = cloud.client("lambda"), cloud.client("iam")
    return {
        "echo": create_function(lam, iam, "echo-env", "echo_env", env={"GREETING": "hello from echo"}),
        "failing": create_function(lam, iam, "failing", "failing", env={"GREETING": "failing env"}),
    }


def _invoke(cloud: LocalCloud, name: str, event: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = cloud.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event), **kwargs)
    return response, json.loads(response["Payload"].read())


# --------------------------------------------------------------------------- the Invoke API


def test_invoke_runs_the_handler_with_env_and_context(cloud: LocalCloud, functions: dict[str, str]) -> None:
    response, payload = _invoke(cloud, "echo-env", {"a": 1})
    assert "FunctionError" not in response
    assert payload["event"] == {"a": 1}
    assert payload["greeting"] == "hello from echo"
    assert payload["function_name"] == "echo-env"
    assert payload["context"] == {
        "function_name": "echo-env",
        "memory_limit_in_mb": 256,
        "invoked_function_arn": functions["echo"],
        "aws_request_id": payload["context"]["aws_request_id"],
        "remaining_ms_positive": True,
    }
    assert "GREETING" not in os.environ  # restored after the call


def test_functions_sharing_app_py_do_not_collide(cloud: LocalCloud, functions: dict[str, str]) -> None:
    _, echo = _invoke(cloud, "echo-env", {})
    _, failing = _invoke(cloud, "failing", {})
    assert echo["greeting"] == "hello from echo"
    assert failing == {"ok": True}


def test_each_function_gets_its_own_module_even_with_shared_code(cloud: LocalCloud) -> None:
    lam, iam = cloud.client("lambda"), cloud.client("iam")
    create_function(lam, iam, "twin-a", "echo_env", env={"GREETING": "a"})
    create_function(lam, iam, "twin-b", "echo_env", env={"GREETING": "b"})
    _, first = _invoke(cloud, "twin-a", {})
    _, second = _invoke(cloud, "twin-b", {})
    assert (first["greeting_at_import"], second["greeting_at_import"]) == ("a", "b")


def test_unhandled_exception_is_a_function_error_like_aws(cloud: LocalCloud, functions: dict[str, str]) -> None:
    response, payload = _invoke(cloud, "failing", {"raise": "ValueError", "detail": 42})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad value: 42"
    assert any("raise ValueError" in line for line in payload["stackTrace"])


def test_custom_exception_keeps_its_class_name(cloud: LocalCloud, functions: dict[str, str]) -> None:
    _, payload = _invoke(cloud, "failing", {"raise": "custom"})
    assert payload["errorType"] == "IngestionConflict"


def test_unserializable_result_is_a_marshal_error(cloud: LocalCloud, functions: dict[str, str]) -> None:
    response, payload = _invoke(cloud, "failing", {"raise": "unserializable"})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.MarshalError"


def test_log_tail_and_invocation_types(cloud: LocalCloud, functions: dict[str, str]) -> None:
    response, _ = _invoke(cloud, "echo-env", {}, LogType="Tail")
    assert "REPORT RequestId:" in base64.b64decode(response["LogResult"]).decode()
    event = cloud.client("lambda").invoke(FunctionName="echo-env", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202
    dry = cloud.client("lambda").invoke(FunctionName="echo-env", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204


def test_registered_source_dir_is_loaded_instead_of_the_zip(cloud: LocalCloud, tmp_path: Path) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="code-artifacts")
    s3.put_object(Bucket="code-artifacts", Key="failing.zip", Body=zip_dir(FIXTURES / "failing"))
    code_registry.register_code("code-artifacts", "failing.zip", FIXTURES / "failing")
    try:
        create_function(
            cloud.client("lambda"),
            cloud.client("iam"),
            "from-s3",
            "failing",
            code={"S3Bucket": "code-artifacts", "S3Key": "failing.zip"},
        )
        _, payload = _invoke(cloud, "from-s3", {"raise": "ValueError"})
    finally:
        code_registry.unregister_code("code-artifacts", "failing.zip")
    assert str(FIXTURES / "failing" / "app.py") in payload["stackTrace"][0]  # the repo's file, not a temp copy


def test_register_code_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        code_registry.register_code("b", "k", tmp_path / "missing")


# --------------------------------------------------------------------------- unit: loading and environment


def test_handlers_load_by_path_under_unique_names() -> None:
    echo = load_handler(FIXTURES / "echo_env", "app.lambda_handler")
    failing = load_handler(FIXTURES / "failing", "app.lambda_handler")
    assert echo.__module__ != failing.__module__
    assert "app" not in (echo.__module__, failing.__module__)
    assert load_handler(FIXTURES / "echo_env", "app.lambda_handler") is echo  # cached
    with pytest.raises(AttributeError, match="no function"):
        load_handler(FIXTURES / "echo_env", "app.missing")


def test_applied_environment_restores_previous_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KBSYNC_T_EXISTING", "before")
    monkeypatch.delenv("KBSYNC_T_NEW", raising=False)
    with applied_environment({"KBSYNC_T_EXISTING": "during", "KBSYNC_T_NEW": "x"}):
        assert os.environ["KBSYNC_T_EXISTING"] == "during"
        assert os.environ["KBSYNC_T_NEW"] == "x"
    assert os.environ["KBSYNC_T_EXISTING"] == "before"
    assert "KBSYNC_T_NEW" not in os.environ


def test_error_payload_shape() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        payload = error_payload(exc, "req-1")
    assert payload["errorType"] == "KeyError"
    assert payload["requestId"] == "req-1"
    assert isinstance(payload["stackTrace"], list)


# --------------------------------------------------------------------------- through Step Functions


def test_lambda_invoke_integration_returns_the_handler_payload(cloud: LocalCloud, functions: dict[str, str]) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "echo-env", "Payload.$": "$"},
                "ResultSelector": {"greeting.$": "$.Payload.greeting", "event.$": "$.Payload.event"},
                "ResultPath": "$.result",
                "End": True,
            }
        },
    }
    described, _ = run(cloud.client("stepfunctions"), definition, {"job": 7})
    assert output_of(described) == {"job": 7, "result": {"greeting": "hello from echo", "event": {"job": 7}}}


def test_retry_on_the_exception_class_name(cloud: LocalCloud, functions: dict[str, str]) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": functions["failing"], "Payload": {"raise": "ValueError"}},
                "Retry": [{"ErrorEquals": ["ValueError"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "End": True,
            }
        },
    }
    described, events = run(cloud.client("stepfunctions"), definition)
    assert described["status"] == "FAILED"
    assert described["error"] == "ValueError"
    assert json.loads(described["cause"])["errorMessage"] == "bad value: None"
    assert event_types(events).count("TaskFailed") == 3


def test_catch_on_a_custom_exception_with_a_plain_function_arn(cloud: LocalCloud, functions: dict[str, str]) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": functions["failing"],
                "Parameters": {"raise": "custom"},
                "Catch": [{"ErrorEquals": ["IngestionConflict"], "ResultPath": "$.error", "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "End": True},
        },
    }
    described, events = run(cloud.client("stepfunctions"), definition, {"job": 1})
    output = output_of(described)
    assert output["error"]["Error"] == "IngestionConflict"
    assert "LambdaFunctionFailed" in event_types(events)


def test_a_handler_environment_is_invisible_to_other_threads_and_never_breaks_their_reads() -> None:
    """Executions run on threads while callers create boto3 clients (which iterate os.environ): the handler's
    variables live in a per-thread overlay, so another thread neither sees them nor trips over them."""
    import threading

    stop = threading.Event()
    seen_by_other_thread: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                snapshot = dict(os.environ)  # what botocore's proxy lookup does
                if "KBSYNC_T_THREAD" in snapshot:
                    seen_by_other_thread.append(snapshot["KBSYNC_T_THREAD"])
        except BaseException as error:  # pragma: no cover - the failure this test exists to catch
            errors.append(error)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for i in range(300):
            with applied_environment({"KBSYNC_T_THREAD": str(i), f"KBSYNC_T_{i}": "x"}):
                assert os.environ["KBSYNC_T_THREAD"] == str(i)
                assert os.getenv(f"KBSYNC_T_{i}") == "x"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not errors, errors
    assert seen_by_other_thread == []
    assert "KBSYNC_T_THREAD" not in os.environ
