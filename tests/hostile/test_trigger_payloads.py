"""Hostile S3 events, schedule payloads and gate inputs through the trigger handlers (functions/upload_router,
functions/nightly_plan) and the gate's input check (kbsync_gate, run by functions/sync_gate).

In-process, on moto's in-memory DynamoDB (no network, no threads), with the handler called as Lambda calls it.
Never a crash; a malformed event is a clear refusal (logged, nothing written); anything the triggers send on is a
valid sync request; and never a half-written state: every gate item belongs to an execution that was started.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kbsync_contracts
import kbsync_gate
import pytest
from boto3.dynamodb.conditions import Attr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kbsync_localcloud.adapters import bedrock_ingestion

from tests.helpers.functions import FakeLambdaContext, load_function
from tests.hostile.strategies import UNSTORABLE, any_text, json_values, unstorable_text
from tests.triggers.support import GATE_SM_ARN, RecordingStepFunctions, aws, create_targets_table, register, s3_event

router = load_function("upload_router")
nightly = load_function("nightly_plan")
KB, DS, KB2, DS2 = "KBHOSTILE1", "DSHOSTILE1", "KBHOSTILE2", "DSHOSTILE2"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, RecordingStepFunctions]]:
    """Two registered targets (one with a prefix, one covering its whole bucket) and a recording Step Functions.

    moto's bedrock-agent has no ListIngestionJobs (NotImplementedError, which no AWS client ever raises): the nightly
    plan asks Bedrock for job history, so this file installs the local cloud's Bedrock emulator itself rather than
    depending on an earlier test file having done it (it then answers as Bedrock does for data sources it does not
    know: ResourceNotFoundException).
    """
    bedrock_ingestion.install()
    with aws(monkeypatch):
        table = create_targets_table()
        register(table, KB, DS, "docs", ["tenant-a/"])
        register(table, KB2, DS2, "whole")
        monkeypatch.setenv("TARGETS_TABLE", "targets")
        monkeypatch.setenv("SYNC_GATE_STATE_MACHINE_ARN", GATE_SM_ARN)
        monkeypatch.delenv("JOBS_TABLE", raising=False)
        for handler in (router, nightly):  # as at a cold start with this environment
            monkeypatch.setattr(handler, "SETTINGS", handler.Settings.from_env())
            handler.reset_clients()
        sfn = RecordingStepFunctions()
        monkeypatch.setattr(router, "stepfunctions", lambda: sfn)
        yield table, sfn
        for handler in (router, nightly):
            handler.reset_clients()


def assert_no_half_written_state(table: Any, sfn: RecordingStepFunctions) -> None:
    """Only targets and gates in the table; each gate held by an execution that really started; inputs valid."""
    items = table.scan()["Items"]
    assert {item["sk"] for item in items} <= {"TARGET", "GATE"}
    started = {s["name"]: json.loads(s["input"]) for s in sfn.started}
    for gate in (item for item in items if item["sk"] == "GATE"):
        assert gate["holder"] in started, f"gate {gate['pk']} held by {gate['holder']}, which never started"
    for gate_input in started.values():
        kbsync_gate.check_input(gate_input)
        kbsync_contracts.validate("sync-request", gate_input["request"])
        assert_storable(gate_input["request"])


def assert_storable(request: dict[str, Any]) -> None:
    """Every text of the request can be written to DynamoDB and published to SNS: UTF-8 encodable, no control
    characters (a second opinion, independent of kbsync_contracts)."""
    for field, value in request.items():
        value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError: DynamoDB and SNS refuse such a request
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value), (field, value)


# ------------------------------------------------------------------ S3 events (the upload router)

keys = (
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=400)
    | st.sampled_from(
        ["tenant-a/" + "k" * 1020, "tenant-a/../../etc/passwd", "tenant-a/%00", "tenant-a/\u202eevil.pdf", "x"]
    )
    | st.builds(lambda text: "tenant-a/" + text, unstorable_text)
)
buckets = st.sampled_from(["docs", "whole", "other", "DOCS", ""]) | any_text


@st.composite
def hostile_s3_events(draw: st.DrawFn) -> dict[str, Any]:
    """An EventBridge S3 event with its fields replaced, removed or retyped (always routed: it has detail-type)."""
    event = s3_event(draw(buckets), draw(keys), draw(st.sampled_from(["Object Created", "Object Deleted"])))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(
            st.sampled_from(
                [("source",), ("detail-type",), ("detail",), ("detail", "bucket"), ("detail", "bucket", "name"),
                 ("detail", "object"), ("detail", "object", "key"), ("resources",), ("time",)]
            )
        )  # fmt: skip
        parent = event
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None  # type: ignore[assignment]
        if isinstance(parent, dict):
            if draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
    event.setdefault("detail-type", None)
    return event


@SETTINGS
@given(hostile_s3_events())
@example({**s3_event("docs", "tenant-a/x.pdf"), "detail": {"bucket": "docs", "object": {"key": "tenant-a/x"}}})
@example({**s3_event("docs", "tenant-a/x.pdf"), "detail": {"bucket": {"name": "docs"}, "object": None}})
@example(s3_event("docs", "tenant-a/" + "\U0001f600" * 600))
def test_upload_router_never_crashes_and_never_half_writes(
    env: tuple[Any, RecordingStepFunctions], event: dict[str, Any]
) -> None:
    table, sfn = env
    result = router.lambda_handler(event, FakeLambdaContext())
    assert isinstance(result, dict) and ("rejected" in result or {"started", "queued"} <= set(result))
    if "rejected" in result:
        assert result["rejected"].startswith("S3 event: /")
        result["rejected"].encode("utf-8")
    assert_no_half_written_state(table, sfn)


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_an_upload_with_an_unstorable_key_starts_a_sync_whose_request_is_storable(
    env: tuple[Any, RecordingStepFunctions], bad: str
) -> None:
    """An S3 key is never refused (the upload must be synced) but the reason built from it is normalized: a lone
    surrogate or a control character in the key must not reach the job record, where the write would fail after the
    Bedrock job started (a job without a record)."""
    table, sfn = env
    result = router.lambda_handler(s3_event("docs", f"tenant-a/report{bad}.pdf"), FakeLambdaContext())
    assert [s["knowledgeBaseId"] for s in result["started"]] == [KB]
    request = json.loads(sfn.started[0]["input"])["request"]
    assert_storable(request)
    assert request["reason"].startswith("Object Created: s3://docs/tenant-a/report")
    assert_no_half_written_state(table, sfn)


def test_an_upload_with_an_over_long_key_gets_a_reason_within_the_contract(
    env: tuple[Any, RecordingStepFunctions],
) -> None:
    _table, sfn = env
    router.lambda_handler(s3_event("docs", "tenant-a/" + "\U0001f600" * 1000), FakeLambdaContext())
    request = json.loads(sfn.started[0]["input"])["request"]
    assert len(request["reason"]) == 500 and request["reason"].endswith("...")
    kbsync_contracts.validate("sync-request", request)


@pytest.mark.parametrize("bucket", ["docs\ud800", "docs\n", "\x00"])
def test_an_unstorable_bucket_name_is_refused_naming_the_field(
    env: tuple[Any, RecordingStepFunctions], bucket: str
) -> None:
    _table, sfn = env
    result = router.lambda_handler(s3_event(bucket, "tenant-a/x.pdf"), FakeLambdaContext())
    assert result["rejected"].startswith("S3 event: /detail/bucket/name: text: contains ")
    assert sfn.started == []


# ------------------------------------------------------------------ schedule payloads (the nightly fan-out)


@st.composite
def schedule_payloads(draw: st.DrawFn) -> Any:
    payload: dict[str, Any] = {"trigger": "schedule", "requestedBy": "nightly-europe"}
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(["trigger", "requestedBy", "reason", "timezone", "extra"]))
        payload[field] = draw(json_values | st.text(max_size=700) | unstorable_text)
    return draw(st.just(payload) | json_values)


@SETTINGS
@given(schedule_payloads())
@example({"trigger": "schedule", "requestedBy": "r" * 201})
@example({"trigger": "schedule", "requestedBy": "nightly", "reason": "x" * 10_000})
@example({"trigger": "schedule", "requestedBy": "nightly\ud800"})
@example({"trigger": "schedule", "requestedBy": "nightly", "reason": "a\x00b"})
def test_nightly_plan_refuses_bad_payloads_and_only_emits_valid_requests(
    env: tuple[Any, RecordingStepFunctions], payload: Any
) -> None:
    try:
        plan = nightly.lambda_handler({"action": "planNight", "payload": payload}, FakeLambdaContext())
    except kbsync_gate.InvalidRequest as refused:
        assert str(refused).startswith("invalid schedule payload: ")
        assert all(problem.startswith(("/", "(document)")) for problem in refused.problems), refused.problems
        str(refused).encode("utf-8")
        return
    assert plan["count"] == len(plan["targets"]) == 2
    for item in plan["targets"]:
        gate_input = kbsync_gate.check_input(item["gateInput"])
        kbsync_contracts.validate("sync-request", gate_input["request"])
        assert_storable(gate_input["request"])
        assert len(item["executionName"]) <= 80


@pytest.mark.parametrize("field", ["requestedBy", "reason"])
@pytest.mark.parametrize("bad", UNSTORABLE)
def test_the_fanout_refuses_unstorable_schedule_text_naming_the_field(
    env: tuple[Any, RecordingStepFunctions], field: str, bad: str
) -> None:
    payload = {"trigger": "schedule", "requestedBy": "nightly", field: f"night{bad}"}
    with pytest.raises(kbsync_gate.InvalidRequest) as refused:
        nightly.lambda_handler({"action": "planNight", "payload": payload}, FakeLambdaContext())
    assert str(refused.value).startswith(f"invalid schedule payload: /{field}: text: contains ")


# ------------------------------------------------------------------ gate inputs (the sync-gate state machine)


@st.composite
def gate_inputs(draw: st.DrawFn) -> Any:
    request: dict[str, Any] = {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual"}
    for _ in range(draw(st.integers(0, 2))):
        request[draw(st.sampled_from(["knowledgeBaseId", "dataSourceId", "trigger", "reason", "requestedBy"]))] = draw(
            json_values | st.text(max_size=600) | unstorable_text
        )
    gate_input: dict[str, Any] = {"request": request}
    if draw(st.booleans()):
        gate_input["settleSeconds"] = draw(json_values)
    if draw(st.booleans()):
        gate_input["ifBusy"] = draw(st.sampled_from(["queue", "skip"]) | json_values)
    return draw(st.just(gate_input) | json_values)


@SETTINGS
@given(gate_inputs())
@example({"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual", "reason": 123}})
@example({"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual", "requestedBy": "r" * 201}})
def test_gate_accepts_only_what_the_sync_workflow_accepts(gate_input: Any) -> None:
    try:
        checked = kbsync_gate.check_input(gate_input)
    except kbsync_gate.InvalidRequest as refused:
        assert str(refused).startswith("invalid gate input: ")
        assert all(problem.startswith(("/", "(document)")) for problem in refused.problems), refused.problems
        str(refused).encode("utf-8")  # the Fail state's Cause: storable whatever was sent
        return
    assert kbsync_contracts.problems("sync-request", checked["request"]) == [], (
        "the gate takes the data source's lock for a request the ingestion-sync workflow will refuse"
    )


@pytest.mark.parametrize("field", ["reason", "requestedBy"])
@pytest.mark.parametrize("bad", UNSTORABLE)
def test_the_gate_refuses_unstorable_free_text_naming_the_field(field: str, bad: str) -> None:
    """EnterGate: a lone surrogate or a control character in the request is refused before the gate is taken, the
    problem named as a JSON pointer into the gate's input and the rule."""
    request = {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "manual", field: f"x{bad}"}
    with pytest.raises(kbsync_gate.InvalidRequest) as refused:
        kbsync_gate.check_input({"request": request})
    assert str(refused.value).startswith(f"invalid gate input: /request/{field}: text: contains ")


def test_gate_items_are_only_ever_targets_or_gates(env: tuple[Any, RecordingStepFunctions]) -> None:
    """The invariant checker itself catches a gate without a started execution."""
    table, sfn = env
    table.put_item(Item={"pk": f"DS#{KB}#{DS}", "sk": "GATE", "holder": "never-started"})
    with pytest.raises(AssertionError, match="never started"):
        assert_no_half_written_state(table, sfn)
    table.delete_item(Key={"pk": f"DS#{KB}#{DS}", "sk": "GATE"}, ConditionExpression=Attr("holder").exists())
