"""The alarm relay's policy: which CloudWatch alarm state change becomes which notice, and its words.

CloudWatch sends EventBridge a "CloudWatch Alarm State Change" event for every change of an alarm's state
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html): its detail holds
the alarm's name, ``state`` and ``previousState`` ({value, reason, reasonData, timestamp}) and ``configuration``
(description, metrics[].metricStat {metric {namespace, name, dimensions}, period, stat}). Read through Powertools'
``EventBridgeEvent`` and ``CloudWatchAlarmData`` (the detail has the shape of a Lambda alarm action's alarmData).

- a change **to ALARM** (from OK or INSUFFICIENT_DATA) sends the alarm's own kind (``ALARM_KINDS``: alarm name ->
  ALARM_* kind of the catalogue, with its severity and runbook);
- a change **from ALARM to OK** sends one ``ALARM_RECOVERED`` (INFO) naming the kind it recovers from;
- any other change sends nothing: to or from INSUFFICIENT_DATA (an alarm just created, a metric that stopped
  reporting: no news about kbsync), and OK -> OK cannot happen. One notice per change: CloudWatch sends one event per
  change and the rule matches each once (a redelivered event would repeat it, as a repeated SNS alarm action would).

The relay decides nothing about thresholds: the alarms (template.yaml) fire on patterns only (several failed jobs or
failed syncs within an hour, several targets stale at once, any dead letter), so a notice never repeats the alert each
failure already has on its own (one failed sync = one FAILED alert, no alarm notice).

An alarm that is not in ``ALARM_KINDS`` is an error (``UnknownAlarm``): the invocation fails, Lambda retries it, then
it lands in the dead-letter queue, whose alarm is seen — never a silent drop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kbsync_alerts
import kbsync_chat
import kbsync_handlers
from alarm_relay_settings import Settings
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.data_classes.cloud_watch_alarm_event import CloudWatchAlarmData

#: The contract of what the AlarmRelayRule delivers (schemas/alarm-state-change-event.schema.json).
CONTRACT = "alarm-state-change-event"
ALARM, OK = "ALARM", "OK"
#: The notice of an alarm back to OK (severity and runbook: schemas/alert-catalogue.json).
RECOVERED = "ALARM_RECOVERED"
#: Metric dimensions that name a target: the notice carries them as the knowledgeBaseId / dataSourceId attributes.
KNOWLEDGE_BASE_DIMENSION, DATA_SOURCE_DIMENSION = "KnowledgeBaseId", "DataSourceId"
#: One fact's value in the plain text and the chat.
FACT_MAX_CHARS = 1_000

Publish = Callable[[dict[str, Any], dict[str, Any]], str]


class UnknownAlarm(KeyError):
    """An alarm the relay has no kind for (ALARM_KINDS lacks it)."""


@dataclass(frozen=True)
class Change:
    """One alarm state change, as the notice tells it."""

    alarm_name: str
    state: str
    previous: str
    reason: str
    timestamp: str
    description: str
    metric: str
    knowledge_base_id: str | None
    data_source_id: str | None


def _metric(data: CloudWatchAlarmData) -> tuple[str, dict[str, str]]:
    """'<namespace> <name> (<dimensions>), <stat> over <period> s' of the alarm's (first) metric, and its dimensions."""
    metrics = data.configuration.metrics
    if not metrics or "metricStat" not in metrics[0]:
        return "", {}
    stat = metrics[0].metric_stat
    metric = stat.metric
    dimensions = {str(k): str(v) for k, v in (metric.get("dimensions") or {}).items()}
    shown = ", ".join(f"{name}={value}" for name, value in sorted(dimensions.items()))
    described = f"{metric.get('namespace', '')} {metric.get('name', '')} ({shown}), {stat.stat} over {stat.period} s"
    return described, dimensions


def change_of(event: Mapping[str, Any]) -> Change:
    """The event's change; kbsync_handlers.InvalidRequest naming every bad field when it breaks its contract."""
    checked = kbsync_handlers.checked(CONTRACT, "alarm state change", event)
    data = CloudWatchAlarmData(EventBridgeEvent(checked).detail)
    metric, dimensions = _metric(data)
    return Change(
        alarm_name=data.alarm_name,
        state=data.state.value,
        previous=data.previous_state.value,
        reason=str(data.state.get("reason") or ""),
        timestamp=str(data.state.get("timestamp") or ""),
        description=str(data.configuration.description or ""),
        metric=metric,
        knowledge_base_id=dimensions.get(KNOWLEDGE_BASE_DIMENSION),
        data_source_id=dimensions.get(DATA_SOURCE_DIMENSION),
    )


