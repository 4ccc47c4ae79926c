"""`kbsync alerts`: the alerts as on-call receives them, read from the stack's alert inbox.

The inbox is an SQS queue subscribed to the alerts topic (template.yaml `AlertInboxQueue`, stack output
`AlertInboxQueueUrl`). SNS delivers each alert to it in its JSON envelope, which keeps the Subject and the
MessageAttributes (raw delivery would drop the Subject):
https://docs.aws.amazon.com/sns/latest/dg/sns-sqs-as-subscriber.html

Reading semantics (docs/alerts.md, "Reading alerts"):

- default: print every alert waiting, removing each one once it is printed (the inbox is a to-do list: the next
  `kbsync alerts` shows only what arrived since); the read ends at the first empty long poll;
- ``--keep``: print without removing (each message is hidden from other readers only while this read runs, then made
  visible again);
- ``--follow``: keep long-polling for new alerts until Ctrl-C, ``--timeout`` or ``--max``;
- ``--json``: one JSON array (``--follow``: one JSON object per line, as alerts arrive).

Long polling (WaitTimeSeconds > 0) asks every SQS server, so an empty answer means the queue is empty; a short poll
asks a subset and may answer empty while messages wait:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html

A message that is not a kbsync alert (a CloudWatch alarm's, or anything someone sent to the queue) is shown for what it
is, its text cleaned of control characters and cut to a bounded length, never a crash; a terminal escape sequence in a
failure reason is shown escaped, never interpreted.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kbsync_alerts
from botocore.exceptions import ClientError

from kbsync.cli.aws import Client, Stack
from kbsync.cli.errors import CliError, ExitCode, error_code, from_aws
from kbsync.cli.render import Style, when

#: The stack output naming the inbox (template.yaml Outputs).
INBOX_OUTPUT = "AlertInboxQueueUrl"
#: SQS's longest long poll.
MAX_WAIT_S = 20
#: The long poll that ends a plain read: one second of waiting after the last message.
DRAIN_WAIT_S = 1
#: ReceiveMessage returns at most 10 messages.
BATCH = 10
#: How long a message read with --keep stays hidden from the next receive of this read (then made visible again).
KEEP_HIDDEN_S = 60
#: A body that is not a kbsync alert is shown up to this many characters.
RAW_LIMIT = 2_000

KBSYNC = "kbsync"
ALARM = "cloudwatch-alarm"
OTHER = "other"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FIELD = re.compile(r"^(Error|Cause|Ingestion job|Job status):\s+(.*)$")
_RUNBOOK_IN_TEXT = re.compile(r"Runbook:\s*(\S+)")


def safe(text: Any, limit: int | None = None) -> str:
    """Printable text: control characters (terminal escapes included) shown as \\xNN, cut to `limit` characters."""
    value = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    if limit is not None and len(value) > limit:
        return value[:limit] + f"... ({len(value) - limit} more characters)"
    return value


@dataclass
class Alert:
    """One message of the inbox, as on-call reads it."""

    source: str  # KBSYNC, ALARM or OTHER
    message_id: str
    published_at: str | None = None
    subject: str = ""
    severity: str | None = None
    alert_type: str | None = None
    headline: str | None = None
    knowledge_base_id: str | None = None
    data_source_id: str | None = None
    ingestion_job_id: str | None = None
    reasons_summary: str | None = None
    reasons: list[str] = field(default_factory=list)
    #: The failed documents the knowledge base's logs named (send_alert's "Failed documents (...):" block).
    documents_summary: str | None = None
    documents: list[str] = field(default_factory=list)
    runbook: str | None = None
    rerun: list[str] = field(default_factory=list)
    message: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "messageId": self.message_id,
            "publishedAt": self.published_at,
            "subject": self.subject,
            "severity": self.severity,
            "alertType": self.alert_type,
            "headline": self.headline,
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "ingestionJobId": self.ingestion_job_id,
            "reasonsSummary": self.reasons_summary,
            "reasons": self.reasons,
            "documentsSummary": self.documents_summary,
            "documents": self.documents,
            "runbook": self.runbook,
            "rerun": self.rerun,
            "message": self.message,
            "attributes": self.attributes,
            "note": self.note,
        }


# --------------------------------------------------------------------------- parsing


def parse(body: str, sqs_message_id: str = "") -> Alert:
    """An SQS message body as an Alert; anything that is not an SNS envelope is an OTHER alert, never an exception."""
    try:
        envelope = json.loads(body)
    except (TypeError, ValueError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification" or "Message" not in envelope:
        return Alert(
            OTHER, sqs_message_id, message=safe(body, RAW_LIMIT), note="not an SNS notification: shown as received"
        )
    message = str(envelope.get("Message") or "")
    attributes = _attributes(envelope.get("MessageAttributes"))
    alert = Alert(
        source=OTHER,
        message_id=str(envelope.get("MessageId") or sqs_message_id),
        published_at=str(envelope["Timestamp"]) if envelope.get("Timestamp") else None,
        subject=safe(envelope.get("Subject") or "", 200),
        attributes=attributes,
    )
    kind = attributes.get("alertType", "")
    if kind in kbsync_alerts.catalogue():
        return _kbsync_alert(alert, kind, message)
    alarm = _alarm(message)
    if alarm is not None:
        return _alarm_alert(alert, alarm, message)
    alert.message = safe(message, RAW_LIMIT)
    alert.note = "not a kbsync alert (no known alertType attribute): shown as received"
    return alert


def _attributes(raw: Any) -> dict[str, str]:
    """SNS's envelope form {"name": {"Type": "String", "Value": "..."}} as {"name": "..."}; anything else dropped."""
    if not isinstance(raw, dict):
        return {}
    return {
        safe(name, 100): safe(value.get("Value"), 500)
        for name, value in raw.items()
        if isinstance(value, dict) and isinstance(value.get("Value"), str)
    }


