"""The account-wide start pacer: the sync gate's AcquireSlot, ReleaseStartToken and ReleaseSlot steps
(statemachines/sync-gate.asl.json), which keep Bedrock's quotas on ingestion jobs across every trigger.

A thin handler: the step is checked against its contract (schemas/pacer-input.schema.json), run by its logic
(pacer_logic: the policy) on the pacer item (kbsync_pacer, the shared core, shared with the catch-all) and Bedrock's
view of running jobs (pacer_data), and logged. Settings are read once, at cold start (pacer_settings).
"""

from __future__ import annotations

from typing import Any

import kbsync_handlers  # the Contracts layer (schemas/): the shared core
import kbsync_metrics
import kbsync_names
import pacer_logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from pacer_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)  # the tables SETTINGS names when first asked for (tests patch it)
targets_table, bedrock_agent, reset_clients = CLIENTS.targets_table, CLIENTS.bedrock_agent, CLIENTS.reset


def run_step(event: Any, now: int) -> dict[str, Any]:
    """The step's contract first (nothing read or written for a broken one), then its logic."""
    step = pacer_logic.checked(event)
    return pacer_logic.STEPS[step["action"]](step, targets_table(), bedrock_agent(), SETTINGS, now)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """{action: acquireSlot | releaseStart | releaseSlot, holder, ...} from the sync-gate state machine."""
    result = kbsync_handlers.run_step_logged(logger, "pacer step", event, run_step)
    if result.get("granted") is False:  # a slot or the start token refused: the StartThrottles metric, by reason
        kbsync_metrics.emit(kbsync_metrics.START_THROTTLES, 1, Reason=str(result.get("reason", "unknown")))
    return result
