"""The freshness watch, end to end: the real template.yaml deployed on the local cloud, a target registered with
`kbsync targets add`'s code, its job records written by real syncs. A target whose last successful sync ended long
ago alerts TARGET_STALE exactly once over two checks (the first fired by its EventBridge Scheduler schedule); after a
successful sync the next check sends exactly one TARGET_FRESH_AGAIN, and the one after that nothing. The alerts are
read from an SQS queue subscribed to the alerts topic, as on-call receives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.002
PARAMETERS = {"PollIntervalSeconds": "5", "MaxPollIntervalSeconds": "30"}
DOCS = {"docs/guide.md": b"# Guide\n\nHow to sync.\n"}
DEADLINE_S = 120.0
CHECK = {"source": "kbsync.freshness-schedule", "scheduledTime": "2026-12-06T03:00:00Z"}


@pytest.fixture(scope="module")
def rig() -> Iterator[Any]:
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack
    from kbsync_localcloud.workflow import AlertInbox, WorkflowRig

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", PARAMETERS)
        names = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent", "events", "lambda")
        clients = {n: cloud.client(n) for n in names}
        inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name="kbsync-freshness-alerts")
        faults().reset()
        yield WorkflowRig(clients=clients, outputs=outputs, inbox=inbox, timeout=DEADLINE_S)


def wait(what: str, predicate: Any) -> Any:
    from kbsync_localcloud.workflow import wait_until

    return wait_until(predicate, DEADLINE_S, what, interval=0.05)


def check(rig: Any) -> dict[str, Any]:
    """One freshness check, as its schedule sends it (its contract), waited for."""
    answer = rig.clients["lambda"].invoke(FunctionName=rig.outputs["FreshnessFunctionName"], Payload=json.dumps(CHECK))
    result: dict[str, Any] = json.loads(answer["Payload"].read())
    assert "errorMessage" not in result, result
    return result


def sync(rig: Any, source: Any) -> dict[str, Any]:
    arn = rig.start(rig.request(source))
    assert rig.wait(arn)["status"] == "SUCCEEDED"
    (record,) = [r for r in rig.records(source) if r["executionArn"] == arn]
    assert record["status"] == "COMPLETE", record
    return record


def kinds(rig: Any, kb: str) -> list[str]:
    return [alert["attributes"]["alertType"] for alert in rig.inbox.alerts_for(kb)]


def test_a_stale_target_alerts_once_and_recovers_once(rig: Any) -> None:
    import boto3
    import kbsync_contracts
    import kbsync_keys
    from kbsync_localcloud.scheduler import fire_schedule

    from kbsync import targets

    source = rig.new_source(DOCS)
    kb, ds = source.knowledge_base_id, source.data_source_id
    registry = boto3.resource("dynamodb", region_name="us-east-1").Table(rig.outputs["TargetsTableName"])
    targets.add_target(registry, rig.clients["bedrock-agent"], kb, ds, nightly=False)

    first = sync(rig, source)
    assert check(rig)["alerted"] == []  # synced a moment ago: fresh, nothing to say
    # ... and then that sync was long ago: its record, as the sync wrote it, ended 30 h before now (> 26 h, the default)
    long_ago = datetime.now(UTC) - timedelta(hours=30)
    rig.clients["dynamodb"].update_item(
        TableName=rig.outputs["JobsTableName"],
        Key=kbsync_keys.client_key(kbsync_keys.key_of(first)),
        UpdateExpression="SET startedAt = :s, updatedAt = :u",
        ExpressionAttributeValues={
            ":s": {"S": (long_ago - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")},
            ":u": {"S": long_ago.strftime("%Y-%m-%dT%H:%M:%SZ")},
        },
    )

    fire_schedule(rig.outputs["FreshnessScheduleName"])  # the schedule's own target and input
    stale = wait("the TARGET_STALE alert", lambda: rig.inbox.alerts_for(kb))
    assert [a["attributes"]["alertType"] for a in stale] == ["TARGET_STALE"]
    kbsync_contracts.validate("alert", stale[0]["contract"])
    assert stale[0]["subject"] == f"[WARNING] kbsync TARGET_STALE: kb {kb} / ds {ds}"
    assert "Age:             30.0 h (allowed 26 h" in stale[0]["message"]
    assert f"kbsync sync --kb {kb} --ds {ds} --wait" in stale[0]["message"]
    item = registry.get_item(Key=kbsync_keys.target_key(kb, ds))["Item"]
    assert item["freshness"] == "STALE"
    assert check(rig)["alerted"] == []  # still stale (the scheduled check set it before publishing): no second alert
    assert kinds(rig, kb) == ["TARGET_STALE"]

    sync(rig, source)  # a successful sync now
    recovered = check(rig)
    assert [a["alertType"] for a in recovered["alerted"]] == ["TARGET_FRESH_AGAIN"]
    wait("the TARGET_FRESH_AGAIN alert", lambda: len(rig.inbox.alerts_for(kb)) == 2)
    fresh = rig.inbox.alerts_for(kb)[1]
    assert (fresh["attributes"]["alertType"], fresh["attributes"]["severity"]) == ("TARGET_FRESH_AGAIN", "INFO")
    assert check(rig)["alerted"] == []  # fresh and staying fresh: nothing
    assert kinds(rig, kb) == ["TARGET_STALE", "TARGET_FRESH_AGAIN"]
    item = registry.get_item(Key=kbsync_keys.target_key(kb, ds))["Item"]
    assert item["freshness"] == "FRESH"
    kbsync_contracts.validate("target-item", json.loads(json.dumps(item, default=int)))
