"""The reconciler: no job record stays open after its execution ended.

The catch-all closes the record of an execution that died, on the execution's "Step Functions Execution Status Change"
event — but AWS delivers those events on a best-effort basis
(https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html), and the catch-all itself can fail past its
retries. So an EventBridge Scheduler schedule (template.yaml ReconcileSchedule) runs this function every few minutes:

1. reads the open records — one Query per open status of the jobs table's ``byStatus`` index (STARTING, IN_PROGRESS,
   STOPPING), oldest first, in pages, at most ``MAX_RECORDS`` per run;
2. asks Step Functions how each record's execution is (DescribeExecution: RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
   ABORTED, PENDING_REDRIVE; ExecutionDoesNotExist once its history expired —
   https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html). A RUNNING (or
   PENDING_REDRIVE) execution still owns its record: left alone, and Bedrock is not asked at all;
3. for an execution that ended at least ``GRACE_SECONDS`` ago (the catch-all's own window first), asks Bedrock for the
   job (GetIngestionJob), paced under its account quota (10 requests/s, not adjustable: Amazon Bedrock quotas,
   https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html — shared with every running poller, so this
   function takes at most ``GET_INGESTION_JOB_PER_SECOND``) with botocore's standard retry mode for throttling;
4. closes the record with a conditional update (only if still open and still naming this execution): an execution
   that died -> EXECUTION_ABORTED / EXECUTION_TIMED_OUT / EXECUTION_FAILED with its error name and a clean cause; an
   execution that succeeded or is gone -> the job's own final status from Bedrock (left open while Bedrock still runs
   the job). closedBy "reconciler", jobStatus = what Bedrock said;
5. alerts once per closed record (alert type RECORD_RECONCILED, runbook record-reconciled.md): the conditional close
   marks the record ``alertSent = false`` (the alert is owed, and only one run can win the close), then the
   per-execution marker the catch-all uses (TargetsTable ``ALERT#<executionArn>``) is claimed, so an execution the
   catch-all already alerted is not alerted twice and a late catch-all does not alert after us; after the publish,
   ``alertSent = true`` and ``alertMessageId``. A publish that fails reopens the record, so the next run retries it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import kbsync_alerts  # the Contracts layer (schemas/): the alert catalogue
import kbsync_causes  # clean error causes
import kbsync_chat  # the alert as Amazon Q Developer in chat applications shows it
import kbsync_contracts
import kbsync_handlers
import kbsync_jobs
import kbsync_keys
import kbsync_names
import kbsync_values
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError

logger, tracer, metrics = kbsync_handlers.powertools()

#: The job record's open statuses and the terminal status of each execution end, shared with the catch-all.
OPEN_STATUSES = kbsync_jobs.OPEN_STATUSES
CLOSED_STATUS = kbsync_jobs.CLOSED_STATUS
#: Executions that still own their record (PENDING_REDRIVE: a redrive was requested, it will run again).
STILL_RUNNING = ("RUNNING", "PENDING_REDRIVE")
BEDROCK_RUNNING = ("STARTING", "IN_PROGRESS", "STOPPING")
BY_STATUS_INDEX = "byStatus"
#: The one alert kind the reconciler raises (severity and runbook: schemas/alert-catalogue.json).
ALERT_TYPE = "RECORD_RECONCILED"
MARKER_TTL_SECONDS = kbsync_jobs.MARKER_TTL_SECONDS
PAGE_SIZE = 25
UNKNOWN = "n/a"

_clients: dict[str, Any] = {}


@dataclass(frozen=True)
class Settings:
    """From the function's environment (template.yaml ReconcilerFunction)."""

    jobs_table: str
    targets_table: str
    topic_arn: str
    runbook_base_url: str
    gate_arn: str
    grace_seconds: int = 3600
    max_records: int = 50
    get_job_per_second: float = 4.0

    @classmethod
    def from_env(cls, env: Any = os.environ) -> Settings:
        return cls(
            jobs_table=env["JOBS_TABLE"],
            targets_table=env["TARGETS_TABLE"],
            topic_arn=env["ALERTS_TOPIC_ARN"],
            runbook_base_url=env.get("RUNBOOK_BASE_URL", "https://github.com/kbsync/kbsync/blob/main/runbooks"),
            gate_arn=env.get("SYNC_GATE_STATE_MACHINE_ARN", "<SyncGateStateMachineArn>"),
            grace_seconds=int(env.get("RECONCILE_GRACE_SECONDS", "3600")),
            max_records=int(env.get("RECONCILE_MAX_RECORDS", "50")),
            get_job_per_second=float(env.get("GET_INGESTION_JOB_PER_SECOND", "4")),
        )


