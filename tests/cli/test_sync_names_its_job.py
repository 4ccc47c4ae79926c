"""A sync reported as a success names its job and its record. When `kbsync sync --wait` cannot find
the round's ingestion-sync execution of a gated sync (it fell back to the gate execution) or the execution wrote no
record, it says so and exits NO_RECORD (documented in `kbsync --help`), never 0 with "record": null.

Service level over stubbed boto3 clients (botocore Stubber: only what the real APIs return), and the CLI's JSON."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

from kbsync.cli import app, main, service
from kbsync.cli.aws import Stack
from kbsync.cli.errors import EXIT_CODE_HELP, ExitCode
from tests.helpers.stubs import stubbed

KB, DS, JOB = "KB12345678", "DS12345678", "JOB1234567"
ACCOUNT = "arn:aws:states:us-east-1:123456789012"
SM = f"{ACCOUNT}:stateMachine:kbsync-IngestionSync"
GATE = f"{ACCOUNT}:stateMachine:kbsync-sync-gate"
GATE_NAME = f"manual-{KB}-{DS}-20261122T050403-gt01"
CHILD_NAME = f"manual-{KB}-{DS}-20261122T050404-rd01"
GATE_ARN = f"{ACCOUNT}:execution:kbsync-sync-gate:{GATE_NAME}"
CHILD_ARN = f"{ACCOUNT}:execution:kbsync-IngestionSync:{CHILD_NAME}"
TABLE = "kbsync-Jobs"
T0 = datetime(2026, 11, 22, 5, 4, 3, tzinfo=UTC)
STACK = Stack("kbsync", SM, TABLE, {"SyncGateStateMachineArn": GATE}, {})
REQUEST = {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual"}


@pytest.fixture
def stubs() -> Iterator[dict[str, Stubber]]:
    with stubbed("stepfunctions", "dynamodb", "bedrock-agent") as stubbers:
        yield stubbers


def services(stubs: dict[str, Stubber]) -> service.Services:
    return service.Services(
        STACK, sfn=stubs["stepfunctions"].client, ddb=stubs["dynamodb"].client, bedrock=stubs["bedrock-agent"].client
    )


def execution(arn: str, name: str, machine: str, status: str, document: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "executionArn": arn,
        "stateMachineArn": machine,
        "name": name,
        "status": status,
        "startDate": T0,
        "input": json.dumps(document),
    }
    if status != "RUNNING":
        described["stopDate"] = T0
    return described


def gate(status: str) -> dict[str, Any]:
    return execution(GATE_ARN, GATE_NAME, GATE, status, {"request": REQUEST, "settleSeconds": 0, "ifBusy": "skip"})


def expect_gate_succeeded_but_no_child(sfn: Stubber, ddb: Stubber) -> None:
    """The gate SUCCEEDED; no job record names it (gateExecutionArn): its round's ingestion sync is not found."""
    sfn.add_response("describe_execution", gate("SUCCEEDED"), {"executionArn": GATE_ARN})
    ddb.add_response("query", {"Items": []}, None)


def test_a_gate_that_succeeded_without_a_child_found_is_no_record_not_ok(stubs: dict[str, Stubber]) -> None:
    expect_gate_succeeded_but_no_child(stubs["stepfunctions"], stubs["dynamodb"])
    ended = service.follow(
        services(stubs), GATE_ARN, on_progress=lambda _p: None, interval_s=1, timeout_s=60, sleep=lambda _s: None
    )
    assert ended.code == ExitCode.NO_RECORD != ExitCode.OK
    assert ended.outcome == "NO_RECORD"
    assert ended.record is None and ended.execution_arn == GATE_ARN
    assert ended.problem is not None
    assert f"sync gate execution {GATE_NAME} SUCCEEDED but kbsync found no ingestion-sync execution" in ended.problem
    assert f"kbsync history --kb {KB} --ds {DS}" in ended.problem


def test_an_ingestion_sync_that_succeeded_without_a_record_is_no_record(stubs: dict[str, Stubber]) -> None:
    stack = Stack("kbsync", SM, TABLE, {}, {})  # no gate: the execution followed is the ingestion sync itself
    svc = service.Services(stack, sfn=stubs["stepfunctions"].client, ddb=stubs["dynamodb"].client)
    stubs["stepfunctions"].add_response(
        "describe_execution", execution(CHILD_ARN, CHILD_NAME, SM, "SUCCEEDED", REQUEST), {"executionArn": CHILD_ARN}
    )
    stubs["dynamodb"].add_response("query", {"Items": []}, None)
    ended = service.follow(svc, CHILD_ARN, on_progress=lambda _p: None, interval_s=1, timeout_s=60)
    assert (ended.code, ended.outcome, ended.record) == (ExitCode.NO_RECORD, "NO_RECORD", None)
    assert ended.problem and f"found no job record of it in table {TABLE}" in ended.problem


