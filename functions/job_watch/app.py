"""The job watch: the second of the three ways kbsync learns that an ingestion job ended (docs/push-completion.md).

Two callers, one contract (schemas/job-watch-input.schema.json): the ingestion-sync state WaitForJobEnd
(``lambda:invoke.waitForTaskToken``: action ``wait``, the token stored with the job record; the function's own result
is not the task's output — the wake is) and the JobWatchSchedule (EventBridge Scheduler, every minute: the sweep,
heartbeats for every waiting record and GetIngestionJob for those due). The logic is job_watch_logic; this module
checks the event, runs it with the container's clients and logs it. An event that breaks the contract raises
ContractError before anything is read or written (WaitForJobEnd's Catch sends the execution to the poll loop; the
schedule's retries and dead-letter queue see it). Settings are read once, at cold start (job_watch_settings).
"""

from __future__ import annotations

import time
from typing import Any

import job_watch_logic
import kbsync_contracts  # the Contracts layer (schemas/)
import kbsync_handlers
import kbsync_names
from aws_lambda_powertools.utilities.typing import LambdaContext
from job_watch_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)
reset_clients = CLIENTS.reset


def begin_wait(event: dict[str, Any]) -> dict[str, Any]:
    result = job_watch_logic.begin_wait(CLIENTS.jobs_table(), CLIENTS.stepfunctions(), event, time.time())
    logger.info("waiting for the job's end", extra={"ingestionJobId": event["ingestionJobId"], **result})
    return result


def sweep(context: LambdaContext) -> dict[str, Any]:
    done = job_watch_logic.sweep(
        CLIENTS.jobs_table(),
        CLIENTS.stepfunctions(),
        CLIENTS.bedrock_agent(),
        SETTINGS,
        time.time(),
        remaining_ms=context.get_remaining_time_in_millis,
    )
    for error in done.errors:  # the AWS error code and message of each record that failed, never a stack trace
        logger.warning("cannot watch a waiting job", extra=error)
    result = done.as_dict()
    logger.info("swept the waiting jobs", extra={k: v for k, v in result.items() if k != "errors"})
    return result


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    kbsync_contracts.validate(job_watch_logic.CONTRACT, event)
    if event.get("action") == "wait":
        return begin_wait(event)
    return sweep(context)
