"""What the knowledge bases' application logs tell kbsync, applied to the job records (docs/push-completion.md,
"Push"): the failed documents of a job go into its record, bounded, and a job's terminal status wakes the execution
waiting for it.

A CloudWatch Logs subscription filter delivers a batch of log events ({"awslogs": {"data": base64(gzip(json))}},
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html), read with Powertools'
``CloudWatchLogsEvent``. Each message is one knowledge base log event (schemas/kb-log-event.schema.json); they are
grouped by ingestion job, and each job costs a fixed number of DynamoDB calls however many events it has (a burst of
10,000 document events is one Query, one GetItem and one UpdateItem; an event whose status kbsync does nothing with
costs a JSON parse only):

1. the job's record is found by its id (the jobs table's ``byJobId`` index) and must name the event's knowledge base
   (the id in ``knowledge_base_arn``) and data source;
2. its document failures (kbsync_documents.failure_of) are merged into the record in one read-merge-write
   (GetItem, kbsync_documents.merge, UpdateItem on the condition that ``documentFailuresVersion`` is still the one
   read; a lost race is retried from the read, ``MAX_MERGE_ATTEMPTS`` in all);
3. then, for a terminal job status (COMPLETE, FAILED, STOPPED), ``logStatus`` is set; if the record holds a wait's
   token that nobody woke, the wait is woken (kbsync_wake, source ``logs``) and marked woken. A duplicated terminal
   event finds the wait marked (or the token spent) and does nothing; one that comes before the token stays on the
   record, and the wait that stores its token later is woken at once (functions/job_watch).

Bad input never fails the invocation: a message that is not JSON, breaks the contract, names a knowledge base or data
source other than its job record's, or names a job kbsync has no record of is counted (``LogEventsIgnored``, by
reason) and logged once per invocation per reason, by count only. Log lines carry no log content beyond the S3 key and
the reason. An AWS error on one job (throttling past the SDK's retries) is counted the same way, under
``job update failed``, and the other jobs go on: the sweep and the poll loop still notice the job's end.
"""

from __future__ import annotations

import binascii
import json
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kbsync_contracts
import kbsync_documents
import kbsync_keys
import kbsync_metrics
import kbsync_polling
import kbsync_values
import kbsync_wake
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent
from botocore.exceptions import BotoCoreError, ClientError

#: The contract of each log event's message.
CONTRACT = "kb-log-event"
JOB_EVENT = "StartIngestionJob.StatusChanged"
BY_JOB_ID_INDEX = "byJobId"
#: The job statuses of the logs that end a job (the others, INGESTION_JOB_STARTED and CRAWLING_COMPLETED, do not).
TERMINAL_STATUSES = kbsync_polling.TERMINAL_STATUSES
#: Read-merge-write attempts per job when another invocation wrote the record between our read and our write.
MAX_MERGE_ATTEMPTS = 5
#: Log events not applied, by reason (one EMF line per reason per invocation).
LOG_EVENTS_IGNORED = kbsync_metrics.LOG_EVENTS_IGNORED
#: The reasons.
NOT_JSON = "not json"
NOT_IN_CONTRACT = "not in contract"
WRONG_KNOWLEDGE_BASE = "wrong knowledge base"
UNKNOWN_JOB = "unknown job"
JOB_UPDATE_FAILED = "job update failed"
UNREADABLE_DELIVERY = "unreadable delivery"
#: The subscription's own test message has no log events to act on
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html).
DATA_MESSAGE = "DATA_MESSAGE"
AwsError = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class LogEvent:
    """What kbsync reads of one knowledge base log event."""

    job_id: str
    knowledge_base_id: str
    data_source_id: str
    failure: kbsync_documents.DocumentFailure | None = None
    terminal: str | None = None


@dataclass
class Outcome:
    """What one invocation did: ignored events by reason, jobs applied, failures merged, wakes; and the AWS errors of
    the jobs that failed (code and message only)."""

    ignored: Counter[str] = field(default_factory=Counter)
    jobs: int = 0
    failures_merged: int = 0
    terminal: int = 0
    woken: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            "failuresMerged": self.failures_merged,
            "terminal": self.terminal,
            "woken": self.woken,
            "ignored": dict(self.ignored),
        }


