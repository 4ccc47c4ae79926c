"""The catch-all: one EXECUTION_DIED alert for each kbsync execution that died outside its own error handling.

Why a Lambda: the EventBridge rule ("Step Functions Execution Status Change", FAILED / TIMED_OUT / ABORTED, our state
machines only) cannot tell "already alerted" from "died" by pattern alone, cannot release what the execution held,
and cannot deduplicate EventBridge's at-least-once delivery. This function:

1. releases what the dead execution held: its data source's gate and its account job slot, start token and place in
   the slot queue (TargetsTable items written by functions/sync_gate and functions/pacer), so the data source is
   syncable again at once — always, releases are conditional on the holder and idempotent;
2. sends no alert for executions whose error starts with ``KbSync.`` (they sent their own alert, or were stopped
   deliberately, e.g. ``StopExecution --error KbSync.Stopped``);
3. otherwise sends exactly one alert (schemas/alert.schema.json, runbook execution-died.md; with its chat notification,
   schemas/chat-notification.schema.json, through kbsync_alerts.publish): a conditional marker item per execution ARN
   makes a redelivered event a no-op;
4. closes the job record(s) the execution left open (STARTING / IN_PROGRESS / STOPPING) — always, KbSync.* errors
   included: status EXECUTION_ABORTED / EXECUTION_TIMED_OUT / EXECUTION_FAILED, with the execution's status, its error
   name and one clean sentence of cause (never a stack trace), closedBy "catch-all". The update is conditional on the
   record still being open and still naming this execution, so a record the workflow closed is never overwritten and
   a redelivered event changes nothing.

Step Functions delivers these events on a best-effort basis
(https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html), so this is the fast path only: the
scheduled reconciler (functions/reconciler) closes what an undelivered event left open. Event fields:
https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html (detail.status FAILED / TIMED_OUT / ABORTED,
error, cause, startDate/stopDate in epoch milliseconds).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
import kbsync_alerts  # the Contracts layer (schemas/): the alert catalogue
import kbsync_causes  # clean error causes
import kbsync_chat  # the alert as Amazon Q Developer in chat applications shows it
import kbsync_contracts
import kbsync_gate
import kbsync_handlers
import kbsync_jobs
import kbsync_keys
import kbsync_names
import kbsync_pacer
import kbsync_values
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

logger, tracer, metrics = kbsync_handlers.powertools()

DIED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
OWN_ERROR_PREFIX = "KbSync."
#: The one alert kind the catch-all raises (severity and runbook: schemas/alert-catalogue.json).
ALERT_TYPE = "EXECUTION_DIED"
#: How long the once-only markers are kept (kbsync_jobs).
MARKER_TTL_SECONDS = kbsync_jobs.MARKER_TTL_SECONDS
PACER_KEY = kbsync_keys.PACER_KEY
UNKNOWN = "n/a"
#: An event, a request, an alert: JSON objects.
Json = dict[str, Any]
#: Job-record statuses that mean "the execution has not recorded the job's outcome yet" (kbsync_jobs).
OPEN_STATUSES = kbsync_jobs.OPEN_STATUSES
#: The execution's end -> the record's terminal status (kbsync_jobs).
CLOSED_STATUS = kbsync_jobs.CLOSED_STATUS

_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    if service not in _clients:
        factory: Any = boto3.client  # any service name, resolved at run time
        _clients[service] = factory(service)
    return _clients[service]


def targets_table() -> Any:
    if "targets" not in _clients:
        _clients["targets"] = boto3.resource("dynamodb").Table(os.environ["TARGETS_TABLE"])
    return _clients["targets"]


def jobs_table() -> Any | None:
    name = os.environ.get("JOBS_TABLE")
    if not name:
        return None
    if "jobs" not in _clients:
        _clients["jobs"] = boto3.resource("dynamodb").Table(name)
    return _clients["jobs"]


def reset_clients() -> None:
    _clients.clear()


# --- reading the event ---------------------------------------------------------------------------------------------


def ignore_reason(event: Any) -> str | None:
    """Why this event needs no alert (None: it does)."""
    if not isinstance(event, dict) or event.get("detail-type") != "Step Functions Execution Status Change":
        return "not a Step Functions execution status change"
    detail = event.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("executionArn"), str):
        return "detail.executionArn missing"
    if detail.get("status") not in DIED_STATUSES:
        return f"status {detail.get('status')!r} is not a death"
    problems = kbsync_contracts.problems("execution-status-event", event)
    if problems:  # schemas/execution-status-event.schema.json: the fields the catch-all reads, as AWS sends them
        return "breaks execution-status-event: " + kbsync_contracts.listing(problems)
    return None


def own_error(detail: dict[str, Any]) -> str | None:
    """The execution's KbSync.* error: it alerted itself, or was stopped deliberately (no alert, still released)."""
    error = str(detail.get("error") or "")
    return error if error.startswith(OWN_ERROR_PREFIX) else None


