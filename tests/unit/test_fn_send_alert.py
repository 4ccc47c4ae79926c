"""functions/send_alert: the alert contract, grouped and truncated reasons, rerun commands, exactly-once publishing."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from typing import Any

import boto3
import kbsync_contracts
import kbsync_documents
import pytest
from botocore.stub import ANY, Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.functions import load_function

fn = load_function("send_alert")
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:schedule-KB12345678-x"
BASE_URL = "https://github.com/kbsync/kbsync/blob/main/runbooks"
ENV = {
    "JOBS_TABLE": "jobs",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "RUNBOOK_BASE_URL": BASE_URL,
}
KEY = {"pk": {"S": "DS#KB12345678#DS12345678"}, "sk": {"S": "JOB#2026-11-22T05:00:00Z#JOB1234567"}}


def facts(alert_type: str = "FAILED", **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "alert_type": alert_type,
        "knowledge_base_id": "KB12345678",
        "data_source_id": "DS12345678",
        "execution_arn": EXECUTION_ARN,
        "trigger": "schedule",
        "ingestion_job_id": "JOB1234567",
        "status": "FAILED",
        "attempt": 3,
        "max_attempts": 3,
        "statistics": dict.fromkeys(fn.STATISTICS, 0),
    }
    values.update(overrides)
    return fn.AlertFacts(**values)


# ------------------------------------------------------------------ grouping and truncation


def test_same_reason_for_many_files_is_one_line_with_count_and_examples() -> None:
    reasons = [f"Unsupported file type for s3://docs/a/file{i}.xyz. Supported: .txt .md" for i in range(40)]
    reasons.append("The bucket was not found")
    groups = fn.group_reasons(reasons)
    assert [g.count for g in groups] == [40, 1]
    line = fn.group_line(groups[0])
    assert line.startswith("- [40 x] Unsupported file type for <file>.")
    assert "s3://docs/a/file0.xyz, s3://docs/a/file1.xyz, s3://docs/a/file2.xyz; +37 more" in line
    assert fn.group_line(groups[1]) == "- The bucket was not found"


def test_a_reason_seen_once_is_shown_verbatim_with_its_file() -> None:
    reasons = ["Ignored 1 files as their file format was not supported. [Files: s3://acme/v.mp4]"]
    assert fn.group_line(fn.group_reasons(reasons)[0]) == f"- {reasons[0]}"


def test_reasons_differing_only_in_numbers_group_together() -> None:
    reasons = ["File s3://b/x.pdf is 52428801 bytes, over 50 MB", "File s3://b/y.pdf is 60000000 bytes, over 50 MB"]
    assert len(fn.group_reasons(reasons)) == 1


def test_lines_beyond_the_budget_are_counted_as_omitted() -> None:
    reasons = [f"distinct failure number {'abcdefghij'[i % 10]}{chr(65 + i % 26)}{i // 260}" for i in range(500)]
    lines = fn.reason_lines(reasons, budget_bytes=2_000)
    assert sum(len(line.encode()) + 1 for line in lines[:-1]) <= 2_000
    omitted = re.search(r"\.\.\. (\d+) more failure reason\(s\) in (\d+) group\(s\) omitted", lines[-1])
    assert omitted is not None
    groups = fn.group_reasons(reasons)
    shown = len(lines) - 1
    assert int(omitted.group(1)) == 500 - sum(g.count for g in groups[:shown])
    assert int(omitted.group(2)) == len(groups) - shown


def test_2048_reasons_of_2048_chars_fit_sns_with_the_omitted_number() -> None:
    reasons = [
        f"Error {i}: " + chr(97 + i % 26) * 7 + f" s3://bkt/{i}.doc " + "y" * 2000 + chr(97 + i // 26 % 26)
        for i in range(2048)
    ]
    alert = fn.build_alert(facts(failure_reasons=reasons), BASE_URL, NOW)
    size = len(alert["message"].encode()) + len(alert["subject"].encode())
    size += sum(len(k) + len(v["StringValue"]) + len(v["DataType"]) for k, v in alert["messageAttributes"].items())
    assert size <= 256 * 1024
    assert len(alert["message"].encode()) <= fn.MESSAGE_BUDGET_BYTES
    assert "more failure reason(s)" in alert["message"] and "omitted" in alert["message"]
    assert "2048 reported" in alert["message"]


def test_multibyte_reasons_are_budgeted_in_bytes() -> None:
    reasons = [f"échec {i} " + "é" * 2000 + chr(0x4E00 + i) for i in range(2048)]
    alert = fn.build_alert(facts(failure_reasons=reasons), BASE_URL, NOW)
    assert len(alert["message"].encode()) <= fn.MESSAGE_BUDGET_BYTES


# ------------------------------------------------------------------ the alert contract


@pytest.mark.parametrize(
    ("alert_type", "severity", "runbook"),
    [
        ("FAILED", "CRITICAL", "sync-failed.md"),
        ("START_FAILED", "CRITICAL", "sync-failed.md"),
        ("TIMED_OUT", "CRITICAL", "sync-timed-out.md"),
        ("PARTIAL", "WARNING", "sync-partial.md"),
        ("STOPPED", "WARNING", "sync-stopped.md"),
    ],
)
def test_alert_has_severity_runbook_and_attributes(alert_type: str, severity: str, runbook: str) -> None:
    alert = fn.build_alert(facts(alert_type), BASE_URL, NOW)
    kbsync_contracts.validate("alert", alert)
    assert alert["subject"] == f"[{severity}] kbsync {alert_type}: kb KB12345678 / ds DS12345678"
    assert len(alert["subject"]) <= 100
    assert f"Runbook: {BASE_URL}/{runbook}" in alert["message"]
    attributes = {k: v["StringValue"] for k, v in alert["messageAttributes"].items()}
    assert attributes == {
        "severity": severity,
        "alertType": alert_type,
        "knowledgeBaseId": "KB12345678",
        "dataSourceId": "DS12345678",
        "ingestionJobId": "JOB1234567",
    }


def pasted_into_bash(command: str) -> list[str]:
    """The words bash passes to `aws` for `command` (bash, not shlex: the engineer pastes it into a shell)."""
    stub = 'aws() { printf "%s\\0" "$@"; }\n'
    done = subprocess.run(["bash", "-c", stub + command], capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.split("\0")[:-1]


GATE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-prod-sync-gate"


def test_rerun_commands_start_the_sync_gate_with_a_valid_sync_request() -> None:
    commands = fn.rerun_commands(facts(), NOW, GATE_ARN)
    assert commands[0] == "kbsync rerun JOB1234567"
    argv = pasted_into_bash(commands[1])
    assert argv[:2] == ["stepfunctions", "start-execution"]
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert options["--region"] == "us-east-1"  # the alert's region, whatever the engineer's CLI defaults to
    assert options["--state-machine-arn"] == GATE_ARN  # the gate, from the function's environment
    # the time is the shell's (`$(date -u ...)`), so the line can be pasted again: a fixed name fails the second time
    assert re.fullmatch(r"manual-KB12345678-DS12345678-\d{8}T\d{6}-[a-z0-9]{4}", options["--name"])
    assert "$(date -u +%Y%m%dT%H%M%S)" in commands[1]
    assert len(options["--name"]) <= 80
    gate_input = json.loads(options["--input"])
    assert gate_input["settleSeconds"] == 0 and gate_input["ifBusy"] == "skip"  # manual: no delay, never queued
    assert set(gate_input) == {"request", "settleSeconds", "ifBusy"}
    kbsync_contracts.validate("sync-request", gate_input["request"])
    assert gate_input["request"]["trigger"] == "manual" and "JOB1234567" in gate_input["request"]["reason"]


def test_the_alert_names_the_gate_of_the_stack_it_was_sent_from() -> None:
    alert = fn.build_alert(facts(), BASE_URL, NOW, GATE_ARN.replace("kbsync-prod", "tenant-a-kbsync"))
    assert (
        "--state-machine-arn arn:aws:states:us-east-1:123456789012:stateMachine:tenant-a-kbsync-sync-gate "
        in (alert["message"])
    )


def test_start_failed_alert_has_the_error_and_reruns_the_execution() -> None:
    start_failed = facts(
        "START_FAILED",
        ingestion_job_id=None,
        status=None,
        statistics={},
        error="BedrockAgent.AccessDeniedException",
        cause="User is not authorized to perform: bedrock:StartIngestionJob",
    )
    alert = fn.build_alert(start_failed, BASE_URL, NOW)
    assert "Error:          BedrockAgent.AccessDeniedException" in alert["message"]
    assert f"kbsync rerun {EXECUTION_ARN}\n" in alert["message"]
    assert "aws stepfunctions start-execution" in alert["message"]
    assert "ingestionJobId" not in alert["messageAttributes"]


# ------------------------------------------------------------------ from the workflow state, exactly once


def alert_message(alert_type: str = "PARTIAL") -> dict[str, Any]:
    """What the state SendAlert sends (schemas/send-alert-input.schema.json)."""
    return {
        "executionArn": EXECUTION_ARN,
        "request": {
            "knowledgeBaseId": "KB12345678",
            "dataSourceId": "DS12345678",
            "trigger": "s3",
            "reason": "",
            "requestedBy": "",
        },
        "maxAttempts": 3,
        "attempt": 1,
        "record": {"pk": KEY["pk"]["S"], "sk": KEY["sk"]["S"]},
        "job": {
            "ingestionJobId": "JOB1234567",
            "status": "COMPLETE",
            "failureReasons": ["trimmed"],
            "statistics": {"numberOfDocumentsFailed": 2},
            "poll": {"count": 3, "waitSeconds": 45, "exhausted": False},
        },
        "outcome": {"status": alert_type, "alertType": alert_type},
    }


@pytest.fixture
def stubs() -> Any:
    def client(service: str) -> Any:
        return boto3.client(
            service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )

    clients = {name: client(name) for name in ("dynamodb", "sns", "bedrock-agent")}
    stubbers = {name: Stubber(c) for name, c in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def full_job() -> dict[str, Any]:
    reasons = [f"Unsupported file type for s3://docs/{i}.xyz" for i in range(2)]
    return {
        "ingestionJob": {
            "knowledgeBaseId": "KB12345678",
            "dataSourceId": "DS12345678",
            "ingestionJobId": "JOB1234567",
            "status": "COMPLETE",
            "statistics": {"numberOfDocumentsScanned": 10, "numberOfDocumentsFailed": 2},
            "failureReasons": reasons,
            "startedAt": NOW,
            "updatedAt": NOW,
        }
    }


def test_publishes_once_with_the_full_reasons_and_marks_the_record(stubs: Any) -> None:
    clients, stubbers = stubs
    stubbers["dynamodb"].add_response(
        "get_item", {"Item": {"pk": KEY["pk"]}}, {"TableName": "jobs", "Key": KEY, "ConsistentRead": True}
    )
    stubbers["bedrock-agent"].add_response("get_ingestion_job", full_job())
    stubbers["sns"].add_response(
        "publish",
        {"MessageId": "11111111-2222-3333-4444-555555555555"},
        {
            "TopicArn": ENV["ALERTS_TOPIC_ARN"],
            "Subject": "[WARNING] kbsync PARTIAL: kb KB12345678 / ds DS12345678",
            "Message": ANY,
            "MessageStructure": "json",
            "MessageAttributes": ANY,
        },
    )
    stubbers["dynamodb"].add_response("update_item", {})
    result = fn.send_alert(alert_message(), clients, ENV, NOW)
    assert result == {"messageId": "11111111-2222-3333-4444-555555555555", "alertType": "PARTIAL", "duplicate": False}


def test_a_retried_alert_after_success_does_not_publish_again(stubs: Any) -> None:
    clients, stubbers = stubs
    item = {"pk": KEY["pk"], "alertSent": {"BOOL": True}, "alertMessageId": {"S": "first-message"}}
    stubbers["dynamodb"].add_response("get_item", {"Item": item})
    result = fn.send_alert(alert_message(), clients, ENV, NOW)
    assert result == {"messageId": "first-message", "alertType": "PARTIAL", "duplicate": True}


def test_a_failed_publish_leaves_the_record_unmarked_so_the_retry_publishes(stubs: Any) -> None:
    clients, stubbers = stubs
    stubbers["dynamodb"].add_response("get_item", {"Item": {"pk": KEY["pk"]}})
    stubbers["bedrock-agent"].add_response("get_ingestion_job", full_job())
    stubbers["sns"].add_client_error("publish", "KMSThrottling", "Rate exceeded", 400)
    with pytest.raises(clients["sns"].exceptions.KMSThrottlingException):
        fn.send_alert(alert_message(), clients, ENV, NOW)


def test_bedrock_unavailable_falls_back_to_the_trimmed_reasons(stubs: Any) -> None:
    clients, stubbers = stubs
    stubbers["dynamodb"].add_response("get_item", {})
    stubbers["bedrock-agent"].add_client_error("get_ingestion_job", "ThrottlingException", "Rate exceeded", 429)
    stubbers["sns"].add_response("publish", {"MessageId": "m-2"})
    stubbers["dynamodb"].add_response("update_item", {})
    result = fn.send_alert(alert_message(), clients, ENV, NOW)
    assert result["messageId"] == "m-2"


def test_facts_of_a_start_failure_carry_the_error() -> None:
    message = alert_message("START_FAILED")
    message["job"] = None
    message["outcome"]["error"] = {"Error": "BedrockAgent.ResourceNotFoundException", "Cause": "Data source not found"}
    got = fn.facts_from_message(message)
    assert got.ingestion_job_id is None
    assert (got.error, got.cause) == ("BedrockAgent.ResourceNotFoundException", "Data source not found")


def test_region_of_an_unexpected_arn_is_left_out() -> None:
    assert fn.region_of("not-an-arn") is None
    assert "--region" not in pasted_into_bash(fn.rerun_commands(facts(execution_arn="not-an-arn"), NOW, GATE_ARN)[1])


def test_timed_out_alert_says_when_the_stop_failed() -> None:
    message = alert_message("TIMED_OUT")
    message["job"]["status"] = "IN_PROGRESS"
    message["outcome"]["stopError"] = {"Error": "BedrockAgent.AccessDeniedException", "Cause": "denied"}
    got = fn.facts_from_message(message)
    assert got.error == "KbSync.JobTimedOut"
    assert got.cause.startswith("still IN_PROGRESS after 3 polls; StopIngestionJob failed")
    assert "stop it by hand" in got.cause


@settings(max_examples=60, deadline=None)
@given(
    reasons=st.lists(
        st.one_of(
            st.text(min_size=1, max_size=300),
            st.builds(
                lambda n, word: f"Unsupported file s3://b/{word}{n}.xyz in {word}",
                st.integers(0, 99),
                st.sampled_from(["a", "b", "c"]),
            ),
        ),
        max_size=200,
    ),
    budget=st.integers(min_value=0, max_value=6_000),
)
def test_grouped_lines_fit_the_budget_and_account_for_every_reason(reasons: list[str], budget: int) -> None:
    lines = fn.reason_lines(reasons, budget)
    groups = fn.group_reasons(reasons)
    assert sum(g.count for g in groups) == len(reasons)
    omitted = re.fullmatch(
        r"\.\.\. (\d+) more failure reason\(s\) in (\d+) group\(s\) omitted.*", lines[-1] if lines else ""
    )
    shown = lines[:-1] if omitted else lines
    assert sum(len(line.encode()) + 1 for line in shown) <= budget
    shown_reasons = sum(g.count for g in groups[: len(shown)])
    assert shown_reasons + (int(omitted.group(1)) if omitted else 0) == len(reasons)


def test_lone_surrogates_become_replacement_marks_not_a_crash() -> None:
    alert = fn.build_alert(facts(failure_reasons=["bad file \ud800 s3://b/k.pdf"], cause="x\udfff"), BASE_URL, NOW)
    alert["message"].encode("utf-8")
    assert "bad file ? <file>" in alert["message"] or "bad file ? s3://b/k.pdf" in alert["message"]


def test_the_one_get_item_reads_the_names_the_logs_merged_into_the_record(stubs: Any) -> None:
    """GetItem's answer as DynamoDB shapes it (the Stubber checks it against the API model): documentFailures as a
    map of maps, counts as numbers; the alert names the keys, and Bedrock's count stays the number of failures."""
    clients, stubbers = stubs
    failures = {
        "M": {
            "too-large": {
                "M": {
                    "reason": {"S": "file too large (max 50 MB)"},
                    "status": {"S": "RESOURCE_IGNORED"},
                    "count": {"N": "2"},
                    "keys": {"L": [{"S": "scans/a.pdf"}, {"S": "scans/b.pdf"}]},
                }
            }
        }
    }
    item = {"pk": KEY["pk"], "documentFailures": failures, "documentFailuresTotal": {"N": "2"}}
    stubbers["dynamodb"].add_response(
        "get_item", {"Item": item}, {"TableName": "jobs", "Key": KEY, "ConsistentRead": True}
    )
    stubbers["bedrock-agent"].add_response("get_ingestion_job", full_job())
    published: list[str] = []
    stubbers["sns"].add_response("publish", {"MessageId": "m-3"})
    stubbers["dynamodb"].add_response("update_item", {})

    def capture(params: Any, **kwargs: Any) -> None:
        published.append(json.loads(params["Message"])["default"])

    clients["sns"].meta.events.register("provide-client-params.sns.Publish", capture)
    assert fn.send_alert(alert_message(), clients, ENV, NOW)["messageId"] == "m-3"
    [text] = published
    heading = "Failed documents (named by the knowledge base's logs: 2 so far; Bedrock counts 2 failed):"
    plain = {"too-large": {"reason": "file too large (max 50 MB)", "status": "RESOURCE_IGNORED", "count": 2,
                           "keys": ["scans/a.pdf", "scans/b.pdf"]}}  # fmt: skip
    [line] = kbsync_documents.summary_lines(plain, keys_shown=3)
    assert f"{heading}\n- {line}\n" in text
    assert "2 files" in line and "scans/a.pdf, scans/b.pdf" in line


def test_an_unreadable_document_failures_attribute_still_alerts(stubs: Any) -> None:
    clients, stubbers = stubs
    item = {"pk": KEY["pk"], "documentFailures": {"S": "not a map"}, "documentFailuresTotal": {"S": "x"}}
    stubbers["dynamodb"].add_response("get_item", {"Item": item})
    stubbers["bedrock-agent"].add_response("get_ingestion_job", full_job())
    stubbers["sns"].add_response("publish", {"MessageId": "m-4"})
    stubbers["dynamodb"].add_response("update_item", {})
    assert fn.send_alert(alert_message(), clients, ENV, NOW)["messageId"] == "m-4"
