"""The alert as Amazon Q Developer in chat applications shows it (kbsync_chat), and the one SNS message that carries
it beside the plain text (kbsync_alerts.publish): every field, one thread per target, the bounds, free text made
inert, the schema's refusals, the per-protocol message and the 240,000-byte budget of the whole published message.
No network."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kbsync_alerts
import kbsync_chat
import kbsync_contracts
import pytest

from tests.helpers.functions import load_function

send_alert = load_function("send_alert")
catch_all = load_function("catch_all")
reconciler = load_function("reconciler")

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
KB, DS, JOB = "KB12345678", "DS12345678", "JOB1234567"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:s3-KB12345678-DS12345678-x"
GATE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate-0a1b2c3d"
BASE_URL = "https://example.com/kbsync/runbooks"
TOPIC = "arn:aws:sns:us-east-1:123456789012:kbsync-alerts"
REASONS = [
    "Ignored 1 files as their file format was not supported. [Files: s3://acme/a.mp4]",
    "Ignored 1 files as their file format was not supported. [Files: s3://acme/b.mp4]",
    "Ignored 1 files as their file size exceeded the maximum supported size of 50 MB. [Files: s3://acme/big.pdf]",
]


def facts(alert_type: str = "FAILED", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "alert_type": alert_type,
        "knowledge_base_id": KB,
        "data_source_id": DS,
        "execution_arn": EXECUTION_ARN,
        "trigger": "s3",
        "ingestion_job_id": JOB,
        "status": "FAILED",
        "attempt": 3,
        "max_attempts": 3,
        "statistics": {"numberOfDocumentsScanned": 40, "numberOfDocumentsFailed": 3},
        "failure_reasons": list(REASONS),
        **overrides,
    }
    return send_alert.AlertFacts(**values)


def built(alert_type: str = "FAILED", **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    alert, chat = send_alert.build_alert_and_chat(facts(alert_type, **overrides), BASE_URL, NOW, GATE_ARN)
    return alert, chat


def rerun_lines(message: str) -> list[str]:
    lines = message.split("\n")
    return [line.strip() for line in lines[lines.index("Rerun:") + 1 :]]


def block_of(description: str) -> list[str]:
    """The lines of the description's code block (the failure reasons)."""
    start = description.index("```\n") + 4
    return description[start : description.index("\n```", start)].split("\n")


class RecordingSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": f"m-{len(self.published)}"}


# ---------------------------------------------------------------- the builder


