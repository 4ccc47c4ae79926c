"""functions/send_alert: the exact text an on-call engineer reads, the limits SNS sets, the environment the template
gives the function.

The alert is checked where it leaves the function (what is published), with fakes that answer as the real clients do
(DynamoDB GetItem/UpdateItem, SNS Publish, Bedrock GetIngestionJob: dicts shaped like the API's responses,
botocore's ClientError) and record what the function sends. The environment is the one template.yaml sets on
SendAlertFunction, variable for variable.
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime
from typing import Any

import kbsync_alerts
import kbsync_contracts
import kbsync_documents
import kbsync_gate
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from tests.helpers.functions import load_function
from tests.helpers.sam import load_template
from tests.helpers.sns import as_received, chat_of

fn = load_function("send_alert")
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:schedule-KB12345678-x"
GATE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate-0a1b2c3d"
BASE_URL = "https://example.com/kbsync/runbooks"
#: A value for each variable template.yaml sets on SendAlertFunction (checked against the template below).
ENV = {
    "JOBS_TABLE": "kbsync-jobs-0a1b2c3d",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:kbsync-alerts",
    "RUNBOOK_BASE_URL": BASE_URL,
    "SYNC_GATE_STATE_MACHINE_ARN": GATE_ARN,
}
STATISTICS = kbsync_contracts.statistic_names()
#: The alert's exact lines, with the 4 random characters of the rerun's execution name masked.
RANDOM_NAME_SUFFIX = re.compile(r"(--name manual-KB12345678-DS12345678-\$\(date -u \+%Y%m%dT%H%M%S\)-)[a-z0-9]{4} ")


class FakeDynamoDB:
    """The job record: exists, alert not sent yet."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_item", kwargs))
        return {"Item": {"pk": kwargs["Key"]["pk"], "sk": kwargs["Key"]["sk"]}}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("update_item", kwargs))
        return {}


class FakeSNS:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(as_received(kwargs))  # the text e-mail and SQS receive
        return {"MessageId": f"00000000-0000-0000-0000-{len(self.published):012d}"}


class FakeBedrock:
    """GetIngestionJob answering with `job` (as the API shapes it), or ThrottlingException when `job` is None."""

    def __init__(self, job: dict[str, Any] | None) -> None:
        self.job = job

    def get_ingestion_job(self, **kwargs: Any) -> dict[str, Any]:
        if self.job is None:
            error: Any = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "GetIngestionJob")
        assert kwargs == {
            "knowledgeBaseId": "KB12345678",
            "dataSourceId": "DS12345678",
            "ingestionJobId": self.job["ingestionJobId"],
        }
        return {"ingestionJob": self.job}


def bedrock_job(status: str, reasons: list[str], **statistics: int) -> dict[str, Any]:
    return {
        "knowledgeBaseId": "KB12345678",
        "dataSourceId": "DS12345678",
        "ingestionJobId": "JOB1234567",
        "status": status,
        "statistics": statistics,
        "failureReasons": reasons,
        "startedAt": datetime(2026, 11, 22, 5, 0, 0, tzinfo=UTC),
        "updatedAt": datetime(2026, 11, 22, 5, 25, 0, tzinfo=UTC),
    }


def alert_message(alert_type: str, **outcome: Any) -> dict[str, Any]:
    """What the state SendAlert sends (schemas/send-alert-input.schema.json), as the workflow builds it."""
    message: dict[str, Any] = {
        "executionArn": EXECUTION_ARN,
        "request": {
            "knowledgeBaseId": "KB12345678",
            "dataSourceId": "DS12345678",
            "trigger": "schedule",
            "reason": "nightly run",
            "requestedBy": "nightly-schedule",
        },
        "maxAttempts": 3,
        "attempt": 3,
        "record": {"pk": "DS#KB12345678#DS12345678", "sk": "JOB#2026-11-22T05:00:00Z#schedule-x-3"},
        "job": {
            "ingestionJobId": "JOB1234567",
            "status": "FAILED",
            "failureReasons": ["trimmed reason"],
            "statistics": {"numberOfDocumentsFailed": 1},
            "poll": {"count": 6, "waitSeconds": 60, "exhausted": False},
        },
        "outcome": {"status": alert_type, "alertType": alert_type, **outcome},
    }
    return message


