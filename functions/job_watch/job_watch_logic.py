"""The job watch: stores a waiting execution's task token with its job record, and sweeps the waiting jobs on the
poll schedule so that a job's end is noticed even when the knowledge base's logs are off, late or lost
(docs/push-completion.md, "Sweep").

- **wait** (the ingestion-sync state WaitForJobEnd, a ``lambda:invoke.waitForTaskToken`` task): one conditional
  UpdateItem stores the token, when the wait began and when the sweep first checks the job (``pollIntervalSeconds``
  from now, as the poll loop's first Wait), and removes the previous wait's wokenAt/wokenBy. If the record already
  holds the logs' terminal status (``logStatus``: the event came before the token), the wait is woken at once — unless
  the previous wait was already woken by the logs: then GetJobStatus saw the job still running after that wake
  (Bedrock's API behind its logs), and waking again at once would loop without waiting, spending the poll budget; the
  sweep checks it on the poll schedule instead. That is why the update returns the item as it was (ALL_OLD: the new
  one has lost wokenBy), which together with the values just written is the whole new item.
- **sweep** (the JobWatchSchedule, every minute): every record waiting on a token (byStatus STARTING and IN_PROGRESS,
  with a waitToken and no wokenAt) gets a SendTaskHeartbeat (the wait's HeartbeatSeconds is what sends the execution
  back to polling when this sweep stops); a record whose check is due gets a GetIngestionJob: a terminal status wakes
  the wait, any other status moves its next check by ``kbsync_polling.next_wait`` (the poll loop's growth). One
  record's failure (throttled, access denied) is counted and logged by its AWS error code and message, and the sweep
  goes on. Bedrock runs at most 5 ingestion jobs per account at once (docs/design: quotas), so a sweep asks
  GetIngestionJob a handful of times, far under its 10 requests/s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kbsync_freshness
import kbsync_keys
import kbsync_metrics
import kbsync_polling
import kbsync_values
import kbsync_wake
from botocore.exceptions import BotoCoreError, ClientError
from job_watch_settings import Settings

#: The contract of what the function receives (schemas/job-watch-input.schema.json).
CONTRACT = "job-watch-input"
BY_STATUS_INDEX = "byStatus"
#: The record statuses of a job that may wait on a token (the record follows Bedrock's status while it runs).
WAITING_STATUSES = ("STARTING", "IN_PROGRESS")
#: The job statuses that end a wait.
TERMINAL_STATUSES = kbsync_polling.TERMINAL_STATUSES
#: GetIngestionJob calls of one sweep (the checks that were due).
SWEEP_CHECKS = kbsync_metrics.SWEEP_CHECKS
#: A sweep stops when less than this much of the invocation is left (the next run, a minute later, goes on).
RESERVE_MS = 5_000
AwsError = (ClientError, BotoCoreError)


class UnknownJobRecord(LookupError):
    """The wait names a record that does not exist or does not hold its ingestion job: the task fails, and the
    state's Catch sends the execution to the poll loop."""


def when(iso: Any) -> float | None:
    """An ISO 8601 UTC time of the record ('2026-11-22T05:04:05Z') as epoch seconds; None if absent or unreadable
    (the shared core's one parser of stored times, kbsync_freshness.parse_time)."""
    parsed = kbsync_freshness.parse_time(iso)
    return parsed.timestamp() if parsed is not None else None


# --- wait -------------------------------------------------------------------------------------------------------------


def begin_wait(jobs: Any, stepfunctions: Any, event: dict[str, Any], now: float) -> dict[str, Any]:
    """Store the wait's token in the record (checked: the record exists and holds this job); wake it at once when the
    logs' terminal status is already there (see the module's docstring). Returns {"stored", "wokenAtOnce"}."""
    key = kbsync_keys.key_of(event["record"])
    token, job_id, interval = str(event["taskToken"]), str(event["ingestionJobId"]), int(event["pollIntervalSeconds"])
    try:
        old: dict[str, Any] = jobs.update_item(
            Key=key,
            UpdateExpression=(
                "SET waitToken = :token, waitingSince = :since, nextCheckAt = :next, checkWaitSeconds = :wait"
                " REMOVE wokenAt, wokenBy"
            ),
            ConditionExpression="attribute_exists(pk) AND ingestionJobId = :id",
            ExpressionAttributeValues={
                ":token": token,
                ":since": kbsync_values.utc_seconds(now),
                ":next": kbsync_values.utc_seconds(now + interval),
                ":wait": interval,
                ":id": job_id,
            },
            ReturnValues="ALL_OLD",
        )["Attributes"]
    except ClientError as error:
        if kbsync_values.is_condition_failure(error):
            raise UnknownJobRecord(f"no job record {key['sk']} holding ingestion job {job_id}") from None
        raise
    status = old.get("logStatus")
    if status not in TERMINAL_STATUSES or old.get("wokenBy") == kbsync_wake.LOGS:
        return {"stored": True, "wokenAtOnce": False}
    message = kbsync_wake.wake_message(kbsync_wake.LOGS, job_id, str(status), now)
    woken = kbsync_wake.wake(stepfunctions, token, message)
    if woken:
        kbsync_wake.mark_woken(jobs, key, token, kbsync_wake.LOGS, now)
    return {"stored": True, "wokenAtOnce": woken}


