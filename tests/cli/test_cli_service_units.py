"""Unit tests of the CLI's service layer over stubbed boto3 clients (botocore Stubber: requests and responses are
checked against the real API models, so the stubs can only return what AWS returns). No network, no threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from kbsync.cli import service
from kbsync.cli.aws import Stack, load_stack
from kbsync.cli.errors import CliError, ExitCode
from tests.helpers.stubs import stubbed

KB, DS, JOB = "KB12345678", "DS12345678", "JOB1234567"
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-IngestionSync"
NAME = f"manual-{KB}-{DS}-20261122T050403-ab12"
ARN = f"arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:{NAME}"
TABLE = "kbsync-Jobs"
T0 = datetime(2026, 11, 22, 5, 4, 3, tzinfo=UTC)
STACK = Stack("kbsync", SM, TABLE, {}, {})
GATE_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-SyncGate"
GATE_NAME = f"s3-{KB}-{DS}-20261122T050403-up01"
GATE_ARN = f"arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:{GATE_NAME}"
TARGETS = "kbsync-Targets"
GATED_STACK = Stack("kbsync", SM, TABLE, {"SyncGateStateMachineArn": GATE_SM, "TargetsTableName": TARGETS}, {})


def _client(service_name: str) -> Any:
    return boto3.client(
        service_name, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def stubs() -> Iterator[dict[str, Stubber]]:
    with stubbed("stepfunctions", "dynamodb", "bedrock-agent", "cloudformation") as stubbers:
        yield stubbers


def services(stubs: dict[str, Stubber]) -> service.Services:
    return service.Services(
        STACK,
        sfn=stubs["stepfunctions"].client,
        ddb=stubs["dynamodb"].client,
        bedrock=stubs["bedrock-agent"].client,
    )


def record_item(status: str, **extra: Any) -> dict[str, Any]:
    item = {
        "pk": {"S": f"DS#{KB}#{DS}"},
        "sk": {"S": f"JOB#2026-11-22T05:04:05Z#{JOB}"},
        "knowledgeBaseId": {"S": KB},
        "dataSourceId": {"S": DS},
        "ingestionJobId": {"S": JOB},
        "status": {"S": status},
        "trigger": {"S": "manual"},
        "executionArn": {"S": ARN},
        "attempt": {"N": "1"},
        "startedAt": {"S": "2026-11-22T05:04:05Z"},
        "updatedAt": {"S": "2026-11-22T05:04:05Z"},
    }
    item.update(extra)
    return item


def expect_running_records(ddb: Stubber, items_by_status: dict[str, list[dict[str, Any]]]) -> None:
    for status in ("STARTING", "IN_PROGRESS", "STOPPING"):
        ddb.add_response("query", {"Items": items_by_status.get(status, [])}, {
            "TableName": TABLE,
            "IndexName": "byStatus",
            "KeyConditionExpression": "#status = :status",
            "FilterExpression": "pk = :pk",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": {"S": status}, ":pk": {"S": f"DS#{KB}#{DS}"}},
            "ScanIndexForward": False,
        })  # fmt: skip


def gate_item() -> dict[str, Any]:
    """The data source's GATE item as the sync gate writes it (schemas/gate-item.schema.json)."""
    return {
        "pk": {"S": f"DS#{KB}#{DS}"},
        "sk": {"S": "GATE"},
        "holder": {"S": GATE_NAME},
        "holderArn": {"S": GATE_ARN},
        "leaseUntil": {"N": "1795000000"},
        "acquiredAt": {"N": "1794000000"},
        "trigger": {"S": "s3"},
        "knowledgeBaseId": {"S": KB},
        "dataSourceId": {"S": DS},
        "changeSeq": {"N": "1"},
    }


def expect_gate(ddb: Stubber, item: dict[str, Any] | None) -> None:
    key = {"pk": {"S": f"DS#{KB}#{DS}"}, "sk": {"S": "GATE"}}
    response = {"Item": item} if item else {}
    ddb.add_response("get_item", response, {"TableName": TARGETS, "Key": key, "ConsistentRead": True})


