"""The callback pattern (``.waitForTaskToken``) as Step Functions runs it.

moto 5.2.5's interpreter (LocalStack's) runs ``arn:aws:states:::lambda:invoke.waitForTaskToken`` and its task token,
but differs from AWS where a caller of SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat can tell:

- **a closed task's token** (the task succeeded, failed, timed out, its heartbeat lapsed, or its execution ended)
  was accepted again, silently, or refused with InvalidToken once its execution had ended. AWS refuses it with
  ``TaskTimedOut`` ("the task token has either expired or the task associated with the token has already been
  closed": https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html). Here the task's
  token is closed the moment its state stops waiting, whatever the reason, and every later call gets TaskTimedOut;
  a token no execution ever issued is ``InvalidToken``;
- **SendTaskHeartbeat** on an open task without ``HeartbeatSeconds`` was InvalidToken; AWS accepts it;
- **request limits** (same page; SendTaskFailure's on its own page): ``taskToken`` 1 to 2,048 characters,
  ``output`` at most 262,144 bytes of UTF-8 and valid JSON (``InvalidOutput``), ``error`` at most 256 and
  ``cause`` at most 32,768 characters: ``ValidationException`` with AWS's "1 validation error detected" wording;
- **SendTaskFailure's cause** was dropped by moto's request handler; the task's error now carries it;
- **a lapsed heartbeat** failed the task with ``States.Timeout``. AWS fails it with ``States.HeartbeatTimeout``
  ("A Task state failed to send a heartbeat for a period longer than the HeartbeatSeconds value":
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html), which a Catch or Retry naming
  ``States.Timeout`` still matches (the older name covered both: github.com/aws/aws-cdk/issues/16084).

Waits are scaled by scaled_time.py (TimeoutSeconds[Path], HeartbeatSeconds[Path]).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.aws_limits import utf8_size
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

TASK_TOKEN_MAX_CHARS = 2_048
TASK_OUTPUT_MAX_BYTES = 262_144
TASK_ERROR_MAX_CHARS = 256
TASK_CAUSE_MAX_CHARS = 32_768
#: What AWS answers for the token of a closed task (TaskTimedOut); InvalidToken for a token never issued.
CLOSED_TASK_MESSAGE = "Task Timed Out: 'Provided task does not exist anymore'"
INVALID_TOKEN_MESSAGE = "Invalid Token: 'Invalid token'"  # noqa: S105 - an error message, not a secret
INVALID_OUTPUT_MESSAGE = "Invalid Output: 'The provided JSON output data is invalid.'"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TIMEOUT = "States.Timeout"

EXPECTED_SOURCES: dict[str, str] = {
    "StateTaskServiceCallback._eval_body": "1565ede7010df6af",
    "StateTaskServiceCallback._from_error": "1b5fce8960778380",
    "ErrorEqualsDecl._eval_body": "aeda14a0cc01747d",
    "StepFunctionsParserBackend.send_task_success": "2e95c66f0d676001",
    "StepFunctionsParserBackend.send_task_failure": "2d5a9597cf1d92f9",
    "StepFunctionsParserBackend.send_task_heartbeat": "279ad79cd7a2f24b",
    "StepFunctionResponse.send_task_failure": "f0fed5e805768377",
}

_INSTALL_LOCK = threading.Lock()
_installed = False


# --------------------------------------------------------------------------- moto internals, by path


def _callback_task_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    return StateTaskServiceCallback


def _error_equals_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl

    return ErrorEqualsDecl


def _backend_cls() -> Any:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return StepFunctionsParserBackend


def _response_cls() -> Any:
    from moto.stepfunctions.responses import StepFunctionResponse

    return StepFunctionResponse


def _current(owner: Any, attribute: str) -> Any:
    return owner.__dict__[attribute]


def _patched_targets() -> dict[str, Any]:
    task, decl, backend = _callback_task_cls(), _error_equals_cls(), _backend_cls()
    return {
        "StateTaskServiceCallback._eval_body": _current(task, "_eval_body"),
        "StateTaskServiceCallback._from_error": _current(task, "_from_error"),
        "ErrorEqualsDecl._eval_body": _current(decl, "_eval_body"),
        "StepFunctionsParserBackend.send_task_success": _current(backend, "send_task_success"),
        "StepFunctionsParserBackend.send_task_failure": _current(backend, "send_task_failure"),
        "StepFunctionsParserBackend.send_task_heartbeat": _current(backend, "send_task_heartbeat"),
        "StepFunctionResponse.send_task_failure": _current(_response_cls(), "send_task_failure"),
    }


# --------------------------------------------------------------------------- closing a task's token


def close_endpoint(endpoint: Any) -> None:
    """The task stopped waiting: its token is spent (later calls: TaskTimedOut), its waiters are released."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackConsumerTimeout

    if endpoint is None:
        return
    if endpoint.consumer_error is None:
        endpoint.report(CallbackConsumerTimeout())
    endpoint.interrupt_all()


