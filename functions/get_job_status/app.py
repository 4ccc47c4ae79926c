"""Poll one ingestion job and plan the next poll.

Why a Lambda and not the aws-sdk integration: GetIngestionJob can return 2,048 failureReasons of 2,048 characters
(about 4 MB), far over Step Functions' 256 KB payload limit, and a task result over the limit fails the execution
with ``States.DataLimitExceeded`` *before* any ResultSelector could trim it (and no Catch can catch that). This
function returns only what the workflow needs: status, the eight statistics, the first few reasons (trimmed) with
the total count, the same values already marshalled for the DynamoDB integration, and the next poll (count, growing
wait bounded by the maximum, budget exhausted or not) — which keeps the poll loop at three states per poll.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import kbsync_contracts  # the Contracts layer (schemas/)
import kbsync_handlers
import kbsync_metrics
import kbsync_names
import kbsync_polling  # the poll schedule, shared with functions/job_watch's sweep
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

logger, tracer, metrics = kbsync_handlers.powertools()

STATISTICS = kbsync_contracts.statistic_names()  # the job-record contract's eight statistics
#: How many reasons enter the state and the job record, and how long each may be: the job-record contract's own
#: limits (failureReasons maxItems / items.maxLength), read from the schema so the two cannot disagree.
_REASONS_CONTRACT = kbsync_contracts.schema("job-record")["properties"]["failureReasons"]
MAX_REASONS = int(_REASONS_CONTRACT["maxItems"])
MAX_REASON_CHARS = int(_REASONS_CONTRACT["items"]["maxLength"])
#: Each poll waits this much longer than the previous one, up to the maximum interval (kbsync_polling).
WAIT_GROWTH = kbsync_polling.WAIT_GROWTH
#: The statuses that end a job: the poll that first sees one is the job's last (the state machine leaves the loop),
#: so the job's metrics are emitted there, once per job attempt.
TERMINAL_STATUSES = kbsync_polling.TERMINAL_STATUSES

_client: Any = None


def bedrock_agent() -> Any:
    """One client per container (created lazily so unit tests can replace it)."""
    global _client
    if _client is None:
        _client = boto3.client("bedrock-agent")
    return _client


def trimmed_reasons(reasons: list[str]) -> list[str]:
    """The first MAX_REASONS reasons, each cut to MAX_REASON_CHARS (with an ellipsis when cut)."""
    return [r if len(r) <= MAX_REASON_CHARS else r[: MAX_REASON_CHARS - 3] + "..." for r in reasons[:MAX_REASONS]]


def statistics_of(job: dict[str, Any]) -> dict[str, int]:
    """All eight statistics, 0 when Bedrock has not reported them yet (STARTING jobs carry none)."""
    given = job.get("statistics") or {}
    return {name: int(given.get(name, 0)) for name in STATISTICS}


def dynamodb_attributes(statistics: dict[str, int], reasons: list[str], total: int) -> dict[str, Any]:
    """The same values as DynamoDB attribute values, because ASL's JSONPath cannot map a list into {"S": ...}."""
    return {
        "statistics": {"M": {name: {"N": str(value)} for name, value in statistics.items()}},
        "failureReasons": {"L": [{"S": reason} for reason in reasons]},
        "failureReasonsTotal": {"N": str(total)},
    }


def next_poll(poll: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Count this poll and plan the next wait: grows by WAIT_GROWTH per poll, never above the maximum interval."""
    count = int(poll.get("count", 0)) + 1
    maximum = int(config["maxPollIntervalSeconds"])
    current = int(poll.get("waitSeconds", config["pollIntervalSeconds"]))
    wait = kbsync_polling.next_wait(current, maximum)
    return {"count": count, "waitSeconds": wait, "exhausted": count >= int(config["pollBudget"])}


def job_status(job: dict[str, Any]) -> dict[str, Any]:
    """The small view of a GetIngestionJob result that may enter the state (far below 256 KB)."""
    reasons = list(job.get("failureReasons") or [])
    statistics = statistics_of(job)
    kept = trimmed_reasons(reasons)
    return {
        "ingestionJobId": job["ingestionJobId"],
        "status": job["status"],
        "statistics": statistics,
        "failureReasons": kept,
        "failureReasonsTotal": len(reasons),
        "dynamodb": dynamodb_attributes(statistics, kept, len(reasons)),
    }


def seconds_between(started: Any, updated: Any) -> float | None:
    """updatedAt - startedAt in seconds (datetimes as boto3 parses them, or ISO 8601 strings); None if either is
    missing or unreadable."""
    try:
        if isinstance(started, str):
            started = datetime.fromisoformat(started.replace("Z", "+00:00"))
        if isinstance(updated, str):
            updated = datetime.fromisoformat(updated.replace("Z", "+00:00"))
        return max(0.0, (updated - started).total_seconds())
    except (TypeError, ValueError):
        return None


def emit_job_metrics(job: dict[str, Any]) -> None:
    """A terminal job's metrics (kbsync_metrics): JobsByOutcome and JobDurationSeconds by Outcome (Bedrock's status),
    DocumentsScanned and DocumentsFailed. Nothing for a job still running; never raises."""
    status = str(job.get("status", ""))
    if status not in TERMINAL_STATUSES:
        return
    kbsync_metrics.emit(kbsync_metrics.JOBS_BY_OUTCOME, 1, Outcome=status)
    duration = seconds_between(job.get("startedAt"), job.get("updatedAt"))
    if duration is not None:
        kbsync_metrics.emit(kbsync_metrics.JOB_DURATION, duration, Outcome=status)
    statistics = statistics_of(job)
    kbsync_metrics.emit(kbsync_metrics.DOCUMENTS_SCANNED, statistics["numberOfDocumentsScanned"])
    kbsync_metrics.emit(kbsync_metrics.DOCUMENTS_FAILED, statistics["numberOfDocumentsFailed"])


def poll_job(event: dict[str, Any]) -> dict[str, Any]:
    """Fetch the job (errors propagate so the state machine's Retry sees them) and plan the next poll.

    The event is ``{"request": sync request, "job": the previous poll's result (or the start's), "config": ...}``
    (schemas/get-job-status-input.schema.json); one that breaks it raises ContractError naming the fields, before
    any call to Bedrock (the state's Catch records POLL_FAILED and alerts).
    """
    kbsync_contracts.validate("get-job-status-input", event)
    request, previous = event["request"], event["job"]
    response = bedrock_agent().get_ingestion_job(
        knowledgeBaseId=request["knowledgeBaseId"],
        dataSourceId=request["dataSourceId"],
        ingestionJobId=previous["ingestionJobId"],
    )
    result = job_status(response["ingestionJob"])
    result["poll"] = next_poll(previous.get("poll") or {}, event["config"])
    emit_job_metrics(response["ingestionJob"])
    return result


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = poll_job(event)
    metrics.add_metric(name="IngestionJobPolls", unit=MetricUnit.Count, value=1)
    logger.info(
        "polled ingestion job",
        extra={"ingestionJobId": result["ingestionJobId"], "status": result["status"], "poll": result["poll"]},
    )
    return result