def test_every_field_of_a_failed_jobs_chat_notification() -> None:
    alert, chat = built()
    assert set(chat) == {"version", "source", "content", "metadata"}  # no id: AWS does not require one
    assert (chat["version"], chat["source"]) == ("1.0", "custom")
    content, metadata = chat["content"], chat["metadata"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == alert["subject"] == f"[CRITICAL] kbsync FAILED: kb {KB} / ds {DS}"
    text_lines = alert["message"].split("\n")
    assert content["description"].split("\n") == [
        text_lines[0],  # the text's headline: "kbsync FAILED (CRITICAL): the ingestion job FAILED after ..."
        "",
        f"Knowledge base `{KB}` / data source `{DS}` / ingestion job `{JOB}`",
        "Job status: FAILED",
        "Attempt: 3 of 3",
        "Documents: 3 failed of 40 scanned",
        "Trigger: s3",
        "",
        "Failure reasons (3 reported, 2 distinct):",
        "```",
        "- [2 x] Ignored 1 files as their file format was not supported. [Files: \u2039file\u203a] "
        "(e.g. s3://acme/a.mp4, s3://acme/b.mp4)",
        "- Ignored 1 files as their file size exceeded the maximum supported size of 50 MB. [Files: s3://acme/big.pdf]",
        "```",
    ]
    # next steps: the runbook, then the very rerun commands of the text (same random name suffix)
    assert content["nextSteps"] == [
        f"Runbook: {BASE_URL}/sync-failed.md",
        *(f"Rerun: `{command}`" for command in rerun_lines(alert["message"])),
    ]
    assert content["nextSteps"][1] == f"Rerun: `kbsync rerun {JOB}`"
    assert content["keywords"] == ["CRITICAL", "FAILED", KB]
    assert metadata == {
        "threadId": f"kbsync-{KB}-{DS}",
        "summary": alert["subject"],
        "additionalContext": {name: value["StringValue"] for name, value in alert["messageAttributes"].items()},
        "relatedResources": [EXECUTION_ARN],
    }
    kbsync_contracts.validate("chat-notification", chat)


@pytest.mark.parametrize("kind", kbsync_alerts.kinds_raised_by(kbsync_alerts.WORKFLOW))
def test_keywords_are_the_severity_the_alert_type_and_the_knowledge_base(kind: str) -> None:
    alert, chat = built(kind)
    severity = kbsync_alerts.alert_kind(kind).severity
    assert chat["content"]["keywords"] == [severity, kind, KB]
    assert chat["content"]["title"] == alert["subject"]
    assert chat["content"]["nextSteps"][0] == f"Runbook: {kbsync_alerts.runbook_url(BASE_URL, kind)}"


def test_one_targets_alerts_share_a_thread_and_another_targets_do_not() -> None:
    failed = built("FAILED")[1]
    partial = built("PARTIAL", ingestion_job_id="JOB7654321", status="COMPLETE")[1]
    detail = {"executionArn": EXECUTION_ARN, "status": "FAILED", "error": "States.Runtime", "cause": "boom"}
    request = {"knowledgeBaseId": KB, "dataSourceId": DS}
    died = catch_all.build_chat(detail, request, JOB, BASE_URL, GATE_ARN)
    record = {"knowledgeBaseId": KB, "dataSourceId": DS, "status": "IN_PROGRESS", "executionArn": EXECUTION_ARN}
    values = {"status": "EXECUTION_FAILED", "executionStatus": "FAILED", "jobStatus": "FAILED"}
    settings = reconciler.Settings("jobs", "targets", TOPIC, BASE_URL, GATE_ARN)
    reconciled = reconciler.build_chat(record, values, settings)
    threads = {chat["metadata"]["threadId"] for chat in (failed, partial, died, reconciled)}
    assert threads == {f"kbsync-{KB}-{DS}"}
    other_ds = built("FAILED", data_source_id="DS87654321")[1]["metadata"]["threadId"]
    other_kb = built("FAILED", knowledge_base_id="KB87654321")[1]["metadata"]["threadId"]
    assert len({f"kbsync-{KB}-{DS}", other_ds, other_kb}) == 3
    assert kbsync_chat.thread_id("n/a", "n/a") == "kbsync-n-a-n-a"  # an execution without a known target


def test_the_description_is_bounded_and_says_how_many_lines_it_left_to_the_email() -> None:
    reasons = [f"Error {i}: " + chr(97 + i % 26) * 7 + f" s3://bkt/{i}.doc " + "y" * 2000 for i in range(2048)]
    alert, chat = built(failure_reasons=reasons)
    description = chat["content"]["description"]
    assert len(description) <= kbsync_chat.DESCRIPTION_MAX_CHARS
    block = block_of(description)
    assert all(len(line) <= kbsync_chat.REASON_MAX_CHARS for line in block)
    assert all(line.endswith("...") for line in block)  # 2,000-character reasons are cut
    groups = len(send_alert.group_reasons(reasons))
    assert description.endswith(f"\n{groups - len(block)} more line(s): the e-mail and `kbsync alerts` show them all.")
    assert "omitted" not in alert["message"]  # the text keeps every group the chat leaves out
    assert all(send_alert.group_line(group) in alert["message"] for group in send_alert.group_reasons(reasons))


def test_a_fact_and_a_next_step_are_cut_to_their_bounds() -> None:
    cause = "Bedrock said: " + "z" * 5_000
    _, chat = built("START_FAILED", ingestion_job_id=None, status=None, error="ValidationException", cause=cause)
    assert "Error: ValidationException" in chat["content"]["description"].split("\n")
    [cause_line] = [line for line in chat["content"]["description"].split("\n") if line.startswith("Cause: ")]
    assert len(cause_line) <= len("Cause: ") + kbsync_chat.FACT_MAX_CHARS
    steps = kbsync_chat.chat_notification(
        "FAILED", KB, DS, runbook_url=BASE_URL, rerun_commands=["kbsync rerun " + "j" * 5_000]
    )["content"]["nextSteps"]
    assert len(steps[1]) <= kbsync_chat.NEXT_STEP_MAX_CHARS


def test_free_text_cannot_mention_link_or_break_out_of_its_code_block() -> None:
    reasons = [
        "Ignored 1 files: <!channel> <@U024BE7LH> <https://evil.example|the runbook> [Files: s3://b/a.pdf]",
        "Bad key ``` closes the block ` s3://b/x.pdf\nsecond line \x1b[31mred",
    ]
    _, chat = built(failure_reasons=reasons, cause="<!here> `x`", error="States.Runtime")
    description = chat["content"]["description"]
    assert "<" not in description and ">" not in description
    assert description.count("```") == 2  # the block's own fences, nothing else
    assert "\x1b" not in description and "\\x1b" in description  # a control character shown, not sent
    assert "x.pdf\\nsecond line" in description  # a line break inside a reason stays in its line
    assert "\u2039!channel\u203a" in description  # still readable


def test_the_chat_holds_nothing_the_text_does_not() -> None:
    """Never document content or secrets: the chat repeats (bounded, made inert) what the e-mail already says; who
    asked (an IAM identity) is not shown in the channel."""
    alert, chat = built(requested_by="arn:aws:sts::123456789012:assumed-role/ops/alice", reason="nightly")
    assert "alice" in alert["message"] and "alice" not in json.dumps(chat)
    text_lines = set(alert["message"].split("\n"))
    block = block_of(chat["content"]["description"])
    assert {line.replace("\u2039file\u203a", "<file>") for line in block} <= text_lines


def test_the_catch_alls_and_the_reconcilers_chat_notifications() -> None:
    detail = {
        "executionArn": EXECUTION_ARN,
        "status": "TIMED_OUT",
        "error": "States.Timeout",
        "cause": 'Traceback (most recent call last):\n  File "/var/task/app.py", line 3',
    }
    request = {"knowledgeBaseId": KB, "dataSourceId": DS}
    died = catch_all.build_chat(detail, request, None, BASE_URL, GATE_ARN)
    alert = catch_all.build_alert(detail, request, None, BASE_URL, GATE_ARN)
    assert died["content"]["title"] == alert["subject"]
    assert died["content"]["keywords"] == ["CRITICAL", "EXECUTION_DIED", KB]
    assert "/var/task" not in json.dumps(died)  # the cause cleaned as in the text
    facts = died["content"]["description"].split("\n")
    assert "Execution status: TIMED_OUT" in facts and "Error: States.Timeout" in facts  # the error named as in the text
    assert "What kbsync did: released the data source's sync gate and job slot; the next sync starts normally" in facts
    failed = {**detail, "status": "FAILED", "error": "Lambda.Unknown", "cause": "the function ran out of memory"}
    crashed = catch_all.build_chat(failed, request, None, BASE_URL, GATE_ARN)["content"]["description"].split("\n")
    assert "Error: Lambda.Unknown" in crashed  # the execution's own error, not a name derived from its status
    stopped = catch_all.build_chat({**detail, "status": "ABORTED", "error": None}, request, None, BASE_URL, GATE_ARN)
    assert not any(line.startswith("Error:") for line in stopped["content"]["description"].split("\n"))
    assert died["content"]["nextSteps"][1:] == [f"Rerun: `{line}`" for line in rerun_lines(alert["message"])]
    unknown = catch_all.build_chat({**detail, "executionArn": EXECUTION_ARN}, None, None, BASE_URL, GATE_ARN)
    assert unknown["content"]["nextSteps"] == [f"Runbook: {BASE_URL}/execution-died.md"]  # no rerun without a target
    record = {"knowledgeBaseId": KB, "dataSourceId": DS, "status": "IN_PROGRESS", "executionArn": EXECUTION_ARN}
    values = {"status": "EXECUTION_FAILED", "executionStatus": "FAILED", "jobStatus": "IN_PROGRESS"}
    settings = reconciler.Settings("jobs", "targets", TOPIC, BASE_URL, GATE_ARN)
    reconciled = reconciler.build_chat(record, values, settings)
    assert reconciled["content"]["keywords"] == ["WARNING", "RECORD_RECONCILED", KB]
    assert "still running in Bedrock" in reconciled["content"]["description"]
    text = reconciler.build_alert(record, values, settings)["message"]
    assert reconciled["content"]["nextSteps"][1:] == [f"Rerun: `{line}`" for line in rerun_lines(text)]


# ---------------------------------------------------------------- the schema


def _mutated(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = json.loads(json.dumps(built()[1]))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("version",), "2.0", "/version: const:"),
        (("source",), "aws.health", "/source: const:"),
        (("content", "description"), KeyError, "/content/description: required:"),
        (("content", "textType"), "markdown", "/content/textType: const:"),
        (("content", "title"), "t" * 251, "/content/title: maxLength: 251 characters, at most 250 allowed"),
        (("content", "description"), "d" * 8001, "/content/description: maxLength: 8001 characters"),
        (("content", "keywords"), [""], "/content/keywords/0: minLength:"),
        (("content", "colour"), "red", "/content/colour: additionalProperties:"),
        (("metadata", "threadId"), KeyError, "/metadata/threadId: required:"),
        (("metadata", "threadId"), "thread 1", "/metadata/threadId: pattern:"),
        (("metadata", "summary"), "two\nlines", "/metadata/summary: text: contains a control character U+000A"),
        (("metadata", "additionalContext"), {"k": 1}, "/metadata/additionalContext/k: type:"),
        (("id",), "", "/id: minLength:"),
    ],
)
def test_the_schema_refuses_what_the_format_does_not_allow(path: tuple[str, ...], value: Any, problem: str) -> None:
    found = kbsync_contracts.problems("chat-notification", _mutated(path, value))
    assert any(line.startswith(problem) for line in found), found


