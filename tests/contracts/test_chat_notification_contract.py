"""Both sides of the chat-notification contract (schemas/chat-notification.schema.json).

Producer: every alert kind, as its sender builds and publishes it (kbsync_alerts.publish), carries in the "https"
entry of its SNS message a notification the contract admits; and the producer check (tests/contracts/producers.py)
that holds every message the local cloud's SNS takes to the contract sees a broken one and stays quiet otherwise.
Consumer: Amazon Q Developer in chat applications, whose documented event format
(https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html) the contract follows: a notification with
every documented field is admitted, and what the format refuses is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import kbsync_alerts
import kbsync_contracts
import pytest
from kbsync_localcloud.cloud import LocalCloud

from tests.contracts import producers
from tests.helpers.functions import load_function, load_module

send_alert = load_function("send_alert")
catch_all = load_function("catch_all")
reconciler = load_function("reconciler")
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
KB, DS = "KB12345678", "DS12345678"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:s3-KB12345678-DS12345678-x"
RUNBOOKS = "https://example.com/runbooks"
GATE = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate"
TOPIC = "arn:aws:sns:us-east-1:123456789012:kbsync-alerts"


class RecordingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": "m-1"}


def alert_and_chat(kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The alert of `kind` and its chat notification, built by the sender that raises that kind."""
    raised_by = kbsync_alerts.alert_kind(kind).raised_by
    if raised_by == kbsync_alerts.WORKFLOW:
        facts = send_alert.AlertFacts(kind, KB, DS, EXECUTION_ARN, ingestion_job_id="JOB1234567", status="FAILED")
        facts.failure_reasons = ["Ignored 1 files as their file format was not supported. [Files: s3://b/v.mp4]"]
        alert, chat = send_alert.build_alert_and_chat(facts, RUNBOOKS, NOW, GATE)
        return alert, chat
    if raised_by == "catch-all":
        detail = {"executionArn": EXECUTION_ARN, "status": "FAILED", "error": "States.Runtime", "cause": "x"}
        request = {"knowledgeBaseId": KB, "dataSourceId": DS}
        return (
            catch_all.build_alert(detail, request, None, RUNBOOKS, GATE),
            catch_all.build_chat(detail, request, None, RUNBOOKS, GATE),
        )
    if raised_by == "freshness":
        logic = load_module("freshness", "freshness_logic")
        fresh_settings = load_module("freshness", "freshness_settings").Settings(runbook_base_url=RUNBOOKS)
        state = {"TARGET_STALE": "STALE", "TARGET_LAGGING": "LAGGING", "TARGET_FRESH_AGAIN": "FRESH"}[kind]
        verdict = logic.Verdict(KB, DS, state, 30 * 3600.0, 3 * 3600.0, 26, 7200, None, "2026-11-21T00:00:00Z",
                                "never synced (registered 2026-11-21T00:00:00Z)", None, None)  # fmt: skip
        return logic.build_alert(verdict, "FRESH", fresh_settings), logic.build_chat(verdict, "FRESH", fresh_settings)
    if raised_by == kbsync_alerts.ALARM_RELAY:
        from tests.alarms.test_alarm_relay_units import SETTINGS as relay_settings
        from tests.alarms.test_alarm_relay_units import event, logic

        change = logic.change_of(event("OK" if kind == logic.RECOVERED else "ALARM", "ALARM"))
        alarmed = "ALARM_JOBS_FAILED" if kind == logic.RECOVERED else kind
        return (
            logic.build_alert(change, kind, alarmed, relay_settings),
            logic.build_chat(change, kind, alarmed, relay_settings),
        )
    record = {"knowledgeBaseId": KB, "dataSourceId": DS, "status": "IN_PROGRESS", "executionArn": EXECUTION_ARN}
    values = {"status": "EXECUTION_FAILED", "executionStatus": "FAILED", "jobStatus": "FAILED"}
    settings = reconciler.Settings("jobs", "targets", TOPIC, RUNBOOKS, GATE)
    return reconciler.build_alert(record, values, settings), reconciler.build_chat(record, values, settings)


# ---------------------------------------------------------------- producer


