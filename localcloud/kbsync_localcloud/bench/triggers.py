"""Triggers at scale on the local cloud: the nightly fan-out's makespan against Bedrock's quota lower
bound, and how many ingestion jobs an upload burst costs.

    python -m kbsync_localcloud.bench.triggers            # 50-, 200- and 1,000-target nights, a 1,000-upload burst
    ratios()                                   # the same figures for ``make bench`` (kbsync_localcloud.bench.Ratio)

The night: N registered targets with varied job durations (forced per data source in the Bedrock emulator), the
nightly schedule fired once on a warm local cloud (TriggerRig.warm_up); makespan = the fan-out execution's duration
in virtual seconds. The first night has no history to order by (registry order); `nights=2` runs the next night
too, planned longest-first from the job records the first one wrote.
Lower bound (Bedrock's quotas, not adjustable): max(total job time / 5 concurrent jobs, N starts x 10 s at 0.1
StartIngestionJob/s, the longest job). The burst: U uploads to one data source as fast as the local cloud takes
them; jobs started.

`TriggerRig` is also what tests/triggers drive: the real template deployed, targets registered with
kbsync.targets, alerts read from an SQS queue subscribed to the alerts topic.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import boto3

from kbsync import targets as registry
from kbsync_localcloud import CHECKOUT
from kbsync_localcloud.bench import Ratio

REPO = CHECKOUT
STACK = "kbsync"
ACCOUNT_JOB_SLOTS = 5
START_SPACING_SECONDS = 10.0
RUNNING = "RUNNING"


@dataclass
class TriggerRig:
    """The deployed stack and the clients a trigger scenario needs (inside an active LocalCloud)."""

    outputs: dict[str, str]
    clients: dict[str, Any]
    targets_table: Any
    alerts_queue_url: str
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def deploy(cls, parameters: dict[str, str] | None = None) -> TriggerRig:
        from kbsync_localcloud.deploy import deploy_stack

        outputs = deploy_stack(REPO / "template.yaml", STACK, parameters or {})
        services = ("stepfunctions", "s3", "sns", "sqs", "bedrock-agent", "events", "dynamodb")
        factory: Any = boto3.client  # any service name
        clients = {name: factory(name, region_name="us-east-1") for name in services}
        table = boto3.resource("dynamodb", region_name="us-east-1").Table(outputs["TargetsTableName"])
        sqs = clients["sqs"]
        queue_url = sqs.create_queue(QueueName="kbsync-trigger-alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        clients["sns"].subscribe(TopicArn=outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=queue_arn)
        return cls(outputs, clients, table, queue_url)

    # --- setup ----------------------------------------------------------------------------------------------

    def seed_targets(
        self, count: int, bucket: str = "kbsync-docs", nightly: bool = True, prefix_root: str = "tenant"
    ) -> list[registry.Target]:
        """`count` knowledge bases with one S3 data source each (prefix `<root>-<i>/`), registered as targets."""
        from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

        s3, agent = self.clients["s3"], self.clients["bedrock-agent"]
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
        seeded = []
        for i in range(count):
            kb = seed_knowledge_base(agent, name=f"kb-{prefix_root}-{i}")
            ds = seed_data_source(kb, bucket, f"{prefix_root}-{i}/", agent, name=f"ds-{prefix_root}-{i}")
            seeded.append(registry.add_target(self.targets_table, agent, kb, ds, nightly=nightly, s3=s3).target)
        return seeded

    # --- observing --------------------------------------------------------------------------------------------

    def executions(self, output_key: str) -> list[dict[str, Any]]:
        """Every execution of the state machine. moto 5.2.5 answers ListExecutions with an AttributeError while an
        execution is being created on another thread (its status is not set yet): ask again."""
        sfn = self.clients["stepfunctions"]
        for attempt in range(20):
            try:
                pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=self.outputs[output_key])
                return [execution for page in pages for execution in page["executions"]]
            except AttributeError:
                if attempt == 19:
                    raise
                time.sleep(0.01)
        return []

    def running(self) -> int:
        keys = ("NightlyFanOutStateMachineArn", "SyncGateStateMachineArn", "IngestionSyncStateMachineArn")
        return sum(1 for key in keys for e in self.executions(key) if e["status"] == RUNNING)

    def wait_until_quiet(self, timeout_s: float, settle_polls: int = 3, poll_s: float = 0.1) -> None:
        """Until no kbsync execution runs (seen `settle_polls` times in a row); TimeoutError naming what still runs."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while quiet < settle_polls:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.running()} kbsync executions still RUNNING after {timeout_s} s")
            quiet = quiet + 1 if self.running() == 0 else 0
            time.sleep(poll_s)

    def wait_for(self, what: str, predicate: Any, timeout_s: float, poll_s: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(poll_s)

    def jobs(self, target: registry.Target) -> list[dict[str, Any]]:
        """The data source's ingestion jobs (Bedrock's view), oldest first."""
        agent = self.clients["bedrock-agent"]
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"knowledgeBaseId": target.knowledge_base_id, "dataSourceId": target.data_source_id}
        while True:
            page = agent.list_ingestion_jobs(**kwargs)
            found.extend(page["ingestionJobSummaries"])
            if not page.get("nextToken"):
                return sorted(found, key=lambda j: j["startedAt"])
            kwargs["nextToken"] = page["nextToken"]

    def drain_alerts(self) -> list[dict[str, Any]]:
        """Every alert now on the queue (SNS envelope unwrapped), appended to `alerts`."""
        sqs = self.clients["sqs"]
        empty = 0
        while empty < 2:
            messages = sqs.receive_message(QueueUrl=self.alerts_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                empty += 1
                continue
            for message in messages:
                envelope = json.loads(message["Body"])
                self.alerts.append(
                    {
                        "subject": envelope.get("Subject"),
                        "message": envelope.get("Message"),
                        "attributes": {k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()},
                    }
                )
                sqs.delete_message(QueueUrl=self.alerts_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self.alerts

    def warm_up(self) -> None:
        """One manual sync of a target outside the night, so the measured night runs on a warm local cloud.

        The local cloud's first use of each part costs real CPU that AWS pays once per cold start (about a second):
        importing the handlers, loading botocore's models for the aws-sdk tasks, parsing each definition. At the
        benchmark's scale (1 virtual s = 10 ms) that first use alone would add minutes of virtual time to the night.
        """
        [target] = self.seed_targets(1, nightly=False, prefix_root="warm-up")
        sfn = self.clients["stepfunctions"]
        registry.request_sync(
            sfn,
            self.outputs["SyncGateStateMachineArn"],
            target.knowledge_base_id,
            target.data_source_id,
            ddb=self.clients["dynamodb"],
            targets_table=self.outputs["TargetsTableName"],
        )
        self.wait_until_quiet(120)

    def state_transitions(self, output_key: str, since: Any) -> int:
        """States entered by the state machine's executions started at or after `since` (the unit Step Functions
        Standard bills)."""
        sfn = self.clients["stepfunctions"]
        total = 0
        for execution in self.executions(output_key):
            if execution["startDate"] >= since:
                pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"])
                total += sum(1 for page in pages for e in page["events"] if e["type"].endswith("StateEntered"))
        return total

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's whole history, every page (GetExecutionHistory answers at most 1,000 events a call on AWS;
        moto 5.2.5 answers all in one, the paginator handles both)."""
        pages = (
            self.clients["stepfunctions"].get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        )
        return [event for page in pages for event in page["events"]]

    def history_limits(self, output_keys: tuple[str, ...], since: Any) -> HistoryLimits:
        """The largest payload and the longest history among the executions of these state machines started at or
        after `since`, read from their real histories (the two Step Functions limits moto does not enforce)."""
        return self.measure_histories(output_keys, since)[1]

    def measure_histories(self, output_keys: tuple[str, ...], since: Any) -> tuple[int, HistoryLimits]:
        """One read of each history of these state machines' executions started at or after `since`: the states
        entered (what Standard bills) and the HistoryLimits."""
        transitions, largest = 0, HistoryLimits()
        for key in output_keys:
            for execution in self.executions(key):
                if execution["startDate"] >= since:
                    events = self.history(execution["executionArn"])
                    transitions += sum(1 for event in events if event["type"].endswith("StateEntered"))
                    largest = largest.merge(HistoryLimits.of(execution["executionArn"], events))
        return transitions, largest

    def fire_nightly(self) -> str:
        """Fire the nightly schedule now (it ships DISABLED, so forced); the fan-out execution ARN."""
        from kbsync_localcloud.scheduler import fire_schedule

        return str(fire_schedule(self.outputs["NightlyScheduleName"], force=True).result["ExecutionArn"])


#: Step Functions' hard limits (docs/scale.md): a state's input/output, a task's result, an execution's input and
#: output are at most 256 KB (262,144 bytes of UTF-8, else States.DataLimitExceeded); a history is at most 25,000
#: events (else the execution fails).
PAYLOAD_LIMIT_BYTES = 262_144
HISTORY_LIMIT_EVENTS = 25_000
_PAYLOAD_FIELDS = ("input", "output", "parameters")


@dataclass(frozen=True)
class HistoryLimits:
    """The largest payload seen in any history event (bytes of UTF-8) and the longest history (events), and where."""

    payload_bytes: int = 0
    payload_where: str = ""
    history_events: int = 0
    history_where: str = ""
    executions: int = 0

    @classmethod
    def of(cls, execution_arn: str, events: list[dict[str, Any]]) -> HistoryLimits:
        """Every input/output/parameters string of every event's details (execution, state, task, Lambda, Map)."""
        name = execution_arn.rsplit(":", 1)[-1]
        payload, where = 0, ""
        for event in events:
            for key, details in event.items():
                if not key.endswith("EventDetails") or not isinstance(details, dict):
                    continue
                for field_name in _PAYLOAD_FIELDS:
                    value = details.get(field_name)
                    size = len(value.encode("utf-8")) if isinstance(value, str) else 0
                    if size > payload:
                        payload, where = size, f"{name} {event['type']} {details.get('name', '')}".strip()
        return cls(payload, where, len(events), name, 1)

    def merge(self, other: HistoryLimits) -> HistoryLimits:
        bigger = self if self.payload_bytes >= other.payload_bytes else other
        longer = self if self.history_events >= other.history_events else other
        return HistoryLimits(
            bigger.payload_bytes,
            bigger.payload_where,
            longer.history_events,
            longer.history_where,
            self.executions + other.executions,
        )

    @property
    def payload_ratio(self) -> float:
        return self.payload_bytes / PAYLOAD_LIMIT_BYTES

    @property
    def history_ratio(self) -> float:
        return self.history_events / HISTORY_LIMIT_EVENTS


@contextmanager
def job_durations(by_data_source: Mapping[str, float]) -> Iterator[None]:
    """Make the Bedrock emulator's jobs of these data sources take the given virtual seconds (bench control)."""
    from kbsync_localcloud.bedrock.state import IngestionState

    original = IngestionState._new_job

    def new_job(self: Any, source: Any, description: Any, now: float) -> Any:
        job = original(self, source, description, now)
        if source.data_source_id in by_data_source:
            job.duration = float(by_data_source[source.data_source_id])
        return job

    IngestionState._new_job = new_job  # type: ignore[method-assign]
    try:
        yield
    finally:
        IngestionState._new_job = original  # type: ignore[method-assign]


# --- the figures -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightResult:
    targets: int
    makespan_s: float
    lower_bound_s: float
    jobs_complete: int
    jobs_started: int
    targets_failed: int
    alerts: int
    policy_makespan_s: float = 0.0
    busy_fraction: float = 0.0
    transitions: int = 0
    alert_lines: tuple[str, ...] = ()
    limits: HistoryLimits = field(default_factory=lambda: HistoryLimits())
    real_seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return self.makespan_s / self.lower_bound_s


def lower_bound(durations: list[float]) -> float:
    """The quota's lower bound of a night: 5 jobs at a time, one start per 10 s, and the longest job."""
    return max(sum(durations) / ACCOUNT_JOB_SLOTS, len(durations) * START_SPACING_SECONDS, max(durations))


def scheduled_makespan(durations: list[float], lanes: int = ACCOUNT_JOB_SLOTS) -> float:
    """The makespan of the fan-out's policy with zero overhead: longest first, `lanes` at a time, one start per 10 s.

    What the design itself costs over the lower bound, separate from the local cloud's per-step overheads.
    """
    free_at = [0.0] * lanes
    next_start = 0.0
    end = 0.0
    for duration in sorted(durations, reverse=True):
        lane = min(range(lanes), key=lambda i: free_at[i])
        start = max(free_at[lane], next_start)
        next_start = start + START_SPACING_SECONDS
        free_at[lane] = start + duration
        end = max(end, free_at[lane])
    return end


def _virtual_seconds(described: dict[str, Any], scale: float) -> float:
    return float((described["stopDate"] - described["startDate"]).total_seconds()) / scale


def run_night(
    count: int,
    time_scale: float,
    seed: int = 7,
    min_s: float = 300.0,
    max_s: float = 1800.0,
    parameters: dict[str, str] | None = None,
    nights: int = 1,
) -> list[NightResult]:
    """Register `count` targets with durations uniform in [min_s, max_s] virtual seconds and run `nights` nights.

    The first night has no history (the plan keeps the registry's order); each later night is planned from the job
    records the previous nights wrote (longest previous job first), as every night after the first is in use.
    """
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.cloud import LocalCloud

    rng = random.Random(seed)
    with LocalCloud(time_scale=time_scale):
        rig = TriggerRig.deploy(parameters)
        rig.warm_up()
        seeded = rig.seed_targets(count)
        durations = {t.data_source_id: float(round(rng.uniform(min_s, max_s))) for t in seeded}
        faults().set_start_rate_limit()  # Bedrock's 0.1/s, enforced on the virtual clock
        with job_durations(durations):
            return [_one_night(rig, seeded, durations, time_scale) for _ in range(nights)]


def _one_night(
    rig: TriggerRig, seeded: list[registry.Target], durations: dict[str, float], time_scale: float
) -> NightResult:
    sfn = rig.clients["stepfunctions"]
    before = {job["ingestionJobId"] for t in seeded for job in rig.jobs(t)}
    started = time.monotonic()
    fanout = rig.fire_nightly()
    budget = 3 * lower_bound(list(durations.values())) * time_scale + 120
    described = rig.wait_for(
        "the nightly fan-out",
        lambda: (d := sfn.describe_execution(executionArn=fanout))["status"] != RUNNING and d,
        budget,
        poll_s=0.5,
    )
    real_seconds = time.monotonic() - started
    rig.wait_until_quiet(120)
    jobs = [job for t in seeded for job in rig.jobs(t) if job["ingestionJobId"] not in before]
    alerts, rig.alerts = list(rig.drain_alerts()), []
    machines = ("NightlyFanOutStateMachineArn", "SyncGateStateMachineArn", "IngestionSyncStateMachineArn")
    transitions, limits = rig.measure_histories(machines, since=described["startDate"])
    summary = json.loads(described.get("output") or "{}")
    makespan = _virtual_seconds(described, time_scale)
    return NightResult(
        targets=len(seeded),
        makespan_s=makespan,
        lower_bound_s=lower_bound(list(durations.values())),
        jobs_complete=sum(1 for j in jobs if j["status"] == "COMPLETE"),
        jobs_started=len(jobs),
        targets_failed=len(seeded) - int(summary.get("synced", 0)),
        alerts=len(alerts),
        alert_lines=tuple(f"{a['subject']} | {a['message'][:600]}" for a in alerts),
        policy_makespan_s=scheduled_makespan(list(durations.values())),
        busy_fraction=sum(durations.values()) / (ACCOUNT_JOB_SLOTS * makespan),
        transitions=transitions,
        limits=limits,
        real_seconds=real_seconds,
    )


@dataclass(frozen=True)
class BurstResult:
    uploads: int
    upload_span_s: float
    jobs: int
    covered: bool


def run_burst(
    uploads: int, burst_scale: float = 1.0, fast_scale: float = 0.01, settle_seconds: int = 60, job_s: float = 30.0
) -> BurstResult:
    """`uploads` objects put to one data source back to back; how many ingestion jobs that cost.

    The local cloud takes ~50-100 ms of real time per upload (S3 -> EventBridge -> router Lambda, in process), so
    the burst runs at `burst_scale` (1.0: virtual = real, like an `aws s3 sync` of 1,000 files) and the syncs that
    follow at `fast_scale`. Jobs take `job_s` virtual seconds.
    """
    from kbsync_localcloud.clock import CLOCK
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=fast_scale):
        rig = TriggerRig.deploy({"SettleSeconds": str(settle_seconds)})
        [target] = rig.seed_targets(1, prefix_root="burst")
        s3 = rig.clients["s3"]
        times = []
        with job_durations({target.data_source_id: job_s}):
            CLOCK.set_scale(burst_scale)
            try:
                for i in range(uploads):
                    key = f"{target.inclusion_prefixes[0]}doc-{i}.txt"
                    s3.put_object(Bucket=target.bucket_name, Key=key, Body=b"x")
                    times.append(CLOCK.now())
            finally:
                CLOCK.set_scale(fast_scale)
            rig.wait_until_quiet(900)
        jobs = rig.jobs(target)
        starts = [CLOCK.virtual(job["startedAt"].timestamp()) for job in jobs]  # dates -> virtual instants
        covered = all(any(start > at for start in starts) for at in times)
        return BurstResult(uploads, times[-1] - times[0], len(jobs), covered)


