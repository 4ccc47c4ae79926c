"""The knowledge base's APPLICATION_LOGS, written by the emulator into moto's CloudWatch Logs.

On AWS a knowledge base delivers application logs once a CloudWatch Logs *vended log delivery* links it to a
destination: a delivery source (``resourceArn`` = the knowledge base ARN, ``logType`` APPLICATION_LOGS), a delivery
destination (a log group, an S3 bucket or a Firehose stream) and a delivery between the two
(https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html). Here the same three objects,
created with the real API (PutDeliverySource / PutDeliveryDestination / CreateDelivery, or the template's
``AWS::Logs::Delivery*`` resources) in moto's logs backend, decide where the events go: for each delivery whose
source names the knowledge base and whose destination is a log group, the events are put (PutLogEvents, through
moto's backend, so the log group's subscription filters fire) into a log stream of that group, one per delivery
(``stream_name``), created on demand. No delivery: no event, as on AWS. S3 and Firehose destinations are not
written (kbsync does not use them).

Events (the schema of the page above, "Examples of knowledge base logs"; ``event_timestamp`` in epoch ms on the wall
clock, like every date the emulator shows):

- ``StartIngestionJob.StatusChanged`` INGESTION_JOB_STARTED when the job starts;
- at the job's end, one ``StartIngestionJob.ResourceStatusChanged`` per document the job touched: a failed document
  logs its stage failure (``RESOURCE_IGNORED`` for Bedrock's "Ignored 1 files as ..." refusals, ``EMBEDDING_FAILED``
  otherwise; level WARN / ERROR, the failureReasons entry in ``status_reasons``) then its final ``FAILED`` (ERROR);
  a new or modified document logs ``INDEXED`` and a removed one ``DELETED`` (INFO). Unchanged documents log nothing
  (an incremental sync does not touch them), nor do skipped (empty) ones, so the logged failures are exactly
  ``numberOfDocumentsFailed``;
- the terminal ``StartIngestionJob.StatusChanged`` (COMPLETE, FAILED or STOPPED) with ``resource_statistics`` at the
  virtual instant the job ended, written *when* it ends (a timer on the scaled clock, timers.py), whether or not
  anyone calls GetIngestionJob.

Fault injection (faults.py) can drop, duplicate, reorder or delay these events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kbsync_localcloud.bedrock.documents import DocumentOutcome, s3_uri
from kbsync_localcloud.bedrock.faults import TerminalLogPlan
from kbsync_localcloud.bedrock.jobs import STOPPING_SECONDS, TERMINAL_STATUSES, IngestionJob
from kbsync_localcloud.bedrock.timers import TIMERS
from kbsync_localcloud.clock import CLOCK

if TYPE_CHECKING:
    from kbsync_localcloud.bedrock.state import IngestionState

LOG = logging.getLogger(__name__)

LOG_TYPE = "APPLICATION_LOGS"
EVENT_VERSION = "1.0"
JOB_EVENT = "StartIngestionJob.StatusChanged"
RESOURCE_EVENT = "StartIngestionJob.ResourceStatusChanged"
STARTED = "INGESTION_JOB_STARTED"

#: PutLogEvents: at most 10,000 events and 1,048,576 bytes per call (each event's UTF-8 message + 26 bytes).
#: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
PUT_LOG_EVENTS_MAX_EVENTS = 10_000
PUT_LOG_EVENTS_MAX_BYTES = 1_048_576
PUT_LOG_EVENTS_EVENT_OVERHEAD = 26

#: Bedrock's document refusals ("Ignored 1 files as ...") are RESOURCE_IGNORED; any other failure an embedding one.
_IGNORED_PREFIX = "Ignored "


# --------------------------------------------------------------------------- where the events go


@dataclass(frozen=True)
class LogTarget:
    """A log stream of a delivery destination's log group (account and region of the log group's ARN)."""

    account_id: str
    region: str
    log_group: str
    log_stream: str


def stream_name(knowledge_base_id: str, delivery_id: str) -> str:
    """The local cloud's name for a delivery's log stream (AWS does not document its vended streams' names)."""
    return f"bedrock/knowledge-base/{knowledge_base_id}/{delivery_id}"


def log_group_of(arn: str) -> tuple[str, str, str] | None:
    """(account, region, log group name) of ``arn:aws:logs:<region>:<account>:log-group:<name>[:*]``."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group" or not parts[6]:
        return None
    return parts[4], parts[3], parts[6]


def _logs_backend(account_id: str, region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account_id][region]


def delivery_targets(account_id: str, region: str, knowledge_base_arn: str) -> list[LogTarget]:
    """The log streams the knowledge base's APPLICATION_LOGS go to now (one per CloudWatch Logs delivery)."""
    backend = _logs_backend(account_id, region)
    destinations = {destination.arn: destination for destination in list(backend.delivery_destinations.values())}
    knowledge_base_id = knowledge_base_arn.rsplit("/", 1)[-1]
    targets = []
    for delivery in list(backend.deliveries.values()):
        source = backend.delivery_sources.get(delivery.delivery_source_name)
        destination = destinations.get(delivery.delivery_destination_arn)
        if source is None or destination is None or source.log_type != LOG_TYPE:
            continue
        if knowledge_base_arn not in source.resource_arns or destination.delivery_destination_type != "CWL":
            continue
        group = log_group_of(str(destination.delivery_destination_configuration.get("destinationResourceArn", "")))
        if group is not None:
            targets.append(LogTarget(group[0], group[1], group[2], stream_name(knowledge_base_id, delivery.id)))
    return targets


def _batches(messages: Sequence[tuple[int, str]]) -> Iterator[list[dict[str, Any]]]:
    """PutLogEvents batches within AWS's limits, in order."""
    batch: list[dict[str, Any]] = []
    size = 0
    for timestamp, message in messages:
        event_size = len(message.encode("utf-8")) + PUT_LOG_EVENTS_EVENT_OVERHEAD
        if batch and (len(batch) >= PUT_LOG_EVENTS_MAX_EVENTS or size + event_size > PUT_LOG_EVENTS_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append({"timestamp": timestamp, "message": message})
        size += event_size
    if batch:
        yield batch


def put_events(targets: Sequence[LogTarget], events: Sequence[Mapping[str, Any]]) -> None:
    """PutLogEvents of `events` (in order) into every target; a missing log group is skipped (AWS cannot deliver
    to a log group that does not exist), a missing stream is created."""
    messages = [(int(event["event_timestamp"]), json.dumps(event, separators=(",", ":"))) for event in events]
    for target in targets:
        backend = _logs_backend(target.account_id, target.region)
        group = backend.groups.get(target.log_group)
        if group is None:
            LOG.debug("log group %s does not exist: application logs not delivered", target.log_group)
            continue
        if target.log_stream not in group.streams:
            backend.create_log_stream(target.log_group, target.log_stream)
        for batch in _batches(messages):
            backend.put_log_events(target.log_group, target.log_stream, batch)


# --------------------------------------------------------------------------- the events (AWS's schema)


def wall_ms(virtual: float) -> int:
    """A virtual instant as the event_timestamp: epoch milliseconds on the wall clock (clock.py)."""
    return round(CLOCK.wall(virtual) * 1000)


def resource_statistics(statistics: Mapping[str, int], scheduled: Mapping[str, int] | None) -> dict[str, int]:
    """The job event's resource_statistics from Bedrock's statistics at the event's instant; `scheduled` is what
    the crawl planned (the job's final statistics), None before the crawl (all zero)."""
    planned = scheduled or {}
    return {
        "number_of_resources_updated": statistics.get("numberOfModifiedDocumentsIndexed", 0),
        "number_of_resources_ingested": statistics.get("numberOfNewDocumentsIndexed", 0),
        "number_of_resources_scheduled_for_update": planned.get("numberOfModifiedDocumentsIndexed", 0),
        "number_of_resources_scheduled_for_ingestion": planned.get("numberOfNewDocumentsIndexed", 0),
        "number_of_resources_scheduled_for_metadata_update": planned.get("numberOfMetadataDocumentsModified", 0),
        "number_of_resources_deleted": statistics.get("numberOfDocumentsDeleted", 0),
        "number_of_resources_with_metadata_updated": statistics.get("numberOfMetadataDocumentsModified", 0),
        "number_of_resources_failed": statistics.get("numberOfDocumentsFailed", 0),
        "number_of_resources_scheduled_for_deletion": planned.get("numberOfDocumentsDeleted", 0),
    }


def _log_record(event_type: str, level: str, at: float, job: IngestionJob, event: dict[str, Any]) -> dict[str, Any]:
    """The envelope every application-log record shares (timestamp, version, type, level), its `event` opened by
    the job's ids; the per-type fields follow in AWS's order."""
    return {
        "event_timestamp": wall_ms(at),
        "event": {"ingestion_job_id": job.job_id, "data_source_id": job.data_source_id, **event},
        "event_version": EVENT_VERSION,
        "event_type": event_type,
        "level": level,
    }


def job_event(
    job: IngestionJob, knowledge_base_arn: str, status: str, at: float, statistics: dict[str, int]
) -> dict[str, Any]:
    """A StartIngestionJob.StatusChanged event at virtual instant `at`."""
    event = {
        "ingestion_job_status": status,
        "knowledge_base_arn": knowledge_base_arn,
        "resource_statistics": statistics,
    }
    return _log_record(JOB_EVENT, "INFO", at, job, event)


def chunk_statistics(created: int = 0, deleted: int = 0) -> dict[str, int]:
    """A resource event's chunk_statistics (the emulator does not chunk: one chunk per indexed document)."""
    return {
        "ignored": 0,
        "created": created,
        "deleted": deleted,
        "metadata_updated": 0,
        "failed_to_create": 0,
        "failed_to_delete": 0,
        "failed_to_update_metadata": 0,
    }


def resource_event(
    job: IngestionJob,
    knowledge_base_arn: str,
    uri: str,
    status: str,
    level: str,
    at: float,
    reasons: Sequence[str] = (),
    chunks: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A StartIngestionJob.ResourceStatusChanged event for one S3 document."""
    event = {
        "knowledge_base_arn": knowledge_base_arn,
        "document_location": {"type": "S3", "s3_location": {"uri": uri}},
        "status": status,
        "status_reasons": list(reasons),
        "chunk_statistics": chunks or chunk_statistics(),
    }
    return _log_record(RESOURCE_EVENT, level, at, job, event)


def stage_failure(reason: str) -> tuple[str, str]:
    """(status, level) of the stage at which a document with this failureReasons entry failed."""
    if reason.startswith(_IGNORED_PREFIX):
        return "RESOURCE_IGNORED", "WARN"
    return "EMBEDDING_FAILED", "ERROR"


def document_events(
    job: IngestionJob, knowledge_base_arn: str, bucket: str, at: float, documents: Mapping[str, DocumentOutcome]
) -> list[dict[str, Any]]:
    """The resource events of a COMPLETE job, by S3 key (see the module docstring for which documents log)."""
    events: list[dict[str, Any]] = []
    for key in sorted(documents):
        outcome, uri = documents[key], s3_uri(bucket, key)
        if outcome.status == "FAILED":
            reasons = [outcome.reason or "The document could not be ingested."]
            stage, level = stage_failure(reasons[0])
            events.append(resource_event(job, knowledge_base_arn, uri, stage, level, at, reasons))
            events.append(resource_event(job, knowledge_base_arn, uri, "FAILED", "ERROR", at, reasons))
        elif outcome.status == "INDEXED" and outcome.changed:
            events.append(resource_event(job, knowledge_base_arn, uri, "INDEXED", "INFO", at, (), chunk_statistics(1)))
    for key in job.deleted:
        events.append(
            resource_event(
                job, knowledge_base_arn, s3_uri(bucket, key), "DELETED", "INFO", at, (), chunk_statistics(0, 1)
            )
        )
    return events


# --------------------------------------------------------------------------- when they are written


def _write_later(
    state: IngestionState, targets_of: Callable[[], list[LogTarget]], writes: list[list[dict[str, Any]]]
) -> None:
    """After the injected delay (now if none), make one PutLogEvents series per entry of `writes`, in order, to
    the deliveries that exist at that moment (each entry reaches a subscription as its own delivery)."""
    writes = [events for events in writes if events]
    if not writes:
        return

    def write() -> None:
        if state.is_current():
            targets = targets_of()
            for events in writes:
                put_events(targets, events)

    TIMERS.at(CLOCK.now() + state.faults.log_delay(), write)


def _knowledge_base_arn(state: IngestionState, knowledge_base_id: str) -> str | None:
    knowledge_base = state.backend.knowledge_bases.get(knowledge_base_id)
    return None if knowledge_base is None else str(knowledge_base.knowledge_base_arn)


def job_started(state: IngestionState, job: IngestionJob) -> None:
    """Log INGESTION_JOB_STARTED and arm the timer of the job's end (none for a job that never finishes)."""
    arn = _knowledge_base_arn(state, job.knowledge_base_id)
    if arn is None:
        return
    started = job_event(job, arn, STARTED, job.started_at, resource_statistics(job.statistics_at(job.started_at), None))
    _write_later(state, _targets_function(state, arn), [[started]])
    if not job.never_finishes:
        TIMERS.at(job.started_at + job.duration, lambda: job_may_have_ended(state, job.job_id))


def stop_requested(state: IngestionState, job: IngestionJob) -> None:
    """Arm the timer of a stopping job's STOPPED."""
    if job.stop_requested_at is not None:
        TIMERS.at(job.stop_requested_at + STOPPING_SECONDS, lambda: job_may_have_ended(state, job.job_id))


def job_may_have_ended(state: IngestionState, job_id: str) -> None:
    """A timer fired: if the job has reached a terminal status (a stop may have superseded its planned end),
    write its resource events and its terminal event, once."""
    if not state.is_current():
        return
    with state.locked():
        job = state.jobs.get(job_id)
        now = CLOCK.now()
        if job is None or job.job_id in state.logged_ends or job.status_at(now) not in TERMINAL_STATUSES:
            return
        state.logged_ends.add(job.job_id)
        source = state.data_sources.get(job.data_source_id)
        arn = _knowledge_base_arn(state, job.knowledge_base_id)
        if arn is None:
            return
        status, ended = job.status_at(now), job.updated_at(now)
        final = job.statistics_at(ended)
        terminal = job_event(job, arn, status, ended, resource_statistics(final, dict(job.statistics)))
        resources = (
            document_events(job, arn, source.bucket, ended, job.documents)
            if status == "COMPLETE" and job.documents is not None and source is not None
            else []
        )
    targets_of = _targets_function(state, arn)
    if not targets_of():
        return  # no delivery: nothing written, and no fault consumed
    plan = state.faults.plan_terminal_log()
    _write_later(state, targets_of, _ordered(resources, terminal, plan))


def _targets_function(state: IngestionState, arn: str) -> Callable[[], list[LogTarget]]:
    return lambda: delivery_targets(state.account_id, state.region, arn)


def _ordered(
    resources: list[dict[str, Any]], terminal: dict[str, Any], plan: TerminalLogPlan
) -> list[list[dict[str, Any]]]:
    """The job's last writes in order: its documents, then its status alone (faults: lost, twice, first)."""
    ending = [] if plan.drop else [[terminal], [terminal]] if plan.duplicate else [[terminal]]
    return [*ending, resources] if plan.reorder else [resources, *ending]
