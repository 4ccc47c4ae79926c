"""Static promises of the state machines: every retrier exactly as designed, the start spacing, the start token.

These read the ASL JSON. They pin what no execution on the local cloud can show reliably: with JitterStrategy FULL
each retry waits a random time up to the backoff, so BackoffRate 2 -> 1 or MaxDelaySeconds changes no outcome a test
can observe; and the Lambda service errors (Lambda.ServiceException...) have no cause the local cloud can produce.
What an execution can show is pinned by behaviour in test_workflow_promises.py (the quota retrier's 8 attempts,
the GetJobStatus and RecordOutcome retriers' error names, the PARTIAL threshold, the start token after a lost
response).

The retrier table below is the design, not a copy taken blindly: each family of error names says what it retries
(see tests/static/test_retriers.py for why each name is transient), and each line its attempts and window. A change
to a retrier must change this table in the same commit, on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MACHINES = sorted((REPO / "statemachines").glob("*.asl.json"))

#: Lambda service errors, retried on every lambda:invoke (AWS's best practice).
LAMBDA = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
#: DynamoDB throttling / internal errors through the optimised integration (both spellings).
DYNAMODB = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.RequestLimitExceededException",
    "DynamoDB.InternalServerError",
    "DynamoDB.InternalServerErrorException",
)
#: The same through the AWS SDK integration (aws-sdk:dynamodb:*).
DYNAMODB_SDK = (
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDb.InternalServerErrorException",
)
BEDROCK = ("BedrockAgent.ThrottlingException", "BedrockAgent.InternalServerException")
BEDROCK_QUOTA = ("BedrockAgent.ServiceQuotaExceededException",)
#: Raised inside get_job_status by boto3 (GetIngestionJob throttled / internal error): botocore's exception names.
IN_GET_JOB_STATUS = ("ThrottlingException", "InternalServerException")
#: Raised inside send_alert by boto3 (SNS Publish, DynamoDB, KMS throttling / internal errors).
IN_SEND_ALERT = (
    "ThrottledException",
    "KMSThrottlingException",
    "InternalErrorException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
)
STEP_FUNCTIONS = (
    "StepFunctions.ExecutionLimitExceededException",
    "StepFunctions.SdkClientException",
    "StepFunctions.AWSStepFunctionsException",
)
GATE = (*LAMBDA, "GateContention")
GATE_RELEASE = (
    *GATE,
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
)

#: (error names, IntervalSeconds, MaxAttempts, BackoffRate, MaxDelaySeconds or None, JitterStrategy)
Retrier = tuple[tuple[str, ...], int, int, float, int | None, str]
LAMBDA_SYNC: Retrier = (LAMBDA, 1, 6, 2, 30, "FULL")
RECORD_WRITE: Retrier = (DYNAMODB, 1, 8, 2, 30, "FULL")

EXPECTED: dict[tuple[str, str], list[Retrier]] = {
    ("ingestion-sync", "ValidateRequest"): [LAMBDA_SYNC],
    ("ingestion-sync", "RecordJobStarting"): [RECORD_WRITE],
    ("ingestion-sync", "FindCoveringJob"): [(DYNAMODB_SDK, 1, 4, 2, 10, "FULL")],
    ("ingestion-sync", "StartIngestionJob"): [
        (BEDROCK, 3, 6, 2, 60, "FULL"),
        # 5 concurrent jobs per account: a slot frees when a job ends; 8 attempts wait up to 30+60+120+240+4*300 s.
        (BEDROCK_QUOTA, 30, 8, 2, 300, "FULL"),
    ],
    ("ingestion-sync", "RecordJobId"): [RECORD_WRITE],
    ("ingestion-sync", "RecordStartFailed"): [RECORD_WRITE],
    ("ingestion-sync", "RecordCoalesced"): [RECORD_WRITE],
    ("ingestion-sync", "GetJobStatus"): [LAMBDA_SYNC, (IN_GET_JOB_STATUS, 2, 6, 2, 60, "FULL")],
    ("ingestion-sync", "WaitForJobEnd"): [LAMBDA_SYNC],
    ("ingestion-sync", "StopIngestionJob"): [(BEDROCK, 2, 5, 2, 60, "FULL")],
    ("ingestion-sync", "RecordPollFailed"): [RECORD_WRITE],
    ("ingestion-sync", "RecordOutcome"): [RECORD_WRITE],
    ("ingestion-sync", "SendAlert"): [LAMBDA_SYNC, (IN_SEND_ALERT, 2, 4, 2, 30, "FULL")],
    ("nightly-fanout", "PlanNight"): [(LAMBDA, 2, 6, 2, None, "FULL")],
    ("nightly-fanout", "RunLane"): [(STEP_FUNCTIONS, 5, 6, 2, None, "FULL")],
    ("nightly-fanout", "Summarize"): [(LAMBDA, 2, 6, 2, None, "FULL")],
    ("nightly-fanout", "ClaimTarget"): [(LAMBDA, 2, 6, 2, None, "FULL")],
    ("nightly-fanout", "RunGate"): [(STEP_FUNCTIONS, 5, 6, 2, None, "FULL")],
    ("nightly-fanout", "HandOff"): [(STEP_FUNCTIONS, 5, 6, 2, None, "FULL")],
    ("sync-gate", "EnterGate"): [(GATE, 2, 6, 2, None, "FULL")],
    ("sync-gate", "BeginRound"): [(LAMBDA, 2, 6, 2, None, "FULL")],
    ("sync-gate", "AcquireSlot"): [(LAMBDA, 2, 6, 2, None, "FULL")],
    ("sync-gate", "RunIngestionSync"): [(STEP_FUNCTIONS, 5, 6, 2, None, "FULL")],
    ("sync-gate", "ReleaseStartToken"): [(GATE_RELEASE, 2, 8, 2, None, "FULL")],
    ("sync-gate", "ReleaseSlot"): [(GATE_RELEASE, 2, 8, 2, None, "FULL")],
    ("sync-gate", "ReleaseGate"): [(GATE_RELEASE, 2, 8, 2, None, "FULL")],
}


def walk_states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in definition["States"].items():
        found.append((name, state))
        for branch in state.get("Branches", []):
            found += walk_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found += walk_states(state[key])
    return found


def machine(name: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads((REPO / "statemachines" / f"{name}.asl.json").read_text(encoding="utf-8"))
    return definition


def state_of(machine_name: str, state_name: str) -> dict[str, Any]:
    return dict(walk_states(machine(machine_name)))[state_name]


def actual_retriers() -> dict[tuple[str, str], list[Retrier]]:
    found: dict[tuple[str, str], list[Retrier]] = {}
    for path in MACHINES:
        for name, state in walk_states(json.loads(path.read_text(encoding="utf-8"))):
            if "Retry" in state:
                found[(path.name.removesuffix(".asl.json"), name)] = [
                    (
                        tuple(r["ErrorEquals"]),
                        r.get("IntervalSeconds", 1),
                        r.get("MaxAttempts", 3),
                        r.get("BackoffRate", 2.0),
                        r.get("MaxDelaySeconds"),
                        r.get("JitterStrategy", "NONE"),
                    )
                    for r in state["Retry"]
                ]
    return found


def test_every_retrier_is_pinned_and_every_pin_is_a_retrier() -> None:
    actual = actual_retriers()
    unpinned = sorted(set(actual) - set(EXPECTED))
    gone = sorted(set(EXPECTED) - set(actual))
    assert not unpinned, f"retriers not in EXPECTED (add them on purpose): { {k: actual[k] for k in unpinned} }"
    assert not gone, f"pinned retriers that no longer exist: {gone}"


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda key: f"{key[0]}:{key[1]}")
def test_retrier_is_as_designed(key: tuple[str, str]) -> None:
    actual = actual_retriers().get(key)
    if actual is None:
        pytest.fail(f"{key} has no Retry (or the state is gone)")
    assert len(actual) == len(EXPECTED[key]), f"{key}: {len(actual)} retriers, expected {len(EXPECTED[key])}"
    for index, (got, want) in enumerate(zip(actual, EXPECTED[key], strict=True)):
        names, *values = got
        want_names, *want_values = want
        assert sorted(names) == sorted(want_names), f"{key} Retry[{index}] ErrorEquals"
        fields = ("IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy")
        assert dict(zip(fields, values, strict=True)) == dict(zip(fields, want_values, strict=True)), (
            f"{key} Retry[{index}]"
        )


def test_every_retrier_backs_off_exponentially() -> None:
    """BackoffRate 2 everywhere: a fixed interval hammers a throttled API at the rate that throttled it."""
    flat = [(key, r) for key, rs in actual_retriers().items() for r in rs if r[3] < 2]
    assert not flat, flat


def window(retrier: Retrier) -> float:
    """The longest total wait of a retrier before it gives up (no jitter): sum of min(interval * rate^n, max)."""
    _, interval, attempts, rate, max_delay, _ = retrier
    cap = float("inf") if max_delay is None else max_delay
    return sum(min(interval * rate**n, cap) for n in range(attempts))


def test_a_start_refused_for_the_account_quota_waits_long_enough_for_a_job_to_end() -> None:
    """ServiceQuotaExceeded = 5 jobs already run in the account: keep asking for about half an hour."""
    (quota,) = [r for r in actual_retriers()[("ingestion-sync", "StartIngestionJob")] if r[0] == BEDROCK_QUOTA]
    assert quota[2] >= 8 and window(quota) >= 1500, quota


# ------------------------------------------------------------------ the start token and the start spacing


def test_the_start_token_is_derived_from_the_execution_and_the_attempt() -> None:
    """A retried StartIngestionJob (lost response) must send the same ClientToken: no random part, and both the
    execution and the attempt in it (a re-start after FAILED is a new job)."""
    start = state_of("ingestion-sync", "StartIngestionJob")["Parameters"]
    token_path = start.get("ClientToken.$")
    assert token_path == "$.record.clientToken", start
    expression = state_of("ingestion-sync", "PrepareJobRecord")["Parameters"]["clientToken.$"]
    assert "UUID" not in expression and "States.Hash(" in expression
    assert "$$.Execution.Id" in expression and "$.counters.attempt" in expression


def test_the_gate_spaces_starts_before_giving_the_start_token_back() -> None:
    """The pacer's spacing on the ASL side: the token goes back only after the Wait of the granted spacing."""
    sync = state_of("sync-gate", "Sync")
    spacing_branch = next(b for b in sync["Branches"] if "ReleaseStartToken" in b["States"])
    wait = spacing_branch["States"][spacing_branch["StartAt"]]
    assert wait["Type"] == "Wait" and wait.get("SecondsPath") == "$.slot.detail.spacingSeconds", wait
    assert wait["Next"] == "ReleaseStartToken"