def publish(message: dict[str, Any], bedrock: FakeBedrock, env: dict[str, str] = ENV) -> tuple[dict[str, Any], Any]:
    sns, dynamodb = FakeSNS(), FakeDynamoDB()
    clients = {"sns": sns, "dynamodb": dynamodb, "bedrock-agent": bedrock}
    result = fn.send_alert(message, clients, env, NOW)
    assert result["duplicate"] is False and len(sns.published) == 1
    return sns.published[0], dynamodb


def lines_of(message: str) -> list[str]:
    return RANDOM_NAME_SUFFIX.sub(r"\1xxxx ", message).split("\n")


def rerun_lines(job_or_execution: str, reason: str) -> list[str]:
    gate_input = (
        '{"request":{"knowledgeBaseId":"KB12345678","dataSourceId":"DS12345678","trigger":"manual",'
        f'"reason":"{reason}"}},"settleSeconds":0,"ifBusy":"skip"}}'
    )
    return [
        "Rerun:",
        f"  kbsync rerun {job_or_execution}",
        f"  aws stepfunctions start-execution --region us-east-1 --state-machine-arn {GATE_ARN} "
        f"--name manual-KB12345678-DS12345678-$(date -u +%Y%m%dT%H%M%S)-xxxx --input '{gate_input}'",
    ]


# ------------------------------------------------------------------ the exact text


def test_a_failed_job_alert_reads_line_by_line_as_the_on_call_engineer_expects() -> None:
    """Headline, a blank line, who/what/where, the requester, a blank line, "Statistics:" and all eight statistics,
    the grouped reasons, the runbook and the rerun commands: each line in its place (a dropped line once went
    unnoticed)."""
    reasons = [
        "Unsupported file type for s3://docs/a.xyz.",
        "Unsupported file type for s3://docs/b.xyz.",
        "The embedding model returned an error.",
    ]
    counts = dict(zip(STATISTICS, range(10, 18), strict=True))
    published, _ = publish(alert_message("FAILED"), FakeBedrock(bedrock_job("FAILED", reasons, **counts)))
    assert lines_of(published["Message"]) == [
        "kbsync FAILED (CRITICAL): the ingestion job FAILED after every allowed attempt.",
        "",
        "Knowledge base: KB12345678",
        "Data source:    DS12345678",
        "Ingestion job:  JOB1234567 (attempt 3 of 3)",
        "Job status:     FAILED",
        "Trigger:        schedule (nightly run)",
        "Requested by:   nightly-schedule",
        f"Execution:      {EXECUTION_ARN}",
        "",
        "Statistics:",
        "  numberOfDocumentsScanned: 10",
        "  numberOfMetadataDocumentsScanned: 11",
        "  numberOfNewDocumentsIndexed: 12",
        "  numberOfModifiedDocumentsIndexed: 13",
        "  numberOfMetadataDocumentsModified: 14",
        "  numberOfDocumentsDeleted: 15",
        "  numberOfDocumentsFailed: 16",
        "  numberOfDocumentsSkipped: 17",
        "",
        "Failure reasons (3 reported, 2 distinct):",
        "- [2 x] Unsupported file type for <file>. (e.g. s3://docs/a.xyz, s3://docs/b.xyz)",
        "- The embedding model returned an error.",
        "",
        f"Runbook: {BASE_URL}/sync-failed.md",
        "",
        *rerun_lines("JOB1234567", "rerun of ingestion job JOB1234567"),
    ]
    assert published["Subject"] == "[CRITICAL] kbsync FAILED: kb KB12345678 / ds DS12345678"


