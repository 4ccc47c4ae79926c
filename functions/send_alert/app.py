"""Format and publish the one alert of a failed, partial, timed-out, stopped or never-started ingestion job.

Why the function publishes itself instead of returning the message to an SNS task: the full failureReasons of a job
(up to 2,048 x 2,048 chars, ~4 MB) must never enter the state machine's 256 KB payload. The function fetches the full
job from Bedrock, groups and truncates the reasons to fit SNS's 256 KB, publishes, and returns only the MessageId.
The published message holds the plain text and the chat notification (kbsync_chat) together
(kbsync_alerts.publish): the reasons fill what the chat notification leaves of the budget.

Named documents: when the knowledge base's application logs are delivered, the job record carries
``documentFailures`` (reason -> count and the first keys, kbsync_documents), and PARTIAL and FAILED alerts list
those S3 keys grouped by reason. The number of failed documents stays Bedrock's own ``numberOfDocumentsFailed``: the
names are what the logs named so far. The record is read by the same one GetItem that checks ``alertSent``.

Exactly once: the job record's ``alertSent`` flag is read before publishing and set (conditionally) after. A task
retry after a successful run finds the flag and returns the stored MessageId without publishing again. The only
window for a duplicate is a crash between Publish and the flag update, where re-publishing is the lesser evil
(at-least-once) compared with losing the alert.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import kbsync_alerts  # the Contracts layer (schemas/): the alert catalogue
import kbsync_causes  # clean error causes
import kbsync_chat  # the alert as Amazon Q Developer in chat applications shows it
import kbsync_contracts
import kbsync_documents  # the per-document failures the knowledge base's logs named (job record's documentFailures)
import kbsync_handlers
import kbsync_keys
import kbsync_names
import kbsync_values
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

logger, tracer, metrics = kbsync_handlers.powertools()

STATISTICS = kbsync_contracts.statistic_names()  # the job-record contract's eight statistics
#: SNS allows 262,144 bytes for message + attributes; the whole published message (the plain text and the chat
#: notification in one MessageStructure=json document, JSON-escaped) stays within this budget (kbsync_alerts).
MESSAGE_BUDGET_BYTES = kbsync_alerts.MESSAGE_BUDGET_BYTES
#: Room kept for the "... omitted" line and the footer (runbook, rerun commands) while reasons are added.
FOOTER_RESERVE_BYTES = 4_000
MAX_LINE_CHARS = 2_400
EXAMPLES_PER_GROUP = 3
#: An S3 URI inside a reason (the shared core's pattern: the documents' reasons are blanked with it too).
_S3_URI = kbsync_documents.S3_URI
_NUMBER = re.compile(r"\d+")
#: The alert kinds that list the documents the knowledge base's logs named: a job that ran to its end with failed
#: documents (PARTIAL) or failed (FAILED); their runbooks show how to fix and re-ingest exactly those files.
DOCUMENT_ALERTS = frozenset({"PARTIAL", "FAILED"})
#: How many keys of each reason the alert names (kbsync show lists every stored key).
KEYS_SHOWN = 3
#: The escaped bytes the "Failed documents" lines may take in the text: at most 11 reasons (10 and "other") of
#: MAX_LINE_CHARS each would fit; a line beyond this budget is counted instead, whatever the keys hold.
DOCUMENTS_BUDGET_BYTES = 32_000
DOCUMENTS_HEADING = "Failed documents (named by the knowledge base's logs)"
_DESERIALIZER = TypeDeserializer()


@dataclass
class ReasonGroup:
    """Reasons that differ only in the file they name (and numbers), shown as one line with a count and examples."""

    text: str
    first: str = ""  # the first reason verbatim: a group of one is shown as Bedrock wrote it, file included
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class AlertFacts:
    """Everything an alert says, gathered from the workflow state and (for jobs) the full Bedrock job."""

    alert_type: str
    knowledge_base_id: str
    data_source_id: str
    execution_arn: str
    trigger: str = "manual"
    reason: str = ""
    requested_by: str = ""
    ingestion_job_id: str | None = None
    status: str | None = None
    attempt: int = 1
    max_attempts: int = 1
    statistics: dict[str, int] = field(default_factory=dict)
    failure_reasons: list[str] = field(default_factory=list)
    failure_reasons_total: int = 0  # how many Bedrock reported (the workflow keeps the first 25 in its state)
    error: str | None = None
    cause: str | None = None
    #: The job record's documentFailures (reason id -> {reason, status, count, keys}), reduced to what an alert may
    #: show (kbsync_documents); empty when the logs named none (logs off, or nothing failed).
    document_failures: dict[str, Any] = field(default_factory=dict)
    document_failures_total: int = 0


# ---------------------------------------------------------------- failure reasons


def group_reasons(reasons: Iterable[str]) -> list[ReasonGroup]:
    """Group reasons by their text with S3 URIs and numbers blanked out, biggest group first (stable)."""
    groups: dict[str, ReasonGroup] = {}
    for reason in reasons:
        key = _NUMBER.sub("#", _S3_URI.sub("<file>", reason))
        group = groups.get(key)
        if group is None:
            group = groups[key] = ReasonGroup(text=_S3_URI.sub("<file>", reason), first=reason)
        group.count += 1
        if len(group.examples) < EXAMPLES_PER_GROUP:
            group.examples.extend(_S3_URI.findall(reason)[: EXAMPLES_PER_GROUP - len(group.examples)])
    return sorted(groups.values(), key=lambda g: -g.count)


def group_line(group: ReasonGroup) -> str:
    """One line per group: '- [N x] reason (e.g. s3://a, s3://b; +K more)', cut to MAX_LINE_CHARS."""
    line = f"- [{group.count} x] {group.text}" if group.count > 1 else f"- {group.first or group.text}"
    if group.examples and group.count > 1:
        more = group.count - len(group.examples)
        line += f" (e.g. {', '.join(group.examples)}{f'; +{more} more' if more > 0 else ''})"
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def reason_lines(reasons: list[str], budget_bytes: int) -> list[str]:
    """Grouped reason lines that fit `budget_bytes`, plus a line saying how many reasons were omitted.

    A line takes the bytes it takes in the published message: JSON-escaped (kbsync_alerts.escaped_size), plus its
    line break (escaped: 2 bytes)."""
    groups = group_reasons(reasons)
    lines: list[str] = []
    used = 0
    shown_reasons = 0
    for index, group in enumerate(groups):
        line = group_line(group)
        size = kbsync_alerts.escaped_size(line) + 2
        if used + size > budget_bytes:
            omitted_groups = len(groups) - index
            lines.append(
                f"... {len(reasons) - shown_reasons} more failure reason(s) in {omitted_groups} group(s) omitted "
                "to stay under the SNS 256 KB limit (see the job in Bedrock for all of them)"
            )
            break
        lines.append(line)
        used += size
        shown_reasons += group.count
    return lines


# ---------------------------------------------------------------- the documents the logs named


def shown_failures(document_failures: Any) -> dict[str, Any]:
    """The record's documentFailures reduced to what an alert may carry: each reason's text, status, count and S3
    keys, made encodable (clean_text). Anything else an entry might hold never reaches the alert, and an entry that
    is not the documented shape is left out (the alert must go out whatever the record holds)."""
    if not isinstance(document_failures, dict):
        return {}
    shown: dict[str, Any] = {}
    for reason_id, entry in document_failures.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("reason"), str):
            continue
        count = entry.get("count")
        keys = entry.get("keys") or []
        if not isinstance(count, int) or isinstance(count, bool) or not isinstance(keys, list):
            continue
        shown[str(reason_id)] = {
            "reason": clean_text(entry["reason"]),
            "status": clean_text(str(entry.get("status", ""))),
            "count": count,
            "keys": [clean_text(key) for key in keys if isinstance(key, str)],
        }
    return shown


def named_count(facts: AlertFacts) -> int:
    """How many failures the logs named: the record's documentFailuresTotal, or the sum of the reasons' counts."""
    counted = sum(int(entry["count"]) for entry in facts.document_failures.values())
    return max(facts.document_failures_total, counted)


def documents_heading(facts: AlertFacts) -> str:
    """'Failed documents (named by the knowledge base's logs: 37 so far; Bedrock counts 40 failed)': the number of
    failed documents is Bedrock's; the names are what the logs have named when the alert is sent."""
    named = named_count(facts)
    failed = facts.statistics.get("numberOfDocumentsFailed")
    bedrock = f"; Bedrock counts {failed} failed" if failed is not None else ""
    return f"{DOCUMENTS_HEADING[:-1]}: {named} so far{bedrock})"


