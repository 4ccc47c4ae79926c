"""`kbsync alerts` against the local cloud (the product template deployed in-process): real failed syncs publish
through SNS into the stack's alert inbox (an SQS queue), and the real CLI reads them.

Each test first empties the inbox (alerts of other tests of this module may wait there) and then looks only at the
alerts of its own knowledge base."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import kbsync_alerts
import pytest

from kbsync.cli import alerts, main
from kbsync.cli.errors import ExitCode
from tests.cli.support import Deployed, Result, Target, cli

WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")
RUNBOOKS = "https://github.com/kbsync/kbsync/blob/main/runbooks"


def empty_inbox() -> None:
    result = cli("alerts", "--json")
    assert result.code == ExitCode.OK, result.err


def inbox_depth(deployed: Deployed) -> int:
    attributes = deployed.client("sqs").get_queue_attributes(
        QueueUrl=deployed.outputs["AlertInboxQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def failed_sync(deployed: Deployed) -> Target:
    """A real failed sync: the data source's bucket does not exist (one FAILED alert after the last attempt)."""
    t = deployed.new_target(bucket_exists=False)
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
    assert result.code == ExitCode.FAILED, result.out + result.err
    return t


def blocks_of(out: str, kb: str) -> list[str]:
    """The printed alerts (blocks separated by a blank line) whose subject names knowledge base `kb`."""
    return [block for block in out.split("\n\n") if f"kbsync FAILED: kb {kb} /" in block.splitlines()[0]]


def test_a_failed_sync_produces_one_alert_that_alerts_prints_and_removes(deployed: Deployed) -> None:
    empty_inbox()
    t = failed_sync(deployed)
    [record] = json.loads(cli("history", "--kb", t.kb, "--ds", t.ds, "--json", "--limit", "1").out)
    job = record["ingestionJobId"]

    result = cli("alerts")
    assert result.code == ExitCode.OK, result.err
    [block] = blocks_of(result.out, t.kb)
    lines = block.splitlines()
    assert lines[0] == f"[CRITICAL] kbsync FAILED: kb {t.kb} / ds {t.ds}"
    assert "\x1b[" not in result.out  # piped: plain text
    assert "  severity   CRITICAL" in lines
    assert "  kind       FAILED: the ingestion job FAILED after every allowed attempt" in lines
    assert f"  kb / ds    {t.kb} / {t.ds}" in lines
    assert f"  job        {job}" in lines
    reasons = [line for line in lines if t.bucket in line]
    assert reasons and all("bucket does not exist" in line for line in reasons), block
    assert lines[lines.index("  reasons    (1 reported, 1 distinct)") + 1].startswith("             - ")
    assert f"  runbook    {RUNBOOKS}/sync-failed.md" in lines
    assert f"  rerun      kbsync rerun {job}" in lines
    assert any(line.strip().startswith("aws stepfunctions start-execution") for line in lines)
    assert result.out.rstrip().splitlines()[-1].startswith("1 alert(s) shown, removed from the inbox ")

    again = cli("alerts")  # removed once printed: the next read sees only what arrived since
    assert (again.code, blocks_of(again.out, t.kb)) == (ExitCode.OK, [])
    assert again.out.startswith("no alert waiting in the inbox kbsync-AlertInboxQueue-")
    assert inbox_depth(deployed) == 0