def test_a_refused_start_names_the_error_from_its_message_and_who_asked() -> None:
    state = alert_message(
        "START_FAILED",
        error={
            "Error": "BedrockAgent.AccessDeniedException",
            "Cause": "User is not authorized to perform: bedrock:StartIngestionJob",
        },
    )
    state["job"] = None
    state["request"].update(trigger="manual", reason="", requestedBy="arn:aws:iam::123456789012:user/alice")
    published, _ = publish(state, FakeBedrock(None))
    assert lines_of(published["Message"]) == [
        "kbsync START_FAILED (CRITICAL): StartIngestionJob was refused; no ingestion job ran.",
        "",
        "Knowledge base: KB12345678",
        "Data source:    DS12345678",
        "Trigger:        manual",
        "Requested by:   arn:aws:iam::123456789012:user/alice",
        f"Execution:      {EXECUTION_ARN}",
        "Error:          BedrockAgent.AccessDeniedException",
        "Cause:          User is not authorized to perform: bedrock:StartIngestionJob",
        "",
        f"Runbook: {BASE_URL}/sync-failed.md",
        "",
        *rerun_lines(EXECUTION_ARN, "rerun of execution schedule-KB12345678-x"),
    ]


def test_a_lost_poll_names_the_error_from_its_message() -> None:
    state = alert_message(
        "POLL_FAILED",
        error={"Error": "BedrockAgent.ThrottlingException", "Cause": "Rate exceeded"},
    )
    state["job"] = {
        "ingestionJobId": "JOB1234567",
        "status": "IN_PROGRESS",
        "poll": {"count": 2, "waitSeconds": 45, "exhausted": False},
    }
    published, _ = publish(state, FakeBedrock(None))
    lines = lines_of(published["Message"])
    assert lines[lines.index(f"Execution:      {EXECUTION_ARN}") + 1 :][:2] == [
        "Error:          BedrockAgent.ThrottlingException",
        "Cause:          Rate exceeded",
    ]


def test_a_timed_out_job_whose_stop_failed_names_the_stop_error() -> None:
    state = alert_message("TIMED_OUT", stopError={"Error": "BedrockAgent.ConflictException", "Cause": "busy"})
    state["job"]["status"] = "IN_PROGRESS"
    published, _ = publish(state, FakeBedrock(None))
    assert (
        "Cause:          still IN_PROGRESS after 6 polls; StopIngestionJob failed (BedrockAgent.ConflictException): "
        "the job may still be running, stop it by hand"
    ) in lines_of(published["Message"])


# ------------------------------------------------------------------ SNS's limits


def test_the_subject_is_cut_to_the_100_characters_sns_accepts() -> None:
    # SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100 characters
    # long" (https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/sns/aws.sdk.kotlin.services.sns.model/-publish-request/subject.html);
    # AWS accepts exactly 100 and refuses 101 with InvalidParameter (getmoto/moto#1503), hence the alert contract's
    # maxLength 100. A longer subject would make the whole Publish fail: no alert at all.
    assert kbsync_contracts.schema("alert")["properties"]["subject"]["maxLength"] == 100
    facts = fn.AlertFacts(
        alert_type="RECORD_RECONCILED",
        knowledge_base_id="K" * 60,
        data_source_id="D" * 60,
        execution_arn=EXECUTION_ARN,
    )
    whole = f"[WARNING] kbsync RECORD_RECONCILED: kb {'K' * 60} / ds {'D' * 60}"
    assert fn.subject_of(facts) == whole[:100]  # the severity, type and knowledge base come first and stay
    short = fn.AlertFacts("FAILED", "KB12345678", "DS12345678", EXECUTION_ARN)
    assert fn.subject_of(short) == "[CRITICAL] kbsync FAILED: kb KB12345678 / ds DS12345678"


