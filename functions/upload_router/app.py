"""The upload router: S3 "Object Created/Deleted" events (the UploadRule, EventBridge) -> the sync gate of every
registered target that covers the object, one gated sync per burst per data source.

A thin handler: the event is routed by its logic (upload_router_logic: the event's contract, the gate, the start)
over the registry and the sync gate (upload_router_data, kbsync_gate), and the outcome counted and logged. A
malformed event is rejected, not failed: raising would only retry it into the dead-letter queue. Settings are read
once, at cold start (upload_router_settings).
"""

from __future__ import annotations

from typing import Any

import kbsync_gate  # the Contracts layer (schemas/): the shared core
import kbsync_handlers
import kbsync_names
import kbsync_values
import upload_router_logic
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from upload_router_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)  # the tables SETTINGS names when first asked for (tests patch it)
targets_table, stepfunctions, reset_clients = CLIENTS.targets_table, CLIENTS.stepfunctions, CLIENTS.reset


def route(event: Any, now: int) -> dict[str, Any]:
    """Route one event with this container's clients and settings."""
    return upload_router_logic.route_upload(event, targets_table(), stepfunctions(), SETTINGS, now)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """An S3 event from EventBridge: {bucket, key, started, queued}, or {rejected: why} for a malformed one."""
    try:
        routed = route(event, kbsync_values.now_epoch())
    except kbsync_gate.InvalidRequest as bad:
        logger.warning("S3 event rejected", extra={"reason": str(bad)})
        metrics.add_metric(name="RejectedUploadEvents", unit=MetricUnit.Count, value=1)
        return {"rejected": str(bad)}
    metrics.add_metric(name="UploadSyncsStarted", unit=MetricUnit.Count, value=len(routed["started"]))
    metrics.add_metric(name="UploadsCoalesced", unit=MetricUnit.Count, value=len(routed["queued"]))
    logger.info("upload routed", extra=routed)
    return routed