# --- sweep ------------------------------------------------------------------------------------------------------------


def waiting_records(jobs: Any) -> Iterator[dict[str, Any]]:
    """Every record waiting on a token and not woken yet, all pages of each waiting status."""
    for status in WAITING_STATUSES:
        kwargs: dict[str, Any] = {
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "FilterExpression": "attribute_exists(waitToken) AND attribute_not_exists(wokenAt)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": status},
        }
        while True:
            page = jobs.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@dataclass
class Sweep:
    """What one sweep did (returned and logged)."""

    waiting: int = 0
    heartbeats: int = 0
    spent: int = 0
    checked: int = 0
    woken: int = 0
    rescheduled: int = 0
    stopped_early: bool = False
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "heartbeats": self.heartbeats,
            "spent": self.spent,
            "checked": self.checked,
            "woken": self.woken,
            "rescheduled": self.rescheduled,
            "stoppedEarly": self.stopped_early,
            "errors": self.errors,
        }


def reschedule(jobs: Any, record: dict[str, Any], settings: Settings, now: float) -> int:
    """Move the record's next check by the poll loop's growth; returns the new wait. Only while the record holds the
    same unwoken wait (a new wait or a wake meanwhile keeps its own schedule)."""
    wait = kbsync_polling.next_wait(int(record.get("checkWaitSeconds") or 1), settings.max_poll_interval_seconds)
    try:
        jobs.update_item(
            Key=kbsync_keys.key_of(record),
            UpdateExpression="SET nextCheckAt = :next, checkWaitSeconds = :wait",
            ConditionExpression="waitToken = :token AND attribute_not_exists(wokenAt)",
            ExpressionAttributeValues={
                ":next": kbsync_values.utc_seconds(now + wait),
                ":wait": wait,
                ":token": record["waitToken"],
            },
        )
    except ClientError as error:
        if not kbsync_values.is_condition_failure(error):
            raise
    return wait


def watch(jobs: Any, stepfunctions: Any, agent: Any, record: dict[str, Any], settings: Settings, now: float) -> str:
    """One waiting record: heartbeat, then (when due) GetIngestionJob and wake or reschedule. Returns what happened:
    spent (the heartbeat found the wait ended), waiting (not due), woken, rescheduled, or closed (the job ended but
    the wake found the wait already ended: woken by the logs meanwhile, or timed out)."""
    token = str(record["waitToken"])
    if not kbsync_wake.heartbeat(stepfunctions, token):
        return "spent"
    due = when(record.get("nextCheckAt"))
    if due is not None and due > now:
        return "waiting"
    job = agent.get_ingestion_job(
        knowledgeBaseId=record["knowledgeBaseId"],
        dataSourceId=record["dataSourceId"],
        ingestionJobId=record["ingestionJobId"],
    )["ingestionJob"]
    status = str(job["status"])
    if status not in TERMINAL_STATUSES:
        reschedule(jobs, record, settings, now)
        return "rescheduled"
    message = kbsync_wake.wake_message(kbsync_wake.SWEEP, str(record["ingestionJobId"]), status, now)
    if not kbsync_wake.wake(stepfunctions, token, message):
        return "closed"
    kbsync_wake.mark_woken(jobs, kbsync_keys.key_of(record), token, kbsync_wake.SWEEP, now)
    return "woken"


def sweep(
    jobs: Any,
    stepfunctions: Any,
    agent: Any,
    settings: Settings,
    now: float,
    remaining_ms: Callable[[], int] = lambda: 60_000,
) -> Sweep:
    """One pass over the waiting records; a record that fails is counted with its AWS error and the pass goes on."""
    done = Sweep()
    for record in waiting_records(jobs):
        if remaining_ms() < RESERVE_MS:
            done.stopped_early = True
            break
        done.waiting += 1
        try:
            what = watch(jobs, stepfunctions, agent, record, settings, now)
        except AwsError as error:
            done.errors.append(
                {
                    "sk": str(record.get("sk")),
                    "ingestionJobId": str(record.get("ingestionJobId")),
                    "error": kbsync_wake.error_code(error) or type(error).__name__,
                    "errorMessage": kbsync_wake.error_message(error),
                }
            )
            continue
        done.heartbeats += what != "spent"
        done.spent += what in ("spent", "closed")
        done.checked += what in ("woken", "rescheduled", "closed")
        done.woken += what == "woken"
        done.rescheduled += what == "rescheduled"
    kbsync_metrics.emit(SWEEP_CHECKS, done.checked)
    return done
