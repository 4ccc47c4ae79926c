"""The knowledge bases' application logs, pushed: the first of the three ways kbsync learns that an ingestion job
ended, and the one that names the failed documents (docs/push-completion.md).

Invoked by the subscription filter on kbsync's knowledge base log group (template.yaml) with a batch of log events.
The logic is job_events_logic; this module runs it with the container's clients and logs the result: one line per
ignored reason (with its count: never the event's content), one line per AWS error (its code and message), one
summary. It never raises for the batch's content. A delivery carries no execution ARN, event id or scheduled time:
its lines have no correlation id (each job's execution is found from the job id it logs). Settings are read once, at
cold start (job_events_settings).
"""

from __future__ import annotations

import time
from typing import Any

import job_events_logic
import kbsync_handlers
import kbsync_names
from aws_lambda_powertools.utilities.typing import LambdaContext
from job_events_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)
reset_clients = CLIENTS.reset


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = job_events_logic.handle(event, CLIENTS.jobs_table(), CLIENTS.stepfunctions(), time.time())
    for reason, count in sorted(outcome.ignored.items()):
        logger.warning("knowledge base log events ignored", extra={"reason": reason, "count": count})
    for error in outcome.errors:
        logger.warning("cannot apply a job's log events", extra=error)
    result = outcome.as_dict()
    logger.info("applied knowledge base log events", extra=result)
    return result