def execution_input(detail: dict[str, Any], sfn: Any) -> dict[str, Any]:
    """The execution's input: from the event when included, else from DescribeExecution ({} if unreadable)."""
    raw = detail.get("input")
    if not isinstance(raw, str) or (detail.get("inputDetails") or {}).get("included") is False:
        try:
            raw = sfn.describe_execution(executionArn=detail["executionArn"]).get("input")
        except ClientError:
            logger.warning("cannot read the dead execution's input", extra={"executionArn": detail["executionArn"]})
            raw = None
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        parsed = {}
    return parsed if isinstance(parsed, dict) else {}


def sync_request_of(execution_in: dict[str, Any]) -> dict[str, Any] | None:
    """The sync request an execution worked on: the input itself (ingestion-sync) or input.request (sync gate)."""
    for candidate in (execution_in, execution_in.get("request")):
        if isinstance(candidate, dict) and "knowledgeBaseId" in candidate and "dataSourceId" in candidate:
            return candidate
    return None


# --- releasing what the execution held ------------------------------------------------------------------------------


#: Delete the data source's gate if the dead execution holds it; True if it did (kbsync_gate, as the sync gate does).
release_gate = kbsync_gate.release_holder


def release_pacer(table: Any, holder: str) -> bool:
    """Drop the dead execution's job slot, start token and place in the slot queue (kbsync_pacer, as
    functions/pacer does); True if it held any of them."""
    return kbsync_pacer.release(table, holder, slot=True, start_token=True)


# --- the alert -----------------------------------------------------------------------------------------------------


def _when(millis: Any) -> str:
    return kbsync_values.utc_from_millis(millis) or (str(millis) if millis else UNKNOWN)


def ingestion_job_of(jobs: Any | None, kb: str, ds: str, execution_arn: str) -> str | None:
    """The ingestion job the dead execution started, from its job record (newest first), if any."""
    if jobs is None:
        return None
    page = jobs.query(
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": kbsync_keys.ds_pk(kb, ds)},
        ScanIndexForward=False,
        Limit=25,
    )
    for record in page.get("Items", []):
        if record.get("executionArn") == execution_arn and record.get("ingestionJobId"):
            return str(record["ingestionJobId"])
    return None


def target_of(request: Json | None) -> tuple[str, str]:
    """The dead execution's knowledge base and data source, UNKNOWN for what its request does not say."""
    return str((request or {}).get("knowledgeBaseId") or UNKNOWN), str((request or {}).get("dataSourceId") or UNKNOWN)


def build_alert(detail: Json, request: Json | None, job_id: str | None, runbook_base_url: str, gate_arn: str) -> Json:
    """The alert contract for one dead execution."""
    kb, ds = target_of(request)
    # Clean: the error name and one sentence, never the Lambda error's stack trace or a file path.
    name, cause = clean_cause(str(detail.get("status")), detail.get("error"), detail.get("cause"))
    error = name if detail.get("error") else "(stopped by StopExecution)" if detail.get("status") == "ABORTED" else "-"
    lines = [
        f"A kbsync execution {detail.get('status')} outside its own error handling, so no other alert was sent.",
        "",
        f"Status:          {detail.get('status')}",
        f"Execution:       {detail.get('executionArn')}",
        f"State machine:   {detail.get('stateMachineArn', UNKNOWN)}",
        f"Knowledge base:  {kb}",
        f"Data source:     {ds}",
        f"Ingestion job:   {job_id or 'unknown (none recorded for this execution)'}",
        f"Started:         {_when(detail.get('startDate'))}",
        f"Stopped:         {_when(detail.get('stopDate'))}",
        f"Error:           {error}",
        f"Cause:           {cause}",
        "",
        "What kbsync did: released the data source's sync gate and job slot held by this execution, so the next",
        "upload, nightly run or manual sync starts normally. An ingestion job it started may still be running in",
        "Bedrock (a new sync waits for it).",
        "",
        f"Runbook: {kbsync_alerts.runbook_url(runbook_base_url, ALERT_TYPE)}",
    ]
    return kbsync_alerts.alert(ALERT_TYPE, kb, ds, job_id, lines, rerun_commands(detail, request, job_id, gate_arn))


