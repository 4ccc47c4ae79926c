"""The consumer side of every function's input contract (schemas/*-input, upload-event, execution-status-event): a
message that breaks it is refused before anything is read, written, started or published, and the refusal names the
field. Each function refuses in its own way (docs/contracts.md): a raised ContractError (the state's Catch or the
execution's failure reports it), a rejection the state machine turns into a Fail, or an ignored event."""

from __future__ import annotations

from typing import Any

import kbsync_gate
import pytest
from kbsync_contracts import ContractError

from tests.helpers.functions import FakeLambdaContext, load_function, load_module

HOLDER = "s3-KB12345678-DS12345678-20261206T020000-abcd"


def test_validate_request_refuses_a_broken_envelope_as_an_invalid_request_never_raising() -> None:
    fn = load_function("validate_request")
    verdict = fn.lambda_handler({"input": {}}, FakeLambdaContext())
    assert verdict["valid"] is False
    assert verdict["problems"] == [
        "/input: additionalProperties: unexpected field 'input' (not in the contract)",
        "/request: required: 'request' is a required property",
    ]


def test_the_sync_gate_function_refuses_a_step_without_its_holder_before_touching_the_table(monkeypatch: Any) -> None:
    fn = load_function("sync_gate")
    monkeypatch.setattr(fn, "targets_table", lambda: pytest.fail("the table was touched"))
    with pytest.raises(
        kbsync_gate.InvalidRequest, match=r"sync gate step: /holder: required: 'holder' is a required property"
    ):
        fn.run_step(
            {"action": "releaseGate", "knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "seen": 3}, 0
        )
    with pytest.raises(kbsync_gate.InvalidRequest, match=r"/seen: type: '3' is not of type 'integer'"):
        fn.run_step(
            {
                "action": "releaseGate",
                "holder": HOLDER,
                "knowledgeBaseId": "KB12345678",
                "dataSourceId": "DS12345678",
                "seen": "3",
            },
            0,
        )


def test_the_pacer_function_refuses_a_step_without_its_holder_before_touching_the_table(monkeypatch: Any) -> None:
    fn = load_function("pacer")
    monkeypatch.setattr(fn, "targets_table", lambda: pytest.fail("the table was touched"))
    monkeypatch.setattr(fn, "bedrock_agent", lambda: pytest.fail("Bedrock was asked"))
    with pytest.raises(
        kbsync_gate.InvalidRequest, match=r"pacer step: /holder: required: 'holder' is a required property"
    ):
        fn.run_step({"action": "releaseSlot"}, 0)


def test_the_nightly_plan_function_refuses_a_claim_without_its_lane_before_touching_the_table(monkeypatch: Any) -> None:
    fn = load_function("nightly_plan")
    monkeypatch.setattr(fn, "targets_table", lambda: pytest.fail("the table was touched"))
    with pytest.raises(kbsync_gate.InvalidRequest, match=r"nightly plan step: /lane: required: "):
        fn.run_step(
            {
                "action": "claimTarget",
                "planId": "night",
                "laneExecution": "n",
                "hop": 1,
                "step": 0,
                "lastStatus": "NONE",
            },
            0,
        )


def test_the_upload_router_rejects_an_event_that_is_not_an_s3_event_naming_the_field() -> None:
    fn = load_module("upload_router", "upload_router_logic")
    with pytest.raises(kbsync_gate.InvalidRequest, match=r"S3 event: /detail-type: enum: "):
        fn.parse_s3_event(
            {
                "source": "aws.s3",
                "detail-type": "Object Restore Completed",
                "detail": {"bucket": {"name": "docs"}, "object": {"key": "a.md"}},
            }
        )


def test_the_catch_all_ignores_a_death_event_without_its_execution_arn_naming_the_field() -> None:
    fn = load_function("catch_all")
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"executionArn": "not-an-arn", "status": "FAILED"},
    }
    reason = fn.ignore_reason(event)
    assert reason is not None and reason.startswith("breaks execution-status-event: /detail/executionArn: pattern: ")


def test_the_reconciler_refuses_what_its_schedule_never_sends() -> None:
    fn = load_function("reconciler")
    with pytest.raises(ContractError, match=r"/source: required: 'source' is a required property"):
        fn.lambda_handler({}, FakeLambdaContext())
