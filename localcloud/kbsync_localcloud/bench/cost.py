"""Cost figure of the ingestion-sync poll loop: state transitions per job and how late a job's end is noticed.

Runs the real template with its default parameters on the local cloud with scaled time: one job of a fixed virtual
duration (the Bedrock emulator's documented ``force_job_duration``) per measurement, then reads the execution history.

- ``stateTransitions``: states entered (what Standard workflows bill), from ExecutionStarted to the end;
- ``historyEvents``: events in the history (the 25,000 limit);
- ``polls``: GetJobStatus calls;
- ``noticeDelaySeconds``: virtual seconds between the job's end (its updatedAt, a date mapped back to virtual time) and
  the start of the poll that saw it ended — history timestamps are wall-clock, converted to virtual time through
  the scale, so they include the local machine's overhead;
- ``scheduleDelaySeconds``: the same delay from the wait schedule alone (first wait + growing waits), no overhead.

Reusable by the benchmark (``python -m kbsync_localcloud.bench.cost``) and by tests/workflow/test_cost_figure.py.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from kbsync_localcloud import CHECKOUT
from kbsync_localcloud.sam import load_template
from kbsync_localcloud.workflow import AlertInbox, WorkflowRig

REPO = CHECKOUT
WAIT_GROWTH = 1.5  # functions/get_job_status: each wait is 1.5x the previous one, capped


@dataclass
class PollCost:
    jobSeconds: float
    status: str
    stateTransitions: int
    historyEvents: int
    polls: int
    noticeDelaySeconds: float
    scheduleDelaySeconds: float


def poll_schedule(job_seconds: float, first: int, maximum: int) -> tuple[int, float]:
    """(polls, delay): when the poll loop of the workflow sees a job that ends `job_seconds` after its start."""
    at, wait, polls = float(first), first, 1
    while at < job_seconds:
        wait = min(maximum, max(1, math.ceil(wait * WAIT_GROWTH)))
        at += wait
        polls += 1
    return polls, at - job_seconds


def to_virtual(wall: datetime, clock: Any) -> float:
    """A wall-clock timestamp on the virtual clock (virtual now minus the real time elapsed since, scaled)."""
    return float(clock.now() - (time.time() - wall.timestamp()) / clock.scale)


def measure(rig: WorkflowRig, faults: Any, clock: Any, job_seconds: float, parameters: dict[str, str]) -> PollCost:
    source = rig.new_source({"docs/one.md": b"# one\n"})
    faults.force_job_duration(job_seconds, count=1)
    arn = rig.start(rig.request(source))
    description = rig.wait(arn, timeout=60 + job_seconds * clock.scale * 4)
    events = rig.history(arn)
    job_id = rig.records(source)[0]["ingestionJobId"]
    job = rig.clients["bedrock-agent"].get_ingestion_job(
        knowledgeBaseId=source.knowledge_base_id, dataSourceId=source.data_source_id, ingestionJobId=job_id
    )["ingestionJob"]
    ended = clock.virtual(job["updatedAt"].timestamp())  # the emulator's dates are on the wall clock
    poll_starts = [
        to_virtual(e["timestamp"], clock)
        for e in events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "GetJobStatus"
    ]
    noticed = min((t for t in poll_starts if t >= ended), default=float("nan"))
    _, schedule_delay = poll_schedule(
        job_seconds, int(parameters["PollIntervalSeconds"]), int(parameters["MaxPollIntervalSeconds"])
    )
    return PollCost(
        jobSeconds=job_seconds,
        status=description["status"],
        stateTransitions=sum(1 for e in events if e["type"].endswith("StateEntered")),
        historyEvents=len(events),
        polls=len(poll_starts),
        noticeDelaySeconds=round(noticed - ended, 1),
        scheduleDelaySeconds=schedule_delay,
    )


#: The states between the job's start being recorded and its outcome: what a longer job repeats (or not).
OUTCOME_STATES = ("MarkComplete", "MarkPartial", "MarkFailed", "MarkStopped", "MarkTimedOut", "MarkPollFailed")


def waiting_transitions(events: list[dict[str, Any]]) -> int:
    """States entered after RecordJobId and before the outcome's Mark* state: the cost of waiting for the end."""
    names = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    start = names.index("RecordJobId") + 1 if "RecordJobId" in names else 0
    end = next((i for i, name in enumerate(names) if name in OUTCOME_STATES and i >= start), len(names))
    return end - start


@dataclass
class CompletionCost:
    """One job measured with push completion on (docs/push-completion.md) and its poll-loop counterpart."""

    mode: str  # "push" (KnowledgeBaseLogs=on, logs delivered) or "poll" (KnowledgeBaseLogs=off)
    jobSeconds: float
    status: str
    stateTransitions: int
    waitingTransitions: int
    noticeDelaySeconds: float
    wokenBy: str