def document_lines(facts: AlertFacts, budget_bytes: int = DOCUMENTS_BUDGET_BYTES) -> list[str]:
    """'- 37 files: file too large (max 50 MB) - a.pdf, b.pdf, c.pdf and 34 more', one per reason, biggest first
    (kbsync_documents.summary_lines), each cut to MAX_LINE_CHARS, within `budget_bytes` (escaped, with their line
    breaks); the reasons beyond it are counted in a last line. No line for an alert kind outside DOCUMENT_ALERTS or a
    record without named documents."""
    if facts.alert_type not in DOCUMENT_ALERTS or not facts.document_failures:
        return []
    lines: list[str] = []
    used = 0
    summary = kbsync_documents.summary_lines(facts.document_failures, keys_shown=KEYS_SHOWN)
    for index, text in enumerate(summary):
        line = f"- {text}"
        line = line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."
        size = kbsync_alerts.escaped_size(line) + 2
        if used + size > budget_bytes:
            left = len(summary) - index
            lines.append(f"... {left} more reason(s) omitted: `kbsync show {facts.ingestion_job_id}` lists them all")
            break
        lines.append(line)
        used += size
    return lines


def documents_section(facts: AlertFacts) -> str:
    """The text's "Failed documents" block (heading and lines), or '' when there is nothing to name."""
    lines = document_lines(facts)
    return f"\n{documents_heading(facts)}:\n" + "\n".join(lines) if lines else ""


