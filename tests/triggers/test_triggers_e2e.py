"""Triggers end to end: the real template.yaml on the local cloud — S3 -> EventBridge -> upload router ->
sync gate -> ingestion-sync -> Bedrock emulator, the nightly schedule, the catch-all — one shared deployment."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters.aws_limits import inject_service_event
from kbsync_localcloud.bench.triggers import TriggerRig, job_durations

from kbsync import targets as registry

pytestmark = pytest.mark.e2e

#: 1 virtual s = 10 ms: settle 30 s = 0.3 s, a 10-file job ~20 s = 0.2 s, start spacing 10 s = 0.1 s.
TIME_SCALE = 0.01
QUIET_S = 90


@pytest.fixture(scope="module")
def rig() -> Iterator[TriggerRig]:
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=TIME_SCALE):
        yield TriggerRig.deploy({"SettleSeconds": "30"})


@pytest.fixture(autouse=True)
def fresh(rig: TriggerRig) -> Iterator[None]:
    """Each test starts quiet, with Bedrock's default quotas and an empty alert inbox."""
    from kbsync_localcloud.bedrock import faults

    rig.wait_until_quiet(QUIET_S)
    faults().reset()
    rig.drain_alerts()
    rig.alerts.clear()
    yield
    faults().reset()


def upload(rig: TriggerRig, target: registry.Target, name: str) -> None:
    key = f"{target.inclusion_prefixes[0]}{name}"
    rig.clients["s3"].put_object(Bucket=target.bucket_name, Key=key, Body=b"some text")


def statuses(rig: TriggerRig, target: registry.Target) -> list[str]:
    return [job["status"] for job in rig.jobs(target)]


def gate_of(rig: TriggerRig, target: registry.Target) -> dict[str, Any] | None:
    key = {"pk": target.pk, "sk": "GATE"}
    item: dict[str, Any] | None = rig.targets_table.get_item(Key=key, ConsistentRead=True).get("Item")
    return item


def test_uploads_to_two_data_sources_sync_independently(rig: TriggerRig) -> None:
    a, b = rig.seed_targets(2, prefix_root="indep")
    for i in range(3):
        upload(rig, a, f"a-{i}.md")
        upload(rig, b, f"b-{i}.md")
    rig.wait_until_quiet(QUIET_S)
    # Each data source gets its own sync: one job, or one more round if an upload landed after its job started
    # (timing on a loaded machine decides which; both keep the promise: never a job per file, never shared).
    for source in (a, b):
        jobs = statuses(rig, source)
        assert 1 <= len(jobs) <= 2 and set(jobs) == {"COMPLETE"}, jobs
    assert gate_of(rig, a) is None and gate_of(rig, b) is None
    assert rig.drain_alerts() == []


def test_an_upload_under_an_unregistered_prefix_starts_nothing(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="registered")
    gates_before = len(rig.executions("SyncGateStateMachineArn"))
    rig.clients["s3"].put_object(Bucket=target.bucket_name, Key="unregistered/x.md", Body=b"x")
    rig.wait_until_quiet(QUIET_S)
    assert len(rig.executions("SyncGateStateMachineArn")) == gates_before
    assert statuses(rig, target) == []


def test_a_target_registered_twice_is_one_target(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="twice")
    again = registry.add_target(
        rig.targets_table, rig.clients["bedrock-agent"], target.knowledge_base_id, target.data_source_id
    )
    assert (again.created, again.changed) == (False, False)
    same = [
        t
        for t in registry.list_targets(rig.targets_table)
        if (t.knowledge_base_id, t.data_source_id) == (target.knowledge_base_id, target.data_source_id)
    ]
    assert same == [target]


def test_a_nightly_run_of_20_targets_syncs_every_target_and_none_fails_by_quota(rig: TriggerRig) -> None:
    seeded = rig.seed_targets(20, prefix_root="night")
    for target in seeded:
        upload(rig, target, "doc.md")  # each upload syncs once (gate), then the night syncs again
    rig.wait_until_quiet(QUIET_S)
    before = {t.data_source_id: len(statuses(rig, t)) for t in seeded}
    fanout = rig.fire_nightly()
    rig.wait_until_quiet(QUIET_S)
    described = rig.clients["stepfunctions"].describe_execution(executionArn=fanout)
    assert described["status"] == "SUCCEEDED", described.get("error")
    night = json.loads(described["output"])  # counts only: the fan-out keeps no per-target list (its state stays small)
    assert night["synced"] == night["count"] >= 20 and (night["notSynced"], night["notReached"]) == (0, 0)
    for target in seeded:
        jobs = statuses(rig, target)
        assert len(jobs) == before[target.data_source_id] + 1
        assert set(jobs) == {"COMPLETE"}
    assert rig.drain_alerts() == []  # no START_FAILED (quota) alert, no other alert


