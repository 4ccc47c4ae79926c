"""Scaled time for moto's Step Functions interpreter: Wait states, Retry intervals and timeouts.

moto 5.2.5 sleeps in real seconds. kbsync's workflow waits minutes between polls and retries with
exponential backoff, so tests would take hours. This adapter routes every interpreter wait through
``CLOCK`` (one virtual second = ``CLOCK.scale`` real seconds) while keeping what the real service does:

- Wait ``Seconds``/``SecondsPath`` sleep the virtual duration and still end early on StopExecution
  (moto's ``program_state_event``). moto's own loop truncates the elapsed real time to whole seconds and
  re-waits the remainder, so patching it with a scaled float never terminates: the loop is replaced, not fed.
- Wait ``Timestamp``/``TimestampPath`` compare against the date now (``CLOCK.wall_now()``, UTC), not the host's local
  time; the time to go is then waited as scaled virtual seconds.
- Retry intervals (IntervalSeconds x BackoffRate^n, capped by MaxDelaySeconds, with FULL jitter) sleep
  scaled and are interruptible by StopExecution, as on AWS.
- Execution ``TimeoutSeconds``, state ``TimeoutSeconds`` and callback/heartbeat/activity timeouts are scaled.
- ``.sync`` integrations (``states:startExecution.sync:2``) ask their resolver again when an execution ends (AWS
  notices a child's end within about a second), with a slow scaled poll as a safety net, not every 0.5 s: polling
  DescribeExecution every few real milliseconds per waiting task was most of the local cloud's CPU in a busy night.

The values written to the execution history (``timeoutInSeconds``, ``waitedSeconds``...) stay virtual.
"""

from __future__ import annotations

import copy
import datetime
import functools
import hashlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.clock import CLOCK

_INSTALL_LOCK = threading.Lock()
_installed = False

#: sha256[:16] of the moto 5.2.5 source of every function this adapter replaces or relies on.
#: If moto changes one of them, re-read it, re-check the replacement, then update the fingerprint.
EXPECTED_SOURCES: dict[str, str] = {}


# --------------------------------------------------------------------------- moto internals, by path


def _wait_function_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    return WaitFunction


def _timestamp_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp

    return Timestamp


def _retrier_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl

    return RetrierDecl


def _program_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.program.program import Program

    return Program


def _execution_state_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

    return ExecutionState


def _callback_module() -> Any:
    from moto.stepfunctions.parser.asl.eval.callback import callback

    return callback


def _callback_task_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )

    return StateTaskServiceCallback


def _worker_communication_cls() -> Any:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    return BaseExecutionWorkerCommunication


def _patched_targets() -> dict[str, Callable[..., Any]]:
    """Every moto function this adapter replaces, by a stable name."""
    callback = _callback_module()
    return {
        "BaseExecutionWorkerCommunication.terminated": _worker_communication_cls().terminated,
        "WaitFunction._wait_interval": _wait_function_cls()._wait_interval,
        "Timestamp._get_wait_seconds": _timestamp_cls()._get_wait_seconds,
        "RetrierDecl._eval_body": _retrier_cls()._eval_body,
        "Program.eval": _program_cls().eval,
        "ExecutionState._evaluate_with_timeout": _execution_state_cls()._evaluate_with_timeout,
        "CallbackEndpoint.wait": callback.CallbackEndpoint.wait,
        "HeartbeatEndpoint.clear_and_wait": callback.HeartbeatEndpoint.clear_and_wait,
        "ActivityTaskStartEndpoint.wait": callback.ActivityTaskStartEndpoint.wait,
        "StateTaskServiceCallback._eval_sync": _callback_task_cls()._eval_sync,
    }