def _eval_body(original: Callable[..., Any]) -> Callable[..., Any]:
    """StateTaskServiceCallback._eval_body (moto's steps) with the token closed however the task ends."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition

    def eval_body(self: Any, env: Any) -> None:
        token = None
        if (
            self._is_integration_pattern()
            and ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
        ):
            self._assert_integration_pattern_is_supported()
            token = env.states.context_object.update_task_token()
            env.callback_pool_manager.add(token)
        try:
            super(_callback_task_cls(), self)._eval_body(env=env)
        finally:
            if token is not None:
                close_endpoint(env.callback_pool_manager.get(token))
        env.states.context_object.context_object_data.pop("Task", None)

    return mark_patch(eval_body, original)


# --------------------------------------------------------------------------- States.HeartbeatTimeout


def _from_error(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, HeartbeatTimeoutError):
            return original(self, env, ex)
        return FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesHeartbeatTimeout),
            event_type=HistoryEventType.TaskTimedOut,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict: one key of many
                taskTimedOutEventDetails=TaskTimedOutEventDetails(
                    resourceType=self._get_sfn_resource_type(),
                    resource=self._get_sfn_resource(),
                    error=HEARTBEAT_TIMEOUT,
                )
            ),
        )

    return mark_patch(from_error, original)


def _error_equals(original: Callable[..., Any]) -> Callable[..., Any]:
    """A Catch/Retry naming States.Timeout also matches States.HeartbeatTimeout (AWS's compatibility)."""

    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if getattr(error_name, "error_name", None) == HEARTBEAT_TIMEOUT and any(
            getattr(name, "error_name", None) == TIMEOUT for name in self.error_names
        ):
            env.stack.pop()
            env.stack.append(True)
            return
        original(self, env)

    return mark_patch(eval_body, original)


# --------------------------------------------------------------------------- SendTask* APIs


def api_error(code: str, message: str) -> Exception:
    """A Step Functions API error with its code on the wire (moto's parser-side exception classes set ``code``,
    which moto's AWSError then overwrites with the HTTP status: their error type reached the client empty)."""
    from moto.core.exceptions import AWSError

    return AWSError(message, exception_type=code, status=400)


def _validation(message: str) -> Exception:
    return api_error("ValidationException", message)


def _too_long(member: str, limit: int) -> str:
    return (
        f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
    )


def check_token(token: Any) -> None:
    if not isinstance(token, str) or not token:
        raise _validation(
            "1 validation error detected: Value at 'taskToken' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(token) > TASK_TOKEN_MAX_CHARS:
        raise _validation(_too_long("taskToken", TASK_TOKEN_MAX_CHARS))


def check_output(output: Any) -> None:
    text = output if isinstance(output, str) else ""
    if utf8_size(text) > TASK_OUTPUT_MAX_BYTES:
        raise _validation(_too_long("output", TASK_OUTPUT_MAX_BYTES))
    try:
        json.loads(text)
    except ValueError as error:
        raise api_error("InvalidOutput", INVALID_OUTPUT_MESSAGE) from error


def _endpoint(backend: Any, token: str) -> tuple[Any, Any]:
    """(execution, callback endpoint) that issued `token`, in any execution, running or ended; (None, None)."""
    for execution in backend._get_executions():
        worker = getattr(execution, "exec_worker", None)
        endpoint = None if worker is None else worker.env.callback_pool_manager.get(token)
        if endpoint is not None:
            return execution, endpoint
    return None, None


def _open_endpoint(backend: Any, token: str) -> Any:
    """The endpoint of an open task, or AWS's error: InvalidToken (never issued), TaskTimedOut (closed)."""
    from moto.stepfunctions.parser.api import ExecutionStatus

    execution, endpoint = _endpoint(backend, token)
    if endpoint is None:
        raise api_error("InvalidToken", INVALID_TOKEN_MESSAGE)
    if endpoint.consumer_error is not None or execution.status != ExecutionStatus.RUNNING:
        raise api_error("TaskTimedOut", CLOSED_TASK_MESSAGE)
    return endpoint


def _send_task_success(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess

    def send_task_success(self: Any, task_token: Any, outcome: Any) -> None:
        check_token(task_token)
        check_output(outcome)
        _open_endpoint(self, task_token).notify(CallbackOutcomeSuccess(callback_id=task_token, output=outcome))

    return mark_patch(send_task_success, original)


def _send_task_failure(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.stepfunctions.parser.api import SendTaskFailureOutput
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeFailure

    def send_task_failure(self: Any, task_token: Any, error: Any = None, cause: Any = None) -> Any:
        check_token(task_token)
        if isinstance(error, str) and len(error) > TASK_ERROR_MAX_CHARS:
            raise _validation(_too_long("error", TASK_ERROR_MAX_CHARS))
        if isinstance(cause, str) and len(cause) > TASK_CAUSE_MAX_CHARS:
            raise _validation(_too_long("cause", TASK_CAUSE_MAX_CHARS))
        endpoint = _open_endpoint(self, task_token)
        endpoint.notify(CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause))
        return SendTaskFailureOutput()

    return mark_patch(send_task_failure, original)


def _send_task_heartbeat(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_task_heartbeat(self: Any, task_token: Any) -> None:
        check_token(task_token)
        _open_endpoint(self, task_token).notify_heartbeat()  # no HeartbeatSeconds: accepted, nothing to reset

    return mark_patch(send_task_heartbeat, original)


def _response_send_task_failure(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.core.responses import EmptyResult

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    return mark_patch(send_task_failure, original)


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "StateTaskServiceCallback._eval_body": _eval_body,
    "StateTaskServiceCallback._from_error": _from_error,
    "ErrorEqualsDecl._eval_body": _error_equals,
    "StepFunctionsParserBackend.send_task_success": _send_task_success,
    "StepFunctionsParserBackend.send_task_failure": _send_task_failure,
    "StepFunctionsParserBackend.send_task_heartbeat": _send_task_heartbeat,
    "StepFunctionResponse.send_task_failure": _response_send_task_failure,
}


# --------------------------------------------------------------------------- contract


def install() -> None:
    """Apply the callback-pattern fixes (idempotent, process-wide; after aws_limits, whose ErrorEquals it wraps)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        for name, current in _patched_targets().items():
            owner_name, attribute = name.split(".")
            owner = {
                "StateTaskServiceCallback": _callback_task_cls(),
                "ErrorEqualsDecl": _error_equals_cls(),
                "StepFunctionsParserBackend": _backend_cls(),
                "StepFunctionResponse": _response_cls(),
            }[owner_name]
            setattr(owner, attribute, _WRAPPERS[name](current))
        _installed = True


def verify_moto_internals() -> None:
    check_fingerprints("task_tokens", _patched_targets(), EXPECTED_SOURCES)
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackPoolManager

    for owner, method in (
        (CallbackEndpoint, "report"),
        (CallbackEndpoint, "interrupt_all"),
        (CallbackEndpoint, "notify_heartbeat"),
        (CallbackPoolManager, "get"),
    ):
        if not callable(getattr(owner, method, None)):
            raise MotoInternalsChanged(f"task_tokens: moto's {owner.__name__}.{method} is gone")
    if "consumer_error" not in CallbackEndpoint.__init__.__code__.co_names:
        raise MotoInternalsChanged("task_tokens: moto's CallbackEndpoint no longer records a consumer_error")
