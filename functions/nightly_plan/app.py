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
import kbsync_values
import nightly_plan_logic
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from nightly_plan_settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, as the service is POWERTOOLS_SERVICE_NAME

SETTINGS = Settings.from_env()

CLIENTS = kbsync_handlers.Clients()


def targets_table() -> Any:
    """The TargetsTable: the registry, the plan's pages and cursor (one resource per container)."""
    return CLIENTS.table(SETTINGS.targets_table, "TARGETS_TABLE")


def jobs_table() -> Any | None:
    """The job records, or None without JOBS_TABLE (the order then reads Bedrock's job history only)."""
    return CLIENTS.table(SETTINGS.jobs_table, "JOBS_TABLE") if SETTINGS.jobs_table else None


def bedrock_agent() -> Any:
    return CLIENTS.client("bedrock-agent")


def reset_clients() -> None:
    """Forget cached clients (tests switch between mocked accounts)."""
    CLIENTS.reset()


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
    now = kbsync_values.now_epoch()
    return kbsync_handlers.run_logged(logger, "nightly plan step", event, lambda: run_step(event, now))