def expect_described(sfn: Stubber, arn: str, status: str, machine: str = SM) -> None:
    described = {"executionArn": arn, "stateMachineArn": machine, "status": status, "startDate": T0}
    if status != "RUNNING":
        described["stopDate"] = T0
    sfn.add_response("describe_execution", described, {"executionArn": arn})


def expect_no_record_of_job(ddb: Stubber) -> None:
    ddb.add_response("query", {"Items": []}, None)


def expect_bedrock_running(bedrock: Stubber, jobs: list[dict[str, Any]]) -> None:
    bedrock.add_response("list_ingestion_jobs", {"ingestionJobSummaries": jobs}, {
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "filters": [{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS", "STOPPING"]}],
        "sortBy": {"attribute": "STARTED_AT", "order": "DESCENDING"},
    })  # fmt: skip


def test_start_refused_while_a_job_started_outside_kbsync_runs(stubs: dict[str, Stubber]) -> None:
    stubs["bedrock-agent"].add_response("get_data_source", {"dataSource": _data_source()}, None)
    expect_running_records(stubs["dynamodb"], {})
    expect_bedrock_running(stubs["bedrock-agent"], [_job("IN_PROGRESS")])
    expect_no_record_of_job(stubs["dynamodb"])  # by its id: no record, and the job has no kbsync Description
    with pytest.raises(CliError) as caught:
        service.start_sync(services(stubs), KB, DS, None)
    assert caught.value.code == ExitCode.JOB_RUNNING
    assert caught.value.message == (
        f"already running: ingestion job {JOB}, started outside kbsync (in progress since 2026-11-22T05:04:03Z); "
        f"kbsync starts no job on this data source until it ends: wait for it (`kbsync status --kb {KB} --ds {DS}`) "
        f"or stop it (`kbsync stop --kb {KB} --ds {DS}`)"
    )


def test_stop_before_any_job_started_stops_the_gated_sync_that_holds_the_data_source(
    stubs: dict[str, Stubber],
) -> None:
    """Stopped with an error outside `KbSync.*`: the catch-all then releases what it held and reports it. Which
    execution holds the data source is read from its GATE item, checked against Step Functions."""
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    svc = service.Services(GATED_STACK, sfn=sfn.client, ddb=ddb.client, bedrock=stubs["bedrock-agent"].client)
    expect_gate(ddb, gate_item())
    expect_described(sfn, GATE_ARN, "RUNNING", GATE_SM)
    expect_running_records(ddb, {})
    expect_bedrock_running(stubs["bedrock-agent"], [])
    expect_gate(ddb, gate_item())
    expect_described(sfn, GATE_ARN, "RUNNING", GATE_SM)
    expect_running_records(ddb, {})
    sfn.add_response("stop_execution", {"stopDate": T0}, {
        "executionArn": GATE_ARN,
        "error": "StoppedByOperator",
        "cause": f"kbsync stop --kb {KB} --ds {DS} before any ingestion job started",
    })  # fmt: skip
    assert service.stop(svc, KB, DS) == service.StopPlan(None, GATE_ARN, "stopped execution")


def test_stop_before_any_job_also_stops_an_ingestion_sync_whose_record_has_no_job_yet(
    stubs: dict[str, Stubber],
) -> None:
    """An ingestion sync started without the gate (by hand) is known from its STARTING record (written before its
    StartIngestionJob); the gate's holder is stopped first, the record's execution next."""
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    svc = service.Services(GATED_STACK, sfn=sfn.client, ddb=ddb.client, bedrock=stubs["bedrock-agent"].client)
    starting = record_item("STARTING")
    del starting["ingestionJobId"]
    expect_gate(ddb, gate_item())
    expect_described(sfn, GATE_ARN, "RUNNING", GATE_SM)
    expect_running_records(ddb, {"STARTING": [starting]})
    expect_described(sfn, ARN, "RUNNING")
    expect_bedrock_running(stubs["bedrock-agent"], [])
    expect_gate(ddb, gate_item())
    expect_described(sfn, GATE_ARN, "RUNNING", GATE_SM)
    expect_running_records(ddb, {"STARTING": [starting]})
    expect_described(sfn, ARN, "RUNNING")
    for arn in (GATE_ARN, ARN):
        sfn.add_response("stop_execution", {"stopDate": T0}, {
            "executionArn": arn,
            "error": "StoppedByOperator",
            "cause": f"kbsync stop --kb {KB} --ds {DS} before any ingestion job started",
        })  # fmt: skip
    assert service.stop(svc, KB, DS) == service.StopPlan(None, GATE_ARN, "stopped execution")


def test_start_refused_while_a_job_of_the_data_source_runs(stubs: dict[str, Stubber]) -> None:
    stubs["bedrock-agent"].add_response("get_data_source", {"dataSource": _data_source()}, None)
    expect_running_records(stubs["dynamodb"], {"STARTING": [record_item("STARTING")]})
    expect_described(stubs["stepfunctions"], ARN, "RUNNING")
    stubs["bedrock-agent"].add_response("get_ingestion_job", {"ingestionJob": _job("IN_PROGRESS")}, None)
    with pytest.raises(CliError) as caught:
        service.start_sync(services(stubs), KB, DS, "because")
    assert caught.value.code == ExitCode.JOB_RUNNING
    assert caught.value.message == (
        f"already running: {NAME} (job {JOB} in progress, started 2026-11-22T05:04:05Z); wait for it "
        f"(`kbsync status --kb {KB} --ds {DS}`) or stop it (`kbsync stop --kb {KB} --ds {DS}`)"
    )


def test_start_refused_while_a_gated_sync_waits_without_a_job(stubs: dict[str, Stubber]) -> None:
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    svc = service.Services(GATED_STACK, sfn=sfn.client, ddb=ddb.client, bedrock=stubs["bedrock-agent"].client)
    stubs["bedrock-agent"].add_response("get_data_source", {"dataSource": _data_source()}, None)
    expect_gate(ddb, gate_item())
    expect_described(sfn, GATE_ARN, "RUNNING", GATE_SM)
    expect_running_records(ddb, {})
    with pytest.raises(CliError) as caught:
        service.start_sync(svc, KB, DS, None)
    assert caught.value.code == ExitCode.JOB_RUNNING
    assert caught.value.message.startswith(
        f"already running: {GATE_NAME} (no ingestion job yet, started 2026-11-22T05:04:03Z); "
    )


def test_a_gate_whose_holder_died_holds_no_sync(stubs: dict[str, Stubber]) -> None:
    """A GATE item left by a holder that ended (before the catch-all or the lease freed it) is not a running sync."""
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    svc = service.Services(GATED_STACK, sfn=sfn.client, ddb=ddb.client, bedrock=stubs["bedrock-agent"].client)
    expect_gate(ddb, gate_item())
    expect_described(sfn, GATE_ARN, "ABORTED", GATE_SM)
    expect_running_records(ddb, {})
    expect_bedrock_running(stubs["bedrock-agent"], [])
    assert service.find_busy(svc, KB, DS) is None


def test_a_stale_running_record_whose_job_ended_does_not_block(stubs: dict[str, Stubber]) -> None:
    gate = GATE_SM
    gate_execution = f"arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:{NAME}"
    svc = service.Services(
        GATED_STACK,
        sfn=stubs["stepfunctions"].client,
        ddb=stubs["dynamodb"].client,
        bedrock=stubs["bedrock-agent"].client,
    )
    stubs["bedrock-agent"].add_response("get_data_source", {"dataSource": _data_source()}, None)
    expect_gate(stubs["dynamodb"], None)
    expect_running_records(stubs["dynamodb"], {"IN_PROGRESS": [record_item("IN_PROGRESS")]})
    expect_described(stubs["stepfunctions"], ARN, "FAILED")  # its execution ended without recording the end
    stubs["bedrock-agent"].add_response("get_ingestion_job", {"ingestionJob": _job("COMPLETE")}, None)
    expect_bedrock_running(stubs["bedrock-agent"], [])
    stubs["stepfunctions"].add_response("start_execution", {"executionArn": gate_execution, "startDate": T0}, None)
    decided = {"gate": {"entry": {"outcome": "ACQUIRED"}}}
    stubs["stepfunctions"].add_response("describe_execution", {
        "executionArn": gate_execution, "stateMachineArn": gate, "name": NAME, "status": "SUCCEEDED",
        "startDate": T0, "stopDate": T0, "output": json.dumps(decided),
    }, {"executionArn": gate_execution})  # fmt: skip
    started = service.start_sync(svc, KB, DS, None)
    assert started.gated and started.execution_arn == gate_execution
    assert {k: started.request[k] for k in ("knowledgeBaseId", "dataSourceId", "trigger")} == {
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "trigger": "manual",
    }
    assert started.request["requestedBy"]  # the local user name when no STS client is given
    assert started.name.startswith(f"manual-{KB}-{DS}-")


def test_unknown_data_source_is_refused_with_the_listing_command(stubs: dict[str, Stubber]) -> None:
    stubs["bedrock-agent"].add_client_error(
        "get_data_source", "ResourceNotFoundException", "no data source", http_status_code=404
    )
    stubs["bedrock-agent"].add_response(
        "get_knowledge_base", {"knowledgeBase": _knowledge_base()}, {"knowledgeBaseId": KB}
    )
    with pytest.raises(CliError) as caught:
        service.start_sync(services(stubs), KB, DS, None)
    assert caught.value.code == ExitCode.NOT_FOUND
    assert caught.value.message == (
        f"unknown data source {DS} of knowledge base {KB}: list them with "
        f"`aws bedrock-agent list-data-sources --knowledge-base-id {KB}`"
    )


def test_an_unknown_knowledge_base_is_named_with_a_listing_that_works(stubs: dict[str, Stubber]) -> None:
    """Listing the data sources of a knowledge base that does not exist would fail too: list the knowledge bases."""
    stubs["bedrock-agent"].add_client_error(
        "get_data_source", "ResourceNotFoundException", "no kb", http_status_code=404
    )
    stubs["bedrock-agent"].add_client_error(
        "get_knowledge_base", "ResourceNotFoundException", "no kb", http_status_code=404
    )
    with pytest.raises(CliError) as caught:
        service.start_sync(services(stubs), KB, DS, None)
    assert (caught.value.code, caught.value.message) == (
        ExitCode.NOT_FOUND,
        f"unknown knowledge base {KB}: list them with `aws bedrock-agent list-knowledge-bases`",
    )


def _knowledge_base() -> dict[str, Any]:
    return {
        "knowledgeBaseId": KB,
        "name": "kb",
        "knowledgeBaseArn": f"arn:aws:bedrock:us-east-1:123456789012:knowledge-base/{KB}",
        "roleArn": "arn:aws:iam::123456789012:role/kb",
        "knowledgeBaseConfiguration": {"type": "VECTOR"},
        "status": "ACTIVE",
        "createdAt": T0,
        "updatedAt": T0,
    }


def test_follow_reports_live_progress_then_the_outcome(stubs: dict[str, Stubber]) -> None:
    sfn, ddb, bedrock = stubs["stepfunctions"], stubs["dynamodb"], stubs["bedrock-agent"]
    sfn.add_response("describe_execution", _execution("RUNNING"), {"executionArn": ARN})
    ddb.add_response("query", {"Items": [record_item("IN_PROGRESS")]}, None)
    bedrock.add_response("get_ingestion_job", {"ingestionJob": _job("IN_PROGRESS", scanned=3)}, None)
    sfn.add_response("describe_execution", _execution("SUCCEEDED"), {"executionArn": ARN})
    ddb.add_response("query", {"Items": [record_item("PARTIAL", failureReasons={"L": [{"S": "too large"}]})]}, None)
    seen: list[service.Progress] = []
    sleeps: list[float] = []
    ended = service.follow(
        services(stubs), ARN, on_progress=seen.append, interval_s=2.0, timeout_s=60, sleep=sleeps.append
    )
    assert [(p.status, p.job_id, p.scanned) for p in seen] == [("IN_PROGRESS", JOB, 3)]
    assert sleeps == [2.0]
    assert (ended.code, ended.outcome) == (ExitCode.PARTIAL, "PARTIAL")
    assert ended.record is not None and ended.record["failureReasons"] == ["too large"]


def test_follow_gives_up_at_its_deadline_and_says_the_sync_goes_on(stubs: dict[str, Stubber]) -> None:
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    sfn.add_response("describe_execution", _execution("RUNNING"), {"executionArn": ARN})
    ddb.add_response("query", {"Items": []}, None)
    ticks = iter([0.0, 100.0])
    with pytest.raises(CliError) as caught:
        service.follow(
            services(stubs),
            ARN,
            on_progress=lambda _p: None,
            interval_s=1,
            timeout_s=10,
            sleep=lambda _s: None,
            monotonic=lambda: next(ticks),
        )
    assert caught.value.code == ExitCode.WAIT_TIMEOUT
    assert f"kbsync status --kb {KB} --ds {DS}" in caught.value.message


def test_stop_with_nothing_running(stubs: dict[str, Stubber]) -> None:
    expect_running_records(stubs["dynamodb"], {})
    expect_bedrock_running(stubs["bedrock-agent"], [])
    with pytest.raises(CliError) as caught:
        service.stop(services(stubs), KB, DS)
    assert caught.value.code == ExitCode.NOTHING_RUNNING
    assert caught.value.message == (
        f"nothing is running for knowledge base {KB} / data source {DS}: see `kbsync history --kb {KB} --ds {DS}`"
    )


def test_stop_stops_the_running_job_through_bedrock(stubs: dict[str, Stubber]) -> None:
    expect_running_records(stubs["dynamodb"], {"IN_PROGRESS": [record_item("IN_PROGRESS")]})
    expect_described(stubs["stepfunctions"], ARN, "RUNNING")
    bedrock = stubs["bedrock-agent"]
    bedrock.add_response("get_ingestion_job", {"ingestionJob": _job("IN_PROGRESS")}, None)
    bedrock.add_response("get_ingestion_job", {"ingestionJob": _job("IN_PROGRESS")}, None)
    bedrock.add_response(
        "stop_ingestion_job",
        {"ingestionJob": _job("STOPPING")},
        {"knowledgeBaseId": KB, "dataSourceId": DS, "ingestionJobId": JOB},
    )
    plan = service.stop(services(stubs), KB, DS)
    assert plan == service.StopPlan(JOB, ARN, "stopped job")


def test_missing_stack_names_the_next_step() -> None:
    cfn = _client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id kbsync does not exist", 400)
        with pytest.raises(CliError) as caught:
            load_stack(cfn, "kbsync", "us-east-1")
    assert caught.value.code == ExitCode.NOT_FOUND
    assert caught.value.message == (
        "stack 'kbsync' not found in us-east-1: deploy it (`sam deploy --guided`), or point kbsync at it: "
        "--stack-name (KBSYNC_STACK) for its name, --region (AWS_REGION) for its region"
    )


def test_stack_without_the_outputs_is_not_taken_for_kbsync() -> None:
    cfn = _client("cloudformation")
    with Stubber(cfn) as stub:
        stub.add_response("describe_stacks", {"Stacks": [{
            "StackName": "other", "CreationTime": T0, "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": "JobsTableName", "OutputValue": "t"}],
        }]})  # fmt: skip
        with pytest.raises(CliError) as caught:
            load_stack(cfn, "other", "us-east-1")
    assert "has no output IngestionSyncStateMachineArn, SyncGateStateMachineArn" in caught.value.message