def alarm_kinds(settings: Settings) -> dict[str, str]:
    """ALARM_KINDS as a dict; a ValueError naming the entry that is not an alarm kind of the catalogue."""
    kinds = json.loads(settings.alarm_kinds)
    allowed = set(kbsync_alerts.kinds_raised_by(kbsync_alerts.ALARM_RELAY)) - {RECOVERED}
    wrong = {name: kind for name, kind in kinds.items() if kind not in allowed}
    if wrong:
        raise ValueError(f"ALARM_KINDS: {wrong} are not among the alarm kinds {sorted(allowed)}")
    return {str(name): str(kind) for name, kind in kinds.items()}


def notice_of(change: Change, kinds: Mapping[str, str]) -> str | None:
    """The kind of notice `change` sends, or None (see the module's docstring)."""
    alarmed = kinds.get(change.alarm_name)
    if alarmed is None:
        raise UnknownAlarm(f"alarm {change.alarm_name!r} has no kind in ALARM_KINDS ({', '.join(sorted(kinds))})")
    if change.state == ALARM and change.previous != ALARM:
        return alarmed
    if change.state == OK and change.previous == ALARM:
        return RECOVERED
    return None


def facts(change: Change, kind: str, alarmed: str, settings: Settings) -> list[tuple[str, str]]:
    """(label, value) lines of the notice, empty values left out by the callers."""
    when = f" at {change.timestamp}" if change.timestamp else ""
    found = [
        ("Alarm", change.alarm_name),
        ("State", f"{change.state} (was {change.previous}){when}"),
        ("Reason", change.reason),
        ("Metric", change.metric),
        ("Knowledge base", change.knowledge_base_id or ""),
        ("Data source", change.data_source_id or ""),
        ("Description", change.description),
    ]
    if kind == RECOVERED:
        found.append(("Recovered from", f"{alarmed} ({kbsync_alerts.runbook_url(settings.runbook_base_url, alarmed)})"))
    return [(label, value[:FACT_MAX_CHARS]) for label, value in found if value]


def build_alert(change: Change, kind: str, alarmed: str, settings: Settings) -> dict[str, Any]:
    """The notice (schemas/alert.schema.json): subject, plain text, message attributes."""
    entry = kbsync_alerts.alert_kind(kind)
    lines = [
        f"kbsync {kind} ({entry.severity}): {entry.headline}.",
        "",
        *(f"{label + ':':<16} {value}" for label, value in facts(change, kind, alarmed, settings)),
        "",
        f"Runbook: {kbsync_alerts.runbook_url(settings.runbook_base_url, kind)}",
    ]
    return {
        "subject": kbsync_alerts.alarm_subject(kind, change.alarm_name),
        "message": "\n".join(lines),
        "messageAttributes": kbsync_alerts.alarm_message_attributes(
            kind, change.alarm_name, change.knowledge_base_id, change.data_source_id
        ),
    }


def build_chat(change: Change, kind: str, alarmed: str, settings: Settings) -> dict[str, Any]:
    """The notice as Amazon Q Developer in chat applications shows it (schemas/chat-notification.schema.json): the
    subject as title, the facts, the runbook; an alarm's ALARM and its recovery share one thread."""
    entry = kbsync_alerts.alert_kind(kind)
    title = kbsync_alerts.alarm_subject(kind, change.alarm_name)
    attributes = kbsync_alerts.alarm_message_attributes(
        kind, change.alarm_name, change.knowledge_base_id, change.data_source_id
    )
    lines = [f"kbsync {kind} ({entry.severity}): {entry.headline}.", ""]
    lines += [
        f"{label}: {kbsync_chat.inert(value, kbsync_chat.FACT_MAX_CHARS)}"
        for label, value in facts(change, kind, alarmed, settings)
    ]
    runbook = kbsync_alerts.runbook_url(settings.runbook_base_url, kind)
    return {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": "\n".join(lines)[: kbsync_chat.DESCRIPTION_MAX_CHARS],
            "nextSteps": [f"Runbook: {kbsync_chat.inert(runbook, kbsync_chat.NEXT_STEP_MAX_CHARS - 9)}"],
            "keywords": [entry.severity, kind, kbsync_chat.inert(change.alarm_name, 255)],
        },
        "metadata": {
            "threadId": kbsync_chat.thread_id("alarm", change.alarm_name),
            "summary": title,
            "additionalContext": {name: value["StringValue"] for name, value in attributes.items()},
        },
    }


def relay(event: Mapping[str, Any], settings: Settings, publish: Publish) -> dict[str, Any]:
    """One state change -> at most one notice published; what was decided, for the log and the caller."""
    change = change_of(event)
    kinds = alarm_kinds(settings)
    kind = notice_of(change, kinds)
    message_id = None
    if kind is not None:
        alarmed = kinds[change.alarm_name]
        message_id = publish(build_alert(change, kind, alarmed, settings), build_chat(change, kind, alarmed, settings))
    return {
        "alarm": change.alarm_name,
        "state": change.state,
        "previousState": change.previous,
        "sent": kind,
        "messageId": message_id,
    }