def _kbsync_alert(alert: Alert, kind: str, message: str) -> Alert:
    """The body kbsync's senders write (functions/send_alert, catch_all, reconciler): header fields, an optional
    'Failed documents (...):' block and an optional 'Failure reasons (...):' block of '- ' lines, 'Runbook: <url>',
    'Rerun:' and indented commands."""
    entry = kbsync_alerts.alert_kind(kind)
    attributes = alert.attributes
    alert.source = KBSYNC
    alert.alert_type = kind
    alert.severity = attributes.get("severity") or entry.severity
    alert.headline = entry.headline
    alert.knowledge_base_id = attributes.get("knowledgeBaseId")
    alert.data_source_id = attributes.get("dataSourceId")
    alert.ingestion_job_id = attributes.get("ingestionJobId")
    alert.message = safe(message)
    fields: dict[str, str] = {}
    section = ""
    for raw_line in message.splitlines():
        line = safe(raw_line)
        stripped = line.strip()
        if stripped.startswith("Failed documents"):
            section = "documents"
            summary = stripped[len("Failed documents") :].strip().rstrip(":").strip()
            alert.documents_summary = summary.removeprefix("(").removesuffix(")") or None
        elif section == "documents" and (stripped.startswith("- ") or stripped.startswith("... ")):
            alert.documents.append(stripped.removeprefix("- "))
        elif stripped.startswith("Failure reasons"):
            section = "reasons"
            summary = stripped[len("Failure reasons") :].strip().rstrip(":").strip()
            alert.reasons_summary = summary.removeprefix("(").removesuffix(")") or None
        elif stripped.startswith("Runbook:"):
            section = ""
            alert.runbook = stripped.split(":", 1)[1].strip() or None
        elif stripped == "Rerun:":
            section = "rerun"
        elif not stripped:
            section = "" if section in ("reasons", "documents") else section
        elif section == "reasons" and (stripped.startswith("- ") or stripped.startswith("... ")):
            alert.reasons.append(stripped.removeprefix("- "))
        elif section == "reasons" and alert.reasons:  # a reason spanning lines (Bedrock's text may hold some)
            alert.reasons[-1] += " " + stripped
        elif section == "rerun" and raw_line.startswith("  "):
            alert.rerun.append(stripped)
        elif (match := _FIELD.match(stripped)) is not None:
            fields.setdefault(match[1], match[2].strip())
    if not alert.reasons:  # START_FAILED, EXECUTION_DIED...: the error and its cause are the reasons
        alert.reasons = [f"{name}: {fields[name]}" for name in ("Error", "Cause") if fields.get(name, "-") != "-"]
    if alert.ingestion_job_id is None and fields.get("Ingestion job"):
        first = fields["Ingestion job"].split()[0]
        alert.ingestion_job_id = first if re.fullmatch(r"[0-9a-zA-Z]{10}", first) else None
    if alert.runbook is None:
        alert.note = "no runbook link in the message: see runbooks/README.md"
    return alert


