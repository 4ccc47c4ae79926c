"""The night's plan: the nightly fan-out's PlanNight (storePlan), ClaimTarget and Summarize (summarizeNight) steps
(statemachines/nightly-fanout.asl.json), and planNight, an operator's dry run (aws lambda invoke).

A thin handler: the step is checked against its contract (schemas/nightly-plan-input.schema.json), run by its logic
(nightly_plan_logic: the order, the plan's pages and cursor, the lanes' claims) over the registry, the job history and
the stored plan (nightly_plan_data), and logged. Settings are read once, at cold start (nightly_plan_settings).
"""

from __future__ import annotations

from typing import Any

import kbsync_handlers  # the Contracts layer (schemas/): the shared core
import kbsync_names
import nightly_plan_logic
from aws_lambda_powertools.utilities.typing import LambdaContext
from nightly_plan_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)  # the tables SETTINGS names when first asked for (tests patch it)
targets_table, bedrock_agent, reset_clients = CLIENTS.targets_table, CLIENTS.bedrock_agent, CLIENTS.reset


def jobs_table() -> Any | None:
    """The job records, or None without JOBS_TABLE (the order then reads Bedrock's job history only)."""
    return CLIENTS.jobs_table() if SETTINGS.jobs_table else None


def run_step(event: Any, now: int) -> dict[str, Any]:
    """The step's contract first (nothing read or written for a broken one), then its logic."""
    step = nightly_plan_logic.checked(event)
    logic = nightly_plan_logic.STEPS[step["action"]]
    return logic(step, targets_table(), jobs_table(), bedrock_agent(), SETTINGS, now)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """{action: storePlan | claimTarget | summarizeNight | planNight, ...} from the nightly fan-out (or an operator)."""
    return kbsync_handlers.run_step_logged(logger, "nightly plan step", event, run_step)