#: Job durations per night size (virtual seconds, uniform). The 1,000-target night uses small jobs: with the 50- and
#: 200-target nights' 300-1800 s jobs it would take 35 real minutes at time scale 0.01 (1,000 x 1,050 s / 5 slots);
#: with 30-120 s jobs its lower bound is 15,000 virtual s (2.5 real minutes) and both quota limits are close
#: (job time / 5 = 15,000 s, starts x 10 s = 10,000 s), which is where the pacer's spacing and slots both matter.
NIGHT_JOB_SECONDS: dict[int, tuple[float, float]] = {1000: (30.0, 120.0)}
DEFAULT_JOB_SECONDS = (300.0, 1800.0)
#: Virtual-time scale per night size. The local cloud spends ~0.28 s of real CPU per target (gate + ingestion-sync
#: executions, in-process Lambdas); at 1 virtual s = 10 ms the 1,000-target night's lower bound leaves 0.15 s of real
#: time per target, so the makespan would measure the local cloud's CPU, not the design. At 40 ms it leaves 0.6 s.
NIGHT_TIME_SCALE: dict[int, float] = {1000: 0.04}
#: The nightly schedule fires once a day (template NightlyScheduleExpression, cron(0 2 * * ? *)): a night must end
#: within this period, or it overlaps the next one.
NIGHTLY_PERIOD_SECONDS = 86_400.0