def rerun_commands(detail: Json, request: Json | None, job_id: str | None, gate_arn: str) -> list[str]:
    """`kbsync rerun` and the AWS CLI start of the sync gate for the dead execution's data source (none when its
    request is unknown)."""
    kb, ds = target_of(request)
    if request is None or kb == UNKNOWN:
        return []
    return [
        f"kbsync rerun {job_id or detail.get('executionArn')}",
        kbsync_alerts.gate_start_command(gate_arn, kb, ds, "rerun after EXECUTION_DIED", "rr01"),
    ]


def build_chat(detail: Json, request: Json | None, job_id: str | None, runbook_base_url: str, gate_arn: str) -> Json:
    """The chat notification of the dead execution's alert (kbsync_chat): the same facts, cleaned the same way."""
    kb, ds = target_of(request)
    name, cause = clean_cause(str(detail.get("status")), detail.get("error"), detail.get("cause"))
    return kbsync_chat.chat_notification(
        ALERT_TYPE,
        kb,
        ds,
        runbook_url=kbsync_alerts.runbook_url(runbook_base_url, ALERT_TYPE),
        rerun_commands=rerun_commands(detail, request, job_id, gate_arn),
        ingestion_job_id=job_id,
        execution_arn=str(detail.get("executionArn") or ""),
        facts=[
            ("Execution status", str(detail.get("status") or "")),
            ("Error", name if detail.get("error") else ""),
            ("Cause", cause),
            ("What kbsync did", "released the data source's sync gate and job slot; the next sync starts normally"),
        ],
    )


# --- closing the execution's open job record -----------------------------------------------------------------------


#: (error name, one clean sentence) for the record of an execution that ended without recording its job's outcome.
clean_cause = kbsync_causes.dead_execution_cause


def _iso(millis: Any) -> str | None:
    """Epoch milliseconds as '2026-11-22T05:04:05' (no 'Z': a prefix of every record's startedAt in that second)."""
    when = kbsync_values.utc_from_millis(millis)
    return when.removesuffix("Z") if when else None


def open_records_of(jobs: Any, kb: str, ds: str, execution_arn: str, started_ms: Any) -> list[dict[str, Any]]:
    """The data source's records that this execution wrote and left open (sk = JOB#<startedAt>#..., so only records
    started since the execution started are read)."""
    key = "pk = :pk AND sk >= :from"
    since = _iso(started_ms)
    values: dict[str, Any] = {":pk": kbsync_keys.ds_pk(kb, ds), ":from": kbsync_keys.job_sk_since(since)}
    kwargs: dict[str, Any] = {"KeyConditionExpression": key, "ExpressionAttributeValues": values}
    found: list[dict[str, Any]] = []
    for _ in range(20):  # an execution writes one record per attempt (<= 5); 20 pages is far beyond any history
        page = jobs.query(**kwargs)
        found += [
            item
            for item in page.get("Items", [])
            if item.get("executionArn") == execution_arn and item.get("status") in OPEN_STATUSES
        ]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def close_record(jobs: Any, record: dict[str, Any], values: dict[str, str]) -> bool:
    """Move one open record to its terminal status; False if it was no longer open (closed by the workflow, by a
    previous delivery of this event, or by the reconciler) or no longer names this execution."""
    return kbsync_jobs.close_if_open(jobs, record, values)


def close_open_records(
    jobs: Any | None, request: dict[str, Any] | None, detail: dict[str, Any], now: int
) -> list[dict[str, str]]:
    """Close every record the dead execution left open; what was closed (job id or sk, and the new status)."""
    status = str(detail.get("status"))
    if jobs is None or request is None or status not in CLOSED_STATUS:
        return []
    kb, ds = str(request["knowledgeBaseId"]), str(request["dataSourceId"])
    arn = str(detail["executionArn"])
    error, cause = clean_cause(status, detail.get("error"), detail.get("cause"))
    when = kbsync_values.utc_seconds(now)
    values = {
        "status": CLOSED_STATUS[status],
        "executionStatus": status,
        "errorCode": error,
        "cause": cause,
        "closedBy": "catch-all",
        "closedAt": when,
        "updatedAt": when,
    }
    closed = []
    for record in open_records_of(jobs, kb, ds, arn, detail.get("startDate")):
        found = job_started_for(record, kb, ds)
        if found is None:
            continue  # Bedrock could not say: the reconciler closes it later, with the job if there is one
        record_values = {**values, **found}
        if close_record(jobs, record, record_values):
            job = record.get("ingestionJobId") or found.get("ingestionJobId")
            closed.append({"record": str(job or record["sk"]), "status": values["status"]})
    return closed


