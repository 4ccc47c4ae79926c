"""The TargetsTable's items are contracts: schemas/pacer-item.schema.json and schemas/target-item.schema.json.

Producers write items valid against them (functions/pacer and functions/catch_all through kbsync_pacer; the
registry kbsync/targets.py), consumers read items valid against them (the same functions; the upload router and the
nightly fan-out read target items), and the fields the core names are exactly the schema's. In moto's in-memory
DynamoDB, so every item is what DynamoDB returns (numbers as Decimal).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import kbsync_contracts
import kbsync_keys
import kbsync_pacer
import kbsync_values
import pytest
from botocore.stub import Stubber

from kbsync import targets as registry
from tests.helpers.functions import load_function, load_module
from tests.triggers.support import DS, DS2, KB, KB2, aws, create_targets_table
from tests.unit.test_trigger_pacer_and_plan import FakeBedrockJobs
from tests.unit.test_trigger_registry import FakeBedrockAgent

pacer_logic = load_module("pacer", "pacer_logic")
plan_data = load_module("nightly_plan", "nightly_plan_data")
router_data = load_module("upload_router", "upload_router_data")
catch_all = load_function("catch_all")
NOW = 1_800_000_000


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


def stored(table: Any, key: dict[str, str]) -> dict[str, Any]:
    item: dict[str, Any] = kbsync_values.plain(table.get_item(Key=key, ConsistentRead=True)["Item"])
    return item


def pacer_problems(table: Any) -> list[str]:
    return kbsync_contracts.problems("pacer-item", stored(table, kbsync_keys.PACER_KEY))


# ---------------------------------------------------------------- the pacer item


def test_the_fields_the_core_names_are_the_schemas() -> None:
    schema = kbsync_contracts.schema("pacer-item")
    top = {
        kbsync_pacer.VERSION,
        kbsync_pacer.SLOTS,
        kbsync_pacer.WAITERS,
        kbsync_pacer.QUEUE_SEQ,
        kbsync_pacer.START_HOLDER,
        kbsync_pacer.START_LEASE_UNTIL,
    }
    assert set(schema["properties"]) == top | set(kbsync_pacer.KEY)
    assert {k: v["const"] for k, v in schema["properties"].items() if k in ("pk", "sk")} == kbsync_pacer.KEY
    slot = {
        kbsync_pacer.SLOT_LEASE_UNTIL,
        kbsync_pacer.SLOT_STARTED,
        kbsync_pacer.SLOT_SEEN_RUNNING,
        kbsync_pacer.SLOT_FINISHED,
    }
    assert set(schema["$defs"]["slot"]["properties"]) == slot | {"knowledgeBaseId", "dataSourceId"}
    assert set(schema["$defs"]["waiter"]["properties"]) == {kbsync_pacer.WAITER_SEQ, kbsync_pacer.WAITER_SEEN_AT}


def test_every_write_of_the_sync_gate_and_the_catch_all_leaves_a_valid_pacer_item(table: Any) -> None:
    """Grant, refusals (queue), spacing, token back, reclaim of a finished job, releases: valid after each."""
    bedrock = FakeBedrockJobs(running=set())
    for i in range(pacer_logic.DEFAULTS.job_slots):
        holder, kb_id, ds = f"h{i}", f"KB{i:08d}", f"DS{i:08d}"
        assert pacer_logic.acquire_slot(table, holder, kb_id, NOW, ds=ds, bedrock=bedrock)["granted"] is True
        assert pacer_problems(table) == []
        refused = pacer_logic.acquire_slot(table, "waiting", KB, NOW, ds=DS)
        assert refused["reason"] == (
            "start spacing" if i < pacer_logic.DEFAULTS.job_slots - 1 else "account job slots full"
        )
        assert pacer_problems(table) == []
        pacer_logic.release_pacer(table, holder, slot=False, start_token=True)
        assert pacer_problems(table) == []
    bedrock.running.add("DS00000000")
    refused = pacer_logic.acquire_slot(table, "waiting", KB, NOW, ds=DS, bedrock=bedrock)
    assert refused["reason"] == "account job slots full" and pacer_problems(table) == []
    assert stored(table, kbsync_keys.PACER_KEY)["slots"]["h0"]["seenRunning"] is True
    bedrock.running.clear()
    assert pacer_logic.acquire_slot(table, "waiting", KB, NOW, ds=DS, bedrock=bedrock)["granted"] is True
    item = stored(table, kbsync_keys.PACER_KEY)
    assert item["slots"]["h0"]["finished"] is True and item["startHolder"] == "waiting"
    assert pacer_problems(table) == []
    assert catch_all.release_pacer(table, "waiting") is True
    assert pacer_problems(table) == []
    pacer_logic.release_pacer(table, "h1", slot=True, start_token=True)
    assert pacer_problems(table) == []
    assert set(stored(table, kbsync_keys.PACER_KEY)["slots"]) == {"h0", "h2", "h3", "h4"}


def full_pacer_item() -> dict[str, Any]:
    """A pacer item with every field the contract allows, valid against it."""
    item = {
        **kbsync_keys.PACER_KEY,
        "version": 7,
        "slots": {
            "s3-dead": {"knowledgeBaseId": KB, "dataSourceId": DS, "leaseUntil": NOW + 3600, "started": True},
            "schedule-running": {
                "knowledgeBaseId": KB2,
                "dataSourceId": DS2,
                "leaseUntil": NOW + 3600,
                "started": True,
                "seenRunning": True,
            },
            "manual-done": {
                "knowledgeBaseId": "KB00000003",
                "dataSourceId": "DS00000003",
                "leaseUntil": NOW + 3600,
                "started": True,
                "seenRunning": True,
                "finished": True,
            },
        },
        "waiters": {"s3-dead": {"seq": 4, "seenAt": NOW - 10}, "s3-next": {"seq": 5, "seenAt": NOW - 5}},
        "queueSeq": 5,
        "startHolder": "s3-dead",
        "startLeaseUntil": NOW + 900,
    }
    assert kbsync_contracts.problems("pacer-item", item) == []
    return item


def test_the_catch_all_reads_a_valid_pacer_item_and_releases_all_a_dead_holder_held(table: Any) -> None:
    table.put_item(Item=full_pacer_item())
    assert catch_all.release_pacer(table, "s3-dead") is True
    item = stored(table, kbsync_keys.PACER_KEY)
    assert set(item["slots"]) == {"schedule-running", "manual-done"} and set(item["waiters"]) == {"s3-next"}
    assert "startHolder" not in item and "startLeaseUntil" not in item and item["version"] == 8
    assert kbsync_contracts.problems("pacer-item", item) == []
    assert catch_all.release_pacer(table, "s3-dead") is False, "nothing left to release"


def test_the_sync_gate_reads_a_valid_pacer_item(table: Any) -> None:
    """The token a holder has, the busy knowledge base, the finished slot and the queue are all read."""
    table.put_item(Item=full_pacer_item())
    spacing = pacer_logic.acquire_slot(table, "s3-next", "KB00000004", NOW, ds="DS00000004")
    assert (spacing["reason"], spacing["position"]) == ("start spacing", 1)  # s3-dead is ahead in the queue
    busy = pacer_logic.acquire_slot(table, "s3-other", KB2, NOW, ds=DS)
    assert busy["reason"] == "knowledge base busy"
    assert pacer_logic.acquire_slot(table, "s3-dead", KB, NOW, ds=DS)["granted"] is True  # it holds both already
    assert pacer_problems(table) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda i: i.update(startHoldr=i.pop("startHolder")), "/startHoldr: additionalProperties"),
        (lambda i: i.pop("startLeaseUntil"), ": dependentRequired"),
        (lambda i: i["slots"]["s3-dead"].update(leaseUntil="soon"), "/slots/s3-dead/leaseUntil: type"),
        (lambda i: i["waiters"]["s3-next"].pop("seq"), "/waiters/s3-next/seq: required"),
        (lambda i: i["slots"].update({"a b": i["slots"].pop("s3-dead")}), "/slots: pattern"),
        (lambda i: i.update(sk="ACCOUNTS"), "/sk: const"),
    ],
)
def test_the_pacer_contract_refuses_a_renamed_or_malformed_field(change: Any, problem: str) -> None:
    item = full_pacer_item()
    change(item)
    assert any(problem in found for found in kbsync_contracts.problems("pacer-item", item)), problem


# ---------------------------------------------------------------- the target item


def test_the_registry_writes_valid_target_items(table: Any) -> None:
    bedrock = FakeBedrockAgent()
    bedrock.add_s3(KB, DS, "docs", ["tenant-a/", "tenant b/"])
    bedrock.add_s3(KB, DS2, "docs")
    registry.add_target(table, bedrock, KB, DS)
    registry.add_target(table, bedrock, KB, DS2, nightly=False)
    for ds in (DS, DS2):
        item = stored(table, kbsync_keys.target_key(KB, ds))
        assert kbsync_contracts.problems("target-item", item) == []
        assert item["pk"] == kbsync_keys.ds_pk(KB, ds)
    registry.set_nightly(table, KB, DS2, True)
    assert kbsync_contracts.problems("target-item", stored(table, kbsync_keys.target_key(KB, DS2))) == []


def target_item(ds: str, prefixes: list[str], nightly: bool) -> dict[str, Any]:
    item = {
        **kbsync_keys.target_key(KB, ds),
        "knowledgeBaseId": KB,
        "dataSourceId": ds,
        "dataSourceName": "docs",
        "bucketName": "docs",
        "inclusionPrefixes": prefixes,
        "nightly": nightly,
        "registeredAt": "2026-11-22T05:04:05Z",
    }
    assert kbsync_contracts.problems("target-item", item) == []
    return item


def test_the_router_the_night_and_the_registry_read_valid_target_items(table: Any) -> None:
    table.put_item(Item=target_item(DS, ["tenant-a/"], nightly=True))
    table.put_item(Item=target_item(DS2, [], nightly=False))
    routed = router_data.targets_for_object(table, "docs", "tenant-a/x.md")
    assert sorted(t["dataSourceId"] for t in routed) == [DS, DS2]
    assert [t["dataSourceId"] for t in router_data.targets_for_object(table, "docs", "tenant-b/x.md")] == [DS2]
    assert [t["dataSourceId"] for t in plan_data.nightly_targets(table)] == [DS]
    read = registry.get_target(table, KB, DS)
    assert read is not None and read.to_item() == target_item(DS, ["tenant-a/"], nightly=True)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda i: i.update(bucket=i.pop("bucketName")), "/bucketName: required"),
        (lambda i: i.update(bucketName=""), "/bucketName: minLength"),
        (lambda i: i.update(pk="DS#KB12345678"), "/pk: pattern"),
        (lambda i: i.update(nightly="yes"), "/nightly: type"),
        (lambda i: i.update(registeredAt="2026-11-22 05:04:05"), "/registeredAt: pattern"),
    ],
)
def test_the_target_contract_refuses_a_renamed_or_malformed_field(change: Any, problem: str) -> None:
    item = target_item(DS, [], nightly=True)
    change(item)
    assert any(problem in found for found in kbsync_contracts.problems("target-item", item)), problem


def test_the_once_per_execution_alert_marker_expires_by_the_tables_ttl_a_month_after_it_is_claimed(table: Any) -> None:
    """The marker (kbsync_jobs) carries the attribute the TargetsTable's TTL reads, 30 days on: redeliveries of the
    same death within that month find it; DynamoDB deletes it afterwards, so markers never pile up."""
    import kbsync_jobs

    from tests.helpers.sam import load_template

    ttl = load_template()["Resources"]["TargetsTable"]["Properties"]["TimeToLiveSpecification"]
    arn = "arn:aws:states:us-east-1:123456789012:execution:kbsync-sync-gate-0a1b2c3d:s3-KB12345678-DS12345678-x"
    assert kbsync_jobs.claim_execution_alert(table, arn, 1_000) is True
    marker = stored(table, kbsync_keys.alert_marker_key(arn))
    assert ttl == {"AttributeName": "expiresAt", "Enabled": True}
    assert marker["expiresAt"] == 1_000 + 30 * 24 * 3600
    assert kbsync_jobs.claim_execution_alert(table, arn, 2_000) is False
    kbsync_jobs.unclaim_execution_alert(table, arn)
    assert kbsync_jobs.claim_execution_alert(table, arn, 3_000) is True


def test_every_read_of_the_pacer_item_is_strongly_consistent() -> None:
    """The pacer item is read, changed and written back many times a second at night: a read must see the last write
    (GetItem is eventually consistent unless ConsistentRead is true:
    https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/DynamoDBv2/MDynamoDBGetItemGetItemRequest.html), or a
    decision is made on a stale item and its conditional write fails, or a slot that was freed is still seen busy.
    moto's DynamoDB is always consistent, so the request itself is checked (Stubber: the real client's shapes)."""
    pacer_table = boto3.resource(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).Table("targets")
    # The Table resource's parameters, before it serializes them (what Stubber compares): plain values.
    consistent = {"TableName": "targets", "Key": kbsync_keys.PACER_KEY, "ConsistentRead": True}
    stored_item = {**{k: {"S": v} for k, v in kbsync_keys.PACER_KEY.items()}, kbsync_pacer.VERSION: {"N": "7"}}
    with Stubber(pacer_table.meta.client) as stub:
        stub.add_response("get_item", {"Item": stored_item}, consistent)
        stub.add_response("get_item", {}, consistent)
        assert kbsync_pacer.read(pacer_table)[1] == 7
        assert kbsync_pacer.release(pacer_table, "holder", slot=True, start_token=True) is False  # no pacer yet
        stub.assert_no_pending_responses()