# ---------------------------------------------------------------- message


def new_execution_name(facts: AlertFacts, now: datetime) -> str:
    """The rerun's execution name in the team's format, manual-<kb>-<ds>-<UTC yyyymmddTHHMMSS>-<4 random>, with the
    time left to the shell that runs the command (`$(date -u ...)`), so the line can be pasted again and again.

    A name fixed in the alert would work once: Step Functions refuses a name already used by an execution that has
    ended (ExecutionAlreadyExists, "regardless of input", for 90 days), and answers a paste while it still runs with
    that same execution (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
    Two pastes in the same second while the first runs are one execution; the sync gate (`ifBusy: skip`) answers
    any other overlap with NOT_STARTED. `now` is kept for the callers; the time is the shell's."""
    suffix = kbsync_names.random_suffix()
    return kbsync_names.shell_execution_name("manual", facts.knowledge_base_id, facts.data_source_id, suffix)


def region_of(execution_arn: str) -> str | None:
    """arn:aws:states:<region>:<account>:execution:<machine>:<name> -> <region> (None for anything else)."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] != "execution" or not parts[3]:
        return None
    return parts[3]


#: Placeholder printed when the function runs without its template environment (unit tests, a bare invoke).
GATE_ARN_PLACEHOLDER = "<SyncGateStateMachineArn>"


def rerun_commands(facts: AlertFacts, now: datetime, gate_arn: str = GATE_ARN_PLACEHOLDER) -> list[str]:
    """The exact commands an on-call engineer runs to sync this data source again.

    Both go through the sync gate, like every other sync (so a rerun while a job runs is answered "not started"
    instead of a ConflictException): `kbsync rerun`, and the AWS CLI starting the gate with the gate's input
    (the sync request, no settle delay, `ifBusy: skip` = do not queue behind a running sync).
    """
    request = {
        "knowledgeBaseId": facts.knowledge_base_id,
        "dataSourceId": facts.data_source_id,
        "trigger": "manual",
        "reason": f"rerun of ingestion job {facts.ingestion_job_id}"
        if facts.ingestion_job_id
        else f"rerun of execution {facts.execution_arn.split(':')[-1]}",
    }
    gate_input = {"request": request, "settleSeconds": 0, "ifBusy": "skip"}
    region = region_of(facts.execution_arn)
    region_option = f" --region {region}" if region else ""
    aws = (
        f"aws stepfunctions start-execution{region_option} "
        f"--state-machine-arn {gate_arn} "
        f"--name {new_execution_name(facts, now)} --input '{json.dumps(gate_input, separators=(',', ':'))}'"
    )
    # `kbsync rerun` takes a job id, or the execution ARN when no job started (START_FAILED).
    return [f"kbsync rerun {facts.ingestion_job_id or facts.execution_arn}", aws]


def subject_of(facts: AlertFacts) -> str:
    """'[CRITICAL] kbsync FAILED: kb <id> / ds <id>' — at most 100 chars, one line (SNS rules)."""
    return kbsync_alerts.subject(facts.alert_type, facts.knowledge_base_id, facts.data_source_id)


def header_lines(facts: AlertFacts) -> list[str]:
    kind = kbsync_alerts.alert_kind(facts.alert_type)
    lines = [
        f"kbsync {kind.kind} ({kind.severity}): {kind.headline}.",
        "",
        f"Knowledge base: {facts.knowledge_base_id}",
        f"Data source:    {facts.data_source_id}",
    ]
    if facts.ingestion_job_id:
        lines.append(f"Ingestion job:  {facts.ingestion_job_id} (attempt {facts.attempt} of {facts.max_attempts})")
    if facts.status:
        lines.append(f"Job status:     {facts.status}")
    lines.append(f"Trigger:        {facts.trigger}" + (f" ({facts.reason})" if facts.reason else ""))
    if facts.requested_by:
        lines.append(f"Requested by:   {facts.requested_by}")
    lines.append(f"Execution:      {facts.execution_arn}")
    if facts.error:
        lines.append(f"Error:          {facts.error}")
    if facts.cause:
        lines.append(f"Cause:          {facts.cause}")
    if facts.statistics:
        lines += ["", "Statistics:"] + [f"  {name}: {facts.statistics.get(name, 0)}" for name in STATISTICS]
    return lines


def footer_lines(facts: AlertFacts, runbook_base_url: str, commands: list[str]) -> list[str]:
    return [
        "",
        f"Runbook: {kbsync_alerts.runbook_url(runbook_base_url, facts.alert_type)}",
        "",
        "Rerun:",
        *(f"  {command}" for command in commands),
    ]


def chat_of(facts: AlertFacts, runbook_base_url: str, commands: list[str]) -> dict[str, Any]:
    """The chat notification (kbsync_chat): the text's headline, target, job, error, first reasons and rerun
    commands, bounded for a chat message."""
    groups = group_reasons(facts.failure_reasons)
    trigger = facts.trigger + (f" ({facts.reason})" if facts.reason else "")
    statistics = ""
    if facts.statistics:
        failed, scanned = (
            facts.statistics.get(name, 0) for name in ("numberOfDocumentsFailed", "numberOfDocumentsScanned")
        )
        statistics = f"{failed} failed of {scanned} scanned"
    attempt = f"{facts.attempt} of {facts.max_attempts}" if facts.ingestion_job_id else ""
    reasons_heading = f"Failure reasons ({reported_count(facts)}, {len(groups)} distinct)"
    reasons = [group_line(group) for group in groups]
    documents = document_lines(facts)
    if documents:  # the named files first: what on-call fixes; then Bedrock's own reasons
        reasons_heading = f"{documents_heading(facts)}, then the {reasons_heading[0].lower()}{reasons_heading[1:]}"
        reasons = [*documents, *reasons]
    return kbsync_chat.chat_notification(
        facts.alert_type,
        facts.knowledge_base_id,
        facts.data_source_id,
        runbook_url=kbsync_alerts.runbook_url(runbook_base_url, facts.alert_type),
        rerun_commands=commands,
        ingestion_job_id=facts.ingestion_job_id,
        execution_arn=facts.execution_arn,
        facts=[
            ("Job status", facts.status or ""),
            ("Attempt", attempt),
            ("Documents", statistics),
            ("Trigger", trigger),
            ("Error", facts.error or ""),
            ("Cause", facts.cause or ""),
        ],
        reasons_heading=reasons_heading,
        reasons=reasons,
    )


def reason_budget(head: str, foot: str, chat: dict[str, Any]) -> int:
    """The bytes the reason lines may take: what the chat notification leaves of the budget (kbsync_alerts.text_room),
    less the header, the footer and FOOTER_RESERVE_BYTES (the reasons' heading, the "omitted" line), all escaped."""
    escaped = kbsync_alerts.escaped_size
    return kbsync_alerts.text_room(chat) - FOOTER_RESERVE_BYTES - escaped(head) - escaped(foot)


def message_of(
    facts: AlertFacts,
    runbook_base_url: str,
    now: datetime,
    gate_arn: str = GATE_ARN_PLACEHOLDER,
    *,
    commands: list[str] | None = None,
    chat: dict[str, Any] | None = None,
) -> str:
    """The plain-text body: header, grouped reasons that fit the byte budget beside `chat` (the alert's chat
    notification, built from the same facts and `commands` when not given), runbook and rerun commands."""
    commands = rerun_commands(facts, now, gate_arn) if commands is None else commands
    chat = chat_of(facts, runbook_base_url, commands) if chat is None else chat
    head = "\n".join(header_lines(facts))
    documents = documents_section(facts)
    if documents:  # after the statistics, before Bedrock's reasons; the reasons get what the documents leave
        head = f"{head}\n{documents}"
    foot = "\n".join(footer_lines(facts, runbook_base_url, commands))
    parts = [head]
    if facts.failure_reasons:
        budget = reason_budget(head, foot, chat)
        groups = group_reasons(facts.failure_reasons)
        parts.append(
            f"\nFailure reasons ({reported_count(facts)}, {len(groups)} distinct):\n"
            + "\n".join(reason_lines(facts.failure_reasons, budget))
        )
    parts.append(foot)
    return "\n".join(parts)


def reported_count(facts: AlertFacts) -> str:
    """'N reported', and which of them the alert has when it only has the workflow's trimmed list (Bedrock could not
    give the full job)."""
    shown = len(facts.failure_reasons)
    if facts.failure_reasons_total > shown:
        return f"{facts.failure_reasons_total} reported, the first {shown} kept"
    return f"{shown} reported"


def clean_text(text: str) -> str:
    """Text SNS and UTF-8 can carry: a lone surrogate (JSON '\\ud800' in a Bedrock response) becomes '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


def clean_error(facts: AlertFacts) -> AlertFacts:
    """Error = the AWS error code or our own error name; Cause = its one-line message, never a stack trace, a path
    or an exception repr (the one place is kbsync_causes.clean_error, shared with the catch-all)."""
    if facts.error is None and facts.cause is None:
        return facts
    clean = kbsync_causes.clean_error(facts.error, facts.cause)
    return replace(facts, error=clean.code, cause=clean.message if facts.cause is not None else None)


def sanitized(facts: AlertFacts) -> AlertFacts:
    """The facts with every free text field (from Bedrock, the error, the request) made encodable."""
    return replace(
        facts,
        reason=clean_text(facts.reason),
        requested_by=clean_text(facts.requested_by),
        status=None if facts.status is None else clean_text(facts.status),
        failure_reasons=[clean_text(reason) for reason in facts.failure_reasons],
    )


def build_alert(
    facts: AlertFacts, runbook_base_url: str, now: datetime, gate_arn: str = GATE_ARN_PLACEHOLDER
) -> dict[str, Any]:
    """The alert contract (schemas/alert.schema.json): subject, message, messageAttributes; validated."""
    return build_alert_and_chat(facts, runbook_base_url, now, gate_arn)[0]


def build_alert_and_chat(
    facts: AlertFacts, runbook_base_url: str, now: datetime, gate_arn: str = GATE_ARN_PLACEHOLDER
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The alert and its chat notification (schemas/chat-notification.schema.json), from the same facts and the same
    rerun commands; both validated, and published together they fit the budget."""
    facts = clean_error(sanitized(facts))
    commands = rerun_commands(facts, now, gate_arn)
    chat = chat_of(facts, runbook_base_url, commands)
    alert = {
        "subject": subject_of(facts),
        "message": message_of(facts, runbook_base_url, now, gate_arn, commands=commands, chat=chat),
        "messageAttributes": kbsync_alerts.message_attributes(
            facts.alert_type, facts.knowledge_base_id, facts.data_source_id, facts.ingestion_job_id
        ),
    }
    kbsync_contracts.validate("alert", alert)
    return alert, chat


# ---------------------------------------------------------------- facts from the workflow state


def facts_from_message(event: dict[str, Any]) -> AlertFacts:
    """Read SendAlert's message (schemas/send-alert-input.schema.json: the alert's facts, not the workflow state)."""
    request, outcome = event["request"], event["outcome"]
    alert_type = outcome["alertType"]
    facts = AlertFacts(
        alert_type=alert_type,
        knowledge_base_id=request["knowledgeBaseId"],
        data_source_id=request["dataSourceId"],
        execution_arn=event["executionArn"],
        trigger=request["trigger"],
        reason=request.get("reason", ""),
        requested_by=request.get("requestedBy", ""),
        attempt=int(event["attempt"]),
        max_attempts=int(event["maxAttempts"]),
    )
    error = outcome.get("error") or {}
    facts.error, facts.cause = error.get("Error"), error.get("Cause")
    job = event["job"] or {}
    facts.ingestion_job_id = job.get("ingestionJobId")
    facts.status = job.get("status")
    facts.statistics = dict(job.get("statistics") or {})
    facts.failure_reasons = list(job.get("failureReasons") or [])
    facts.failure_reasons_total = int(job.get("failureReasonsTotal") or 0)
    if alert_type == "TIMED_OUT":
        facts.error = "KbSync.JobTimedOut"
        facts.cause = f"still {facts.status} after {job.get('poll', {}).get('count', '?')} polls"
        stop_error = outcome.get("stopError")
        if stop_error:
            facts.cause += (
                f"; StopIngestionJob failed ({stop_error.get('Error')}): the job may still be running, stop it by hand"
            )
    return facts


def with_full_job(facts: AlertFacts, agent: Any) -> AlertFacts:
    """Replace the trimmed reasons with the job's full failureReasons (best effort: the trimmed view stays on error)."""
    if not facts.ingestion_job_id:
        return facts
    try:
        job = agent.get_ingestion_job(
            knowledgeBaseId=facts.knowledge_base_id,
            dataSourceId=facts.data_source_id,
            ingestionJobId=facts.ingestion_job_id,
        )["ingestionJob"]
    except ClientError as error:
        logger.warning("could not fetch the full job; alerting with the trimmed reasons", extra={"error": str(error)})
        return facts
    facts.failure_reasons = list(job.get("failureReasons") or [])
    facts.failure_reasons_total = len(facts.failure_reasons)
    facts.statistics = {name: int((job.get("statistics") or {}).get(name, 0)) for name in STATISTICS}
    facts.status = job.get("status", facts.status)
    return facts


# ---------------------------------------------------------------- exactly once


def record_key(event: dict[str, Any]) -> dict[str, Any]:
    return kbsync_keys.client_key(kbsync_keys.key_of(event["record"]))


def read_record(dynamodb: Any, table: str, key: dict[str, Any]) -> dict[str, Any]:
    """The job record as DynamoDB holds it (attribute values), {} when absent: the one GetItem of an alert, read
    consistently (a documentFailures merge just before must be seen)."""
    item: dict[str, Any] = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {}
    return item


def already_sent(item: dict[str, Any]) -> str | None:
    """The MessageId of an alert already published for this record, or None."""
    if item.get("alertSent", {}).get("BOOL"):
        return str(item.get("alertMessageId", {}).get("S", "unknown"))
    return None


def with_named_documents(facts: AlertFacts, item: dict[str, Any]) -> AlertFacts:
    """The facts with the record's documentFailures and documentFailuresTotal (what the logs named), if any."""
    if "documentFailures" not in item:
        return facts
    try:
        failures = kbsync_values.plain(_DESERIALIZER.deserialize(item["documentFailures"]))
        total = kbsync_values.plain(_DESERIALIZER.deserialize(item.get("documentFailuresTotal", {"N": "0"})))
    except (TypeError, ValueError, ArithmeticError) as error:  # not the documented shape: alert without the names
        logger.warning("documentFailures unreadable; alerting without the names", extra={"error": str(error)})
        return facts
    facts.document_failures = shown_failures(failures)
    facts.document_failures_total = total if isinstance(total, int) else 0
    return facts


def mark_sent(dynamodb: Any, table: str, key: dict[str, Any], message_id: str) -> None:
    """Set alertSent (only on an existing record: a record is written before its alert is sent)."""
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET alertSent = :true, alertMessageId = :id",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues={":true": {"BOOL": True}, ":id": {"S": message_id}},
    )


