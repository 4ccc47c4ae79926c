"""functions/upload_router: one gated sync per burst per data source; bad events rejected quietly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kbsync_gate
import kbsync_keys
import kbsync_names
import kbsync_values
import pytest
from botocore.exceptions import ClientError

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.triggers.support import (
    DS,
    DS2,
    GATE_SM_ARN,
    KB,
    KB2,
    RecordingStepFunctions,
    aws,
    create_targets_table,
    register,
    s3_event,
)

app = load_function("upload_router")
logic = load_module("upload_router", "upload_router_logic")
Settings = load_module("upload_router", "upload_router_settings").Settings
SETTINGS = Settings(targets_table="targets", sync_gate_arn=GATE_SM_ARN)
NOW = 1_800_000_000


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        t = create_targets_table()
        register(t, KB, DS, "docs", ["tenant-a/"])
        register(t, KB2, DS2, "docs", ["tenant-b/"])
        yield t


def route(table: Any, sfn: RecordingStepFunctions, event: dict[str, Any]) -> dict[str, Any]:
    return logic.route_upload(event, table, sfn, SETTINGS, NOW)


def test_a_burst_to_one_data_source_starts_one_gated_sync(table: Any) -> None:
    sfn = RecordingStepFunctions()
    results = [route(table, sfn, s3_event("docs", f"tenant-a/file-{i}.pdf")) for i in range(100)]
    assert len(sfn.started) == 1
    assert sum(len(r["queued"]) for r in results) == 99
    started = sfn.started[0]
    assert started["stateMachineArn"] == GATE_SM_ARN
    assert started["name"].startswith(f"s3-{KB}-{DS}-")
    gate_input = json.loads(started["input"])
    assert gate_input["request"] == {
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "trigger": "s3",
        "requestedBy": "s3-upload",
        "reason": "Object Created: s3://docs/tenant-a/file-0.pdf",
    }
    assert (gate_input["settleSeconds"], gate_input["ifBusy"]) == (SETTINGS.settle_seconds, "queue")
    gate = table.get_item(Key=kbsync_keys.gate_key(KB, DS))["Item"]
    assert (gate["holder"], int(gate["changeSeq"])) == (started["name"], 100)
    # The first upload names the gated sync it started; each later one the data source it queued for and the holder.
    arn = kbsync_names.execution_arn(GATE_SM_ARN, started["name"])
    assert results[0] == {
        "bucket": "docs",
        "key": "tenant-a/file-0.pdf",
        "started": [{"knowledgeBaseId": KB, "dataSourceId": DS, "executionArn": arn}],
        "queued": [],
    }
    queued = {"knowledgeBaseId": KB, "dataSourceId": DS, "heldBy": started["name"]}
    assert [r["queued"] for r in results[1:]] == [[queued]] * 99


def test_two_data_sources_sync_independently(table: Any) -> None:
    sfn = RecordingStepFunctions()
    route(table, sfn, s3_event("docs", "tenant-a/x.md"))
    route(table, sfn, s3_event("docs", "tenant-b/y.md", detail_type="Object Deleted"))
    assert sorted(json.loads(s["input"])["request"]["dataSourceId"] for s in sfn.started) == [DS, DS2]


@pytest.mark.parametrize(("bucket", "key"), [("docs", "tenant-c/z.md"), ("other-bucket", "tenant-a/x.md")])
def test_an_unregistered_prefix_or_bucket_starts_nothing(table: Any, bucket: str, key: str) -> None:
    sfn = RecordingStepFunctions()
    result = route(table, sfn, s3_event(bucket, key))
    assert (result["started"], result["queued"], sfn.started) == ([], [], [])
    assert "Item" not in table.get_item(Key=kbsync_keys.gate_key(KB, DS))


def test_a_target_without_prefixes_covers_its_whole_bucket(table: Any) -> None:
    register(table, KB, "DSWHOLE001", "whole")
    sfn = RecordingStepFunctions()
    route(table, sfn, s3_event("whole", "any/where/file.txt"))
    assert len(sfn.started) == 1


def test_a_failed_start_gives_the_gate_back(table: Any) -> None:
    refused = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")
    with pytest.raises(ClientError):
        route(table, RecordingStepFunctions(fail_with=refused), s3_event("docs", "tenant-a/x.md"))
    assert "Item" not in table.get_item(Key=kbsync_keys.gate_key(KB, DS))
    sfn = RecordingStepFunctions()
    route(table, sfn, s3_event("docs", "tenant-a/x.md"))  # the retried event starts the sync
    assert len(sfn.started) == 1


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({"detail-type": "Object Created", "source": "aws.s3"}, "/detail: required: "),
        ({**s3_event("docs", "k"), "source": "aws.ec2"}, "source"),
        ({**s3_event("docs", "k"), "detail-type": "Object Restore Completed"}, "detail-type"),
        (
            {**s3_event("docs", "k"), "detail": {"bucket": {"name": "docs"}, "object": {}}},
            "/detail/object/key: required: ",
        ),
    ],
)
def test_a_malformed_event_is_rejected_with_a_logged_reason(
    table: Any, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], named: str
) -> None:
    sfn = RecordingStepFunctions()
    monkeypatch.setenv("TARGETS_TABLE", "targets")
    monkeypatch.setenv("SYNC_GATE_STATE_MACHINE_ARN", GATE_SM_ARN)
    monkeypatch.setattr(app, "SETTINGS", Settings.from_env())  # as at a cold start with the template's environment
    app.reset_clients()
    monkeypatch.setattr(app, "stepfunctions", lambda: sfn)
    result = app.lambda_handler(event, FakeLambdaContext())
    assert named in result["rejected"]
    assert sfn.started == []
    assert table.scan()["Count"] == 2  # only the two targets: no gate, no record


def test_gate_input_is_validated_before_any_gate_is_taken() -> None:
    with pytest.raises(kbsync_gate.InvalidRequest, match="/request/dataSourceId: pattern: "):
        kbsync_gate.check_input({"request": {"knowledgeBaseId": KB, "dataSourceId": "bad", "trigger": "s3"}})
    with pytest.raises(kbsync_gate.InvalidRequest, match="ifBusy"):
        kbsync_gate.check_input(
            {"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "s3"}, "ifBusy": "x"}
        )
    with pytest.raises(kbsync_gate.InvalidRequest, match="unexpected"):
        kbsync_gate.check_input({"request": {"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "s3", "x": 1}})


def test_execution_names_follow_the_team_convention() -> None:
    name = kbsync_names.execution_name("schedule", KB, DS)
    prefix, stamp, suffix = name.rsplit("-", 2)
    assert prefix == f"schedule-{KB}-{DS}"
    assert len(stamp) == 15 and stamp[8] == "T"
    assert len(suffix) == 4 and suffix.isalnum() and suffix.lower() == suffix
    assert (
        kbsync_names.execution_arn(GATE_SM_ARN, name)
        == f"arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:{name}"
    )


def test_prefixes_match_url_encoded_keys_too() -> None:
    assert kbsync_values.prefix_matches("tenant%20a/red+flower.jpg", ["tenant a/"])
    assert kbsync_values.prefix_matches("tenant-a/x.md", ["tenant-a/"])
    assert not kbsync_values.prefix_matches("tenant-b/x.md", ["tenant-a/"])
    assert kbsync_values.prefix_matches("anything", [])


def test_the_upload_router_settings_are_read_from_the_environment_with_their_documented_defaults() -> None:
    assert Settings.from_env({}) == Settings()
    tuned = Settings.from_env({"SYNC_GATE_STATE_MACHINE_ARN": GATE_SM_ARN, "SETTLE_SECONDS": "0"})
    assert (tuned.sync_gate_arn, tuned.settle_seconds, tuned.gate_lease_seconds) == (GATE_SM_ARN, 0, 172800)