def test_a_nightly_run_overlapping_an_upload_sync_starts_no_duplicate_job(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="overlap")
    sfn = rig.clients["stepfunctions"]
    with job_durations({target.data_source_id: 1000}):
        upload(rig, target, "fresh.md")  # the gate is held: settling, then a 1000 s job
        holder = (gate_of(rig, target) or {}).get("holder")
        assert holder is not None
        fanout = rig.fire_nightly()
        rig.wait_until_quiet(QUIET_S)
    described = sfn.describe_execution(executionArn=fanout)
    assert described["status"] == "SUCCEEDED", described.get("error")
    assert json.loads(described["output"])["notSynced"] == 0
    night_gates = f"schedule-{target.knowledge_base_id}-{target.data_source_id}-"
    mine = [e for e in rig.executions("SyncGateStateMachineArn") if e["name"].startswith(night_gates)]
    assert [r["status"] for r in mine] == ["SUCCEEDED"]
    nightly_gate = json.loads(sfn.describe_execution(executionArn=mine[0]["executionArn"])["output"])
    entry = nightly_gate["gate"]["entry"]
    assert (entry["outcome"], entry["heldBy"]) == ("NOT_STARTED", holder)
    assert statuses(rig, target) == ["COMPLETE"]
    assert rig.drain_alerts() == []


def gates(rig: TriggerRig) -> dict[str, Any]:
    """Where request_sync reads the gate's decision: the TargetsTable's GATE item (a low-level DynamoDB client)."""
    return {"ddb": rig.clients["dynamodb"], "targets_table": rig.outputs["TargetsTableName"]}


def test_a_manual_sync_while_one_runs_is_queued_not_a_conflict(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="manual")
    sfn, gate = rig.clients["stepfunctions"], rig.outputs["SyncGateStateMachineArn"]
    kb, ds = target.knowledge_base_id, target.data_source_id
    with job_durations({ds: 200}):
        first = registry.request_sync(sfn, gate, kb, ds, **gates(rig), reason="first", timeout_s=20)
        second = registry.request_sync(sfn, gate, kb, ds, **gates(rig), reason="second", timeout_s=20)
        rig.wait_until_quiet(QUIET_S)
    assert first.outcome == "STARTED"
    assert second.outcome == "QUEUED"
    assert second.held_by == first.execution_arn.rsplit(":", 1)[-1]
    assert "already running" in second.message() and "queued" in second.message()
    assert statuses(rig, target) == ["COMPLETE", "COMPLETE"]  # the queued request got its own round
    assert rig.drain_alerts() == []


def test_an_execution_killed_mid_job_alerts_once_and_the_data_source_syncs_again(rig: TriggerRig) -> None:
    from kbsync_localcloud.bedrock import faults

    [target] = rig.seed_targets(1, prefix_root="killed")
    sfn, gate = rig.clients["stepfunctions"], rig.outputs["SyncGateStateMachineArn"]
    kb, ds = target.knowledge_base_id, target.data_source_id
    faults().hang_next_jobs(1)
    assert registry.request_sync(sfn, gate, kb, ds, **gates(rig), timeout_s=20).outcome == "STARTED"
    child = rig.wait_for(
        "the ingestion-sync execution polling its job",
        lambda: (
            statuses(rig, target) == ["IN_PROGRESS"]
            and next(
                (
                    e
                    for e in rig.executions("IngestionSyncStateMachineArn")
                    if ds in e["name"] and e["status"] == "RUNNING"
                ),
                None,
            )
        ),
        timeout_s=30,
    )
    sfn.stop_execution(executionArn=child["executionArn"], error="Operator", cause="killed by the test")
    rig.wait_until_quiet(QUIET_S)
    alerts = rig.drain_alerts()
    assert len(alerts) == 1
    assert alerts[0]["attributes"]["alertType"] == "EXECUTION_DIED"
    assert alerts[0]["attributes"]["dataSourceId"] == ds
    assert gate_of(rig, target) is None  # released: the gate execution caught its child's death

    hung = rig.jobs(target)[0]
    rig.clients["bedrock-agent"].stop_ingestion_job(
        knowledgeBaseId=kb, dataSourceId=ds, ingestionJobId=hung["ingestionJobId"]
    )
    assert registry.request_sync(sfn, gate, kb, ds, **gates(rig), timeout_s=20).outcome == "STARTED"
    rig.wait_until_quiet(QUIET_S)
    assert statuses(rig, target) == ["STOPPED", "COMPLETE"]
    assert rig.drain_alerts() == alerts  # nothing more


