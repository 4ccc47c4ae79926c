"""The alert catalogue: every kind of kbsync alert, its severity, headline and runbook, what raises it and when.

The one definition is the data file ``alert-catalogue.json`` beside this module (checked against
``alert-catalogue.schema.json`` when first read). The functions get both from the Contracts layer (template.yaml,
ContentUri: schemas/), the CLI from the installed package; neither keeps a copy, and ``docs/alerts.md`` and
``runbooks/README.md`` are checked against it (tests/static/test_alert_catalogue.py).

Besides the catalogue, the parts of an alert every sender writes the same way: the subject, the runbook link and the
message attributes (schemas/alert.schema.json), and the one way an alert is published (``publish``): the plain text
for e-mail and the SQS alert inbox, the chat notification (kbsync_chat) for Amazon Q Developer in chat applications,
in one SNS message.

Imports only the standard library and kbsync_contracts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import kbsync_contracts
import kbsync_names

CATALOGUE_FILE = Path(__file__).resolve().parent / "alert-catalogue.json"
#: Who raises an alert kind (the catalogue's ``raisedBy``): the workflow's SendAlert task, the catch-all, the
#: reconciler. The workflow's kinds are named after the job record's final status.
WORKFLOW = "ingestion-sync"
#: Who raises the ALARM_* kinds: functions/alarm_relay, on the state changes of kbsync's CloudWatch alarms.
ALARM_RELAY = "alarm-relay"
#: The severity of a notice nobody needs to act on (a target fresh again, an alarm back to OK): the catalogue's lowest
#: (alert-catalogue.schema.json).
INFO = "INFO"


@dataclass(frozen=True)
class AlertKind:
    """One entry of the catalogue."""

    kind: str
    severity: str
    headline: str
    runbook: str
    raised_by: str
    condition: str


@cache
def catalogue() -> Mapping[str, AlertKind]:
    """Every alert kind, in the catalogue's order (read and validated once per process)."""
    document = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    kbsync_contracts.validate("alert-catalogue", document)
    return MappingProxyType(
        {
            kind: AlertKind(
                kind=kind,
                severity=entry["severity"],
                headline=entry["headline"],
                runbook=entry["runbook"],
                raised_by=entry["raisedBy"],
                condition=entry["condition"],
            )
            for kind, entry in document["alerts"].items()
        }
    )


def alert_kind(kind: str) -> AlertKind:
    """The catalogue's entry for `kind` (KeyError naming the known kinds for any other)."""
    found = catalogue().get(kind)
    if found is None:
        raise KeyError(f"unknown alert kind {kind!r}; the catalogue has {', '.join(catalogue())}")
    return found


def kinds_raised_by(source: str) -> tuple[str, ...]:
    """The kinds one sender raises (``ingestion-sync``, ``catch-all``, ``reconciler``, ``freshness``,
    ``alarm-relay``)."""
    return tuple(kind for kind, entry in catalogue().items() if entry.raised_by == source)


def subject(kind: str, knowledge_base_id: str, data_source_id: str) -> str:
    """'[CRITICAL] kbsync FAILED: kb <id> / ds <id>': at most 100 characters, one line (SNS's rules)."""
    return f"[{alert_kind(kind).severity}] kbsync {kind}: kb {knowledge_base_id} / ds {data_source_id}"[:100]


def runbook_url(base_url: str, kind: str) -> str:
    """The runbook of `kind` below the stack's RunbookBaseUrl."""
    return f"{base_url.rstrip('/')}/{alert_kind(kind).runbook}"


def message_attributes(
    kind: str, knowledge_base_id: str, data_source_id: str, ingestion_job_id: str | None = None
) -> dict[str, dict[str, str]]:
    """SNS message attributes subscribers filter on: severity, alertType, knowledgeBaseId, dataSourceId and, when
    known, ingestionJobId."""
    attributes = {
        "severity": alert_kind(kind).severity,
        "alertType": kind,
        "knowledgeBaseId": knowledge_base_id,
        "dataSourceId": data_source_id,
    }
    if ingestion_job_id:
        attributes["ingestionJobId"] = ingestion_job_id
    return _string_attributes(attributes)


def _string_attributes(attributes: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}


def alert(
    kind: str, kb: str, ds: str, job_id: str | None, lines: list[str], commands: list[str], heading: str = "Rerun:"
) -> dict[str, Any]:
    """The alert contract (schemas/alert.schema.json) of an alert of `kind` about the data source `kb`/`ds`: its
    subject, its text (`lines`, then the `commands` under `heading` when there are any) and its SNS message
    attributes."""
    if commands:
        lines = [*lines, "", heading, *(f"  {command}" for command in commands)]
    return {
        "subject": subject(kind, kb, ds),
        "message": "\n".join(lines),
        "messageAttributes": message_attributes(kind, kb, ds, job_id),
    }


def alarm_subject(kind: str, alarm_name: str) -> str:
    """'[WARNING] kbsync ALARM_JOBS_FAILED: alarm <name>': a CloudWatch alarm's notice names the alarm, not a target
    (at most 100 characters, one line: SNS's rules)."""
    return f"[{alert_kind(kind).severity}] kbsync {kind}: alarm {alarm_name}"[:100]