def client(service: str) -> Any:
    if service not in _clients:
        factory: Any = boto3.client  # any service name, resolved at run time
        # Standard retry mode: throttling (Bedrock's ThrottlingException, DynamoDB's) retried with backoff and jitter.
        _clients[service] = factory(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))
    return _clients[service]


def table(name: str) -> Any:
    key = f"table:{name}"
    if key not in _clients:
        _clients[key] = boto3.resource("dynamodb").Table(name)
    return _clients[key]


def reset_clients() -> None:
    _clients.clear()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# --- clean causes ----------------------------------------------------------------


#: The same clean cause the catch-all writes (kbsync_causes, the Contracts layer).
clean_cause = kbsync_causes.dead_execution_cause


# --- reading ----------------------------------------------------------------------------------------------------------


def open_records(jobs: Any, limit: int) -> Iterator[dict[str, Any]]:
    """Open records, oldest first per status, at most `limit` in all (pages of PAGE_SIZE: a backlog is worked off over
    several runs instead of one long, quota-hungry run)."""
    given = 0
    for status in OPEN_STATUSES:
        kwargs: dict[str, Any] = {
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": status},
            "ScanIndexForward": True,
            "Limit": PAGE_SIZE,
        }
        while True:
            page = jobs.query(**kwargs)
            for item in page.get("Items", []):
                if given >= limit:
                    return
                given += 1
                yield item
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def describe(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """DescribeExecution, or {"status": "NOT_FOUND"} once Step Functions no longer knows the execution."""
    try:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return described
    except ClientError as error:
        if error_code(error) in ("ExecutionDoesNotExist", "InvalidArn"):
            return {"status": "NOT_FOUND"}
        raise


@dataclass
class Pacer:
    """At most `per_second` calls a second (GetIngestionJob's quota is shared with the running workflows)."""

    per_second: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = field(default=0.0)

    def wait(self) -> None:
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + 1.0 / self.per_second


def job_by_description(agent: Any, pacer: Pacer, record: dict[str, Any]) -> dict[str, Any] | None:
    """The job started with this record's description (kbsync_jobs), or None (never started, or the data source
    is gone)."""
    if not kbsync_jobs.needs_lookup(record):
        return None
    pacer.wait()
    try:
        found = kbsync_jobs.job_by_description(
            agent, record["knowledgeBaseId"], record["dataSourceId"], str(record["description"])
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":  # the data source is gone, and its jobs with it
            return None
        raise
    return found or None


def bedrock_job(agent: Any, pacer: Pacer, record: dict[str, Any]) -> dict[str, Any] | None:
    """Bedrock's view of the record's job: the ingestionJob (or, for a record without a job id, the summary of the
    job started with its description), {"status": "NOT_FOUND"}, or None (no job started for it)."""
    job_id = record.get("ingestionJobId")
    if not job_id:
        return job_by_description(agent, pacer, record)
    pacer.wait()
    try:
        job: dict[str, Any] = agent.get_ingestion_job(
            knowledgeBaseId=record["knowledgeBaseId"], dataSourceId=record["dataSourceId"], ingestionJobId=job_id
        )["ingestionJob"]
        return job
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return {"status": "NOT_FOUND"}
        raise


def job_outcome(job: dict[str, Any]) -> str:
    """A finished Bedrock job's record status (as the workflow records it: COMPLETE with failed documents = PARTIAL)."""
    status = str(job.get("status"))
    if status == "COMPLETE" and int((job.get("statistics") or {}).get("numberOfDocumentsFailed") or 0) > 0:
        return "PARTIAL"
    return status


def _stopped_seconds_ago(described: dict[str, Any], now: float) -> float:
    stop = described.get("stopDate")
    if isinstance(stop, datetime):
        return now - stop.timestamp()
    return float("inf")  # gone (NOT_FOUND): ended long ago


# --- deciding ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    action: str  # "close" | "leave"
    why: str
    values: dict[str, str] = field(default_factory=dict)


def decide(record: dict[str, Any], described: dict[str, Any], job: dict[str, Any] | None, when: str) -> Decision:
    """What to do with one open record whose execution is no longer running."""
    execution_status = str(described.get("status"))
    job_status = str(job["status"]) if job else None
    values = {
        "executionStatus": execution_status,
        "closedBy": "reconciler",
        "closedAt": when,
        "updatedAt": when,
    }
    if job_status:
        values["jobStatus"] = job_status
    if job and job.get("ingestionJobId") and not record.get("ingestionJobId"):
        values["ingestionJobId"] = str(job["ingestionJobId"])  # found by its description: the record names it now
    if execution_status in CLOSED_STATUS:
        error, cause = clean_cause(execution_status, described.get("error"), described.get("cause"))
        values.update(status=CLOSED_STATUS[execution_status], errorCode=error, cause=cause)
        return Decision("close", f"execution {execution_status}", values)
    if job_status in BEDROCK_RUNNING:
        return Decision("leave", f"execution {execution_status}, but Bedrock still runs the job ({job_status})")
    if job_status in ("COMPLETE", "FAILED", "STOPPED") and job is not None:
        what = "ended" if execution_status == "SUCCEEDED" else "is no longer known to Step Functions"
        values.update(
            status=job_outcome(job),
            errorCode="KbSync.RecordLeftOpen",
            cause=f"The execution {what} without recording the job's outcome; Bedrock reports the job {job_status}.",
        )
        return Decision("close", f"execution {execution_status}, job {job_status}", values)
    values.update(
        status="EXECUTION_FAILED",
        errorCode="KbSync.RecordLeftOpen",
        cause=(
            f"The execution is {execution_status.replace('_', ' ').lower()} and Bedrock knows no job for this record"
            " (never started, or deleted)."
        ),
    )
    return Decision("close", f"execution {execution_status}, no job in Bedrock", values)


# --- writing ----------------------------------------------------------------------------------------------------------


def close(jobs: Any, record: dict[str, Any], values: dict[str, str]) -> bool:
    """Conditional close that also marks the alert owed (alertSent = false); False if no longer open (the workflow,
    the catch-all or another run closed it)."""
    return kbsync_jobs.close_if_open(jobs, record, {**values, "alertSent": False})


def reopen(jobs: Any, record: dict[str, Any]) -> None:
    """Undo `close` after a failed publish, so the next run finds the record open and retries the alert."""
    removed = ("executionStatus", "closedBy", "closedAt", "jobStatus", "cause", "errorCode", "alertSent")
    kept = {k: record[k] for k in ("errorCode", "cause") if k in record}
    remove = [k for k in removed if k not in kept]
    sets = ["#status = :was", "updatedAt = :updated"] + [f"{k} = :{k}" for k in kept]
    try:
        jobs.update_item(
            Key=kbsync_keys.key_of(record),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(remove),
            ConditionExpression="closedBy = :by AND alertSent = :false",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":was": record["status"],
                ":updated": record.get("updatedAt", record.get("startedAt", "")),
                ":by": "reconciler",
                ":false": False,
                **{f":{k}": v for k, v in kept.items()},
            },
        )
    except ClientError as error:
        if not kbsync_values.is_condition_failure(error):
            raise


def claim_execution_alert(targets: Any, execution_arn: str, now: int) -> bool:
    """The catch-all's once-per-execution marker; False if that execution was already alerted (by the catch-all)."""
    return kbsync_jobs.claim_execution_alert(targets, execution_arn, now)


def mark_alerted(jobs: Any, record: dict[str, Any], message_id: str | None) -> None:
    expression = "SET alertSent = :true" + (", alertMessageId = :id" if message_id else "")
    values: dict[str, Any] = {":true": True, ":false": False}
    if message_id:
        values[":id"] = message_id
    try:
        jobs.update_item(
            Key=kbsync_keys.key_of(record),
            UpdateExpression=expression,
            ConditionExpression="alertSent = :false",
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if not kbsync_values.is_condition_failure(error):
            raise


# --- the alert --------------------------------------------------------------------------------------------------------


def build_alert(record: dict[str, Any], values: dict[str, str], settings: Settings) -> dict[str, Any]:
    kb = str(record.get("knowledgeBaseId") or UNKNOWN)
    ds = str(record.get("dataSourceId") or UNKNOWN)
    job_id = str(record.get("ingestionJobId") or values.get("ingestionJobId") or "")
    lines = [
        "A kbsync job record was left open after its execution ended; the reconciler closed it. No other alert was",
        "sent for this execution.",
        "",
        f"Record status:   {values['status']} (was {record.get('status')})",
        f"Execution:       {record.get('executionArn')}",
        f"Execution end:   {values['executionStatus']}",
        f"Knowledge base:  {kb}",
        f"Data source:     {ds}",
        f"Ingestion job:   {job_id or 'none recorded'}",
        f"Job in Bedrock:  {values.get('jobStatus', 'unknown')}",
        f"Started:         {record.get('startedAt', UNKNOWN)}",
        f"Error:           {values.get('errorCode', '-')}",
        f"Cause:           {values.get('cause', '-')}",
        "",
        "What kbsync did: closed the record (closedBy reconciler), so `kbsync status` no longer shows the job running.",
    ]
    if values.get("jobStatus") in BEDROCK_RUNNING:
        lines.append("The ingestion job is still running in Bedrock and nobody is following it: see the runbook.")
    lines += ["", f"Runbook: {kbsync_alerts.runbook_url(settings.runbook_base_url, ALERT_TYPE)}"]
    return kbsync_alerts.alert(ALERT_TYPE, kb, ds, job_id, lines, rerun_commands(record, values, settings))


def rerun_commands(record: dict[str, Any], values: dict[str, str], settings: Settings) -> list[str]:
    """`kbsync rerun` and the AWS CLI start of the sync gate for the record's data source (none when unknown)."""
    kb = str(record.get("knowledgeBaseId") or UNKNOWN)
    ds = str(record.get("dataSourceId") or UNKNOWN)
    if kb == UNKNOWN or ds == UNKNOWN:
        return []
    job_id = str(record.get("ingestionJobId") or values.get("ingestionJobId") or "")
    return [
        f"kbsync rerun {job_id or record.get('executionArn')}",
        kbsync_alerts.gate_start_command(settings.gate_arn, kb, ds, f"rerun after {ALERT_TYPE}", "rc01"),
    ]


def build_chat(record: dict[str, Any], values: dict[str, str], settings: Settings) -> dict[str, Any]:
    """The chat notification of the reconciled record's alert (kbsync_chat): the same facts as the text."""
    kb = str(record.get("knowledgeBaseId") or UNKNOWN)
    ds = str(record.get("dataSourceId") or UNKNOWN)
    job_id = str(record.get("ingestionJobId") or values.get("ingestionJobId") or "")
    still_running = values.get("jobStatus") in BEDROCK_RUNNING
    return kbsync_chat.chat_notification(
        ALERT_TYPE,
        kb,
        ds,
        runbook_url=kbsync_alerts.runbook_url(settings.runbook_base_url, ALERT_TYPE),
        rerun_commands=rerun_commands(record, values, settings),
        ingestion_job_id=job_id or None,
        execution_arn=str(record.get("executionArn") or ""),
        facts=[
            ("Record status", f"{values['status']} (was {record.get('status')})"),
            ("Execution end", str(values.get("executionStatus") or "")),
            ("Job in Bedrock", str(values.get("jobStatus") or "unknown")),
            ("Error", str(values.get("errorCode") or "")),
            ("Cause", str(values.get("cause") or "")),
            (
                "Note",
                "the ingestion job is still running in Bedrock and nobody is following it" if still_running else "",
            ),
        ],
    )


# --- one run ----------------------------------------------------------------------------------------------------------


def reconcile(
    settings: Settings,
    now: float,
    *,
    remaining_ms: Callable[[], int] = lambda: 60_000,
    pacer: Pacer | None = None,
) -> dict[str, Any]:
    """One pass over the open records. Returns counts and what was closed (logged; handy in tests)."""
    jobs, targets = table(settings.jobs_table), table(settings.targets_table)
    sfn, agent, sns = client("stepfunctions"), client("bedrock-agent"), client("sns")
    pacer = pacer or Pacer(settings.get_job_per_second)
    when = kbsync_values.utc_seconds(now)
    result: dict[str, Any] = {
        "checked": 0,
        "running": 0,
        "left": 0,
        "errors": 0,
        "closed": [],
        "alerted": 0,
        "stoppedEarly": False,
    }
    for record in open_records(jobs, settings.max_records):
        if remaining_ms() < 10_000:  # keep time to finish the record in hand; the next run goes on
            result["stoppedEarly"] = True
            break
        result["checked"] += 1
        arn = str(record.get("executionArn") or "")
        try:
            described = describe(sfn, arn) if arn else {"status": "NOT_FOUND"}
            if described["status"] in STILL_RUNNING:
                result["running"] += 1
                continue
            if _stopped_seconds_ago(described, now) < settings.grace_seconds:
                result["left"] += 1  # the catch-all's turn first (its event may still be on its way)
                continue
            job = bedrock_job(agent, pacer, record)
        except ClientError as error:  # one unreadable record (access, throttling past retries) does not stop the run
            result["errors"] += 1
            logger.warning("cannot check an open record", extra={"sk": record.get("sk"), "error": error_code(error)})
            continue
        decision = decide(record, described, job, when)
        if decision.action != "close":
            result["left"] += 1
            logger.info("open record left open", extra={"sk": record.get("sk"), "why": decision.why})
            continue
        if not close(jobs, record, decision.values):
            continue  # closed meanwhile by the workflow, the catch-all or another run: theirs to report
        job_id = record.get("ingestionJobId") or decision.values.get("ingestionJobId")
        closed = {"record": str(job_id or record["sk"]), "status": decision.values["status"]}
        result["closed"].append(closed)
        if not claim_execution_alert(targets, arn, int(now)):
            mark_alerted(jobs, record, None)  # the catch-all already alerted this execution
            continue
        alert = build_alert(record, decision.values, settings)
        kbsync_contracts.validate("alert", alert)
        try:
            chat = build_chat(record, decision.values, settings)
            message_id = kbsync_alerts.publish(sns, settings.topic_arn, alert, chat)
        except Exception:
            kbsync_jobs.unclaim_execution_alert(targets, arn)
            reopen(jobs, record)
            raise
        mark_alerted(jobs, record, message_id)
        result["alerted"] += 1
    return result


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # What the ReconcileSchedule sends (schemas/reconcile-schedule-input.schema.json); nothing in it is read.
    kbsync_contracts.validate("reconcile-schedule-input", event)
    result = reconcile(Settings.from_env(), time.time(), remaining_ms=context.get_remaining_time_in_millis)
    metrics.add_metric(name="RecordsReconciled", unit=MetricUnit.Count, value=len(result["closed"]))
    if result["closed"]:
        logger.warning("closed job records left open", extra=result)
    else:
        logger.info("no job record left open", extra=result)
    return result
