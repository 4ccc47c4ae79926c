"""`kbsync status` shows each registered target's age and lag from the TARGET item and the job records (never from
executions); `kbsync targets add --max-age-hours N` sets a target's allowed age and a re-registration keeps what the
upload router and the freshness check wrote. moto in memory, no network, no threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import boto3
import kbsync_contracts
import kbsync_keys
import pytest

from kbsync import targets
from kbsync.cli import service
from kbsync.cli.aws import Stack
from kbsync.cli.render import Style
from kbsync.cli.views import freshness_table
from tests.triggers.support import aws, create_jobs_table, create_targets_table, register

KB, DS, KB2, DS2 = "KBAAAAAAA1", "DSAAAAAAA1", "KBBBBBBBB2", "DSBBBBBBB2"
NOW = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)  # registered 2026-11-22T00:00:00Z (support.register): 30 h


class Bedrock:
    """GetDataSource as Bedrock answers it for an S3 data source."""

    def get_data_source(self, knowledgeBaseId: str, dataSourceId: str) -> dict[str, Any]:
        s3 = {"bucketArn": "arn:aws:s3:::docs", "inclusionPrefixes": ["tenant-a/"]}
        return {"dataSource": {"name": "docs", "dataSourceConfiguration": {"type": "S3", "s3Configuration": s3}}}


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> Iterator[service.Services]:
    with aws(monkeypatch):
        create_targets_table("targets")
        create_jobs_table("jobs")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        stack = Stack("kbsync", "arn:aws:states:us-east-1:123456789012:stateMachine:s", "jobs",
                      {"TargetsTableName": "targets"}, {})  # fmt: skip
        yield service.Services(stack, ddb=ddb)


def table(name: str) -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(name)


def record(kb: str, ds: str, status: str, started: str, ended: str) -> None:
    name = f"manual-{kb}-{ds}-20261122T010000-ab12"
    item = {
        "pk": kbsync_keys.ds_pk(kb, ds),
        "sk": kbsync_keys.JOB_SK_FORMAT.format(started, name, 1),
        "knowledgeBaseId": kb,
        "dataSourceId": ds,
        "status": status,
        "trigger": "manual",
        "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:{name}",
        "attempt": 1,
        "startedAt": started,
        "updatedAt": ended,
    }
    kbsync_contracts.validate("job-record", item)
    table("jobs").put_item(Item=item)


def test_status_rows_show_age_lag_and_never_synced(svc: service.Services) -> None:
    register(table("targets"), KB, DS, "docs")
    register(table("targets"), KB2, DS2, "docs")
    record(KB, DS, "COMPLETE", "2026-11-23T01:00:00Z", "2026-11-23T02:00:00Z")
    record(KB, DS, "FAILED", "2026-11-23T03:00:00Z", "2026-11-23T03:30:00Z")  # newer, but no sync that ran
    table("targets").update_item(
        Key=kbsync_keys.target_key(KB, DS),
        UpdateExpression="SET pendingSince = :p, lastChangeAt = :c, freshness = :f, maxAgeHours = :m",
        ExpressionAttributeValues={":p": "2026-11-23T02:30:00Z", ":c": "2026-11-23T02:45:00Z", ":f": "LAGGING",
                                   ":m": 48},
    )  # fmt: skip
    synced, never = service.freshness(svc, now=NOW)
    assert asdict(synced) == {
        "knowledge_base_id": KB,
        "data_source_id": DS,
        "freshness": "LAGGING",
        "last_success": "2026-11-23T02:00:00Z",
        "last_status": "COMPLETE",
        "age_seconds": 4 * 3600,
        "max_age_hours": 48,
        "pending_since": "2026-11-23T02:30:00Z",
        "lag_seconds": int(3.5 * 3600),
    }
    assert (never.freshness, never.last_success, never.age_seconds, never.lag_seconds) == ("FRESH", None, 30 * 3600, 0)
    text = freshness_table([synced, never], Style(tty=False, colour=False, width=0))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["KNOWLEDGE", "BASE", "DATA"]
    assert "2026-11-23 02:00:00Z (COMPLETE)" in lines[1] and "4h00m" in lines[1] and "48h" in lines[1]
    assert "never synced" in lines[2] and "default" in lines[2] and "30h00m" in lines[2]
    assert json.loads(json.dumps([asdict(r) for r in (synced, never)]))[1]["last_success"] is None


def test_a_sync_started_after_the_last_change_covers_it(svc: service.Services) -> None:
    register(table("targets"), KB, DS, "docs")
    table("targets").update_item(
        Key=kbsync_keys.target_key(KB, DS),
        UpdateExpression="SET pendingSince = :p, lastChangeAt = :p",
        ExpressionAttributeValues={":p": "2026-11-23T01:00:00Z"},
    )
    record(KB, DS, "PARTIAL", "2026-11-23T01:10:00Z", "2026-11-23T01:20:00Z")
    (row,) = service.freshness(svc, KB, DS, now=NOW)
    assert (row.pending_since, row.lag_seconds, row.last_status) == (None, 0, "PARTIAL")
    assert service.freshness(svc, KB2, DS2, now=NOW) == []  # not registered: no row, no error


def test_max_age_hours_is_set_kept_and_checked(svc: service.Services) -> None:
    registry = table("targets")
    added = targets.add_target(registry, Bedrock(), KB, DS, max_age_hours=48)
    assert added.created and registry.get_item(Key=kbsync_keys.target_key(KB, DS))["Item"]["maxAgeHours"] == 48
    registry.update_item(
        Key=kbsync_keys.target_key(KB, DS),
        UpdateExpression="SET pendingSince = :p, lastChangeAt = :p, freshness = :f",
        ExpressionAttributeValues={":p": "2026-11-23T01:00:00Z", ":f": "STALE"},
    )
    assert not targets.add_target(registry, Bedrock(), KB, DS).changed  # without the option: kept, unchanged
    changed = targets.add_target(registry, Bedrock(), KB, DS, nightly=False)
    item = registry.get_item(Key=kbsync_keys.target_key(KB, DS))["Item"]
    assert changed.changed and (item["nightly"], item["maxAgeHours"]) == (False, 48)
    assert (item["pendingSince"], item["freshness"]) == ("2026-11-23T01:00:00Z", "STALE")  # the facts are kept
    kbsync_contracts.validate("target-item", json.loads(json.dumps(item, default=int)))
    with pytest.raises(targets.TargetError, match="--max-age-hours 0: give a whole number of hours from 1 to 8760"):
        targets.add_target(registry, Bedrock(), KB, DS, max_age_hours=0)