def distinct_words(count: int) -> list[str]:
    """`count` words of letters only (reasons differing in digits would be grouped together)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26] for i in range(count)]


def reasons_filling(budget: int, newline_bytes: int = 1) -> list[str]:
    """Distinct reasons whose lines ("- reason" + newline) take exactly `budget` bytes (a newline takes 2 bytes
    JSON-escaped in the published message)."""
    line_bytes = 2_001  # "- " + 1,997 or 1,998 characters + "\n": under MAX_LINE_CHARS, never cut
    full, rest = divmod(budget, line_bytes)
    if rest and rest < 10:  # keep the last line a real reason: borrow from the previous one
        full, rest = full - 1, rest + line_bytes
    sizes = [line_bytes] * full + ([rest] if rest else [])
    words = distinct_words(len(sizes))
    return [
        f"failure {word} " + "x" * (size - 2 - newline_bytes - len(f"failure {word} "))
        for word, size in zip(words, sizes, strict=True)
    ]


@pytest.mark.parametrize(("extra_bytes", "omitted"), [(0, False), (1, True)])
def test_the_reasons_fill_the_240000_byte_message_budget_and_not_one_byte_more(extra_bytes: int, omitted: bool) -> None:
    """SNS takes 262,144 bytes for message + attributes; the alert budgets 240,000 bytes for the whole published
    message: its chat notification and its text, JSON-escaped, in one MessageStructure=json document. The text gets
    what the chat notification leaves: the header and footer, 4,000 bytes kept for the "omitted" line and the footer,
    and reason lines (escaped, with their line breaks) up to the rest. Reasons that need exactly that much are all
    shown; one byte more and the last one is counted as omitted."""
    facts = fn.AlertFacts(
        alert_type="PARTIAL",
        knowledge_base_id="KB12345678",
        data_source_id="DS12345678",
        execution_arn=EXECUTION_ARN,
        ingestion_job_id="JOB1234567",
        status="COMPLETE",
        statistics=dict.fromkeys(STATISTICS, 1),
    )
    commands = fn.rerun_commands(facts, NOW, GATE_ARN)
    head = "\n".join(fn.header_lines(facts))
    foot = "\n".join(fn.footer_lines(facts, BASE_URL, commands))
    facts.failure_reasons = reasons_filling(200_000, newline_bytes=2)  # the chat shows the first few (bounded)
    budget = fn.reason_budget(head, foot, fn.chat_of(facts, BASE_URL, commands))
    facts.failure_reasons = reasons_filling(budget, newline_bytes=2)
    chat = fn.chat_of(facts, BASE_URL, commands)
    budget = fn.reason_budget(head, foot, chat)  # the chat's counts ("N reported") for these reasons
    reasons = reasons_filling(budget + extra_bytes, newline_bytes=2)
    facts.failure_reasons = reasons
    chat = fn.chat_of(facts, BASE_URL, commands)
    assert fn.reason_budget(head, foot, chat) == budget  # the same chat size: the boundary is exact
    message = fn.message_of(facts, BASE_URL, NOW, GATE_ARN, commands=commands, chat=chat)
    assert len(kbsync_alerts.sns_message(message, chat).encode()) <= 240_000
    shown = [line for line in message.split("\n") if line.startswith("- failure ")]
    if omitted:
        assert shown == [f"- {reason}" for reason in reasons[:-1]]
        assert "... 1 more failure reason(s) in 1 group(s) omitted" in message
    else:
        assert shown == [f"- {reason}" for reason in reasons]
        assert "omitted" not in message


def test_a_group_line_counts_the_files_it_does_not_name() -> None:
    reasons = [
        *(f"Unsupported file type for s3://docs/{name}.xyz" for name in "abcd"),  # 4 files: 3 examples, 1 more
        "Unsupported metadata in s3://docs/e.json",  # once: verbatim, its file in place, no examples
        "The embedding model returned an error.",  # twice, no file: a count, no examples
        "The embedding model returned an error.",
    ]
    assert [fn.group_line(group) for group in fn.group_reasons(reasons)] == [
        "- [4 x] Unsupported file type for <file> (e.g. s3://docs/a.xyz, s3://docs/b.xyz, s3://docs/c.xyz; +1 more)",
        "- [2 x] The embedding model returned an error.",
        "- Unsupported metadata in s3://docs/e.json",
    ]


def test_a_reason_line_is_cut_to_max_line_chars_ending_in_an_ellipsis() -> None:
    limit = fn.MAX_LINE_CHARS
    fits = fn.ReasonGroup(text="r" * (limit - 2), first="r" * (limit - 2), count=1)
    assert fn.group_line(fits) == "- " + "r" * (limit - 2)  # exactly MAX_LINE_CHARS: shown whole
    longer = fn.ReasonGroup(text="s" * (limit - 1), first="s" * (limit - 1), count=1)
    assert fn.group_line(longer) == "- " + "s" * (limit - 5) + "..."
    assert len(fn.group_line(longer)) == limit
    many = fn.group_reasons([f"No such key s3://b/{'k' * 900}{i}.pdf in the bucket" for i in range(5)])
    line = fn.group_line(many[0])
    whole = f"- [5 x] No such key <file> in the bucket (e.g. {', '.join(many[0].examples)}; +2 more)"
    assert len(whole) > limit and line == whole[: limit - 3] + "..."


def test_a_bedrock_reason_longer_than_a_line_is_published_cut() -> None:
    reason = "The document s3://docs/big.pdf could not be parsed: " + "z" * 5_000
    published, _ = publish(alert_message("FAILED"), FakeBedrock(bedrock_job("FAILED", [reason])))
    line = next(line for line in published["Message"].split("\n") if line.startswith("- The document"))
    assert line == f"- {reason}"[: fn.MAX_LINE_CHARS - 3] + "..."


# ------------------------------------------------------------------ the environment template.yaml sets


def test_every_variable_the_template_sets_reaches_the_alert() -> None:
    """The function reads each variable under the name template.yaml gives it: the table it marks, the topic it
    publishes to, the runbook links and the sync gate the rerun command starts (not the placeholder)."""
    function = load_template()["Resources"]["SendAlertFunction"]["Properties"]
    assert set(function["Environment"]["Variables"]) == set(ENV)
    published, dynamodb = publish(alert_message("FAILED"), FakeBedrock(bedrock_job("FAILED", ["boom"])))
    assert [(name, call["TableName"]) for name, call in dynamodb.calls] == [
        ("get_item", ENV["JOBS_TABLE"]),
        ("update_item", ENV["JOBS_TABLE"]),
    ]
    assert published["TopicArn"] == ENV["ALERTS_TOPIC_ARN"]
    assert f"Runbook: {BASE_URL}/sync-failed.md" in published["Message"]
    assert f" --state-machine-arn {GATE_ARN} " in published["Message"]
    assert fn.GATE_ARN_PLACEHOLDER not in published["Message"]


def test_without_the_gate_variable_the_rerun_names_a_placeholder_not_none() -> None:
    env = {name: value for name, value in ENV.items() if name != "SYNC_GATE_STATE_MACHINE_ARN"}
    published, _ = publish(alert_message("FAILED"), FakeBedrock(None), env)
    assert f" --state-machine-arn {fn.GATE_ARN_PLACEHOLDER} " in published["Message"]


# ------------------------------------------------------------------ the shared parts every sender uses (kbsync_alerts)


@pytest.mark.parametrize(("kind", "severity"), [("FAILED", "CRITICAL"), ("PARTIAL", "WARNING")])
def test_every_alert_carries_the_attributes_subscribers_filter_on(kind: str, severity: str) -> None:
    def string(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": value}

    without_job = {
        "severity": string(severity),
        "alertType": string(kind),
        "knowledgeBaseId": string("KB12345678"),
        "dataSourceId": string("DS12345678"),
    }
    assert kbsync_alerts.message_attributes(kind, "KB12345678", "DS12345678") == without_job
    with_job = kbsync_alerts.message_attributes(kind, "KB12345678", "DS12345678", "JOB1234567")
    assert with_job == {**without_job, "ingestionJobId": string("JOB1234567")}
    assert kbsync_alerts.message_attributes(kind, "KB12345678", "DS12345678", "") == without_job


def test_the_offered_sync_command_starts_a_manual_sync_through_the_gate_without_settling_or_queueing() -> None:
    """The command an alert offers is `kbsync sync`'s request: the gate with no settle delay and ifBusy skip."""
    gate = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-SyncGate"
    command = kbsync_alerts.gate_start_command(gate, "KB12345678", "DS12345678", "after the alert", "ca")
    head, quoted_input = command.split(" --input ", 1)
    name = "manual-KB12345678-DS12345678-$(date -u +%Y%m%dT%H%M%S)-ca"  # the time taken when the command runs
    assert head == f"aws stepfunctions start-execution --state-machine-arn {gate} --name {name}"
    [text] = shlex.split(quoted_input)  # one shell word
    gate_input = json.loads(text)
    assert gate_input == {
        "request": {
            "knowledgeBaseId": "KB12345678",
            "dataSourceId": "DS12345678",
            "trigger": "manual",
            "reason": "after the alert",
        },
        "settleSeconds": 0,
        "ifBusy": "skip",
    }
    assert kbsync_gate.check_input(gate_input) == gate_input  # what the gate's EnterGate accepts


