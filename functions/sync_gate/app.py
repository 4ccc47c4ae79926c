"""The sync gate's steps: the per-data-source gate every trigger passes through (statemachines/sync-gate.asl.json).

A thin handler: the step is checked against its contract (schemas/sync-gate-input.schema.json), run by its logic
(sync_gate_logic: enter, beginRound, releaseGate) on the gate item (kbsync_gate, the shared core, shared with the
upload router), and logged. Settings are read once, at cold start (sync_gate_settings).
"""

from __future__ import annotations

from typing import Any

import boto3
import kbsync_gate  # the Contracts layer (schemas/): the shared core
import kbsync_names
import kbsync_values
import sync_gate_logic
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from sync_gate_settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, as the service is POWERTOOLS_SERVICE_NAME

SETTINGS = Settings.from_env()

_tables: dict[str, Any] = {}


def targets_table() -> Any:
    """The TargetsTable (one resource per container, created at first use)."""
    if not SETTINGS.targets_table:
        raise RuntimeError("TARGETS_TABLE is not set (template.yaml sets it on SyncGateFunction)")
    if "targets" not in _tables:
        _tables["targets"] = boto3.resource("dynamodb").Table(SETTINGS.targets_table)
    return _tables["targets"]


def reset_clients() -> None:
    """Forget cached clients (tests switch between mocked accounts)."""
    _tables.clear()


def run_step(event: Any, now: int) -> dict[str, Any]:
    """The step's contract first (nothing read or written for a broken one), then its logic."""
    step = sync_gate_logic.checked(event)
    return sync_gate_logic.STEPS[step["action"]](step, targets_table(), SETTINGS, now)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """{action: enter | beginRound | releaseGate, ...} from the sync-gate state machine."""
    try:
        result = run_step(event, kbsync_values.now_epoch())
    except kbsync_gate.InvalidRequest as bad:
        logger.warning("sync gate step rejected", extra={"reason": str(bad)})
        raise
    logger.info("sync gate step", extra={"action": event.get("action"), "result": result})
    return result
