"""The alert's promises (functions/send_alert), checked on what is published: every alert links its runbook, and
when Bedrock cannot give the full job the alert still carries the reasons the workflow had (the trimmed view).

The fakes answer as the real clients do (dicts shaped like the API's responses, botocore's ClientError), and record
what the function sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kbsync_contracts import ContractError

from tests.helpers.functions import load_function
from tests.helpers.sns import as_received

fn = load_function("send_alert")
REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
BASE_URL = "https://example.com/kbsync/runbooks"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:s3-KB12345678-x"
ENV = {
    "JOBS_TABLE": "jobs",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "RUNBOOK_BASE_URL": BASE_URL,
}
#: The runbook of each alert type (runbooks/, one per alert type, named after it).
RUNBOOKS = {
    "FAILED": "sync-failed.md",
    "START_FAILED": "sync-failed.md",
    "PARTIAL": "sync-partial.md",
    "TIMED_OUT": "sync-timed-out.md",
    "STOPPED": "sync-stopped.md",
}


class FakeDynamoDB:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {"Item": {"pk": kwargs["Key"]["pk"]}}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        return {}


class FakeSNS:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(as_received(kwargs))  # the text e-mail and SQS receive
        return {"MessageId": f"m-{len(self.published)}"}


class UnavailableBedrock:
    def get_ingestion_job(self, **kwargs: Any) -> dict[str, Any]:
        error: Any = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        raise ClientError(error, "GetIngestionJob")


def alert_message(alert_type: str, reasons: list[str]) -> dict[str, Any]:
    """What the state SendAlert sends (schemas/send-alert-input.schema.json)."""
    message: dict[str, Any] = {
        "executionArn": EXECUTION_ARN,
        "request": {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "s3"},
        "maxAttempts": 3,
        "attempt": 3,
        "record": {"pk": "DS#KB12345678#DS12345678", "sk": "JOB#2026-11-22T05:00:00Z#s3-x-3"},
        "job": {
            "ingestionJobId": "JOB1234567",
            "status": {"PARTIAL": "COMPLETE", "STOPPED": "STOPPED", "TIMED_OUT": "IN_PROGRESS"}.get(
                alert_type, "FAILED"
            ),
            "failureReasons": reasons,
            "statistics": {"numberOfDocumentsFailed": len(reasons)},
            "poll": {"count": 6, "waitSeconds": 60, "exhausted": alert_type == "TIMED_OUT"},
        },
        "outcome": {"status": alert_type, "alertType": alert_type},
    }
    if alert_type in ("START_FAILED", "POLL_FAILED"):
        message["outcome"]["error"] = {"Error": "BedrockAgent.AccessDeniedException", "Cause": "not authorized"}
    if alert_type == "START_FAILED":
        message["job"] = None
    return message


def send(alert_type: str, reasons: list[str]) -> dict[str, Any]:
    sns, dynamodb = FakeSNS(), FakeDynamoDB()
    clients = {"sns": sns, "dynamodb": dynamodb, "bedrock-agent": UnavailableBedrock()}
    result = fn.send_alert(alert_message(alert_type, reasons), clients, ENV, NOW)
    assert result["duplicate"] is False and len(sns.published) == 1 and len(dynamodb.updates) == 1
    return sns.published[0]


@pytest.mark.parametrize("alert_type", sorted(RUNBOOKS))
def test_every_alert_links_the_runbook_of_its_type(alert_type: str) -> None:
    assert (REPO / "runbooks" / RUNBOOKS[alert_type]).is_file()
    message = send(alert_type, ["The embedding model returned an error."])["Message"]
    assert f"{BASE_URL}/{RUNBOOKS[alert_type]}" in message


def test_when_bedrock_cannot_give_the_full_job_the_alert_keeps_the_workflows_reasons() -> None:
    reasons = ["Unsupported file type for s3://docs/a.xyz", "The bucket kbsync-docs was not found"]
    published = send("PARTIAL", reasons)
    for reason in reasons:
        assert reason in published["Message"]
    assert "Failure reasons (2 reported, 2 distinct)" in published["Message"]


def test_the_alert_names_severity_knowledge_base_and_data_source_for_subscribers() -> None:
    published = send("FAILED", ["x"])
    attributes = {k: v["StringValue"] for k, v in published["MessageAttributes"].items()}
    assert attributes["severity"] == "CRITICAL"
    assert (attributes["knowledgeBaseId"], attributes["dataSourceId"]) == ("KB12345678", "DS12345678")
    assert attributes["alertType"] == "FAILED" and attributes["ingestionJobId"] == "JOB1234567"
    assert "KB12345678" in published["Subject"] and "DS12345678" in published["Subject"]
    assert "CRITICAL" in published["Subject"] and len(published["Subject"]) <= 100


class AvailableBedrock:
    """GetIngestionJob as Bedrock answers it: the job's full failureReasons and statistics."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons

    def get_ingestion_job(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "ingestionJob": {
                **kwargs,
                "status": "COMPLETE",
                "statistics": {"numberOfDocumentsScanned": 9, "numberOfDocumentsFailed": len(self.reasons)},
                "failureReasons": self.reasons,
                "startedAt": NOW,
                "updatedAt": NOW,
            }
        }