EXPECTED_SOURCES.update(
    {
        "BaseExecutionWorkerCommunication.terminated": "360372a6a57bf99b",
        "WaitFunction._wait_interval": "8f954dee80372b4b",
        "Timestamp._get_wait_seconds": "611d040940ad5f39",
        "RetrierDecl._eval_body": "48463fff19cefa98",
        "Program.eval": "6d701880064a8970",
        "ExecutionState._evaluate_with_timeout": "c56deda08a42e98d",
        "CallbackEndpoint.wait": "85d0fa6224f12b37",
        "HeartbeatEndpoint.clear_and_wait": "2037f07deefe18f0",
        "ActivityTaskStartEndpoint.wait": "80f71c6a0a52877c",
        "StateTaskServiceCallback._eval_sync": "b8f76de4d5142da1",
    }
)


def source_fingerprint(func: Callable[..., Any]) -> str:
    """A short hash of a function's source, to notice when a pinned moto internal changed."""
    original = getattr(func, "__kbsync_original__", func)
    return hashlib.sha256(inspect.getsource(original).encode()).hexdigest()[:16]


def check_fingerprints(adapter: str, targets: dict[str, Callable[..., Any]], expected: dict[str, str]) -> None:
    """Raise MotoInternalsChanged naming every replaced moto function whose source is not the pinned one."""
    changed = []
    for name, func in targets.items():
        actual = source_fingerprint(func)
        if actual != expected.get(name):
            changed.append(f"{name} (expected {expected.get(name)}, found {actual})")
    if changed:
        raise MotoInternalsChanged(
            f"{adapter}: moto's source changed for {', '.join(changed)}. The adapter replaces these functions; "
            "re-read the new moto code, port the replacement, then update the fingerprints."
        )