def test_a_killed_gate_execution_is_released_by_the_catch_all(rig: TriggerRig) -> None:
    [target] = rig.seed_targets(1, prefix_root="gatekill")
    sfn = rig.clients["stepfunctions"]
    with job_durations({target.data_source_id: 10_000}):
        upload(rig, target, "doc.md")
        holder = str((gate_of(rig, target) or {})["holder"])
        rig.wait_for(
            "the gate's ingestion-sync execution to run its job",
            lambda: statuses(rig, target) == ["IN_PROGRESS"],
            timeout_s=30,
        )
        gate_arn = rig.outputs["SyncGateStateMachineArn"].replace(":stateMachine:", ":execution:") + ":" + holder
        sfn.stop_execution(executionArn=gate_arn)
        rig.wait_for("the catch-all to release the gate", lambda: gate_of(rig, target) is None, timeout_s=30)
        alerts = rig.wait_for("the EXECUTION_DIED alert", rig.drain_alerts, timeout_s=10)
    assert [a["attributes"]["alertType"] for a in alerts] == ["EXECUTION_DIED"]
    for execution in rig.executions("IngestionSyncStateMachineArn"):
        if target.data_source_id in execution["name"] and execution["status"] == "RUNNING":
            sfn.stop_execution(executionArn=execution["executionArn"])
    for job in rig.jobs(target):
        if job["status"] in ("STARTING", "IN_PROGRESS"):
            rig.clients["bedrock-agent"].stop_ingestion_job(
                knowledgeBaseId=target.knowledge_base_id,
                dataSourceId=target.data_source_id,
                ingestionJobId=job["ingestionJobId"],
            )


@pytest.mark.forged_events  # malformed S3 events sent through EventBridge, on purpose
def test_malformed_events_and_schedule_payloads_are_rejected_without_alert_or_record(rig: TriggerRig) -> None:
    sfn = rig.clients["stepfunctions"]
    gates_before = len(rig.executions("SyncGateStateMachineArn"))
    # PutEvents refuses aws.* sources (as AWS does): a malformed S3 event arrives through the path S3 itself uses.
    inject_service_event({"Source": "aws.s3", "DetailType": "Object Created", "Detail": json.dumps({"bucket": {}})})
    bad = sfn.start_execution(
        stateMachineArn=rig.outputs["NightlyFanOutStateMachineArn"],
        name="schedule-bad-payload",
        input=json.dumps({"trigger": "schedule"}),
    )
    bad_gate = sfn.start_execution(
        stateMachineArn=rig.outputs["SyncGateStateMachineArn"],
        name="manual-bad-gate-input",
        input=json.dumps({"request": {"knowledgeBaseId": "nope", "dataSourceId": "DSAAAAAAA1", "trigger": "manual"}}),
    )
    rig.wait_until_quiet(QUIET_S)
    for arn in (bad["executionArn"], bad_gate["executionArn"]):
        described = sfn.describe_execution(executionArn=arn)
        assert (described["status"], described["error"]) == ("FAILED", "KbSync.InvalidRequest")
    assert len(rig.executions("SyncGateStateMachineArn")) == gates_before + 1  # only the rejected one
    assert [i for i in rig.targets_table.scan()["Items"] if i["sk"] == "GATE"] == []
    assert rig.drain_alerts() == []
    dlq = rig.clients["sqs"].receive_message(QueueUrl=rig.outputs["DeadLetterQueueUrl"]).get("Messages", [])
    assert dlq == []