def test_the_alert_carries_bedrocks_full_reasons_not_the_trimmed_view() -> None:
    full = [f"Unsupported file type for s3://docs/file{i}.xyz" for i in range(30)] + ["The bucket was not found"]
    sns = FakeSNS()
    clients = {"sns": sns, "dynamodb": FakeDynamoDB(), "bedrock-agent": AvailableBedrock(full)}
    fn.send_alert(alert_message("PARTIAL", ["trimmed view: 1 of 31"]), clients, ENV, NOW)
    message = sns.published[0]["Message"]
    assert "Failure reasons (31 reported, 2 distinct)" in message
    assert "The bucket was not found" in message and "trimmed view" not in message
    assert "numberOfDocumentsScanned: 9" in message


def test_the_message_names_the_knowledge_base_data_source_and_the_rerun_commands() -> None:
    message = send("FAILED", ["x"])["Message"]
    lines = message.splitlines()
    assert "Knowledge base: KB12345678" in lines and "Data source:    DS12345678" in lines
    rerun = lines.index("Rerun:")
    commands = [line.strip() for line in lines[rerun + 1 :] if line.strip()]
    assert any(c.startswith("kbsync rerun JOB1234567") for c in commands), commands
    assert any(c.startswith("aws stepfunctions start-execution --region us-east-1 ") for c in commands), commands


def test_a_poll_failure_alert_names_the_error_of_the_poll() -> None:
    message = alert_message("POLL_FAILED", [])
    message["outcome"]["error"] = {"Error": "AccessDeniedException", "Cause": "not authorized to GetIngestionJob"}
    facts = fn.facts_from_message(message)
    assert (facts.error, facts.cause) == ("AccessDeniedException", "not authorized to GetIngestionJob")


def test_a_message_that_breaks_its_contract_is_refused_naming_the_field_and_nothing_is_published() -> None:
    """The consumer side of schemas/send-alert-input.schema.json: the whole workflow state (what SendAlert once sent)
    or a message missing a fact is refused before any read, publish or mark."""
    sns, dynamodb = FakeSNS(), FakeDynamoDB()
    clients = {"sns": sns, "dynamodb": dynamodb, "bedrock-agent": UnavailableBedrock()}
    message = alert_message("FAILED", ["x"])
    del message["maxAttempts"]
    with pytest.raises(ContractError, match=r"/maxAttempts: required"):
        fn.send_alert(message, clients, ENV, NOW)
    whole_state = {"state": alert_message("FAILED", ["x"]), "executionArn": EXECUTION_ARN}
    with pytest.raises(ContractError, match=r"/state: additionalProperties: unexpected field 'state'"):
        fn.send_alert(whole_state, clients, ENV, NOW)
    assert sns.published == [] and dynamodb.updates == []
