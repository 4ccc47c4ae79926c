"""functions/get_job_status: trimmed job view (never near 256 KB), DynamoDB-typed copies, growing bounded waits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from kbsync_contracts import ContractError

from tests.helpers.functions import FakeLambdaContext, load_function
from tests.helpers.logs import log_lines

fn = load_function("get_job_status")
#: As the state Initialize builds it (schemas/get-job-status-input.schema.json#/$defs/config).
CONFIG = {
    "pollIntervalSeconds": 15,
    "maxPollIntervalSeconds": 300,
    "pollBudget": 5,
    "maxStartAttempts": 3,
    "conflictWaitSeconds": 60,
    "maxConflictWaits": 30,
}
REQUEST = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "trigger": "manual"}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def bedrock_job(status: str, reasons: list[str] | None = None, **statistics: int) -> dict[str, Any]:
    """A GetIngestionJob `ingestionJob` exactly as the API shapes it (Stubber validates it against the model)."""
    job: dict[str, Any] = {
        "knowledgeBaseId": "KB12345678",
        "dataSourceId": "DS12345678",
        "ingestionJobId": "JOB1234567",
        "status": status,
        "startedAt": NOW,
        "updatedAt": NOW,
    }
    if statistics:
        job["statistics"] = statistics
    if reasons is not None:
        job["failureReasons"] = reasons
    return job


def test_wait_grows_by_half_and_is_capped() -> None:
    poll: dict[str, Any] = {}
    waits = []
    for _ in range(12):
        poll = fn.next_poll(poll, {**CONFIG, "pollBudget": 100})
        waits.append(poll["waitSeconds"])
    assert waits[:5] == [23, 35, 53, 80, 120]
    assert max(waits) == 300 and waits[-1] == 300
    assert waits == sorted(waits)


def test_budget_is_exhausted_on_the_last_allowed_poll() -> None:
    poll: dict[str, Any] = {}
    flags = []
    for _ in range(5):
        poll = fn.next_poll(poll, CONFIG)
        flags.append(poll["exhausted"])
    assert flags == [False, False, False, False, True]
    assert poll["count"] == 5


def test_starting_job_has_all_eight_statistics_at_zero() -> None:
    view = fn.job_status(bedrock_job("STARTING"))
    assert view["statistics"] == dict.fromkeys(fn.STATISTICS, 0)
    assert view["failureReasons"] == [] and view["failureReasonsTotal"] == 0


def test_2048_reasons_of_2048_chars_are_trimmed_far_below_the_state_limit() -> None:
    reasons = [f"s3://bucket/doc-{i:04d}.xyz: " + "x" * 2020 for i in range(2048)]
    view = fn.job_status(bedrock_job("COMPLETE", reasons, numberOfDocumentsFailed=2048))
    assert view["failureReasonsTotal"] == 2048
    assert len(view["failureReasons"]) == fn.MAX_REASONS
    assert all(len(r) <= fn.MAX_REASON_CHARS for r in view["failureReasons"])
    assert view["failureReasons"][0].endswith("...")
    # The view enters the state twice (plain + DynamoDB-typed); with the rest of the state it must stay << 256 KB.
    assert len(json.dumps(view).encode()) < 64 * 1024


def test_dynamodb_copies_match_the_plain_values() -> None:
    view = fn.job_status(bedrock_job("FAILED", ["boom"], numberOfDocumentsScanned=3, numberOfDocumentsFailed=1))
    ddb = view["dynamodb"]
    assert ddb["statistics"]["M"]["numberOfDocumentsScanned"] == {"N": "3"}
    assert ddb["statistics"]["M"]["numberOfDocumentsFailed"] == {"N": "1"}
    assert ddb["failureReasons"] == {"L": [{"S": "boom"}]}
    assert ddb["failureReasonsTotal"] == {"N": "1"}


@pytest.fixture
def stubbed_agent(monkeypatch: pytest.MonkeyPatch) -> Any:
    client = boto3.client(
        "bedrock-agent", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    monkeypatch.setattr(fn, "_client", client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_handler_polls_the_job_of_the_state(stubbed_agent: Stubber) -> None:
    expected = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "ingestionJobId": "JOB1234567"}
    stubbed_agent.add_response(
        "get_ingestion_job", {"ingestionJob": bedrock_job("IN_PROGRESS", numberOfDocumentsScanned=7)}, expected
    )
    event = {"request": REQUEST, "job": {"ingestionJobId": "JOB1234567", "status": "STARTING"}, "config": CONFIG}
    result = fn.lambda_handler(event, FakeLambdaContext())
    assert result["status"] == "IN_PROGRESS"
    assert result["statistics"]["numberOfDocumentsScanned"] == 7
    assert result["poll"] == {"count": 1, "waitSeconds": 23, "exhausted": False}


def test_previous_poll_is_continued(stubbed_agent: Stubber) -> None:
    stubbed_agent.add_response("get_ingestion_job", {"ingestionJob": bedrock_job("STOPPING")})
    previous = {
        "ingestionJobId": "JOB1234567",
        "status": "IN_PROGRESS",
        "poll": {"count": 4, "waitSeconds": 250, "exhausted": False},
    }
    result = fn.poll_job({"request": REQUEST, "job": previous, "config": CONFIG})
    assert result["poll"] == {"count": 5, "waitSeconds": 300, "exhausted": True}


def test_throttling_propagates_for_the_state_machine_retry(stubbed_agent: Stubber) -> None:
    stubbed_agent.add_client_error("get_ingestion_job", "ThrottlingException", "Rate exceeded", 429)
    with pytest.raises(fn.bedrock_agent().exceptions.ThrottlingException):
        fn.poll_job(
            {"request": REQUEST, "job": {"ingestionJobId": "JOB1234567", "status": "STARTING"}, "config": CONFIG}
        )


def test_a_message_that_breaks_its_contract_is_refused_before_bedrock_is_called(stubbed_agent: Stubber) -> None:
    """The consumer side of schemas/get-job-status-input.schema.json: no GetIngestionJob for a broken message."""
    with pytest.raises(ContractError, match=r"/config/pollBudget: required"):
        fn.poll_job({"request": REQUEST, "job": {"ingestionJobId": "JOB1234567", "status": "STARTING"}, "config": {}})


def test_each_poll_logs_the_job_it_polled_and_what_bedrock_said(stubbed_agent: Stubber) -> None:
    """One "polled ingestion job" line per poll names the ingestion job, its status and the poll's count and wait:
    searching the function's logs for a job id finds every poll of that job."""
    stubbed_agent.add_response("get_ingestion_job", {"ingestionJob": bedrock_job("IN_PROGRESS")})
    event = {"request": REQUEST, "job": {"ingestionJobId": "JOB1234567", "status": "STARTING"}, "config": CONFIG}
    with log_lines(fn) as lines:
        fn.lambda_handler(event, FakeLambdaContext())
    (polled,) = [line for line in lines() if line["message"] == "polled ingestion job"]
    assert (polled["level"], polled["ingestionJobId"], polled["status"]) == ("INFO", "JOB1234567", "IN_PROGRESS")
    assert polled["poll"] == {"count": 1, "waitSeconds": 23, "exhausted": False}