def test_sync_wait_json_exits_non_zero_and_says_why(stubs: dict[str, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    svc = services(stubs)
    started = service.Started(GATE_ARN, GATE_NAME, REQUEST, gated=True)
    monkeypatch.setattr(app, "services", lambda _args: svc)
    monkeypatch.setattr(service, "start_sync", lambda *_args: started)
    expect_gate_succeeded_but_no_child(stubs["stepfunctions"], stubs["dynamodb"])
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", "--kb", KB, "--ds", DS, "--wait", "--json", "--interval", "0.01"], out=out, err=err)
    document = json.loads(out.getvalue())
    assert code == ExitCode.NO_RECORD == document["exitCode"]
    assert document["outcome"] == "NO_RECORD" and document["record"] is None
    assert "found no ingestion-sync execution" in document["problem"]


def test_sync_wait_text_names_what_is_missing(stubs: dict[str, Stubber], monkeypatch: pytest.MonkeyPatch) -> None:
    svc = services(stubs)
    monkeypatch.setattr(app, "services", lambda _args: svc)
    monkeypatch.setattr(service, "start_sync", lambda *_args: service.Started(GATE_ARN, GATE_NAME, REQUEST, True))
    expect_gate_succeeded_but_no_child(stubs["stepfunctions"], stubs["dynamodb"])
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", "--kb", KB, "--ds", DS, "--wait", "--interval", "0.01"], out=out, err=err)
    assert code == ExitCode.NO_RECORD
    lines = out.getvalue().splitlines()
    assert lines[-2].startswith("NO_RECORD  no job"), lines
    assert lines[-1].strip().startswith(f"sync gate execution {GATE_NAME} SUCCEEDED but"), lines


def test_the_exit_code_is_documented_in_help() -> None:
    documented = dict(EXIT_CODE_HELP)
    assert "no job or job record" in documented[ExitCode.NO_RECORD]
    assert f"{int(ExitCode.NO_RECORD):>3}  {documented[ExitCode.NO_RECORD]}" in app.build_parser().format_help()


OTHER_NAME = f"manual-{KB}-{DS}-20261122T050300-ot01"
OTHER_ARN = f"{ACCOUNT}:execution:kbsync-IngestionSync:{OTHER_NAME}"


def record_of(arn: str, status: str, **extra: str) -> dict[str, Any]:
    item = {
        "pk": {"S": f"DS#{KB}#{DS}"},
        "sk": {"S": f"JOB#2026-11-22T05:04:04Z#{arn.rsplit(':', 1)[1]}-1"},
        "executionArn": {"S": arn},
        "status": {"S": status},
    }
    return {**item, **{key: {"S": value} for key, value in extra.items()}}


@pytest.mark.parametrize("json_output", [False, True])
def test_a_sync_that_coalesced_reports_the_covering_job_and_names_its_own_execution(
    stubs: dict[str, Stubber], monkeypatch: pytest.MonkeyPatch, json_output: bool
) -> None:
    """Another execution's job already covered the request (record COALESCED, coalescedIntoExecution): the wait
    follows that execution and reports its job's outcome and exit code, never NO_RECORD for a covered request."""
    stack = Stack("kbsync", SM, TABLE, {}, {})
    svc = service.Services(stack, sfn=stubs["stepfunctions"].client, ddb=stubs["dynamodb"].client)
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    sfn.add_response("describe_execution", execution(CHILD_ARN, CHILD_NAME, SM, "SUCCEEDED", REQUEST), None)
    ddb.add_response(
        "query",
        {"Items": [record_of(CHILD_ARN, "COALESCED", coalescedInto=JOB, coalescedIntoExecution=OTHER_ARN)]},
        None,
    )
    sfn.add_response("describe_execution", execution(OTHER_ARN, OTHER_NAME, SM, "SUCCEEDED", REQUEST), None)
    ddb.add_response("query", {"Items": [record_of(OTHER_ARN, "PARTIAL", ingestionJobId=JOB)]}, None)
    monkeypatch.setattr(app, "services", lambda _args: svc)
    monkeypatch.setattr(service, "start_sync", lambda *_args: service.Started(CHILD_ARN, CHILD_NAME, REQUEST, False))
    out, err = io.StringIO(), io.StringIO()
    argv = ["sync", "--kb", KB, "--ds", DS, "--wait", "--interval", "0.01"] + (["--json"] if json_output else [])
    code = main(argv, out=out, err=err)
    assert code == ExitCode.PARTIAL, (out.getvalue(), err.getvalue())
    if json_output:
        document = json.loads(out.getvalue())
        assert document["outcome"] == "PARTIAL" and document["record"]["ingestionJobId"] == JOB
        assert document["execution_arn"] == OTHER_ARN and document["coalesced_from"] == CHILD_ARN
    else:
        text = out.getvalue()
        assert f"PARTIAL  job {JOB}" in text
        assert f"this sync ({CHILD_NAME}) coalesced into the job of {OTHER_NAME}" in text


def test_a_coalesced_record_pointing_back_at_its_own_execution_is_not_followed_in_a_loop(
    stubs: dict[str, Stubber],
) -> None:
    stack = Stack("kbsync", SM, TABLE, {}, {})
    svc = service.Services(stack, sfn=stubs["stepfunctions"].client, ddb=stubs["dynamodb"].client)
    stubs["stepfunctions"].add_response(
        "describe_execution", execution(CHILD_ARN, CHILD_NAME, SM, "SUCCEEDED", REQUEST), None
    )
    stubs["dynamodb"].add_response(
        "query", {"Items": [record_of(CHILD_ARN, "COALESCED", coalescedIntoExecution=CHILD_ARN)]}, None
    )
    ended = service.follow(svc, CHILD_ARN, on_progress=lambda _p: None, interval_s=1, timeout_s=60)
    assert (ended.code, ended.coalesced_from) == (ExitCode.NO_RECORD, None)
