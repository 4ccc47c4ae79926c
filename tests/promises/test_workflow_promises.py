"""Promises of the ingestion-sync workflow, shown by executions of the real ASL on the local cloud.

Each test causes one condition and checks what users get (the execution's end, the job record, the Bedrock jobs,
the alerts). Faults come from the Bedrock emulator's documented control, or, where it has none (a start whose
response is lost, a throttled DynamoDB write), from a patch of the emulated service for one call: the same error
AWS returns, at the same place.

- the account quota (5 jobs): a start refused 8 times in a row still starts (the quota retrier's 8 attempts);
- one failed document is PARTIAL (not COMPLETE), with one WARNING alert;
- a start whose response was lost is retried with the same ClientToken: Bedrock returns the same job, no conflict;
- GetIngestionJob throttled / internal errors inside GetJobStatus are retried (the names the retrier matches);
- DynamoDB throttling of the outcome write is retried (the names the RecordOutcome retrier matches).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud.workflow import AlertInbox, Source, WorkflowRig

from tests.workflow.scenarios import GOOD_DOCS, STACK_PARAMETERS

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.002


@pytest.fixture(scope="module")
def rig() -> Iterator[WorkflowRig]:
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    # boto3 inside the in-process functions retries nothing, so each injected error reaches the state machine.
    saved = {name: os.environ.get(name) for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")}
    os.environ.update({"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"})
    try:
        with LocalCloud(time_scale=TIME_SCALE) as cloud:
            outputs = deploy_stack(REPO / "template.yaml", "kbsync", STACK_PARAMETERS)
            services = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent")
            clients = {name: cloud.client(name) for name in services}
            inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name="kbsync-promise-alerts")
            yield WorkflowRig(clients=clients, outputs=outputs, inbox=inbox)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def faults(rig: WorkflowRig) -> Iterator[Any]:
    from kbsync_localcloud.bedrock import faults as control

    f = control()
    f.reset()
    f.set_start_rate_limit(None)
    yield f
    f.reset()


def run(rig: WorkflowRig, source: Source) -> dict[str, Any]:
    arn = rig.start(rig.request(source))
    description = rig.wait(arn)
    return {
        "status": description["status"],
        "history": rig.history(arn),
        "records": rig.records(source),
        "jobs": rig.jobs(source),
        "alerts": rig.inbox.alerts_for(source.knowledge_base_id),
    }


def failures_of(history: list[dict[str, Any]], state: str) -> list[str]:
    """The errors of the failed attempts of a Task state, in order."""
    errors: list[str] = []
    current = None
    for event in history:
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        if current == state and event["type"] in ("TaskFailed", "LambdaFunctionFailed"):
            details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
            errors.append(str(details.get("error")))
    return errors


def assert_complete(result: dict[str, Any]) -> None:
    assert result["status"] == "SUCCEEDED", result["status"]
    assert [r["status"] for r in result["records"]] == ["COMPLETE"], result["records"]
    assert [j["status"] for j in result["jobs"]] == ["COMPLETE"]
    assert result["records"][0]["ingestionJobId"] == result["jobs"][0]["ingestionJobId"]
    assert result["alerts"] == []


def test_a_start_refused_for_the_account_quota_eight_times_still_starts(rig: WorkflowRig, faults: Any) -> None:
    source = rig.new_source(GOOD_DOCS)
    faults.fail_next_calls("StartIngestionJob", count=8, error="ServiceQuotaExceededException")
    result = run(rig, source)
    assert failures_of(result["history"], "StartIngestionJob") == ["BedrockAgent.ServiceQuotaExceededException"] * 8
    assert_complete(result)


def test_one_failed_document_makes_the_job_partial_with_one_warning(rig: WorkflowRig, faults: Any) -> None:
    source = rig.new_source({**GOOD_DOCS, "docs/diagram.xyz": b"?"})
    result = run(rig, source)
    assert result["status"] == "SUCCEEDED"
    assert [r["status"] for r in result["records"]] == ["PARTIAL"]
    assert result["records"][0]["statistics"]["numberOfDocumentsFailed"] == 1
    assert [a["attributes"]["severity"] for a in result["alerts"]] == ["WARNING"]
    assert "PARTIAL" in result["alerts"][0]["subject"]


def test_a_start_whose_response_was_lost_is_retried_with_the_same_token(
    rig: WorkflowRig, faults: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kbsync_localcloud.bedrock.errors import ERRORS_BY_CODE
    from kbsync_localcloud.bedrock.state import IngestionState

    original = IngestionState.start_ingestion_job
    lost: list[str] = []

    def start_then_lose_the_response(self: Any, params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = original(self, params)
        if not lost:
            lost.append(answer["ingestionJob"]["ingestionJobId"])
            raise ERRORS_BY_CODE["InternalServerException"]("An internal error occurred (the response was lost).")
        return answer

    monkeypatch.setattr(IngestionState, "start_ingestion_job", start_then_lose_the_response)
    source = rig.new_source(GOOD_DOCS)
    result = run(rig, source)
    assert lost, "the start was never called"
    assert failures_of(result["history"], "StartIngestionJob") == ["BedrockAgent.InternalServerException"]
    assert_complete(result)
    assert result["jobs"][0]["ingestionJobId"] == lost[0]


@pytest.mark.parametrize("error", ["ThrottlingException", "InternalServerException"])
def test_a_throttled_or_failing_poll_is_retried(rig: WorkflowRig, faults: Any, error: str) -> None:
    source = rig.new_source(GOOD_DOCS)
    faults.fail_next_calls("GetIngestionJob", count=2, error=error)
    result = run(rig, source)
    assert failures_of(result["history"], "GetJobStatus") == [error, error]
    assert_complete(result)


#: What DynamoDB returns when throttled or failing (AWS's codes, and the names with the suffix Step Functions adds).
DYNAMODB_ERRORS = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "RequestLimitExceededException",
    "InternalServerError",
    "InternalServerErrorException",
)


def test_a_throttled_outcome_write_is_retried_until_the_record_is_final(
    rig: WorkflowRig, faults: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.update_item
    pending = list(DYNAMODB_ERRORS)

    def throttled_outcome_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        expression = kwargs.get("update_expression") or (args[2] if len(args) > 2 else "")
        if pending and "failureReasons" in str(expression):
            code = pending.pop(0)
            raise DynamodbException(code, f"{code} (injected for the outcome write)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", throttled_outcome_write)
    source = rig.new_source(GOOD_DOCS)
    result = run(rig, source)
    assert pending == [], "the outcome write was not attempted for every injected error"
    assert failures_of(result["history"], "RecordOutcome") == [f"DynamoDB.{code}" for code in DYNAMODB_ERRORS]
    assert_complete(result)


def test_the_record_names_the_job_to_come_before_bedrock_is_asked_to_start_it(
    rig: WorkflowRig, faults: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never a job without a record: while StartIngestionJob is on its way, the record already says STARTING and
    carries what finds the job if the execution dies now (ClientToken, Description naming the execution) and what
    the request said (trigger, reason, requestedBy); the final record keeps them."""
    import threading

    from kbsync_localcloud.bedrock.state import IngestionState

    original = IngestionState.start_ingestion_job
    calling, go_on = threading.Event(), threading.Event()
    seen: list[dict[str, Any]] = []

    def held_start(self: Any, params: Any) -> dict[str, Any]:
        seen.append(dict(params))
        calling.set()
        go_on.wait(30)
        answer: dict[str, Any] = original(self, params)
        return answer

    monkeypatch.setattr(IngestionState, "start_ingestion_job", held_start)
    source = rig.new_source(GOOD_DOCS)
    request = rig.request(source, reason="docs refreshed", requestedBy="alice@example.com")
    arn = rig.start(request)
    try:
        assert calling.wait(rig.timeout), "StartIngestionJob was never called"
        (record,) = rig.records(source)
    finally:
        go_on.set()
    execution_name = arn.rsplit(":", 1)[-1]
    assert record["status"] == "STARTING" and "ingestionJobId" not in record
    assert record["clientToken"] == seen[0]["clientToken"] and len(record["clientToken"]) == 64
    assert record["description"] == seen[0]["description"] and execution_name in record["description"]
    expected = {"trigger": "manual", "reason": "docs refreshed", "requestedBy": "alice@example.com"}
    assert {k: record.get(k) for k in expected} == expected
    assert record["executionArn"] == arn and record["attempt"] == 1
    assert record["startedAt"] and record["updatedAt"]
    assert rig.wait(arn)["status"] == "SUCCEEDED"
    (final,) = rig.records(source)
    assert final["status"] == "COMPLETE"
    assert {k: final.get(k) for k in (*expected, "clientToken", "description")} == {
        **expected,
        "clientToken": record["clientToken"],
        "description": record["description"],
    }


