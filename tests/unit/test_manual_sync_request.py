"""kbsync/targets.py's manual sync through the sync gate (what `kbsync sync` calls), over stubbed boto3 clients
(botocore Stubber: each request and response is checked against the real API model). The gate's decision is read
from two facts only: the data source's GATE item naming this execution as its holder (STARTED), or the ended gate
execution's output (`gate.entry`). No network, no threads, no sleeping: every poll is answered at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from kbsync import targets
from tests.helpers.stubs import stubbed

KB, DS = "KBAAAAAAA1", "DSAAAAAAA1"
GATE_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-SyncGate"
NAME = f"manual-{KB}-{DS}-20261122T050403-ab12"
ARN = f"arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:{NAME}"
OTHER = f"arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:s3-{KB}-{DS}-20261122T050400-up01"
TABLE = "kbsync-Targets"
T0 = datetime(2026, 11, 22, 5, 4, 3, tzinfo=UTC)
GATE_KEY = {"pk": {"S": f"DS#{KB}#{DS}"}, "sk": {"S": "GATE"}}


@pytest.fixture
def stubs() -> Iterator[dict[str, Stubber]]:
    with stubbed("stepfunctions", "dynamodb") as stubbers:
        yield stubbers


def expect_start(sfn: Stubber, gate_input: dict[str, Any]) -> None:
    sfn.add_response(
        "start_execution",
        {"executionArn": ARN, "startDate": T0},
        {"stateMachineArn": GATE_SM, "name": ANY, "input": json.dumps(gate_input)},
    )


def expect_described(sfn: Stubber, status: str, output: dict[str, Any] | None = None, **extra: Any) -> None:
    described: dict[str, Any] = {"executionArn": ARN, "stateMachineArn": GATE_SM, "status": status, "startDate": T0}
    if status != "RUNNING":
        described["stopDate"] = T0
    if output is not None:
        described["output"] = json.dumps(output)
    sfn.add_response("describe_execution", {**described, **extra}, {"executionArn": ARN})


def expect_gate(ddb: Stubber, holder_arn: str | None) -> None:
    response: dict[str, Any] = {}
    if holder_arn is not None:
        response["Item"] = {**GATE_KEY, "holder": {"S": holder_arn.rsplit(":", 1)[1]}, "holderArn": {"S": holder_arn}}
    ddb.add_response("get_item", response, {"TableName": TABLE, "Key": GATE_KEY, "ConsistentRead": True})


def request(stubs: dict[str, Stubber], **kwargs: Any) -> targets.SyncAnswer:
    return targets.request_sync(
        stubs["stepfunctions"].client,
        GATE_SM,
        KB,
        DS,
        ddb=stubs["dynamodb"].client,
        targets_table=TABLE,
        poll_s=0,
        **kwargs,
    )


def manual(**fields: Any) -> dict[str, Any]:
    return {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual", **fields}


def test_a_running_gate_execution_that_holds_the_gate_is_started(stubs: dict[str, Stubber]) -> None:
    """The gate's first state took the GATE item for this execution: STARTED while the execution still runs."""
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    expect_start(sfn, {"request": manual(), "settleSeconds": 0, "ifBusy": "queue"})
    expect_described(sfn, "RUNNING")
    expect_gate(ddb, None)  # not decided yet: polled again
    expect_described(sfn, "RUNNING")
    expect_gate(ddb, OTHER)  # another execution's gate: still not this one's
    expect_described(sfn, "RUNNING")
    expect_gate(ddb, ARN)
    answer = request(stubs)
    assert (answer.outcome, answer.execution_arn, answer.held_by) == ("STARTED", ARN, "")
    assert answer.message() == f"sync started: {ARN}"


def test_the_gate_input_carries_the_reason_the_requester_and_the_busy_choice(stubs: dict[str, Stubber]) -> None:
    sfn, ddb = stubs["stepfunctions"], stubs["dynamodb"]
    gate_input = {
        "request": manual(reason="r" * 500, requestedBy="u" * 200),
        "settleSeconds": 0,
        "ifBusy": "skip",
    }
    expect_start(sfn, gate_input)
    expect_described(sfn, "RUNNING")
    expect_gate(ddb, ARN)
    answer = request(stubs, reason="r" * 600, requested_by="u" * 300, queue=False)
    assert answer.outcome == "STARTED"


def test_a_gate_execution_that_acquired_and_already_ended_is_started(stubs: dict[str, Stubber]) -> None:
    sfn = stubs["stepfunctions"]
    expect_start(sfn, {"request": manual(), "settleSeconds": 0, "ifBusy": "queue"})
    entry = {"outcome": "ACQUIRED", "heldBy": NAME, "changeSeq": 3}
    expect_described(sfn, "SUCCEEDED", {"gate": {"entry": entry}})
    answer = request(stubs)
    assert (answer.outcome, answer.execution_arn, answer.details) == ("STARTED", ARN, entry)


@pytest.mark.parametrize(
    ("outcome", "queue", "verb"),
    [("QUEUED", True, "queued: it runs once more after the current sync"), ("NOT_STARTED", False, "not started")],
)
def test_a_gate_held_by_another_execution_names_its_holder(
    stubs: dict[str, Stubber], outcome: str, queue: bool, verb: str
) -> None:
    sfn = stubs["stepfunctions"]
    expect_start(sfn, {"request": manual(), "settleSeconds": 0, "ifBusy": "queue" if queue else "skip"})
    entry = {"outcome": outcome, "heldBy": "s3-holder", "changeSeq": 2}
    expect_described(sfn, "SUCCEEDED", {"gate": {"entry": entry}})
    answer = request(stubs, queue=queue)
    assert (answer.outcome, answer.held_by, answer.details) == (outcome, "s3-holder", entry)
    assert answer.message() == f"a sync of this data source is already running (s3-holder); {verb}"


def test_a_gate_execution_that_failed_is_an_error_naming_its_status_and_cause(stubs: dict[str, Stubber]) -> None:
    sfn = stubs["stepfunctions"]
    expect_start(sfn, {"request": manual(), "settleSeconds": 0, "ifBusy": "queue"})
    expect_described(sfn, "FAILED", error="KbSync.InvalidRequest", cause="bad request")
    with pytest.raises(targets.TargetError, match=f"{ARN} ended FAILED: KbSync.InvalidRequest bad request"):
        request(stubs)


def test_a_gate_execution_that_succeeded_without_a_decision_is_an_error(stubs: dict[str, Stubber]) -> None:
    sfn = stubs["stepfunctions"]
    expect_start(sfn, {"request": manual(), "settleSeconds": 0, "ifBusy": "queue"})
    expect_described(sfn, "SUCCEEDED", {"gate": {}})
    with pytest.raises(targets.TargetError, match="without a gate decision"):
        request(stubs)


def test_no_decision_within_the_deadline_raises_naming_the_execution(stubs: dict[str, Stubber]) -> None:
    """The poller has a deadline: a zero timeout polls nothing and says which execution to follow."""
    expect_start(stubs["stepfunctions"], {"request": manual(), "settleSeconds": 0, "ifBusy": "queue"})
    with pytest.raises(TimeoutError, match=f"within 0 s; see execution {ARN}"):
        request(stubs, timeout_s=0)