def alarm_message_attributes(
    kind: str, alarm_name: str, knowledge_base_id: str | None = None, data_source_id: str | None = None
) -> dict[str, dict[str, str]]:
    """The message attributes of a CloudWatch alarm's notice: severity, alertType and alarmName; knowledgeBaseId and
    dataSourceId only when the alarm's metric has them as dimensions (an account-wide alarm has neither)."""
    attributes = {"severity": alert_kind(kind).severity, "alertType": kind, "alarmName": alarm_name}
    if knowledge_base_id:
        attributes["knowledgeBaseId"] = knowledge_base_id
    if data_source_id:
        attributes["dataSourceId"] = data_source_id
    return _string_attributes(attributes)


# ---------------------------------------------------------------- publishing

#: SNS Publish takes at most 262,144 bytes of UTF-8 for the message and its attributes
#: (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, "Message"). kbsync keeps the whole published message
#: -- the MessageStructure=json document holding the plain text and the chat notification, as sent -- within this
#: budget, clear of the limit with the subject and the attributes.
MESSAGE_BUDGET_BYTES = 240_000
#: The entry of the published message that Amazon Q Developer in chat applications receives: it subscribes to the
#: topic with an HTTPS endpoint (protocol https, https://global.sns-api.chatbot.amazonaws.com) and posts messages in the
#: custom-notification format (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html). Every other
#: protocol -- email, sqs (the alert inbox `kbsync alerts` reads), lambda, http... -- gets "default", the plain text:
#: a MessageStructure=json message must have a string "default" entry, used for each protocol without its own
#: (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, "MessageStructure"). One copy of the text.
CHAT_PROTOCOL = "https"
#: How a plain text cut to fit the budget ends (a last resort: send_alert budgets its reasons, the other senders'
#: texts are short).
CUT_NOTE = "\n... (cut to stay under the SNS 256 KB limit)"


def _json(value: Any) -> str:
    """Compact JSON, non-ASCII kept as UTF-8 (SNS counts bytes: an escape would take 6 to 12 for 1 to 4)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sns_message(text: str, chat: Mapping[str, Any]) -> str:
    """The Message of a MessageStructure=json publish: {"default": the plain text, "https": the chat notification as
    a JSON string}."""
    return _json({"default": text, CHAT_PROTOCOL: _json(chat)})


def escaped_size(text: str) -> int:
    """The bytes `text` takes inside the published message (JSON-escaped UTF-8: a line break takes 2, a quote 2)."""
    return len(_json(text).encode("utf-8")) - 2


def text_room(chat: Mapping[str, Any]) -> int:
    """The bytes (``escaped_size``) the plain text may take in a published message that carries `chat`, within
    MESSAGE_BUDGET_BYTES."""
    return MESSAGE_BUDGET_BYTES - len(sns_message("", chat).encode("utf-8"))


def fitted(text: str, room: int) -> str:
    """`text` when its escaped size fits `room`, otherwise its longest beginning that does, followed by CUT_NOTE."""
    if escaped_size(text) <= room:
        return text
    room -= escaped_size(CUT_NOTE)
    low, high = 0, len(text)  # the longest prefix that fits: escaped size grows with the prefix
    while low < high:
        middle = (low + high + 1) // 2
        if escaped_size(text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + CUT_NOTE


def publish(sns: Any, topic_arn: str, alert: Mapping[str, Any], chat: Mapping[str, Any]) -> str:
    """Publish one alert (schemas/alert.schema.json) with its chat notification (schemas/chat-notification.schema.json)
    as one SNS message; return its MessageId. The only Publish of an alert: send_alert, the catch-all and the
    reconciler all call it.

    MessageStructure=json: "default" is the alert's plain text (e-mail, the SQS alert inbox), "https" the chat
    notification (Amazon Q Developer in chat applications). Subject and message attributes (severity, alertType,
    knowledgeBaseId, dataSourceId, ingestionJobId) are the same for every subscriber, so filter policies on the
    attributes work for all of them. The whole message stays within MESSAGE_BUDGET_BYTES.
    """
    kbsync_contracts.validate("alert", alert)
    kbsync_contracts.validate("chat-notification", chat)
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=alert["subject"],
        Message=sns_message(fitted(alert["message"], text_room(chat)), chat),
        MessageStructure="json",
        MessageAttributes=alert["messageAttributes"],
    )
    return str(response["MessageId"])


def gate_start_command(gate_arn: str, knowledge_base_id: str, data_source_id: str, reason: str, suffix: str) -> str:
    """The AWS CLI command an alert offers to sync a data source again: a manual request started through the sync gate
    (as `kbsync rerun` and `kbsync sync` do), named with kbsync_names.shell_execution_name (`suffix`: who offers it)."""
    kb, ds = knowledge_base_id, data_source_id
    request = {"knowledgeBaseId": kb, "dataSourceId": ds, "trigger": "manual", "reason": reason}
    gate_input = {"request": request, "settleSeconds": 0, "ifBusy": "skip"}
    return (
        f"aws stepfunctions start-execution --state-machine-arn {gate_arn}"
        f" --name {kbsync_names.shell_execution_name('manual', kb, ds, suffix)}"
        f" --input '{json.dumps(gate_input, separators=(',', ':'))}'"
    )