def test_once_bedrock_named_the_job_the_record_carries_its_id_and_status(rig: WorkflowRig, faults: Any) -> None:
    """While the job runs, the record already names it (id, Bedrock's status, when it started) and says when it
    was last updated: what `kbsync status` and on-call read during a long job."""
    from kbsync_localcloud.workflow import wait_until

    source = rig.new_source(GOOD_DOCS)
    faults.hang_next_jobs(1)  # runs until stopped
    arn = rig.start(rig.request(source))

    def named() -> dict[str, Any] | None:
        records = rig.records(source)
        return records[0] if records and records[0].get("ingestionJobId") else None

    record = wait_until(named, rig.timeout, "the record naming the job")
    (job,) = rig.jobs(source)
    assert record["ingestionJobId"] == job["ingestionJobId"]
    assert record["status"] in ("STARTING", "IN_PROGRESS") and record["status"] != "COMPLETE"
    assert record["jobStartedAt"] and record["updatedAt"] >= record["startedAt"]
    assert record["updatedAt"] != record["startedAt"]
    rig.clients["bedrock-agent"].stop_ingestion_job(
        knowledgeBaseId=source.knowledge_base_id,
        dataSourceId=source.data_source_id,
        ingestionJobId=job["ingestionJobId"],
    )
    assert rig.wait(arn)["status"] == "FAILED"
    assert [r["status"] for r in rig.records(source)] == ["STOPPED"]