# ------------------------------------------------------------------ the documents the knowledge base's logs named


class RecordWithDocuments(FakeDynamoDB):
    """The job record with the attributes the logs' function merged into it (`extra`: plain values, stored as
    DynamoDB's attribute values, as GetItem returns them)."""

    def __init__(self, **extra: Any) -> None:
        super().__init__()
        self.extra = {name: TypeSerializer().serialize(value) for name, value in extra.items()}

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        item = super().get_item(**kwargs)["Item"]
        return {"Item": {**item, **self.extra}}


def failure(reason: str, count: int, keys: list[str], status: str = "RESOURCE_IGNORED") -> dict[str, Any]:
    """One reason of the record's documentFailures (docs/push-completion.md, "Job record")."""
    return {"reason": reason, "status": status, "count": count, "keys": keys}


TOO_LARGE = failure("file too large (max 50 MB)", 37, [f"scans/big-{i}.pdf" for i in range(10)])
UNSUPPORTED = failure("unsupported file format", 2, ["tools/setup.exe", "tools/run.bin"])
DOCUMENT_FAILURES = {"too-large": TOO_LARGE, "unsupported": UNSUPPORTED}


def publish_with(message: dict[str, Any], dynamodb: FakeDynamoDB, job: dict[str, Any]) -> dict[str, Any]:
    """Publish `message` with this record and this Bedrock job; the request as SNS receives it (text as Message,
    the chat notification under "Chat")."""
    sns = FakeSNS()
    requests: list[dict[str, Any]] = []
    sns_publish = sns.publish

    def publish(**kwargs: Any) -> dict[str, Any]:
        requests.append(kwargs)
        return sns_publish(**kwargs)

    sns.publish = publish  # type: ignore[method-assign]
    clients = {"sns": sns, "dynamodb": dynamodb, "bedrock-agent": FakeBedrock(job)}
    result = fn.send_alert(message, clients, ENV, NOW)
    assert result["duplicate"] is False and len(sns.published) == 1
    return {**sns.published[0], "Chat": chat_of(requests[0])}


