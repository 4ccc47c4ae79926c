"""kbsync/cli/alerts.py without a cloud: the alerts the real senders build (functions/send_alert, catch_all), wrapped
in the envelope SNS delivers to SQS, read back field by field; bad input; the inbox output a stack must have."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kbsync.cli import alerts
from kbsync.cli.aws import Stack
from kbsync.cli.errors import CliError, ExitCode
from kbsync.cli.render import PLAIN, Style
from tests.helpers.functions import load_function

send_alert = load_function("send_alert")
catch_all = load_function("catch_all")
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
BASE = "https://runbooks.example/kbsync"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-AB12CD34EF-x"
GATE = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate-1a2b3c4d"


def envelope(alert: dict[str, Any]) -> str:
    """The JSON body SNS puts in the SQS message (https://docs.aws.amazon.com/sns/latest/dg/sns-sqs-as-subscriber.html)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "63a3f6b6-d533-4a47-aef9-fcf5cf758c76",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:kbsync-AlertsTopic-X",
            "Subject": alert["subject"],
            "Message": alert["message"],
            "Timestamp": "2026-11-22T05:30:01.123Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {
                name: {"Type": value["DataType"], "Value": value["StringValue"]}
                for name, value in alert["messageAttributes"].items()
            },
        }
    )


def facts(alert_type: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "alert_type": alert_type,
        "knowledge_base_id": "AB12CD34EF",
        "data_source_id": "GH56IJ78KL",
        "execution_arn": EXECUTION,
        "ingestion_job_id": "MN90OP12QR",
        "status": "FAILED",
        "attempt": 3,
        "max_attempts": 3,
    }
    values.update(overrides)
    return send_alert.AlertFacts(**values)


def test_a_send_alert_failed_alert_is_read_field_by_field() -> None:
    reasons = [f"Unsupported file type for s3://b/docs/f{i}.exe." for i in range(4)] + ["The bucket was not found"]
    built = send_alert.build_alert(facts("FAILED", failure_reasons=reasons), BASE, NOW, GATE)
    alert = alerts.parse(envelope(built))
    assert (alert.source, alert.alert_type, alert.severity) == ("kbsync", "FAILED", "CRITICAL")
    assert (alert.knowledge_base_id, alert.data_source_id, alert.ingestion_job_id) == (
        "AB12CD34EF",
        "GH56IJ78KL",
        "MN90OP12QR",
    )
    assert alert.subject == "[CRITICAL] kbsync FAILED: kb AB12CD34EF / ds GH56IJ78KL"
    assert alert.reasons_summary == "5 reported, 2 distinct"
    assert alert.reasons[0].startswith("[4 x] Unsupported file type for <file>. (e.g. s3://b/docs/f0.exe")
    assert alert.reasons[1] == "The bucket was not found"
    assert alert.runbook == f"{BASE}/sync-failed.md"
    assert alert.rerun[0] == "kbsync rerun MN90OP12QR"
    assert alert.rerun[1].startswith(f"aws stepfunctions start-execution --region us-east-1 --state-machine-arn {GATE}")
    assert alert.published_at == "2026-11-22T05:30:01.123Z" and alert.note is None
    assert alert.message == built["message"]

    shown = alerts.text(alert, PLAIN).splitlines()
    assert shown[:2] == [built["subject"], "  published  2026-11-22 05:30:01Z"]
    assert "  reasons    (5 reported, 2 distinct)" in shown
    assert "             - The bucket was not found" in shown
    assert f"  runbook    {BASE}/sync-failed.md" in shown


def test_an_alert_without_reasons_shows_its_error_and_cause() -> None:
    built = send_alert.build_alert(
        facts(
            "START_FAILED",
            ingestion_job_id=None,
            status=None,
            error="BedrockAgent.AccessDeniedException",
            cause="not authorized to perform bedrock:StartIngestionJob",
        ),
        BASE,
        NOW,
        GATE,
    )
    alert = alerts.parse(envelope(built))
    assert alert.alert_type == "START_FAILED" and alert.ingestion_job_id is None
    assert alert.reasons[0].startswith("Error: ")
    assert any(r.startswith("Cause: ") and "StartIngestionJob" in r for r in alert.reasons), alert.reasons
    assert alert.rerun[0] == f"kbsync rerun {EXECUTION}"


def test_a_catch_all_alert_is_read_too() -> None:
    detail = {
        "status": "TIMED_OUT",
        "executionArn": EXECUTION,
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-IngestionSync",
        "startDate": 1_795_000_000_000,
        "stopDate": 1_795_000_100_000,
        "error": "States.Timeout",
        "cause": None,
    }
    request = {"knowledgeBaseId": "AB12CD34EF", "dataSourceId": "GH56IJ78KL", "trigger": "manual"}
    built = catch_all.build_alert(detail, request, "MN90OP12QR", BASE, GATE)
    alert = alerts.parse(envelope(built))
    assert (alert.alert_type, alert.severity, alert.ingestion_job_id) == ("EXECUTION_DIED", "CRITICAL", "MN90OP12QR")
    assert alert.reasons and alert.reasons[0].startswith("Error: ")
    assert alert.runbook == f"{BASE}/execution-died.md"
    assert alert.rerun[0] == "kbsync rerun MN90OP12QR"


@pytest.mark.parametrize(
    ("body", "note"),
    [
        ("", "not an SNS notification"),
        ("[1, 2]", "not an SNS notification"),
        ('{"Type": "SubscriptionConfirmation", "Message": "x"}', "not an SNS notification"),
        ('{"Type": "Notification", "Message": "hi", "MessageAttributes": {"alertType": 5}}', "not a kbsync alert"),
        ('{"Type": "Notification", "Message": "hi", "MessageAttributes": {"alertType": {"Value": "NOPE"}}}', "not a"),
        ('{"Type": "Notification", "Message": null, "Subject": ["x"]}', "not a kbsync alert"),
    ],
)
def test_bad_input_is_an_other_alert_never_an_exception(body: str, note: str) -> None:
    alert = alerts.parse(body, "sqs-id")
    assert alert.source == "other" and alert.note and alert.note.startswith(note)
    assert alerts.text(alert, PLAIN).splitlines()[0] in {"(no subject)", "['x']"}
    json.dumps(alert.to_dict())


def test_raw_text_is_escaped_and_bounded() -> None:
    alert = alerts.parse("\x1b]0;pwned\x07" + "x" * 5000)
    assert "\x1b" not in alert.message and "\x07" not in alert.message
    assert alert.message.startswith("\\x1b]0;pwned\\x07xxx")
    assert alert.message.endswith(f"... ({16 + 5000 - alerts.RAW_LIMIT} more characters)")  # 16: the escapes


def test_colour_only_on_a_terminal() -> None:
    built = send_alert.build_alert(facts("PARTIAL", status="COMPLETE"), BASE, NOW, GATE)
    alert = alerts.parse(envelope(built))
    coloured = alerts.text(alert, Style(tty=True, colour=True, width=100))
    assert coloured.startswith("\x1b[33;1m[WARNING] kbsync PARTIAL") and "\x1b" not in alerts.text(alert, PLAIN)


def test_a_stack_without_the_inbox_output_names_it_and_what_to_do() -> None:
    old = Stack(name="kbsync", state_machine_arn="arn", jobs_table="jobs", outputs={}, parameters={})
    with pytest.raises(CliError) as raised:
        alerts.inbox_url(old)
    assert raised.value.code == ExitCode.NOT_FOUND
    assert raised.value.message.startswith("stack 'kbsync' has no output AlertInboxQueueUrl (the alert inbox): deploy")
