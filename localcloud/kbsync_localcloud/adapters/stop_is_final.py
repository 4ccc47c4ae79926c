"""An execution stopped by StopExecution stays ABORTED, as on AWS.

moto 5.2.5's interpreter marks the program stopped, but a state still running when the stop arrives (a Lambda task,
a Wait waking up) can then fail, and ``Environment.set_error`` / ``set_timed_out`` overwrite the stopped state
unconditionally, so DescribeExecution reports FAILED (or TIMED_OUT) for an execution an operator aborted. The
replacement keeps a stopped program stopped; everything else is moto's own code.

Also a just-started execution is RUNNING, as on AWS, from the moment it is listed: moto 5.2.5 adds the execution to its
backend before ``Execution.start`` sets ``exec_status``, so a ListExecutions/DescribeExecution on another thread in
that window raised ``AttributeError: 'NoneType' object has no attribute 'value'`` (seen as a traceback in `make run`).
"""

from __future__ import annotations

import threading
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

#: sha256[:16] of the moto 5.2.5 sources this adapter replaces (scaled_time.source_fingerprint).
EXPECTED_SOURCES: dict[str, str] = {
    "Environment.set_error": "6447409d405612c0",
    "Environment.set_timed_out": "853b04bf9e6a7db4",
    "Execution.status": "b27c5641a7688337",
}

_INSTALL_LOCK = threading.Lock()


def _environment_cls() -> Any:
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    return Environment


def _program_stopped_cls() -> Any:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    return ProgramStopped


def _execution_cls() -> Any:
    from moto.stepfunctions.parser.backend.execution import Execution

    return Execution


def _patched_targets() -> dict[str, Any]:
    env = _environment_cls()
    status = _execution_cls().__dict__["status"].fget
    return {
        "Environment.set_error": env.set_error,
        "Environment.set_timed_out": env.set_timed_out,
        "Execution.status": getattr(status, "__kbsync_original__", status),
    }


def _running_until_started(original: Any) -> Any:
    from moto.stepfunctions.parser.api import ExecutionStatus

    def status(self: Any) -> str:
        if self.exec_status is None:  # created, its worker not yet begun: RUNNING on AWS
            return str(ExecutionStatus.RUNNING.value)
        return str(original(self))

    return mark_patch(status, original)


def _keep_stopped(original: Any) -> Any:
    stopped = _program_stopped_cls()

    def replacement(self: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(self._program_state, stopped):
            return  # StopExecution won: the execution is ABORTED, whatever its last state did afterwards
        original(self, *args, **kwargs)

    return mark_patch(replacement, original)


def install() -> None:
    with _INSTALL_LOCK:
        env = _environment_cls()
        for name, original in _patched_targets().items():
            if name == "Execution.status":
                execution = _execution_cls()
                if getattr(execution.__dict__["status"].fget, "__kbsync_original__", None) is None:
                    execution.status = property(_running_until_started(original))
            elif getattr(original, "__kbsync_original__", None) is None:
                setattr(env, name.split(".", 1)[1], _keep_stopped(original))


def verify_moto_internals() -> None:
    check_fingerprints("stop_is_final", _patched_targets(), EXPECTED_SOURCES)
    env = _environment_cls()
    if "_program_state" not in env.__init__.__code__.co_names:
        raise MotoInternalsChanged("stop_is_final: moto's Environment no longer keeps _program_state")
