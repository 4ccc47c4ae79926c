"""The alert as Amazon Q Developer in chat applications shows it in Slack or Microsoft Teams: a custom notification.

Amazon Q Developer in chat applications (formerly AWS Chatbot) posts the SNS messages of a topic mapped to a chat
channel when they are AWS service events or *custom notifications*: a JSON document with ``version`` "1.0",
``source`` "custom", an optional ``id``, ``content`` (``textType``, ``title``, ``description``, ``nextSteps``,
``keywords``) and ``metadata`` (``threadId``, ``summary``, ``eventType``, ``relatedResources``,
``additionalContext``): https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
Notifications with the same ``threadId`` are threaded together (when the channel's preferences allow it).

``chat_notification`` builds one from an alert's facts; schemas/chat-notification.schema.json pins it (checked here,
on every build). It travels in the ``https`` entry of the alert's MessageStructure=json message, beside the plain
text every other subscriber reads (``kbsync_alerts.publish``).

What it holds: the subject as title; a description (what happened, the target, the job, the error, the first
failure reasons, bounded by ``DESCRIPTION_MAX_CHARS``); the runbook link and the rerun commands as next steps; the
severity, alert type and knowledge base as keywords; one thread per target (``thread_id``); the SNS message
attributes again as additional context. Never document content (reasons name S3 objects, as the e-mail does) nor
secrets. Free text (reasons, causes) is made inert (``inert``): a Slack ``<!channel>`` or a code fence in an S3 key
stays text; the e-mail and the inbox keep it verbatim.

Imports only the standard library, kbsync_contracts and kbsync_alerts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import kbsync_alerts
import kbsync_contracts

#: The description's bound (AWS allows 8,000 characters, chat-notification.schema.json): a chat message to read at
#: a glance; the e-mail and `kbsync alerts` carry everything.
DESCRIPTION_MAX_CHARS = 4_000
#: One fact's value (an error, a cause, a status) in the description.
FACT_MAX_CHARS = 300
#: One failure-reason line in the description.
REASON_MAX_CHARS = 400
#: One next step (the runbook link, a rerun command).
NEXT_STEP_MAX_CHARS = 1_000
THREAD_PREFIX = "kbsync-"
_NOT_IN_THREAD_ID = re.compile(r"[^A-Za-z0-9-]")
#: What a chat reads as markup in free text, and the look-alike shown instead: Slack's control sequences
#: (<!channel>, <@U123>, <https://x|text>) and code spans/fences (a reason could close the block it is shown in).
_INERT = str.maketrans({"<": "\u2039", ">": "\u203a", "`": "'"})
_FENCE = "```"


def inert(text: str, limit: int) -> str:
    """Free text for the chat: one line (control characters as visible escapes, kbsync_contracts.normalize_text), at
    most `limit` characters, with nothing a chat reads as a mention, a link or a code span."""
    return kbsync_contracts.normalize_text(text.translate(_INERT), limit)


def thread_id(knowledge_base_id: str, data_source_id: str) -> str:
    """'kbsync-<kb>-<ds>': the same for every alert of one target (knowledge base + data source), so they thread
    together; another target's alerts start their own thread."""
    return THREAD_PREFIX + _NOT_IN_THREAD_ID.sub("-", f"{knowledge_base_id}-{data_source_id}")


def _description(
    kind: kbsync_alerts.AlertKind,
    knowledge_base_id: str,
    data_source_id: str,
    ingestion_job_id: str | None,
    facts: Sequence[tuple[str, str]],
    reasons_heading: str,
    reasons: Sequence[str],
) -> str:
    target = f"Knowledge base `{inert(knowledge_base_id, 100)}` / data source `{inert(data_source_id, 100)}`"
    if ingestion_job_id:
        target += f" / ingestion job `{inert(ingestion_job_id, 100)}`"
    lines = [f"kbsync {kind.kind} ({kind.severity}): {kind.headline}.", "", target]
    lines += [f"{inert(label, 60)}: {inert(value, FACT_MAX_CHARS)}" for label, value in facts if value]
    head = "\n".join(lines)[:DESCRIPTION_MAX_CHARS]
    if not reasons:
        return head
    opening = f"{head}\n\n{inert(reasons_heading or 'Failure reasons', 200)}:\n{_FENCE}\n"
    closing = f"\n{_FENCE}"
    shown: list[str] = []
    size = len(opening) + len(closing)
    for reason in reasons:
        line = inert(reason, REASON_MAX_CHARS)
        # keep room for the line saying how many were left out (at most ~100 characters)
        if size + len(line) + 1 + 100 > DESCRIPTION_MAX_CHARS:
            break
        shown.append(line)
        size += len(line) + 1
    if not shown:
        return head
    left = len(reasons) - len(shown)
    more = f"\n{left} more line(s): the e-mail and `kbsync alerts` show them all." if left else ""
    return opening + "\n".join(shown) + closing + more


def chat_notification(
    kind: str,
    knowledge_base_id: str,
    data_source_id: str,
    *,
    runbook_url: str,
    rerun_commands: Sequence[str] = (),
    ingestion_job_id: str | None = None,
    execution_arn: str | None = None,
    facts: Sequence[tuple[str, str]] = (),
    reasons_heading: str = "",
    reasons: Sequence[str] = (),
) -> dict[str, Any]:
    """The custom notification of one alert (schemas/chat-notification.schema.json, checked).

    `facts` are (label, value) lines for the description (empty values are left out); `reasons` are the failure
    reasons as the plain text lists them (grouped), shown under `reasons_heading` until the description's bound;
    `rerun_commands` are the commands the plain text gives, shown as next steps after the runbook link.
    """
    entry = kbsync_alerts.alert_kind(kind)
    title = kbsync_alerts.subject(kind, knowledge_base_id, data_source_id)
    attributes = kbsync_alerts.message_attributes(kind, knowledge_base_id, data_source_id, ingestion_job_id)
    steps = [f"Runbook: {inert(runbook_url, NEXT_STEP_MAX_CHARS - 9)}"]
    steps += [f"Rerun: `{inert(command, NEXT_STEP_MAX_CHARS - 9)}`" for command in rerun_commands]
    metadata: dict[str, Any] = {
        "threadId": thread_id(knowledge_base_id, data_source_id),
        "summary": title,
        "additionalContext": {name: value["StringValue"] for name, value in attributes.items()},
    }
    if execution_arn:
        metadata["relatedResources"] = [inert(execution_arn, 2048)]
    notification = {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": _description(
                entry, knowledge_base_id, data_source_id, ingestion_job_id, facts, reasons_heading, reasons
            ),
            "nextSteps": steps,
            "keywords": [entry.severity, kind, inert(knowledge_base_id, 100)],
        },
        "metadata": metadata,
    }
    kbsync_contracts.validate("chat-notification", notification)
    return notification