def knowledge_base_id(arn: str) -> str:
    """The id in 'arn:aws:bedrock:<region>:<account>:knowledge-base/<id>'."""
    return arn.rsplit("/", 1)[-1]


def messages(event: dict[str, Any]) -> list[str] | None:
    """The messages of a subscription delivery; [] for the subscription's control message; None when the delivery
    cannot be read (not base64 gzip JSON)."""
    try:
        data = CloudWatchLogsEvent(event).parse_logs_data()
        if data.message_type != DATA_MESSAGE:
            return []
        return [str(log_event.message) for log_event in data.log_events]
    except (KeyError, TypeError, ValueError, binascii.Error, zlib.error):
        return None


def passed_over(document: Any) -> bool:
    """Whether `document` is an event of a known type with a status kbsync does nothing with (a document indexed or
    scheduled, a job started or crawled): those are most of a job's events, and they are passed over after the JSON
    parse, without the full contract check (a few hundred microseconds each). An event whose status is missing or not
    a string is not passed over: the contract check counts it."""
    body = document.get("event") if isinstance(document, dict) else None
    if not isinstance(body, dict):
        return False
    kind = document.get("event_type")
    status = body.get("status") if kind == kbsync_documents.RESOURCE_EVENT else body.get("ingestion_job_status")
    if not isinstance(status, str) or not status:
        return False
    if kind == kbsync_documents.RESOURCE_EVENT:
        return status not in kbsync_documents.FAILURE_STATUSES
    return kind == JOB_EVENT and status not in TERMINAL_STATUSES


def read(message: str) -> LogEvent | str | None:
    """One message: a LogEvent kbsync acts on, None for an event it has nothing to do with (a document indexed, a job
    started), or the reason it is ignored."""
    try:
        document = json.loads(message)
    except ValueError:
        return NOT_JSON
    if passed_over(document):
        return None
    if kbsync_contracts.problems(CONTRACT, document):
        return NOT_IN_CONTRACT
    body = document["event"]
    failure = kbsync_documents.failure_of(document)
    status = str(body.get("ingestion_job_status") or "") if document["event_type"] == JOB_EVENT else ""
    terminal = status if status in TERMINAL_STATUSES else None
    if failure is None and terminal is None:
        return None
    return LogEvent(
        job_id=str(body["ingestion_job_id"]),
        knowledge_base_id=knowledge_base_id(str(body["knowledge_base_arn"])),
        data_source_id=str(body["data_source_id"]),
        failure=failure,
        terminal=terminal,
    )


def by_job(texts: Iterable[str], outcome: Outcome) -> dict[str, list[LogEvent]]:
    """The events kbsync acts on, grouped by ingestion job id in the order they came; the rest counted."""
    grouped: dict[str, list[LogEvent]] = {}
    for text in texts:
        found = read(text)
        if isinstance(found, str):
            outcome.ignored[found] += 1
        elif found is not None:
            grouped.setdefault(found.job_id, []).append(found)
    return grouped