def send_alert(event: dict[str, Any], clients: dict[str, Any], env: dict[str, str], now: datetime) -> dict[str, Any]:
    """Publish the alert of this SendAlert message once; return {messageId, alertType, duplicate}.

    A message that breaks its contract raises ContractError naming the fields (not retried: the execution fails, and
    the catch-all reports it); nothing is published or marked.
    """
    kbsync_contracts.validate("send-alert-input", event)
    key = record_key(event)
    table = env["JOBS_TABLE"]
    item = read_record(clients["dynamodb"], table, key)
    sent = already_sent(item)
    alert_type = event["outcome"]["alertType"]
    if sent is not None:
        logger.info("alert already sent for this record; not publishing again", extra={"messageId": sent})
        return {"messageId": sent, "alertType": alert_type, "duplicate": True}
    facts = with_named_documents(with_full_job(facts_from_message(event), clients["bedrock-agent"]), item)
    gate_arn = env.get("SYNC_GATE_STATE_MACHINE_ARN") or GATE_ARN_PLACEHOLDER
    alert, chat = build_alert_and_chat(facts, env.get("RUNBOOK_BASE_URL", ""), now, gate_arn)
    message_id = kbsync_alerts.publish(clients["sns"], env["ALERTS_TOPIC_ARN"], alert, chat)
    mark_sent(clients["dynamodb"], table, key, message_id)
    return {"messageId": message_id, "alertType": alert_type, "duplicate": False}


_clients: dict[str, Any] = {}


def aws_clients() -> dict[str, Any]:
    """One set of clients per container."""
    for service in ("dynamodb", "sns", "bedrock-agent"):
        if service not in _clients:
            _clients[service] = boto3.client(service)
    return _clients


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = send_alert(event, aws_clients(), dict(os.environ), datetime.now(UTC))
    if not result["duplicate"]:
        metrics.add_dimension(name="alertType", value=result["alertType"])
        metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=1)
    logger.info("alert handled", extra=result)
    return result