def _data_source() -> dict[str, Any]:
    return {
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "name": "docs",
        "status": "AVAILABLE",
        "dataSourceConfiguration": {"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::docs"}},
        "createdAt": T0,
        "updatedAt": T0,
    }


def _job(status: str, scanned: int = 0) -> dict[str, Any]:
    return {
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "ingestionJobId": JOB,
        "status": status,
        "statistics": {"numberOfDocumentsScanned": scanned},
        "startedAt": T0,
        "updatedAt": T0,
    }


def _execution(status: str) -> dict[str, Any]:
    described: dict[str, Any] = {
        "executionArn": ARN,
        "stateMachineArn": SM,
        "name": NAME,
        "status": status,
        "startDate": T0,
        "input": json.dumps({"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual"}),
    }
    if status != "RUNNING":
        described["stopDate"] = T0
    return described


def test_the_current_round_is_the_execution_of_the_newest_record_naming_the_gate(stubs: dict[str, Stubber]) -> None:
    """Read from the job records (gateExecutionArn), only those started since the gate execution started; never from
    the gate's execution history."""
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    svc = service.Services(GATED_STACK, sfn=sfn.client, ddb=ddb.client)
    second = f"manual-{KB}-{DS}-20261122T050500-rd02"
    child = ARN.replace(NAME, second)
    newest = record_item("IN_PROGRESS", executionArn={"S": child}, gateExecutionArn={"S": GATE_ARN}, round={"N": "2"})
    ddb.add_response("query", {"Items": [newest, record_item("COMPLETE", gateExecutionArn={"S": GATE_ARN})]}, {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk AND sk >= :since",
        "FilterExpression": "gateExecutionArn = :gate",
        "ExpressionAttributeValues": {
            ":pk": {"S": f"DS#{KB}#{DS}"},
            ":since": {"S": "JOB#2026-11-22T05:04:03"},
            ":gate": {"S": GATE_ARN},
        },
        "ScanIndexForward": False,
    })  # fmt: skip
    sfn.add_response(
        "describe_execution", {**_execution("RUNNING"), "executionArn": child, "name": second}, {"executionArn": child}
    )
    gate_execution = {
        "executionArn": GATE_ARN,
        "stateMachineArn": GATE_SM,
        "status": "RUNNING",
        "startDate": T0,
        "input": json.dumps({"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "s3"}}),
    }
    assert service.is_gate_execution(GATED_STACK, GATE_ARN) and not service.is_gate_execution(GATED_STACK, ARN)
    found = service.current_round(svc, gate_execution)
    assert found is not None and found["executionArn"] == child


def test_a_gate_execution_before_its_first_record_has_no_round(stubs: dict[str, Stubber]) -> None:
    svc = service.Services(GATED_STACK, sfn=stubs["stepfunctions"].client, ddb=stubs["dynamodb"].client)
    stubs["dynamodb"].add_response("query", {"Items": []}, None)
    gate_execution = {
        "executionArn": GATE_ARN,
        "startDate": T0,
        "input": json.dumps({"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "s3"}}),
    }
    assert service.current_round(svc, gate_execution) is None


def test_the_gate_item_these_tests_read_keeps_its_contract() -> None:
    """The consumer side of schemas/gate-item.schema.json: the CLI is tested on items the contract allows (the
    producer side, the sync gate's own writes, is tests/cli/test_facts_in_records.py)."""
    import kbsync_contracts

    from kbsync.cli import records

    assert kbsync_contracts.problems("gate-item", records.from_item(gate_item())) == []
    broken = records.from_item({**gate_item(), "holderArn": {"S": "not-an-arn"}})
    assert kbsync_contracts.problems("gate-item", broken)