def ratios(
    night_sizes: tuple[int, ...] = (50, 200, 1000),
    burst: int = 1000,
    time_scale: float = 0.01,
    second_night_sizes: tuple[int, ...] = (50,),
) -> list[Ratio]:
    """The figures of ``make bench``. Real time at time_scale 0.01: ~2 min per 50-target night, ~7 min for 200,
    ~2 min for the burst; the 1,000-target night's real time is printed with its figures."""
    figures = []
    for count in night_sizes:
        min_s, max_s = NIGHT_JOB_SECONDS.get(count, DEFAULT_JOB_SECONDS)
        scale = NIGHT_TIME_SCALE.get(count, time_scale)
        nights = run_night(
            count,
            time_scale=scale,
            min_s=min_s,
            max_s=max_s,
            nights=2 if count in second_night_sizes else 1,
        )
        for number, night in enumerate(nights, start=1):
            label = f"night of {count} targets ({'first night, no history' if number == 1 else 'next night'})"
            figures.append(
                Ratio(
                    "triggers",
                    f"{label}: makespan / lower bound",
                    night.ratio,
                    f"{night.makespan_s:.0f} s / {night.lower_bound_s:.0f} s virtual (jobs {min_s:.0f}-{max_s:.0f} s); "
                    f"{night.jobs_complete}/{count} complete, {night.targets_failed} failed, {night.alerts} alerts; "
                    f"Bedrock busy {night.busy_fraction:.0%}; {night.real_seconds:.0f} s real at 1 virtual s = "
                    f"{scale * 1000:g} ms",
                )
            )
            figures.append(
                Ratio(
                    "triggers",
                    f"{label}: makespan / 24 h nightly period",
                    night.makespan_s / NIGHTLY_PERIOD_SECONDS,
                    f"{night.makespan_s / 3600:.1f} h virtual: below 1, the night ends before the next one starts",
                )
            )
            figures.append(
                Ratio(
                    "triggers",
                    f"{label}: state transitions per target",
                    night.transitions / count,
                    "fan-out + gate + ingestion-sync executions of the night, states entered (what Standard bills)",
                )
            )
            limits = night.limits
            figures.append(
                Ratio(
                    "triggers",
                    f"{label}: largest payload / 256 KB",
                    limits.payload_ratio,
                    f"{limits.payload_bytes} bytes ({limits.payload_where}); every input/output/parameters of "
                    f"{limits.executions} executions' histories",
                )
            )
            figures.append(
                Ratio(
                    "triggers",
                    f"{label}: longest history / 25,000 events",
                    limits.history_ratio,
                    f"{limits.history_events} events ({limits.history_where})",
                )
            )
        figures.append(
            Ratio(
                "triggers",
                f"night of {count} targets: policy / lower bound",
                nights[0].policy_makespan_s / nights[0].lower_bound_s,
                "longest-first, 5 lanes, 10 s spacing, zero overhead (what the ordering alone costs)",
            )
        )
    result = run_burst(burst)
    figures.append(
        Ratio(
            "triggers",
            f"burst of {burst} uploads: ingestion jobs",
            float(result.jobs),
            f"uploads over {result.upload_span_s:.0f} virtual s; every upload covered: {result.covered}",
        )
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    sizes = tuple(int(a) for a in args) if args else (50, 200, 1000)
    for figure in ratios(sizes):
        print(figure.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