def mark_patch(replacement: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """Remember the original on the replacement, so fingerprints and re-installs see moto's own code."""
    replacement.__kbsync_original__ = getattr(original, "__kbsync_original__", original)  # type: ignore[attr-defined]
    return replacement


def memoised_patch(func: Callable[[str], Any], maxsize: int) -> Callable[[str], Any]:
    """`func` memoised by its text argument (bounded, thread-safe: a race computes twice and keeps one), marked as a
    patch of `func`. Exceptions are not cached."""
    return mark_patch(functools.lru_cache(maxsize=maxsize)(func), func)


# --------------------------------------------------------------------------- the scaled replacements


def wait_virtual(env: Any, virtual_seconds: float) -> None:
    """Sleep `virtual_seconds` of CLOCK time, returning early when the execution stops running.

    moto pulses ``env.program_state_event`` (set then clear) on stop/error/timeout; a pulse wakes us and
    ``env.is_running()`` tells whether it was ours. Re-computing the remainder in virtual time keeps the
    total right even if the scale changes mid-wait.
    """
    end = CLOCK.now() + max(0.0, float(virtual_seconds))
    while env.is_running():
        remaining = end - CLOCK.now()
        if remaining <= 0:
            return
        env.program_state_event.wait(CLOCK.to_real(remaining))


def _wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
    wait_virtual(env, wait_seconds)


def _timestamp_wait_seconds(self: Any, env: Any) -> float:
    """Seconds until the Timestamp (a date, which Step Functions reads as UTC) from the date now on the wall clock,
    waited as virtual seconds like any other wait: scaled time shortens the wait, the dates stay real (clock.py)."""
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    self.string.eval(env=env)
    timestamp_str: str = env.stack.pop()
    timestamp = self._from_timestamp_string(timestamp=timestamp_str)
    if timestamp is None:
        raise FailureEventException(self._create_failure_event(env, timestamp_str))
    target = timestamp.replace(tzinfo=datetime.UTC).timestamp()
    return target - CLOCK.wall_now()


def _retrier_eval_body(self: Any, env: Any) -> None:
    """moto's RetrierDecl._eval_body with the interval slept in virtual, interruptible time."""
    from moto.stepfunctions.parser.asl.component.common.retry.max_attempts_decl import MaxAttemptsOutcome
    from moto.stepfunctions.parser.asl.component.common.retry.retrier_outcome import RetrierOutcome

    self.error_equals.eval(env)
    if not env.stack.pop():
        env.stack.append(RetrierOutcome.Skipped)
        return
    self.max_attempts.eval(env=env)
    if env.stack.pop() == MaxAttemptsOutcome.EXHAUSTED:
        env.stack.append(RetrierOutcome.Failed)
        return
    # IntervalSeconds -> x BackoffRate^attempt -> min(MaxDelaySeconds) -> FULL jitter: each pushes/pops the stack.
    self.interval_seconds.eval(env=env)
    self.backoff_rate.eval(env=env)
    self.max_delay_seconds.eval(env=env)
    self.jitter_strategy.eval(env=env)
    interval_seconds: float = env.stack.pop()
    wait_virtual(env, interval_seconds)
    env.stack.append(RetrierOutcome.Executed)


def _program_eval(self: Any, env: Any) -> None:
    """moto's Program.eval with the execution TimeoutSeconds scaled."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
    env.next_state_name = self.start_at.start_at_name
    worker_thread = threading.Thread(target=super(_program_cls(), self).eval, args=(env,), daemon=True)
    TMP_THREADS.append(worker_thread)
    worker_thread.start()
    worker_thread.join(timeout=None if timeout is None else CLOCK.to_real(timeout))
    if worker_thread.is_alive():
        env.set_timed_out()


def _evaluate_with_timeout(self: Any, env: Any) -> None:
    """moto's ExecutionState._evaluate_with_timeout with the state TimeoutSeconds scaled."""
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.utils import TMP_THREADS

    self.timeout.eval(env=env)
    timeout_seconds: int = env.stack.pop()

    frame = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = copy.deepcopy(env.stack)
    execution_outputs: list[Any] = []
    execution_exceptions: list[Exception | None] = [None]
    terminated_event = threading.Event()

    def _exec_and_notify() -> None:
        try:
            self._eval_execution(frame)
            execution_outputs.extend(frame.stack)
        except Exception as ex:
            execution_exceptions.append(ex)
        terminated_event.set()

    thread = threading.Thread(target=_exec_and_notify, daemon=True)
    TMP_THREADS.append(thread)
    thread.start()

    finished_on_time = terminated_event.wait(CLOCK.to_real(timeout_seconds))
    frame.set_ended()
    env.close_frame(frame)

    execution_exception = execution_exceptions.pop()
    if execution_exception:
        raise execution_exception
    if not finished_on_time:
        raise EvalTimeoutError()

    execution_output = execution_outputs.pop()
    env.stack.append(execution_output)
    if not self._is_language_query_jsonpath():
        env.states.set_result(execution_output)
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env=env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        env.states.reset(input_value=env.stack.pop())


def _scaled_or_none(virtual_seconds: float | None) -> float | None:
    return None if virtual_seconds is None else CLOCK.to_real(virtual_seconds)


def _scale_timeout_kwarg(original: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wrap a moto wait(timeout) so the (virtual) timeout it receives is slept scaled."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            args = (_scaled_or_none(args[0]), *args[1:])
        elif name in kwargs:
            kwargs[name] = _scaled_or_none(kwargs[name])
        return original(self, *args, **kwargs)

    return mark_patch(wrapper, original)


#: moto polls a `.sync` integration's resolver (e.g. DescribeExecution of a child execution) every 0.5 real s.
#: Here the resolver is asked again as soon as any execution ends (see ExecutionEnds), and otherwise every
#: SYNC_POLL_VIRTUAL_SECONDS, kept between 2 ms and 0.5 s real: a safety net, not the way ends are noticed.
SYNC_POLL_VIRTUAL_SECONDS = 300.0
SYNC_POLL_MIN_REAL_SECONDS = 0.002
SYNC_POLL_MAX_REAL_SECONDS = 0.5


def sync_poll_delay() -> float:
    return min(SYNC_POLL_MAX_REAL_SECONDS, max(SYNC_POLL_MIN_REAL_SECONDS, CLOCK.to_real(SYNC_POLL_VIRTUAL_SECONDS)))


class ExecutionEnds:
    """A count of ended executions that `.sync` tasks wait on: one child's end wakes its parent at once."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.count = 0

    def ended(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_after(self, seen: int, timeout: float) -> bool:
        """Wait until an execution ends after `seen` was read, at most `timeout` real seconds; whether one did."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count != seen, timeout)


EXECUTION_ENDS = ExecutionEnds()


def _wrap_terminated(original: Callable[..., Any]) -> Callable[..., Any]:
    def terminated(self: Any) -> None:
        try:
            original(self)
        finally:
            EXECUTION_ENDS.ended()

    return mark_patch(terminated, original)


def _eval_sync(
    self: Any,
    env: Any,
    sync_resolver: Callable[[], Any] | None,
    timeout_seconds: int | None,
    callback_endpoint: Any,
    heartbeat_endpoint: Any,
) -> Any:
    """moto's StateTaskServiceCallback._eval_sync, the resolver asked again when an execution ends."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    callback_output: Any = None
    if callback_endpoint is not None:

        def _local_update_wait_for_task_token() -> None:
            nonlocal callback_output
            callback_output = self._eval_wait_for_task_token(
                env=env,
                timeout_seconds=timeout_seconds,
                callback_endpoint=callback_endpoint,
                heartbeat_endpoint=heartbeat_endpoint,
            )

        thread = threading.Thread(
            target=_local_update_wait_for_task_token,
            name=f"WaitForTaskToken_SyncTask_{self.resource.resource_arn}",
            daemon=True,
        )
        TMP_THREADS.append(thread)
        thread.start()

    sync_result: Any = None
    while env.is_running():
        seen = EXECUTION_ENDS.count  # read before asking: an end between the two wakes the wait below at once
        sync_result = sync_resolver() if sync_resolver else None
        if callback_output or sync_result:
            break
        EXECUTION_ENDS.wait_after(seen, sync_poll_delay())
    return callback_output or sync_result


def _heartbeat_clear_and_wait(self: Any) -> bool:
    with self._mutex:
        if self._next_heartbeat_event.is_set():
            self._next_heartbeat_event.clear()
            return True
    return bool(self._next_heartbeat_event.wait(timeout=CLOCK.to_real(self._heartbeat_seconds)))


# --------------------------------------------------------------------------- contract


def install() -> None:
    """Replace moto's sleeping functions with the scaled ones (idempotent, process-wide)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        targets = _patched_targets()
        callback = _callback_module()
        wait_cls, ts_cls, retrier_cls = _wait_function_cls(), _timestamp_cls(), _retrier_cls()
        wait_cls._wait_interval = mark_patch(_wait_interval, targets["WaitFunction._wait_interval"])
        ts_cls._get_wait_seconds = mark_patch(_timestamp_wait_seconds, targets["Timestamp._get_wait_seconds"])
        retrier_cls._eval_body = mark_patch(_retrier_eval_body, targets["RetrierDecl._eval_body"])
        _program_cls().eval = mark_patch(_program_eval, targets["Program.eval"])
        _execution_state_cls()._evaluate_with_timeout = mark_patch(
            _evaluate_with_timeout, targets["ExecutionState._evaluate_with_timeout"]
        )
        callback.CallbackEndpoint.wait = _scale_timeout_kwarg(targets["CallbackEndpoint.wait"], "timeout")
        callback.ActivityTaskStartEndpoint.wait = _scale_timeout_kwarg(
            targets["ActivityTaskStartEndpoint.wait"], "timeout_seconds"
        )
        callback.HeartbeatEndpoint.clear_and_wait = mark_patch(
            _heartbeat_clear_and_wait, targets["HeartbeatEndpoint.clear_and_wait"]
        )
        _callback_task_cls()._eval_sync = mark_patch(_eval_sync, targets["StateTaskServiceCallback._eval_sync"])
        communication = _worker_communication_cls()
        communication.terminated = _wrap_terminated(targets["BaseExecutionWorkerCommunication.terminated"])
        _installed = True


def verify_moto_internals() -> None:
    check_fingerprints("scaled_time", _patched_targets(), EXPECTED_SOURCES)
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    if not hasattr(Environment, "is_running") or "program_state_event" not in Environment.__annotations__:
        raise MotoInternalsChanged("scaled_time: moto's Environment lost is_running()/program_state_event")