@pytest.mark.parametrize("kind", list(kbsync_alerts.catalogue()))
def test_every_alert_kind_is_published_with_a_chat_notification_the_contract_admits(kind: str) -> None:
    alert, chat = alert_and_chat(kind)
    sns = RecordingSns()
    kbsync_alerts.publish(sns, TOPIC, alert, chat)
    entries = json.loads(sns.published[0]["Message"])
    received = json.loads(entries["https"])  # what Amazon Q Developer in chat applications receives
    assert kbsync_contracts.problems("chat-notification", received) == []
    assert received["content"]["keywords"][:2] == [kbsync_alerts.alert_kind(kind).severity, kind]


def test_the_producer_check_reports_a_broken_chat_notification_and_not_a_valid_one() -> None:
    producers.taken()
    _, chat = alert_and_chat("FAILED")
    producers.check_chat_entry({"default": "text", "https": json.dumps(chat)})
    assert producers.taken() == []
    producers.check_chat_entry({"default": "text"})  # no chat entry: not an alert's message, nothing to check
    assert producers.taken() == []
    broken = {**chat, "version": "2.0"}
    producers.check_chat_entry({"default": "text", "https": json.dumps(broken)})
    producers.check_chat_entry({"default": "text", "https": json.dumps(broken)})  # delivered twice: said once
    producers.check_chat_entry({"default": "text", "https": "{not json"})
    assert producers.taken() == [
        "a message published to SNS carries a chat notification that breaks chat-notification: "
        "/version: const: '1.0' was expected",
        "a message published to SNS carries a chat notification that breaks chat-notification: "
        "the 'https' entry is not JSON",
    ]


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def test_the_local_clouds_sns_holds_published_chat_notifications_to_the_contract(cloud: LocalCloud) -> None:
    producers.install()
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="chat-contract")["TopicArn"]
    alert, chat = alert_and_chat("PARTIAL")
    producers.taken()
    kbsync_alerts.publish(sns, topic, alert, chat)
    assert producers.taken() == []
    broken = json.dumps({"default": "text", "https": json.dumps({**chat, "metadata": {}})})
    sns.publish(TopicArn=topic, Message=broken, MessageStructure="json")
    assert producers.taken() == [
        "a message published to SNS carries a chat notification that breaks chat-notification: "
        "/metadata/threadId: required: 'threadId' is a required property"
    ]


# ---------------------------------------------------------------- consumer


def test_the_documented_event_format_with_every_field_is_admitted() -> None:
    """The event format of the page, every field filled (kbsync sets all but id, eventType and enableCustomActions)."""
    documented = {
        "version": "1.0",
        "source": "custom",
        "id": "c-weihfjdsf",
        "content": {
            "textType": "client-markdown",
            "title": ":warning: Banana Order processing is down!",
            "description": "Banana Order processing service is currently down.\nSee the runbook.",
            "nextSteps": ["Refer to <http://www.example.com|*diagnosis* runbook>", "@googlie: Page Jane Doe"],
            "keywords": ["BananaOrderIntake", "Critical"],
        },
        "metadata": {
            "threadId": "kbsync-BananaOrderIntake-1",
            "summary": "Order intake is down",
            "eventType": "BananaOrderAppEvent",
            "relatedResources": ["i-1234567890abcdef0"],
            "additionalContext": {"priority": "critical"},
            "enableCustomActions": True,
        },
    }
    assert kbsync_contracts.problems("chat-notification", documented) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("version"), "/version: required:"),
        (lambda d: d.pop("source"), "/source: required:"),
        (lambda d: d.update(source="aws.health"), "/source: const:"),
        (lambda d: d["content"].pop("description"), "/content/description: required:"),
        (lambda d: d["content"].update(textType="plain"), "/content/textType: const:"),
        (lambda d: d["content"].update(title="t" * 251), "/content/title: maxLength:"),
        (lambda d: d["content"].update(description="d" * 8_001), "/content/description: maxLength:"),
    ],
)
def test_what_the_format_refuses_is_refused(change: Any, problem: str) -> None:
    _, chat = alert_and_chat("FAILED")
    change(chat)
    assert any(line.startswith(problem) for line in kbsync_contracts.problems("chat-notification", chat))