def test_the_schema_accepts_the_optional_fields_of_the_format() -> None:
    document = _mutated(("id",), "kbsync-alert-1")
    document["metadata"].update(eventType="kbsync-alert", enableCustomActions=False)
    assert kbsync_contracts.problems("chat-notification", document) == []


# ---------------------------------------------------------------- publishing


def test_publish_sends_the_text_to_every_protocol_but_https_which_gets_the_chat() -> None:
    alert, chat = built()
    sns = RecordingSns()
    assert kbsync_alerts.publish(sns, TOPIC, alert, chat) == "m-1"
    [request] = sns.published
    assert request.keys() == {"TopicArn", "Subject", "Message", "MessageStructure", "MessageAttributes"}
    assert (request["TopicArn"], request["Subject"]) == (TOPIC, alert["subject"])
    assert request["MessageStructure"] == "json"
    assert request["MessageAttributes"] == alert["messageAttributes"]  # filter policies see every subscriber's
    entries = json.loads(request["Message"])
    assert entries.keys() == {"default", "https"}  # e-mail, sqs, lambda... fall back to "default"
    assert entries["default"] == alert["message"]
    assert json.loads(entries["https"]) == chat


def test_publish_refuses_a_chat_notification_that_breaks_its_contract_before_sending() -> None:
    alert, chat = built()
    chat["metadata"].pop("threadId")
    sns = RecordingSns()
    with pytest.raises(kbsync_contracts.ContractError, match="/metadata/threadId: required"):
        kbsync_alerts.publish(sns, TOPIC, alert, chat)
    assert sns.published == []