def records_of_job(jobs: Any, job_id: str) -> list[dict[str, Any]]:
    """The job's records (the byJobId index, all pages: normally one)."""
    kwargs: dict[str, Any] = {
        "IndexName": BY_JOB_ID_INDEX,
        "KeyConditionExpression": "ingestionJobId = :id",
        "ExpressionAttributeValues": {":id": job_id},
    }
    found: list[dict[str, Any]] = []
    while True:
        page = jobs.query(**kwargs)
        found.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def merge_failures(jobs: Any, key: dict[str, Any], failures: list[kbsync_documents.DocumentFailure]) -> bool:
    """One read-merge-write of the record's documentFailures (see the module's docstring); False if the record is
    gone or every attempt lost its race."""
    for _ in range(MAX_MERGE_ATTEMPTS):
        item = jobs.get_item(
            Key=key,
            ConsistentRead=True,
            ProjectionExpression="pk, documentFailures, documentFailuresVersion",
        ).get("Item")
        if not item:
            return False
        version = item.get("documentFailuresVersion")
        merged = kbsync_documents.merge(kbsync_values.plain(item.get("documentFailures")), failures)
        values: dict[str, Any] = {
            ":map": merged,
            ":total": kbsync_documents.total(merged),
            ":next": int(version or 0) + 1,
        }
        if version is None:
            condition = "attribute_exists(pk) AND attribute_not_exists(documentFailuresVersion)"
        else:
            condition = "attribute_exists(pk) AND documentFailuresVersion = :read"
            values[":read"] = version
        try:
            jobs.update_item(
                Key=key,
                UpdateExpression=(
                    "SET documentFailures = :map, documentFailuresTotal = :total, documentFailuresVersion = :next"
                ),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as error:
            if not kbsync_values.is_condition_failure(error):
                raise
    return False


def record_terminal(jobs: Any, stepfunctions: Any, key: dict[str, Any], job_id: str, status: str, now: float) -> bool:
    """SET logStatus; wake the record's wait if it has one nobody woke. True if this call woke it."""
    try:
        item: dict[str, Any] = jobs.update_item(
            Key=key,
            UpdateExpression="SET logStatus = :status",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":status": status},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if kbsync_values.is_condition_failure(error):
            return False  # the record was deleted since the lookup
        raise
    token = item.get("waitToken")
    if not token or item.get("wokenAt"):
        return False  # no wait yet (it wakes at once when it stores its token), or already woken
    message = kbsync_wake.wake_message(kbsync_wake.LOGS, job_id, status, now)
    if not kbsync_wake.wake(stepfunctions, str(token), message):
        return False
    kbsync_wake.mark_woken(jobs, key, str(token), kbsync_wake.LOGS, now)
    return True


def apply_to_record(
    jobs: Any, stepfunctions: Any, record: dict[str, Any], events: list[LogEvent], now: float, outcome: Outcome
) -> None:
    """The record's document failures first, then its terminal status (the last one the batch gave)."""
    key = kbsync_keys.key_of(record)
    failures = [e.failure for e in events if e.failure is not None]
    if failures:
        if merge_failures(jobs, key, failures):
            outcome.failures_merged += len(failures)
        else:
            outcome.ignored[JOB_UPDATE_FAILED] += len(failures)
    terminal = [e.terminal for e in events if e.terminal is not None]
    if terminal:
        outcome.terminal += 1
        outcome.woken += record_terminal(jobs, stepfunctions, key, events[0].job_id, terminal[-1], now)


def apply_job(jobs: Any, stepfunctions: Any, job_id: str, events: list[LogEvent], now: float, outcome: Outcome) -> None:
    """One job's events: to its record(s) of the same knowledge base and data source; the others counted."""
    records = records_of_job(jobs, job_id)
    if not records:
        outcome.ignored[UNKNOWN_JOB] += len(events)
        return
    owners = {(str(r.get("knowledgeBaseId")), str(r.get("dataSourceId"))): r for r in records}
    grouped: dict[tuple[str, str], list[LogEvent]] = {}
    for event in events:
        owner = (event.knowledge_base_id, event.data_source_id)
        if owner in owners:
            grouped.setdefault(owner, []).append(event)
        else:
            outcome.ignored[WRONG_KNOWLEDGE_BASE] += 1
    for owner, mine in grouped.items():
        outcome.jobs += 1
        apply_to_record(jobs, stepfunctions, owners[owner], mine, now, outcome)


def handle(event: dict[str, Any], jobs: Any, stepfunctions: Any, now: float) -> Outcome:
    """One subscription delivery, applied; never raises for its content (see the module's docstring)."""
    outcome = Outcome()
    texts = messages(event)
    if texts is None:
        outcome.ignored[UNREADABLE_DELIVERY] += 1
        return outcome
    for job_id, events in by_job(texts, outcome).items():
        try:
            apply_job(jobs, stepfunctions, job_id, events, now, outcome)
        except AwsError as error:
            outcome.ignored[JOB_UPDATE_FAILED] += len(events)
            outcome.errors.append(
                {
                    "ingestionJobId": job_id,
                    "error": kbsync_wake.error_code(error) or type(error).__name__,
                    "errorMessage": kbsync_wake.error_message(error),
                }
            )
    for reason, count in sorted(outcome.ignored.items()):
        kbsync_metrics.emit(LOG_EVENTS_IGNORED, count, Reason=reason)
    return outcome