def documents_block(message: str) -> list[str]:
    """The lines from the "Failed documents" heading to the blank line after them ([] when there is none)."""
    lines = message.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("Failed documents")), None)
    if start is None:
        return []
    end = lines.index("", start)
    return lines[start:end]


def test_a_partial_alert_names_the_failed_keys_by_reason_after_the_statistics() -> None:
    """The heading says who named them (the logs) and keeps Bedrock's number; one line per reason, biggest first,
    three keys and "and N more"; placed between the statistics and Bedrock's own failure reasons."""
    dynamodb = RecordWithDocuments(documentFailures=DOCUMENT_FAILURES, documentFailuresTotal=39)
    job = bedrock_job("COMPLETE", ["Ignored 39 files."], numberOfDocumentsScanned=50, numberOfDocumentsFailed=40)
    published = publish_with(alert_message("PARTIAL"), dynamodb, job)
    block = documents_block(published["Message"])
    assert block == [
        "Failed documents (named by the knowledge base's logs: 39 so far; Bedrock counts 40 failed):",
        *(f"- {line}" for line in kbsync_documents.summary_lines(DOCUMENT_FAILURES, keys_shown=3)),
    ]
    assert len(block) == 3
    assert block[1].startswith("- 37 files: file too large (max 50 MB)")
    assert "scans/big-0.pdf, scans/big-1.pdf" in block[1] and block[1].endswith("scans/big-2.pdf and 34 more")
    assert "scans/big-3.pdf" not in published["Message"]  # `kbsync show` lists every stored key
    assert block[2].startswith("- 2 files: unsupported file format") and "tools/setup.exe, tools/run.bin" in block[2]
    lines = published["Message"].split("\n")
    assert lines.index("  numberOfDocumentsSkipped: 0") < lines.index(block[0])
    assert lines.index(block[-1]) < lines.index("Failure reasons (1 reported, 1 distinct):")
    assert [name for name, _ in dynamodb.calls] == ["get_item", "update_item"]  # one read: alertSent and the names


