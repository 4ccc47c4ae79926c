"""The sync gate's steps: the per-data-source gate every trigger passes through (statemachines/sync-gate.asl.json).

A thin handler: the step is checked against its contract (schemas/sync-gate-input.schema.json), run by its logic
(sync_gate_logic: enter, beginRound, releaseGate) on the gate item (kbsync_gate, the shared core, shared with the
upload router), and logged. Settings are read once, at cold start (sync_gate_settings).
"""

from __future__ import annotations

from typing import Any

import kbsync_handlers  # the Contracts layer (schemas/): the shared core
import kbsync_names
import sync_gate_logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from sync_gate_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)  # the tables SETTINGS names when first asked for (tests patch it)
targets_table, reset_clients = CLIENTS.targets_table, CLIENTS.reset


def run_step(event: Any, now: int) -> dict[str, Any]:
    """The step's contract first (nothing read or written for a broken one), then its logic."""
    step = sync_gate_logic.checked(event)
    return sync_gate_logic.STEPS[step["action"]](step, targets_table(), SETTINGS, now)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """{action: enter | beginRound | releaseGate, ...} from the sync-gate state machine."""
    return kbsync_handlers.run_step_logged(logger, "sync gate step", event, run_step)