def _alarm(message: str) -> dict[str, Any] | None:
    """A CloudWatch alarm notification (the dead-letter-queue alarm publishes to the alerts topic), else None."""
    try:
        document = json.loads(message)
    except (TypeError, ValueError):
        return None
    if isinstance(document, dict) and "AlarmName" in document and "NewStateValue" in document:
        return document
    return None


def _alarm_alert(alert: Alert, alarm: dict[str, Any], message: str) -> Alert:
    state = safe(alarm.get("NewStateValue"), 40)
    description = safe(alarm.get("AlarmDescription") or "", 1000)
    runbook = _RUNBOOK_IN_TEXT.search(description)
    alert.source = ALARM
    alert.alert_type = "ALARM" if state == "ALARM" else state
    # runbooks/README.md: the dead-letter-queue alarm is as urgent as a failed sync (severities: the catalogue's)
    alert.severity = kbsync_alerts.alert_kind("FAILED").severity if state == "ALARM" else kbsync_alerts.INFO
    alert.headline = f"CloudWatch alarm {safe(alarm.get('AlarmName'), 255)} is {state}"
    alert.reasons = [safe(alarm.get("NewStateReason") or "", 1000)] if alarm.get("NewStateReason") else []
    if description:
        alert.reasons.insert(0, description)
    alert.runbook = runbook[1] if runbook else None
    alert.message = safe(message, RAW_LIMIT)
    return alert


# --------------------------------------------------------------------------- rendering


def _colour(severity: str | None) -> str:
    """Red for the severity of a failed sync, yellow for a partial one's (the catalogue's words), bold otherwise."""
    if severity == kbsync_alerts.alert_kind("FAILED").severity:
        return "31;1"
    return "33;1" if severity == kbsync_alerts.alert_kind("PARTIAL").severity else "1"


def text(alert: Alert, style: Style) -> str:
    """An alert as a block of labelled lines (no trailing blank line)."""
    colour = _colour(alert.severity)
    lines = [style.paint(alert.subject or "(no subject)", colour)]

    def row(label: str, *values: str) -> None:
        shown = [v for v in values if v]
        for index, value in enumerate(shown):
            lines.append(f"  {label if index == 0 else '':<10} {value}")

    row("published", when(alert.published_at) if alert.published_at else "")
    if alert.source == OTHER:
        row("note", alert.note or "")
        row("message", *(alert.message.splitlines() or ["(empty)"]))
        return "\n".join(lines)
    row("severity", style.paint(alert.severity or "?", colour))
    row("kind", f"{alert.alert_type}: {alert.headline}" if alert.headline else alert.alert_type or "")
    if alert.knowledge_base_id or alert.data_source_id:
        row("kb / ds", f"{alert.knowledge_base_id or '?'} / {alert.data_source_id or '?'}")
    row("job", alert.ingestion_job_id or "")
    reasons = [f"- {r}" for r in alert.reasons]
    if alert.reasons_summary:
        reasons.insert(0, f"({alert.reasons_summary})")
    documents = [f"- {d}" for d in alert.documents]
    if documents and alert.documents_summary:
        documents.insert(0, f"({alert.documents_summary})")
    row("documents", *documents)
    row("reasons", *(reasons or ["(none given)"]))
    row("runbook", alert.runbook or "(none in the message: see runbooks/README.md)")
    row("rerun", *alert.rerun)
    row("note", alert.note or "")
    return "\n".join(lines)


# --------------------------------------------------------------------------- reading the inbox


def inbox_url(stack: Stack) -> str:
    url = stack.outputs.get(INBOX_OUTPUT)
    if not url:
        raise CliError(
            f"stack {stack.name!r} has no output {INBOX_OUTPUT} (the alert inbox): deploy the current template "
            "(`sam deploy`), or read the alerts where the topic's other subscriptions deliver them "
            "(stack output AlertsTopicArn)",
            ExitCode.NOT_FOUND,
        )
    return url


