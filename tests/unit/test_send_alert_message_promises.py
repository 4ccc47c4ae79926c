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
import kbsync_gate
import pytest
from botocore.exceptions import ClientError

from tests.helpers.functions import load_function
from tests.helpers.sam import load_template
from tests.helpers.sns import as_received

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