def test_the_senders_publish_only_through_the_one_helper() -> None:
    """No second Publish call in the functions: each one goes through kbsync_alerts.publish."""
    calls = []
    for path in sorted((REPO / "functions").glob("*/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "publish":
                owner = node.func.value
                calls.append((path.parent.name, owner.id if isinstance(owner, ast.Name) else "?"))
    assert sorted(calls) == [
        ("alarm_relay", "kbsync_alerts"),
        ("catch_all", "kbsync_alerts"),
        ("freshness", "kbsync_alerts"),
        ("reconciler", "kbsync_alerts"),
        ("send_alert", "kbsync_alerts"),
    ]


def test_escaped_size_counts_the_bytes_a_text_takes_in_the_published_message() -> None:
    assert [kbsync_alerts.escaped_size(text) for text in ("a", "\n", '"', "\\", "é", "😀", "\x01", "")] == [
        1, 2, 2, 2, 2, 4, 6, 0,
    ]  # fmt: skip


def test_the_largest_alert_with_the_worst_escaping_fits_the_240000_byte_budget() -> None:
    """2,048 reasons of ~2,048 characters that JSON escapes the most (quotes, backslashes, control characters) or that
    take 4 bytes each: the whole published message stays within the budget, and the text says what it left out."""
    nasty = ['"\\\x01\t', "😀\U0001d4b3", 'é"', "\\\\"]
    reasons = [f"Error {i} s3://b/{i}.pdf " + nasty[i % 4] * 500 + chr(0x4E00 + i) for i in range(2048)]
    alert, chat = built(failure_reasons=reasons, cause='"\\' * 200)
    message = kbsync_alerts.sns_message(alert["message"], chat)
    assert len(message.encode("utf-8")) <= kbsync_alerts.MESSAGE_BUDGET_BYTES
    assert len(message.encode("utf-8")) > kbsync_alerts.MESSAGE_BUDGET_BYTES - 20_000  # and the budget is used
    attributes = sum(len(k) + len(v["DataType"]) + len(v["StringValue"]) for k, v in alert["messageAttributes"].items())
    assert len(message.encode("utf-8")) + attributes <= 262_144  # SNS's limit
    assert "more failure reason(s)" in alert["message"] and "omitted" in alert["message"]
    assert json.loads(json.loads(message)["https"]) == chat


def test_a_text_too_long_for_the_budget_is_cut_to_fit_exactly() -> None:
    """The helper's last resort (send_alert budgets its reasons; the other senders' texts are short)."""
    alert, chat = built(failure_reasons=[])
    room = kbsync_alerts.text_room(chat)
    fits = "a" * room
    assert kbsync_alerts.fitted(fits, room) == fits
    cut = kbsync_alerts.fitted(fits + "é", room)
    assert cut.endswith(kbsync_alerts.CUT_NOTE) and kbsync_alerts.escaped_size(cut) <= room
    assert kbsync_alerts.escaped_size(cut) > room - 3
    sns = RecordingSns()
    kbsync_alerts.publish(sns, TOPIC, {**alert, "message": "é" * 150_000}, chat)  # 300,000 bytes of text
    published = sns.published[0]["Message"]
    assert len(published.encode("utf-8")) <= kbsync_alerts.MESSAGE_BUDGET_BYTES
    assert json.loads(published)["default"].endswith(kbsync_alerts.CUT_NOTE)


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        ("ABORTED", "The execution was stopped (StopExecution) before it recorded the job's outcome."),
        ("TIMED_OUT", "The execution ran past its TimeoutSeconds before it recorded the job's outcome."),
        ("FAILED", "The execution failed before it recorded the job's outcome."),
    ],
)
def test_the_catch_alls_chat_gives_the_cause_its_execution_status_gives_the_text(status: str, sentence: str) -> None:
    """How the execution ended decides the cause's sentence, in the chat as in the e-mail: a stopped execution is
    not reported as a failure."""
    detail = {"executionArn": EXECUTION_ARN, "status": status, "error": None, "cause": None}
    request = {"knowledgeBaseId": KB, "dataSourceId": DS}
    chat = catch_all.build_chat(detail, request, None, BASE_URL, GATE_ARN)["content"]["description"].split("\n")
    text = catch_all.build_alert(detail, request, None, BASE_URL, GATE_ARN)["message"]
    assert f"Cause: {sentence}" in chat
    assert sentence in text


def test_with_no_room_for_any_of_the_text_only_the_cut_note_is_left() -> None:
    """`fitted` keeps the longest beginning that fits, and with room for the cut note alone (or less) that is no
    character at all: never one character too many, never most of the text."""
    note = kbsync_alerts.CUT_NOTE
    note_size = kbsync_alerts.escaped_size(note)
    assert kbsync_alerts.fitted("\n" + "a" * 50, note_size + 1) == note  # the line break alone takes 2
    assert kbsync_alerts.fitted("a" * 50, note_size + 1) == "a" + note
    assert kbsync_alerts.fitted("a" * 50, 0) == note