@dataclass
class Reading:
    """What one `kbsync alerts` run asks for."""

    follow: bool = False
    keep: bool = False
    timeout_s: float | None = None
    max_alerts: int | None = None


@dataclass
class Outcome:
    shown: int = 0
    why: str = "empty"  # empty | max | timeout


def read(
    sqs: Client,
    queue_url: str,
    reading: Reading,
    on_alert: Callable[[Alert], None],
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Receive, show (`on_alert`) and, unless `keep`, delete each message; stop as `reading` says.

    A message is deleted only after `on_alert` returned, so an interrupted read loses nothing: what was received but
    not shown is made visible again at once (and what was shown with --keep too)."""
    deadline = None if reading.timeout_s is None else clock() + reading.timeout_s
    outcome = Outcome()
    seen: dict[str, str] = {}  # --keep: message id -> latest receipt handle (made visible again at the end)
    pending: list[str] = []  # received, not yet shown
    try:
        while True:
            if reading.max_alerts is not None and outcome.shown >= reading.max_alerts:
                outcome.why = "max"
                return outcome
            wait = _wait_seconds(reading, deadline, clock)
            if wait is None:
                outcome.why = "timeout"
                return outcome
            want = BATCH if reading.max_alerts is None else min(BATCH, reading.max_alerts - outcome.shown)
            messages = _receive(sqs, queue_url, want, wait, KEEP_HIDDEN_S if reading.keep else None)
            if not messages and not reading.follow:
                outcome.why = "empty"
                return outcome
            pending = [m["ReceiptHandle"] for m in messages]
            fresh = 0
            for message in messages:
                alert = parse(message.get("Body", ""), message.get("MessageId", ""))
                handle = message["ReceiptHandle"]
                if reading.keep and message.get("MessageId") in seen:
                    seen[message["MessageId"]] = handle  # shown already in this read
                    pending.remove(handle)
                    continue
                on_alert(alert)
                pending.remove(handle)
                outcome.shown += 1
                fresh += 1
                if reading.keep:
                    seen[message.get("MessageId", handle)] = handle
                else:
                    _delete(sqs, queue_url, handle)
            if messages and not fresh and not reading.follow:
                outcome.why = "empty"  # --keep: only alerts shown already came back
                return outcome
    finally:
        _make_visible(sqs, queue_url, [*pending, *seen.values()])


def _wait_seconds(reading: Reading, deadline: float | None, clock: Callable[[], float]) -> int | None:
    """The next long poll's WaitTimeSeconds (whole seconds, 1-20), or None once the deadline passed."""
    wait = MAX_WAIT_S if reading.follow else DRAIN_WAIT_S
    if deadline is None:
        return wait
    left = deadline - clock()
    if left <= 0:
        return None
    return max(1, min(wait, math.ceil(left)))


def _receive(sqs: Client, url: str, count: int, wait: int, hide_s: int | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"QueueUrl": url, "MaxNumberOfMessages": count, "WaitTimeSeconds": wait}
    if hide_s is not None:
        params["VisibilityTimeout"] = hide_s
    try:
        messages: list[dict[str, Any]] = sqs.receive_message(**params).get("Messages", [])
    except ClientError as exc:
        raise _inbox_error(exc, url) from exc
    return messages


def _delete(sqs: Client, url: str, handle: str) -> None:
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    except ClientError as exc:
        raise _inbox_error(exc, url) from exc


def _make_visible(sqs: Client, url: str, handles: list[str]) -> None:
    """Best effort: a handle that expired meanwhile is visible again anyway."""
    for chunk in _chunks(handles, BATCH):
        with contextlib.suppress(ClientError):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in enumerate(chunk)],
            )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _inbox_error(exc: ClientError, url: str) -> CliError:
    code = error_code(exc)
    if code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
        return CliError(
            f"the alert inbox {url} does not exist: was the stack deleted or its queue removed? Redeploy the stack "
            "(`sam deploy`)",
            ExitCode.NOT_FOUND,
        )
    if code in {"AccessDenied", "AccessDeniedException"}:
        return CliError(
            f"access denied reading the alert inbox {url}: kbsync alerts needs sqs:ReceiveMessage, "
            "sqs:DeleteMessage and sqs:ChangeMessageVisibility on it (docs/alerts.md, Reading alerts)",
            ExitCode.AWS,
        )
    return from_aws(exc)