def _state_span(history: list[dict[str, Any]], name: str) -> float | None:
    """Seconds between entering and leaving state `name` (None if it was not entered)."""
    entered = [
        e for e in history if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == name
    ]
    exited = [e for e in history if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == name]
    if not entered or not exited:
        return None
    return float((exited[0]["timestamp"] - entered[0]["timestamp"]).total_seconds())


def test_the_gate_settles_for_the_seconds_its_input_asks_and_defaults_to_none(rig: TriggerRig) -> None:
    """An upload's gate waits settleSeconds before its round captures the changes (a bulk upload lands in one job);
    a gate input without settleSeconds (manual and nightly runs) does not wait and does not fail."""
    settled, unsettled = rig.seed_targets(2, prefix_root="settle")
    settle_virtual_s = 250  # 2.5 s of real time at TIME_SCALE
    sfn, gate = rig.clients["stepfunctions"], rig.outputs["SyncGateStateMachineArn"]

    def gate_input(target: registry.Target, **extra: Any) -> str:
        request = {"knowledgeBaseId": target.knowledge_base_id, "dataSourceId": target.data_source_id}
        return json.dumps({"request": {**request, "trigger": "manual", "reason": "settle test"}, **extra})

    with_settle = sfn.start_execution(
        stateMachineArn=gate, name="settle-250", input=gate_input(settled, settleSeconds=settle_virtual_s)
    )
    without = sfn.start_execution(stateMachineArn=gate, name="settle-default", input=gate_input(unsettled))
    rig.wait_until_quiet(QUIET_S)
    for arn in (with_settle["executionArn"], without["executionArn"]):
        assert sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED", arn
    settled_history, unsettled_history = rig.history(with_settle["executionArn"]), rig.history(without["executionArn"])
    assert _state_span(settled_history, "DefaultSettleSeconds") is None  # the input's value, not the default
    span = _state_span(settled_history, "Settle")
    assert span is not None and span >= settle_virtual_s * TIME_SCALE * 0.9, span
    assert _state_span(unsettled_history, "DefaultSettleSeconds") is not None
    assert statuses(rig, settled) == ["COMPLETE"] and statuses(rig, unsettled) == ["COMPLETE"]
    # The gate's output names the ingestion-sync execution it ran (operators follow it from the gate).
    output = json.loads(sfn.describe_execution(executionArn=with_settle["executionArn"])["output"])
    child = sfn.describe_execution(executionArn=output["sync"]["child"]["executionArn"])
    assert (child["stateMachineArn"], child["status"]) == (rig.outputs["IngestionSyncStateMachineArn"], "SUCCEEDED")


def test_a_gate_taken_over_before_its_round_ends_in_gate_lost_without_an_alert(rig: TriggerRig) -> None:
    """The lease of a gate expired and another execution took the data source over (here: the item's holder
    rewritten while the gate settles): BeginRound's GateLost is caught into the KbSync.GateLost Fail state (the
    new holder syncs what is left), so the catch-all sends no EXECUTION_DIED alert and no job starts."""
    [target] = rig.seed_targets(1, prefix_root="lost")
    sfn, gate = rig.clients["stepfunctions"], rig.outputs["SyncGateStateMachineArn"]
    request = {"knowledgeBaseId": target.knowledge_base_id, "dataSourceId": target.data_source_id}
    gate_input = {"request": {**request, "trigger": "manual", "reason": "lost gate"}, "settleSeconds": 300}
    arn = sfn.start_execution(stateMachineArn=gate, name="lost-gate", input=json.dumps(gate_input))["executionArn"]
    deadline = time.monotonic() + 30
    while not any(e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "Settle"
                  for e in rig.history(arn)):  # fmt: skip
        assert time.monotonic() < deadline, "the gate never began to settle"
        time.sleep(0.05)
    rig.targets_table.update_item(
        Key={"pk": target.pk, "sk": "GATE"},
        UpdateExpression="SET holder = :h",
        ExpressionAttributeValues={":h": "other"},
    )
    rig.wait_until_quiet(QUIET_S)
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described.get("error")) == ("FAILED", "KbSync.GateLost")
    assert statuses(rig, target) == []
    assert rig.drain_alerts() == []
    rig.targets_table.delete_item(Key={"pk": target.pk, "sk": "GATE"})
