"""Each alarm of the real template, deployed on the local cloud, fires exactly once on its pattern and recovers
exactly once; and ONE failed sync sends its one FAILED alert and no alarm notice at all.

The local cloud evaluates the deployed alarms against the metrics the stack really produces (adapters/
alarm_evaluator.py): the functions' EMF lines (JobsByOutcome, StaleTargets), Step Functions' AWS/States execution
metrics, SQS's queue depth. Every change of state goes to EventBridge as "CloudWatch Alarm State Change", the
AlarmRelayRule delivers it to the alarm relay, which publishes through kbsync_alerts.publish; the notices are read
from an SQS queue subscribed to the alerts topic, as on-call receives them.

An alarm never repeats a per-event alert: it fires on a pattern (the template's *AlarmThreshold parameters, at their
defaults here). Each test provokes a real cause (several syncs of data sources whose bucket does not exist, several
targets without a sync for longer than their allowed age, an undeliverable event parked in the dead-letter queue),
waits for the ALARM notice, removes the cause, waits for the recovery notice, then lets the evaluator run a few more
times: exactly one of each, with the catalogue's severity and kind and the alarm's name. A change to or from
INSUFFICIENT_DATA sends nothing. Whether the evaluator ran is read from its own ticks (``Ticks`` wraps
AlarmEvaluator.tick: the virtual instant of each evaluation and the changes it made), never from a sleep; every
poll has a deadline.

One local cloud per module (time scale 0.002: an hour lasts 7.2 s, the stale-targets alarm's two hours 14 s). The
tests run in any order: each waits for its alarms to be OK first and counts only its alarms' notices.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kbsync_alerts
import kbsync_keys
import kbsync_values
import pytest
from kbsync_localcloud.adapters.alarm_evaluator import AlarmEvaluator
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.workflow import wait_until

from kbsync.cli.errors import ExitCode
from tests.cli.support import Deployed, cli, drain

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.002
STACK = "kbsync"
DEADLINE_S = 90.0
WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")


@dataclass
class Notices:
    """An SQS queue subscribed to the alerts topic: every notice, as SNS delivered it."""

    deployed: Deployed
    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        sqs = self.deployed.client("sqs")
        self.url = sqs.create_queue(QueueName="alarm-test-notices")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.deployed.client("sns").subscribe(
            TopicArn=self.deployed.outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=arn
        )

    def read(self) -> list[dict[str, Any]]:
        sqs = self.deployed.client("sqs")
        while messages := sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = {k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()}
                self.seen.append({"subject": envelope["Subject"], "message": envelope["Message"], **attributes})
                sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return self.seen

    def of(self, alarm: str) -> list[dict[str, Any]]:
        return [notice for notice in self.read() if notice.get("alarmName") == alarm]


@dataclass
class Ticks:
    """Every evaluation of the local cloud's alarm evaluator: (virtual instant it ended, the changes it made)."""

    done: list[tuple[float, list[tuple[str, str, str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, changes: list[tuple[str, str, str]]) -> None:
        with self.lock:
            self.done.append((CLOCK.now(), list(changes)))

    def count(self) -> int:
        with self.lock:
            return len(self.done)

    def last_instant(self) -> float:
        with self.lock:
            return self.done[-1][0] if self.done else float("-inf")

    def changes_since(self, index: int) -> list[tuple[str, str, str]]:
        with self.lock:
            return [change for _, changes in self.done[index:] for change in changes]

    def wait_for_more(self, count: int) -> None:
        """Until the evaluator has run `count` more times (a deadline on the poll)."""
        wanted = self.count() + count
        poll(f"{count} more alarm evaluations", lambda: self.count() >= wanted)

    def wait_past(self, instant: float) -> None:
        """Until an evaluation ended at or after the virtual `instant`."""
        poll(f"an alarm evaluation at or after virtual {instant:.0f}", lambda: self.last_instant() >= instant)


@dataclass
class Stack:
    deployed: Deployed
    notices: Notices
    ticks: Ticks

    def client(self, service: str) -> Any:
        return self.deployed.client(service)

    def state(self, alarm: str) -> str:
        [found] = self.client("cloudwatch").describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        return str(found["StateValue"])


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    ticks = Ticks()
    original = AlarmEvaluator.tick

    def tick(self: AlarmEvaluator) -> list[tuple[str, str, str]]:  # the evaluator's own evaluation, recorded
        changes = original(self)
        ticks.record(changes)
        return changes

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AlarmEvaluator, "tick", tick)
        # evaluate_alarms: tests/conftest.py turns the evaluator off for every other test's cloud.
        with LocalCloud(time_scale=TIME_SCALE, evaluate_alarms=True) as cloud:
            deployed = Deployed(cloud, deploy_stack(REPO / "template.yaml", STACK, {}))
            yield Stack(deployed, Notices(deployed), ticks)
            drain(cloud)


def poll(what: str, condition: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    """Poll `condition` until it is truthy; fail naming `what` at the deadline (workflow.wait_until)."""
    return wait_until(condition, deadline_s, what, interval=0.05)


def name(logical_id: str) -> str:
    return f"{STACK}-{logical_id}"


def fires_once_and_recovers_once(
    stack: Stack, alarm: str, kind: str, provoke: Callable[[], None], remove_cause: Callable[[], None]
) -> None:
    poll(f"{alarm} to be OK", lambda: stack.state(alarm) == "OK")
    before = len(stack.notices.of(alarm))
    provoke()
    poll(f"the {kind} notice of {alarm}", lambda: len(stack.notices.of(alarm)) > before)
    remove_cause()
    poll(f"the recovery notice of {alarm}", lambda: len(stack.notices.of(alarm)) > before + 1, DEADLINE_S * 2)
    poll(f"{alarm} to be OK again", lambda: stack.state(alarm) == "OK")
    stack.ticks.wait_for_more(5)
    sent = stack.notices.of(alarm)[before:]
    assert [notice["alertType"] for notice in sent] == [kind, "ALARM_RECOVERED"], sent
    alarmed, recovered = sent
    assert alarmed["severity"] == kbsync_alerts.alert_kind(kind).severity
    assert recovered["severity"] == kbsync_alerts.INFO
    for notice in sent:  # account-wide alarms: no knowledge base, the alarm's name instead
        assert "knowledgeBaseId" not in notice and notice["alarmName"] == alarm
        assert notice["subject"] == kbsync_alerts.alarm_subject(notice["alertType"], alarm)
        runbook = kbsync_alerts.alert_kind(notice["alertType"]).runbook
        assert f"\nRunbook: https://github.com/kbsync/kbsync/blob/main/runbooks/{runbook}" in notice["message"]
    assert f"Recovered from:  {kind} " in recovered["message"]


PATTERN_ALARMS = {  # the alarms a failed sync feeds; each fires on a pattern of several within an hour
    name("FailedJobsAlarm"): "ALARM_JOBS_FAILED",
    name("SyncGateExecutionsFailedAlarm"): "ALARM_EXECUTIONS_FAILED",
}
ALL_ALARMS = [*PATTERN_ALARMS, name("StaleTargetsAlarm"), name("DeadLetterQueueAlarm")]
PERIOD_S = 3600.0  # the failed-jobs and executions-failed alarms' period (template.yaml)
SYNCS_IN_A_PATTERN = 3  # FailedExecutionsAlarmThreshold's default; x MaxStartAttempts (3) = FailedJobsAlarmThreshold's


def syncs_running(stack: Stack) -> bool:
    sfn = stack.client("stepfunctions")
    return any(
        sfn.list_executions(stateMachineArn=stack.deployed.outputs[output], statusFilter="RUNNING")["executions"]
        for output in ("SyncGateStateMachineArn", "IngestionSyncStateMachineArn")
    )


def test_one_failed_sync_sends_one_failed_alert_and_no_alarm_notice(stack: Stack) -> None:
    """The promise: on-call learns of a failure once. One failed sync (its job re-started MaxStartAttempts times, every
    attempt FAILED: 3 failed jobs, 1 failed sync-gate execution, 1 failed ingestion-sync execution) sends exactly one
    message on the alerts topic, FAILED, after the evaluator has evaluated every window that held its metrics."""
    for alarm in ALL_ALARMS:
        poll(f"{alarm} to be OK", lambda alarm=alarm: stack.state(alarm) == "OK")  # type: ignore[misc]
    poll("no sync running", lambda: not syncs_running(stack))
    first_tick, before = stack.ticks.count(), len(stack.notices.read())
    target = stack.deployed.new_target(bucket_exists=False)  # every attempt's job FAILS: no such bucket
    result = cli("sync", "--kb", target.kb, "--ds", target.ds, *WAIT)
    assert result.code == ExitCode.FAILED, result.out + result.err
    poll("the sync's executions to end", lambda: not syncs_running(stack))
    ended = CLOCK.now()  # every metric of the sync is stored (EMF at each job's end, AWS/States at each execution's)
    stack.ticks.wait_past(ended)  # an evaluation saw all of them in its window: had it breached, it would have fired
    stack.ticks.wait_past(ended + PERIOD_S)  # and every later one until the window holds none of them
    poll("the FAILED alert", lambda: any(n["alertType"] == "FAILED" for n in stack.notices.read()[before:]))
    assert stack.ticks.changes_since(first_tick) == []  # no alarm changed state, so the relay had nothing to send
    assert [stack.state(alarm) for alarm in ALL_ALARMS] == ["OK"] * len(ALL_ALARMS)
    sent = stack.notices.read()[before:]
    assert [(n["alertType"], n.get("knowledgeBaseId"), n.get("dataSourceId")) for n in sent] == [
        ("FAILED", target.kb, target.ds)
    ], sent
    assert not [n for n in sent if "alarmName" in n]


def test_failed_syncs_in_an_hour_fire_the_failed_jobs_and_executions_failed_alarms_once_each(stack: Stack) -> None:
    """Three failed syncs within the hour (9 failed jobs, 3 failed sync-gate executions) are a pattern: each alarm
    fires once, then recovers once when the hour holds no more failures; each sync still has its own FAILED alert."""
    for alarm in PATTERN_ALARMS:
        poll(f"{alarm} to be OK", lambda alarm=alarm: stack.state(alarm) == "OK")  # type: ignore[misc]
    before = {alarm: len(stack.notices.of(alarm)) for alarm in PATTERN_ALARMS}
    mark = len(stack.notices.read())
    targets = [stack.deployed.new_target(bucket_exists=False) for _ in range(SYNCS_IN_A_PATTERN)]
    for target in targets:  # started together: all fail within the hour
        result = cli("sync", "--kb", target.kb, "--ds", target.ds)
        assert result.code == ExitCode.OK, result.out + result.err
    for alarm, kind in PATTERN_ALARMS.items():  # nothing more fails: each alarm's window empties and it recovers
        poll(f"{kind} then ALARM_RECOVERED from {alarm}", lambda a=alarm: len(stack.notices.of(a)) >= before[a] + 2,
             DEADLINE_S * 2)  # fmt: skip
        poll(f"{alarm} to be OK again", lambda a=alarm: stack.state(a) == "OK")
    stack.ticks.wait_for_more(5)
    for alarm, kind in PATTERN_ALARMS.items():
        sent = stack.notices.of(alarm)[before[alarm] :]
        assert [n["alertType"] for n in sent] == [kind, "ALARM_RECOVERED"], (alarm, sent)
        assert sent[0]["severity"] == kbsync_alerts.alert_kind(kind).severity and "knowledgeBaseId" not in sent[0]
        assert sent[0]["subject"] == kbsync_alerts.alarm_subject(kind, alarm)
    failed = sorted(n["knowledgeBaseId"] for n in stack.notices.read()[mark:] if n["alertType"] == "FAILED")
    assert failed == sorted(target.kb for target in targets)  # one FAILED alert per failed sync, no more


def test_stale_targets_at_once_fire_the_stale_targets_alarm_once(stack: Stack) -> None:
    """StaleTargetsAlarmThreshold (3) targets stale at once are a pattern (each also has its own TARGET_STALE)."""
    from kbsync_localcloud.scheduler import fire_schedule

    targets = [stack.deployed.new_target() for _ in range(3)]
    schedule = stack.deployed.outputs["FreshnessScheduleName"]

    def freshness_runs() -> None:
        before = runs()
        fire_schedule(schedule)
        poll("the freshness check to run", lambda: runs() > before)

    def runs() -> float:
        now = datetime.now(UTC)
        points = stack.client("cloudwatch").get_metric_statistics(
            Namespace="kbsync", MetricName="StaleTargets", Dimensions=[{"Name": "service", "Value": "kbsync"}],
            StartTime=now - timedelta(days=1), EndTime=now + timedelta(minutes=5), Period=86400 + 300,
            Statistics=["SampleCount"],
        )["Datapoints"]  # fmt: skip
        return float(sum(p["SampleCount"] for p in points))

    def provoke() -> None:
        registered = (datetime.now(UTC) - timedelta(hours=3)).strftime(kbsync_values.UTC_SECONDS_FORMAT)
        for target in targets:
            result = cli("targets", "add", "--kb", target.kb, "--ds", target.ds, "--no-nightly", "--max-age-hours", "1")
            assert result.code == ExitCode.OK, result.out + result.err
            stack.client("dynamodb").update_item(
                TableName=stack.deployed.outputs["TargetsTableName"],
                Key={k: {"S": v} for k, v in kbsync_keys.target_key(target.kb, target.ds).items()},
                UpdateExpression="SET registeredAt = :at",
                ExpressionAttributeValues={":at": {"S": registered}},
            )  # registered 3 hours ago, never synced, allowed 1 hour: stale
        freshness_runs()

    def remove_cause() -> None:
        for target in targets:
            result = cli("targets", "remove", "--kb", target.kb, "--ds", target.ds)
            assert result.code == ExitCode.OK, result.out + result.err
        freshness_runs()  # no stale target left: StaleTargets 0

    fires_once_and_recovers_once(stack, name("StaleTargetsAlarm"), "ALARM_TARGETS_STALE", provoke, remove_cause)


def test_a_parked_event_fires_the_dead_letter_queue_alarm_once(stack: Stack) -> None:
    sqs = stack.client("sqs")
    queue = stack.deployed.outputs["DeadLetterQueueUrl"]

    def provoke() -> None:  # what EventBridge parks when a target stays unreachable (runbooks/dead-letter-queue.md)
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"source": "aws.s3", "detail-type": "Object Created"}))

    def remove_cause() -> None:
        sqs.purge_queue(QueueUrl=queue)  # the runbook's last step, once replayed

    fires_once_and_recovers_once(stack, name("DeadLetterQueueAlarm"), "ALARM_DEAD_LETTERS", provoke, remove_cause)