def test_the_chat_notification_names_the_same_documents_first() -> None:
    dynamodb = RecordWithDocuments(documentFailures=DOCUMENT_FAILURES, documentFailuresTotal=39)
    job = bedrock_job("FAILED", ["The embedding model returned an error."], numberOfDocumentsFailed=40)
    published = publish_with(alert_message("FAILED"), dynamodb, job)
    description = published["Chat"]["content"]["description"]
    heading = "Failed documents (named by the knowledge base's logs: 39 so far; Bedrock counts 40 failed)"
    assert f"{heading}, then the failure reasons (1 reported, 1 distinct):" in description
    assert description.index("- 37 files: file too large") < description.index("- 2 files: unsupported")
    assert description.index("- 2 files: unsupported") < description.index("- The embedding model returned")


@pytest.mark.parametrize("extra", [{}, {"documentFailures": {}, "documentFailuresTotal": 0}])
def test_without_named_documents_the_alert_is_unchanged(extra: dict[str, Any]) -> None:
    """Logs off (no attribute) or nothing named yet (an empty map): no heading, not a line more than before."""
    job = bedrock_job("COMPLETE", ["Ignored 1 files."], numberOfDocumentsFailed=1)
    published = publish_with(alert_message("PARTIAL"), RecordWithDocuments(**extra), job)
    plain = publish_with(alert_message("PARTIAL"), FakeDynamoDB(), job)
    assert "Failed documents" not in published["Message"]
    assert "Failed documents" not in published["Chat"]["content"]["description"]
    assert lines_of(published["Message"]) == lines_of(plain["Message"])


@pytest.mark.parametrize("alert_type", ["STOPPED", "TIMED_OUT"])
def test_only_partial_and_failed_alerts_name_documents(alert_type: str) -> None:
    dynamodb = RecordWithDocuments(documentFailures=DOCUMENT_FAILURES, documentFailuresTotal=39)
    message = alert_message(alert_type)
    message["job"]["status"] = "STOPPED"
    published = publish_with(message, dynamodb, bedrock_job("STOPPED", [], numberOfDocumentsFailed=40))
    assert "Failed documents" not in published["Message"]
    assert "scans/big-0.pdf" not in published["Message"]


