"""'Step Functions Execution Status Change' events on the default EventBridge bus, as AWS emits them.

kbsync's catch-all rule alerts on executions that died outside the workflow's own error handling
(timeouts, runtime errors, aborts). moto 5.2.5 emits no such events, so this adapter puts one on the
default bus of moto's events backend (same account and region) when a Standard execution starts
(RUNNING) and when it ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED). Rules match it and their targets
receive it through moto's own put_events. Express executions emit none, as on AWS.

It also puts Step Functions' execution metrics in moto's CloudWatch (namespace ``AWS/States``, dimension
``StateMachineArn``, unit Count, value 1): ``ExecutionsStarted`` when a Standard execution starts, and one of
``ExecutionsSucceeded``, ``ExecutionsFailed``, ``ExecutionsTimedOut``, ``ExecutionsAborted`` when it ends, so kbsync's
ExecutionsFailed alarms have data (adapters/alarm_evaluator.py evaluates them):
https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html

Event shape (AWS): source ``aws.states``, detail-type ``Step Functions Execution Status Change``,
resources ``[executionArn]``, detail ``{executionArn, stateMachineArn, name, status, startDate, stopDate,
input, output, inputDetails, outputDetails, error, cause}`` with dates in epoch milliseconds and
absent values as null.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

LOG = logging.getLogger(__name__)

SOURCE = "aws.states"
METRICS_NAMESPACE = "AWS/States"
#: An execution's status -> the AWS/States metric counting it.
STATUS_METRICS = {
    "RUNNING": "ExecutionsStarted",
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
DETAIL_TYPE = "Step Functions Execution Status Change"

_INSTALL_LOCK = threading.Lock()
_installed = False

EXPECTED_SOURCES: dict[str, str] = {
    "BaseExecutionWorkerCommunication.terminated": "360372a6a57bf99b",
    "Execution.start": "07e927c2d5f9e104",
    "Execution.to_describe_output": "2f4879a9a0e3d196",
}


def _epoch_ms(value: datetime.datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp() * 1000)


def _epoch_seconds(value: datetime.datetime | None) -> int:
    """PutEvents' Time as boto3 sends it over the JSON protocol (moto's event template expects a number)."""
    millis = _epoch_ms(value)
    return int(datetime.datetime.now(tz=datetime.UTC).timestamp()) if millis is None else millis // 1000


def _details(data: Any) -> dict[str, bool] | None:
    return None if data is None else {"included": bool(data.get("included", True))}


def status_change_detail(execution: Any, status: str) -> dict[str, Any]:
    """The event's detail for moto's parser Execution at `status` (RUNNING before the worker starts)."""
    running = status == "RUNNING"
    described: dict[str, Any] = {} if running else dict(execution.to_describe_output())
    input_text = json.dumps(execution.input_data, separators=(",", ":"))
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_ms(execution.start_date),
        "stopDate": None if running else _epoch_ms(execution.stop_date),
        "input": input_text,
        "output": described.get("output"),
        "inputDetails": _details(execution.input_details) or {"included": True},
        "outputDetails": _details(described.get("outputDetails")),
        "error": described.get("error"),
        "cause": described.get("cause"),
    }


def workflow_type(execution: Any) -> str:
    """STANDARD or EXPRESS. moto's ``sm_type`` is always "STANDARD"; the requested type is ``state_machine.type``."""
    declared = getattr(execution.state_machine, "type", None) or execution.sm_type
    return str(getattr(declared, "value", declared))


def put_status_change(execution: Any, status: str) -> None:
    """Put the status-change event on the default bus of moto's events backend; never break the execution."""
    if workflow_type(execution) != "STANDARD":
        return
    try:
        from moto.events.models import events_backends

        detail = status_change_detail(execution, status)
        when = execution.start_date if status == "RUNNING" else execution.stop_date
        backend = events_backends[execution.account_id][execution.region_name]
        backend.put_events(
            [
                {
                    "Source": SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "Resources": [execution.exec_arn],
                    "EventBusName": "default",
                    "Time": _epoch_seconds(when),
                }
            ]
        )
    except Exception:
        LOG.exception("could not emit %s for %s", DETAIL_TYPE, getattr(execution, "exec_arn", "?"))
    put_status_metric(execution, status)


def put_status_metric(execution: Any, status: str) -> None:
    """Count the execution's start or end in AWS/States (dimension StateMachineArn); never break the execution."""
    name = STATUS_METRICS.get(status)
    if name is None:
        return
    try:
        from moto.cloudwatch.models import cloudwatch_backends

        when = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
        datum = {
            "MetricName": name,
            "Dimensions": [{"Name": "StateMachineArn", "Value": execution.state_machine.arn}],
            "Value": 1.0,
            "Unit": "Count",
            "Timestamp": when,
        }
        cloudwatch_backends[execution.account_id][execution.region_name].put_metric_data(METRICS_NAMESPACE, [datum])
    except Exception:
        LOG.exception("could not count %s for %s", name, getattr(execution, "exec_arn", "?"))


# --------------------------------------------------------------------------- patches


def _execution_module() -> Any:
    from moto.stepfunctions.parser.backend import execution

    return execution


def _patched_targets() -> dict[str, Any]:
    module = _execution_module()
    return {
        "BaseExecutionWorkerCommunication.terminated": module.BaseExecutionWorkerCommunication.terminated,
        "Execution.start": module.Execution.start,
        "Execution.to_describe_output": module.Execution.to_describe_output,
    }


def _wrap_terminated(original: Any) -> Any:
    def terminated(self: Any) -> None:
        original(self)
        execution = self.execution
        if getattr(execution, "exec_status", None) is not None and not _is_sync(execution):
            put_status_change(execution, execution.exec_status.value)

    return mark_patch(terminated, original)


def _wrap_start(original: Any) -> Any:
    def start(self: Any) -> None:
        if not self.exec_worker and not _is_sync(self):
            put_status_change(self, "RUNNING")  # before the worker thread: RUNNING always precedes the end
        original(self)

    return mark_patch(start, original)


def _is_sync(execution: Any) -> bool:
    return type(execution).__name__ == "SyncExecution"


def install() -> None:
    """Emit execution status-change events on the default bus (idempotent, process-wide)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        module = _execution_module()
        targets = _patched_targets()
        module.BaseExecutionWorkerCommunication.terminated = _wrap_terminated(
            targets["BaseExecutionWorkerCommunication.terminated"]
        )
        module.Execution.start = _wrap_start(targets["Execution.start"])
        _installed = True


def verify_moto_internals() -> None:
    check_fingerprints("execution_events", _patched_targets(), EXPECTED_SOURCES)
    from moto.events.models import EventsBackend

    if not hasattr(EventsBackend, "put_events"):
        raise MotoInternalsChanged("execution_events: moto's EventsBackend lost put_events()")
    init_names = _execution_module().Execution.__init__.__code__.co_names
    missing = [n for n in ("exec_arn", "state_machine", "start_date", "input_data", "sm_type") if n not in init_names]
    if missing:
        raise MotoInternalsChanged(f"execution_events: moto's parser Execution no longer sets {missing}")