def test_insufficient_data_sends_nothing(stack: Stack) -> None:
    """OK -> INSUFFICIENT_DATA (SetAlarmState, as AWS documents for testing an alarm) and INSUFFICIENT_DATA -> OK (the
    next evaluation) both reach the relay, which publishes nothing: its AlarmNotices metric counts two more
    invocations with nothing sent."""
    alarm = name("FailedJobsAlarm")
    poll(f"{alarm} to be OK", lambda: stack.state(alarm) == "OK")

    def relayed() -> tuple[float, float]:
        now = datetime.now(UTC)
        points = stack.client("cloudwatch").get_metric_statistics(
            Namespace="kbsync", MetricName="AlarmNotices", Dimensions=[{"Name": "service", "Value": "kbsync"}],
            StartTime=now - timedelta(days=1), EndTime=now + timedelta(minutes=5), Period=86400 + 300,
            Statistics=["SampleCount", "Sum"],
        )["Datapoints"]  # fmt: skip
        return float(sum(p["SampleCount"] for p in points)), float(sum(p["Sum"] for p in points))

    before_notices, (invocations, sent) = len(stack.notices.of(alarm)), relayed()
    stack.client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="INSUFFICIENT_DATA", StateReason="test: no data"
    )
    poll(f"{alarm} back to OK", lambda: stack.state(alarm) == "OK")
    poll("the relay to see both changes", lambda: relayed()[0] >= invocations + 2)
    stack.ticks.wait_for_more(3)
    assert relayed()[1] == sent
    assert len(stack.notices.of(alarm)) == before_notices