def measure_completion(
    rig: WorkflowRig, faults: Any, clock: Any, job_seconds: float, mode: str, clients: dict[str, Any]
) -> CompletionCost:
    source = rig.new_source({"docs/one.md": b"# one\n"})
    if mode == "push":
        rig.enable_logs(source)
    faults.force_job_duration(job_seconds, count=1)
    arn = rig.start(rig.request(source))
    description = rig.wait(arn, timeout=60 + job_seconds * clock.scale * 4)
    events = rig.history(arn)
    record = rig.records(source)[0]
    job = clients["bedrock-agent"].get_ingestion_job(
        knowledgeBaseId=source.knowledge_base_id,
        dataSourceId=source.data_source_id,
        ingestionJobId=record["ingestionJobId"],
    )["ingestionJob"]
    ended = clock.virtual(job["updatedAt"].timestamp())
    looks = [
        to_virtual(e["timestamp"], clock)
        for e in events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "GetJobStatus"
    ]
    noticed = min((t for t in looks if t >= ended), default=float("nan"))
    return CompletionCost(
        mode=mode,
        jobSeconds=job_seconds,
        status=description["status"],
        stateTransitions=sum(1 for e in events if e["type"].endswith("StateEntered")),
        waitingTransitions=waiting_transitions(events),
        noticeDelaySeconds=round(noticed - ended, 1),
        wokenBy=str(record.get("wokenBy", "")),
    )


def measure_push_versus_poll(
    job_seconds: tuple[float, ...] = (120.0, 3600.0), time_scale: float = 0.01
) -> list[CompletionCost]:
    """The same jobs twice: on a stack deployed with KnowledgeBaseLogs=on (logs delivered: the push wakes the wait)
    and on one with the default (the poll loop). One local cloud per mode, each deployed from the real template.

    1 virtual second = 10 ms (as the triggers' nights): the local cloud's own latency from the log write to the
    wake (an asynchronous subscription delivery, two in-process Lambda invocations, the callback) is some 30 ms of
    real time, which at the poll figure's 2 ms per virtual second would read as 15 virtual seconds of delay that AWS
    does not have (CloudWatch Logs' own delivery latency is not modelled: docs/push-completion.md)."""
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.clock import CLOCK
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    results = []
    for mode, parameters in (("push", {"KnowledgeBaseLogs": "on"}), ("poll", {})):
        with LocalCloud(time_scale=time_scale) as cloud:
            outputs = deploy_stack(REPO / "template.yaml", f"kbsync-{mode}", parameters)
            services = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent", "logs")
            clients = {name: cloud.client(name) for name in services}
            inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name=f"kbsync-{mode}-alerts")
            rig = WorkflowRig(clients=clients, outputs=outputs, inbox=inbox)
            control = faults()
            control.reset()
            control.set_start_rate_limit(None)
            measure_completion(rig, control, CLOCK, 30.0, mode, clients)  # warm-up (first Lambda loads)
            for seconds in job_seconds:
                control.reset()
                control.set_start_rate_limit(None)
                results.append(measure_completion(rig, control, CLOCK, seconds, mode, clients))
            control.reset()
    return results


def default_parameters() -> dict[str, str]:
    params = load_template(REPO / "template.yaml")["Parameters"]
    return {name: str(params[name]["Default"]) for name in ("PollIntervalSeconds", "MaxPollIntervalSeconds")}


def measure_poll_cost(job_seconds: tuple[float, ...] = (120.0, 3600.0), time_scale: float = 0.002) -> list[PollCost]:
    """Deploy the template (default parameters) on a fresh local cloud and measure one job per duration."""
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.clock import CLOCK
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    parameters = default_parameters()
    with LocalCloud(time_scale=time_scale) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync-cost", {})
        services = ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent")
        clients = {name: cloud.client(name) for name in services}
        inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name="kbsync-cost-alerts")
        rig = WorkflowRig(clients=clients, outputs=outputs, inbox=inbox)
        control = faults()
        control.set_start_rate_limit(None)
        measure(rig, control, CLOCK, 30.0, parameters)  # warm-up: first Lambda loads would count as a late notice
        results = []
        for seconds in job_seconds:
            control.reset()
            control.set_start_rate_limit(None)
            results.append(measure(rig, control, CLOCK, seconds, parameters))
        control.reset()
        return results


def main() -> None:
    for cost in measure_poll_cost():
        print(json.dumps(asdict(cost)))
    for completion in measure_push_versus_poll():
        print(json.dumps(asdict(completion)))


if __name__ == "__main__":
    main()