def test_json_lists_the_alerts_and_keep_leaves_them_in_the_inbox(deployed: Deployed) -> None:
    empty_inbox()
    t = deployed.new_target({"ok.md": b"# ok\n", "setup.exe": b"MZ"})
    assert cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT).code == ExitCode.PARTIAL

    kept = cli("alerts", "--json", "--keep")
    assert kept.code == ExitCode.OK, kept.err
    [alert] = [a for a in json.loads(kept.out) if a["knowledgeBaseId"] == t.kb]
    assert inbox_depth(deployed) >= 1  # --keep: still there, and visible again at once
    assert (alert["source"], alert["alertType"], alert["severity"]) == ("kbsync", "PARTIAL", "WARNING")
    assert alert["subject"] == kbsync_alerts.subject("PARTIAL", t.kb, t.ds)
    assert alert["dataSourceId"] == t.ds and alert["ingestionJobId"]
    assert [r for r in alert["reasons"] if f"s3://{t.bucket}/docs/setup.exe" in r], alert["reasons"]
    assert alert["runbook"] == f"{RUNBOOKS}/sync-partial.md"
    assert alert["rerun"][0] == f"kbsync rerun {alert['ingestionJobId']}"
    assert alert["publishedAt"] and alert["messageId"] and alert["note"] is None
    assert "Failure reasons" in alert["message"]

    taken = cli("alerts", "--json")
    assert [a["messageId"] for a in json.loads(taken.out) if a["knowledgeBaseId"] == t.kb] == [alert["messageId"]]
    assert json.loads(cli("alerts", "--json").out) == []


def run_in_thread(*argv: str) -> tuple[threading.Thread, io.StringIO, io.StringIO, list[int]]:
    out, err, code = io.StringIO(), io.StringIO(), []
    thread = threading.Thread(target=lambda: code.append(main(list(argv), out=out, err=err)), daemon=True)
    thread.start()
    return thread, out, err, code


def test_follow_shows_an_alert_published_after_it_started_then_stops_at_max(deployed: Deployed) -> None:
    empty_inbox()
    thread, out, err, code = run_in_thread("alerts", "--follow", "--max", "1", "--timeout", "120", "--json")
    deadline = time.monotonic() + 30
    while "following the alert inbox" not in err.getvalue():
        assert time.monotonic() < deadline and thread.is_alive(), err.getvalue()
        time.sleep(0.02)
    assert out.getvalue() == ""  # nothing waiting when it started

    t = failed_sync(deployed)
    thread.join(timeout=60)
    assert not thread.is_alive(), "--follow --max 1 did not stop after its alert"
    assert code == [ExitCode.OK], err.getvalue()
    [line] = out.getvalue().splitlines()  # JSON Lines: one object per alert
    alert = json.loads(line)
    assert (alert["knowledgeBaseId"], alert["alertType"]) == (t.kb, "FAILED")


def test_follow_ends_at_its_timeout_when_nothing_arrives(deployed: Deployed) -> None:
    empty_inbox()
    started = time.monotonic()
    result = cli("alerts", "--follow", "--timeout", "1")
    assert time.monotonic() - started < 10
    assert result.code == ExitCode.OK, result.err
    assert result.out == "no alert (--timeout 1s)\n"
    assert "following the alert inbox kbsync-AlertInboxQueue-" in result.err


