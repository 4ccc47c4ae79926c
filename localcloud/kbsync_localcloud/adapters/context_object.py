"""The context object's ``$$.Execution.StartTime`` is an ISO 8601 string, as on AWS.

AWS documents the field as "when the execution started", an ISO 8601 text such as ``2019-03-26T20:14:13.192Z``
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html). moto 5.2.5's
``ExecutionWorker._get_evaluation_environment`` puts the execution's ``datetime`` there instead: a state that passes
``$$.Execution.StartTime`` on (kbsync's sync gate gives it to each round's request as ``gate.enteredAt``) then makes
the child execution's input unserializable, and DescribeExecution fails with ``TypeError: Object of type datetime is
not JSON serializable``. The replacement calls moto's own code and writes the time as AWS does (UTC, milliseconds,
``Z``).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

#: sha256[:16] of the moto 5.2.5 source this adapter wraps (scaled_time.source_fingerprint).
EXPECTED_SOURCES: dict[str, str] = {"ExecutionWorker._get_evaluation_environment": "ce8421b71dabea7d"}

_INSTALL_LOCK = threading.Lock()


def aws_time(moment: datetime) -> str:
    """'2019-03-26T20:14:13.192Z': the context object's time format on AWS."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _worker_cls() -> Any:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    return ExecutionWorker


def _patched_targets() -> dict[str, Any]:
    return {"ExecutionWorker._get_evaluation_environment": _worker_cls()._get_evaluation_environment}


def _start_time_as_text(original: Any) -> Any:
    def replacement(self: Any) -> Any:
        env = original(self)
        execution = env.states.context_object.context_object_data["Execution"]
        if isinstance(execution.get("StartTime"), datetime):
            execution["StartTime"] = aws_time(execution["StartTime"])
        return env

    return mark_patch(replacement, original)


def install() -> None:
    with _INSTALL_LOCK:
        worker = _worker_cls()
        original = worker._get_evaluation_environment
        if getattr(original, "__kbsync_original__", None) is None:
            worker._get_evaluation_environment = _start_time_as_text(original)


def verify_moto_internals() -> None:
    check_fingerprints("context_object", _patched_targets(), EXPECTED_SOURCES)
    from moto.stepfunctions.parser.asl.eval.states import ExecutionData

    if "StartTime" not in ExecutionData.__annotations__:
        raise MotoInternalsChanged("context_object: moto's ExecutionData no longer has StartTime")
