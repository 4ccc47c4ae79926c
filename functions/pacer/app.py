"""The account-wide start pacer: the sync gate's AcquireSlot, ReleaseStartToken and ReleaseSlot steps
(statemachines/sync-gate.asl.json), which keep Bedrock's quotas on ingestion jobs across every trigger.

A thin handler: the step is checked against its contract (schemas/pacer-input.schema.json), run by its logic
(pacer_logic: the policy) on the pacer item (kbsync_pacer, the shared core, shared with the catch-all) and Bedrock's
view of running jobs (pacer_data), and logged. Settings are read once, at cold start (pacer_settings).
"""

from __future__ import annotations

from typing import Any

import boto3
import kbsync_gate  # the Contracts layer (schemas/): the shared core
import kbsync_names
import kbsync_values
import pacer_logic
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pacer_settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, as the service is POWERTOOLS_SERVICE_NAME

SETTINGS = Settings.from_env()

_clients: dict[str, Any] = {}


def targets_table() -> Any:
    """The TargetsTable (one resource per container, created at first use)."""
    if not SETTINGS.targets_table:
        raise RuntimeError("TARGETS_TABLE is not set (template.yaml sets it on PacerFunction)")
    if "targets" not in _clients:
        _clients["targets"] = boto3.resource("dynamodb").Table(SETTINGS.targets_table)
    return _clients["targets"]


def bedrock_agent() -> Any:
    """One Bedrock agent client per container (created at first use)."""
    if "bedrock-agent" not in _clients:
        _clients["bedrock-agent"] = boto3.client("bedrock-agent")
    return _clients["bedrock-agent"]


def reset_clients() -> None:
    """Forget cached clients (tests switch between mocked accounts)."""
    _clients.clear()


def run_step(event: Any, now: int) -> dict[str, Any]:
    """The step's contract first (nothing read or written for a broken one), then its logic."""
    step = pacer_logic.checked(event)
    return pacer_logic.STEPS[step["action"]](step, targets_table(), bedrock_agent(), SETTINGS, now)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """{action: acquireSlot | releaseStart | releaseSlot, holder, ...} from the sync-gate state machine."""
    try:
        result = run_step(event, kbsync_values.now_epoch())
    except kbsync_gate.InvalidRequest as bad:
        logger.warning("pacer step rejected", extra={"reason": str(bad)})
        raise
    logger.info("pacer step", extra={"action": event.get("action"), "result": result})
    return result