def test_messages_that_are_not_kbsync_alerts_are_shown_safely(deployed: Deployed) -> None:
    empty_inbox()
    sns, sqs = deployed.client("sns"), deployed.client("sqs")
    topic, url = deployed.outputs["AlertsTopicArn"], deployed.outputs["AlertInboxQueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="plain text, not an SNS envelope")
    sqs.send_message(QueueUrl=url, MessageBody='{"Type": "Notification"}')  # no Message
    sns.publish(TopicArn=topic, Subject="hello", Message="someone else's message")
    sns.publish(
        TopicArn=topic,
        Subject='ALARM: "kbsync-DeadLetterQueueAlarm" in US East (N. Virginia)',
        Message=json.dumps(
            {
                "AlarmName": "kbsync-DeadLetterQueueAlarm",
                "AlarmDescription": f"events could not be delivered. Runbook: {RUNBOOKS}/dead-letter-queue.md",
                "NewStateValue": "ALARM",
                "NewStateReason": "Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0).",
            }
        ),
    )
    # a kbsync alert whose failure reason carries a terminal escape sequence (clear screen): shown, not obeyed
    sns.publish(
        TopicArn=topic,
        Subject=kbsync_alerts.subject("FAILED", "AB12CD34EF", "GH56IJ78KL"),
        Message="kbsync FAILED\n\nFailure reasons (1 reported, 1 distinct):\n- evil \x1b[2J reason\n\nRunbook: x",
        MessageAttributes=kbsync_alerts.message_attributes("FAILED", "AB12CD34EF", "GH56IJ78KL"),
    )

    result = cli("alerts")
    assert result.code == ExitCode.OK, result.err
    assert "\x1b" not in result.out and "- evil \\x1b[2J reason" in result.out
    assert "plain text, not an SNS envelope" in result.out
    assert result.out.count("not an SNS notification: shown as received") == 2
    assert "not a kbsync alert (no known alertType attribute): shown as received" in result.out
    assert "someone else's message" in result.out
    assert "  kind       ALARM: CloudWatch alarm kbsync-DeadLetterQueueAlarm is ALARM" in result.out
    assert f"  runbook    {RUNBOOKS}/dead-letter-queue.md" in result.out
    assert "Threshold Crossed" in result.out
    assert "5 alert(s) shown" in result.out
    assert inbox_depth(deployed) == 0


def test_an_interrupted_read_loses_nothing(deployed: Deployed) -> None:
    """Ctrl-C while printing: the alert being printed and those received with it stay in the inbox, visible at once."""
    empty_inbox()
    sns, sqs = deployed.client("sns"), deployed.client("sqs")
    url = deployed.outputs["AlertInboxQueueUrl"]
    for n in range(3):
        sns.publish(TopicArn=deployed.outputs["AlertsTopicArn"], Subject=f"s{n}", Message=f"m{n}")
    shown: list[str] = []

    def on_alert(alert: alerts.Alert) -> None:
        if shown:
            raise KeyboardInterrupt
        shown.append(alert.subject)

    with pytest.raises(KeyboardInterrupt):
        alerts.read(sqs, url, alerts.Reading(), on_alert)
    # A look that hides nothing (VisibilityTimeout 0): what this test leaves must not stay in flight for the
    # queue's default 30 s, where the next test's reads could not see it.
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0)
    subjects = sorted(json.loads(m["Body"])["Subject"] for m in left.get("Messages", []))
    assert len(shown) == 1 and shown[0] not in subjects and len(subjects) == 2, (shown, subjects)
    empty_inbox_after = cli("alerts")
    assert empty_inbox_after.code == ExitCode.OK
    assert inbox_depth(deployed) == 0


def test_keep_makes_every_alert_visible_again_when_the_read_ends(deployed: Deployed) -> None:
    empty_inbox()
    sns, sqs = deployed.client("sns"), deployed.client("sqs")
    for n in range(12):  # more than one ReceiveMessage batch
        sns.publish(TopicArn=deployed.outputs["AlertsTopicArn"], Subject=f"s{n}", Message=f"m{n}")
    kept = cli("alerts", "--keep", "--json")
    assert len(json.loads(kept.out)) == 12
    assert len(json.loads(cli("alerts", "--keep", "--json").out)) == 12  # nothing hidden by the first look
    assert len(json.loads(cli("alerts", "--json", "--max", "5").out)) == 5
    result: Result = cli("alerts", "--json")
    assert len(json.loads(result.out)) == 7
    assert sqs.receive_message(QueueUrl=deployed.outputs["AlertInboxQueueUrl"]).get("Messages", []) == []


def test_the_inbox_is_the_stacks_encrypted_subscribed_queue_with_its_retention(deployed: Deployed) -> None:
    sns, sqs = deployed.client("sns"), deployed.client("sqs")
    url = deployed.outputs["AlertInboxQueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["MessageRetentionPeriod"] == "1209600"  # AlertInboxRetentionSeconds' default: 14 days
    policy = json.loads(attributes["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": deployed.outputs["AlertsTopicArn"]}}
    subscriptions: list[dict[str, Any]] = sns.list_subscriptions_by_topic(TopicArn=deployed.outputs["AlertsTopicArn"])[
        "Subscriptions"
    ]
    [inbox] = [s for s in subscriptions if s["Endpoint"] == attributes["QueueArn"]]
    sub = sns.get_subscription_attributes(SubscriptionArn=inbox["SubscriptionArn"])["Attributes"]
    assert (sub["Protocol"], sub["RawMessageDelivery"]) == ("sqs", "false")