def job_started_for(record: dict[str, Any], kb: str, ds: str) -> dict[str, str] | None:
    """For a record the execution wrote before its start and left without a job id: the job Bedrock started with
    the record's description ({ingestionJobId, jobStatus}), so the closed record names it (never a Bedrock job
    unknown to kbsync); {} when there is nothing to look up or no such job; None when Bedrock could not be asked."""
    if not kbsync_jobs.needs_lookup(record):
        return {}
    try:
        job = kbsync_jobs.job_by_description(client("bedrock-agent"), kb, ds, str(record["description"]))
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else type(error).__name__
        logger.warning("cannot look up the job of an open record", extra={"sk": record.get("sk"), "error": code})
        return None
    return {"ingestionJobId": str(job["ingestionJobId"]), "jobStatus": str(job["status"])} if job else {}


def claim_alert(table: Any, execution_arn: str, now: int) -> bool:
    """Record that this execution's alert is being sent; False if it already was (a redelivered event)."""
    return kbsync_jobs.claim_execution_alert(table, execution_arn, now)


unclaim_alert = kbsync_jobs.unclaim_execution_alert


def handle(event: Any, now: int) -> dict[str, Any]:
    """Ignore, or release + alert once. Returns what was done (logged, and handy in tests)."""
    reason = ignore_reason(event)
    if reason is not None:
        return {"alerted": False, "ignored": reason}
    # Powertools' EventBridge event source data class, read once the contract holds
    # (https://docs.aws.amazon.com/powertools/python/latest/api/utilities/data_classes/event_bridge_event.html).
    detail = EventBridgeEvent(event).detail
    execution_arn = detail["executionArn"]
    holder = str(detail.get("name") or kbsync_names.name_of(execution_arn))
    request = sync_request_of(execution_input(detail, client("stepfunctions")))
    table = targets_table()
    released = {"gate": False, "pacer": release_pacer(table, holder)}
    if request is not None:
        kb, ds = str(request["knowledgeBaseId"]), str(request["dataSourceId"])
        released["gate"] = release_gate(table, kb, ds, holder)
    closed = close_open_records(jobs_table(), request, detail, now)
    error = own_error(detail)
    if error is not None:
        reason = f"ended in its own error {error} (already alerted, or deliberately not)"
        return {"alerted": False, "ignored": reason, "released": released, "closed": closed}
    if not claim_alert(table, execution_arn, now):
        ignored = "alert already sent for this execution"
        return {"alerted": False, "ignored": ignored, "released": released, "closed": closed}
    job_id = (
        ingestion_job_of(jobs_table(), str(request["knowledgeBaseId"]), str(request["dataSourceId"]), execution_arn)
        if request
        else None
    )
    runbooks = os.environ.get("RUNBOOK_BASE_URL", "https://github.com/kbsync/kbsync/blob/main/runbooks")
    gate_arn = os.environ.get("SYNC_GATE_STATE_MACHINE_ARN", "<SyncGateStateMachineArn>")
    alert = build_alert(detail, request, job_id, runbooks, gate_arn)
    kbsync_contracts.validate("alert", alert)
    try:
        chat = build_chat(detail, request, job_id, runbooks, gate_arn)
        kbsync_alerts.publish(client("sns"), os.environ["ALERTS_TOPIC_ARN"], alert, chat)
    except Exception:
        unclaim_alert(table, execution_arn)  # let EventBridge's retry send it
        raise
    return {"alerted": True, "executionArn": execution_arn, "released": released, "closed": closed}


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = handle(event, int(time.time()))
    if result["alerted"]:
        metrics.add_metric(name="ExecutionsDied", unit=MetricUnit.Count, value=1)
        logger.error("execution died: alert sent", extra=result)
    else:
        logger.info("execution status change needs no alert", extra=result)
    return result