def test_only_the_key_and_the_reason_reach_the_alert() -> None:
    """Whatever else an entry of the record holds (a log event's content, chunk statistics, an event) never reaches
    the text or the chat; an entry that is not the documented shape is left out, not a crash."""
    secret = "CONTENT-OF-THE-DOCUMENT"
    odd = {
        "leaky": {**failure("parse error", 5, ["a/x.pdf"]), "content": secret, "event": {"chunk": secret}},
        "no-reason": {"status": "EMBEDDING_FAILED", "count": 3, "keys": [secret]},
        "bad-count": {"reason": secret, "status": "FAILED", "count": "many", "keys": []},
        "not-a-map": secret,
    }
    dynamodb = RecordWithDocuments(documentFailures=odd, documentFailuresTotal=8)
    published = publish_with(alert_message("FAILED"), dynamodb, bedrock_job("FAILED", [], numberOfDocumentsFailed=5))
    assert documents_block(published["Message"])[1:] == [
        f"- {line}" for line in kbsync_documents.summary_lines({"leaky": failure("parse error", 5, ["a/x.pdf"])})
    ]
    assert secret not in published["Message"]
    assert secret not in json.dumps(published["Chat"])


def test_the_named_documents_are_bounded_whatever_the_keys_hold() -> None:
    """11 reasons (10 and "other") of 10 keys of 1,024 characters of 4 bytes each: each line cut to MAX_LINE_CHARS,
    the block within DOCUMENTS_BUDGET_BYTES (the reasons past it counted), and the whole message (with 2,048 reasons
    of 2,048 characters) within SNS's budget."""
    keys = [f"{i:02d}-" + "\U0001f4c4" * 1_020 + ".pdf" for i in range(10)]
    failures = {f"r{i}": failure(f"reason {chr(97 + i)}", 100 - i, keys) for i in range(10)}
    failures["other"] = failure("other reasons", 3, [])
    reasons = [f"Error {i}: " + chr(97 + i % 26) * 7 + " " + "y" * 2_000 + chr(97 + i // 26 % 26) for i in range(2048)]
    dynamodb = RecordWithDocuments(documentFailures=failures, documentFailuresTotal=958)
    sns, requests = FakeSNS(), []
    clients = {"sns": sns, "dynamodb": dynamodb, "bedrock-agent": FakeBedrock(bedrock_job("FAILED", reasons))}

    def publish(**kwargs: Any) -> dict[str, Any]:
        requests.append(kwargs)
        return {"MessageId": "m-1"}

    sns.publish = publish  # type: ignore[method-assign]
    fn.send_alert(alert_message("FAILED"), clients, ENV, NOW)
    [request] = requests
    assert len(request["Message"].encode()) <= kbsync_alerts.MESSAGE_BUDGET_BYTES
    text = json.loads(request["Message"])["default"]
    block = documents_block(text)
    assert all(len(line) <= fn.MAX_LINE_CHARS for line in block)
    assert sum(kbsync_alerts.escaped_size(line) + 2 for line in block[1:]) <= fn.DOCUMENTS_BUDGET_BYTES
    assert block[-1].startswith("... ") and block[-1].endswith(
        "more reason(s) omitted: `kbsync show JOB1234567` lists them all"
    )
    shown = len(block) - 2  # the heading and the "omitted" line
    assert 1 <= shown < 11
    assert f"... {11 - shown} more reason(s)" in block[-1]
    assert "more failure reason(s)" in text  # Bedrock's reasons still get the rest of the budget, counted


def test_a_small_budget_counts_the_reasons_it_leaves_out() -> None:
    facts = fn.AlertFacts(
        alert_type="PARTIAL",
        knowledge_base_id="KB12345678",
        data_source_id="DS12345678",
        execution_arn=EXECUTION_ARN,
        ingestion_job_id="JOB1234567",
        document_failures=fn.shown_failures(DOCUMENT_FAILURES),
    )
    first = f"- {kbsync_documents.summary_lines(DOCUMENT_FAILURES, keys_shown=3)[0]}"
    budget = kbsync_alerts.escaped_size(first) + 2
    assert fn.document_lines(facts, budget) == [
        first,
        "... 1 more reason(s) omitted: `kbsync show JOB1234567` lists them all",
    ]
    assert fn.document_lines(facts, budget - 1) == [
        "... 2 more reason(s) omitted: `kbsync show JOB1234567` lists them all"
    ]
