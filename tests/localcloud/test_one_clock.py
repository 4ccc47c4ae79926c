"""One clock: scaled time changes durations, not dates (localcloud/kbsync_localcloud/clock.py).

In process, with a large time-scale factor (1 virtual second = 1 ms, so the virtual clock runs 1,000x faster than the
wall clock and is hours ahead within seconds): every date the local cloud shows — the Bedrock emulator's startedAt,
updatedAt and createdAt, Scheduler's scheduled-time, the asynchronous-invocation record — is within a few seconds of
the real ``datetime.now(UTC)``. The same through the real CLI against `kbsync local up`: test_one_clock_local_up.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from kbsync_localcloud import bedrock
from kbsync_localcloud.bedrock.seed import SeededSource, seed_sync_target
from kbsync_localcloud.clock import CLOCK, ScaledClock
from kbsync_localcloud.cloud import LocalCloud

FAST = 0.001  # 1 virtual s = 1 ms
#: How far a date may be from the real now: generous for a loaded 2-core machine, and still far below the virtual
#: clock's lead (it gains 999 s per real second at FAST; each test first makes sure it is ahead by more than this).
TOLERANCE_S = 5.0
BUCKET = "one-clock-docs"


def assert_now(moment: datetime | float, what: str) -> None:
    seconds = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    drift = seconds - time.time()
    assert abs(drift) <= TOLERANCE_S, f"{what} is {drift:+.1f} s from the real now (not on the wall clock)"


def make_virtual_time_run_ahead(clock: ScaledClock) -> None:
    """Sleep until the virtual clock is well ahead of the wall clock: a date read from it would fail assert_now."""
    while clock.now() - clock.wall_now() < 10 * TOLERANCE_S:
        time.sleep(0.02)


# -- the clock ------------------------------------------------------------------------------------------------


def test_virtual_time_runs_fast_and_dates_stay_real() -> None:
    clock = ScaledClock(FAST)
    make_virtual_time_run_ahead(clock)
    assert_now(clock.wall_now(), "wall_now()")
    assert_now(clock.utcnow(), "utcnow()")
    assert clock.utcnow().tzinfo is UTC
    assert_now(clock.wall(clock.now()), "wall(now())")
    assert clock.now() - time.time() > 10 * TOLERANCE_S  # the virtual reading is no date


def test_a_past_instant_keeps_its_date_across_scale_changes() -> None:
    clock = ScaledClock(FAST)
    virtual_then, wall_then = clock.now(), time.time()
    clock.set_scale(0.5)
    time.sleep(0.05)
    clock.set_scale(0.0001)
    time.sleep(0.05)
    assert clock.wall(virtual_then) == pytest.approx(wall_then, abs=0.01)
    assert clock.virtual(wall_then) == pytest.approx(virtual_then, abs=0.01 / FAST)
    later = clock.now()
    assert clock.virtual(clock.wall(later)) == pytest.approx(later, abs=1e-3)
    # durations are scaled: 10 virtual seconds at the current scale are 1 ms of dates
    assert clock.wall(later + 10) - clock.wall(later) == pytest.approx(10 * 0.0001, abs=1e-6)


def test_dates_are_monotonic_in_virtual_time() -> None:
    clock = ScaledClock(FAST)
    instants = [clock.now()]
    for scale in (0.5, 0.001, 2.0, 0.0001):
        clock.set_scale(scale)
        time.sleep(0.002)
        instants.append(clock.now())
    dates = [clock.wall(v) for v in instants]
    assert dates == sorted(dates) and instants == sorted(instants)


# -- what the local cloud shows ---------------------------------------------------------------------------------


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    saved = CLOCK.scale
    try:
        with LocalCloud(time_scale=FAST) as local:
            bedrock.faults().set_start_rate_limit(None)
            make_virtual_time_run_ahead(CLOCK)
            yield local
    finally:
        CLOCK.set_scale(saved)


def _source(cloud: LocalCloud) -> SeededSource:
    s3 = cloud.client("s3")
    source = seed_sync_target(bucket=BUCKET, agent_client=cloud.client("bedrock-agent"), s3_client=s3)
    s3.put_object(Bucket=BUCKET, Key="docs/a.md", Body=b"# a\n")
    return source


def test_the_emulator_dates_its_jobs_and_data_sources_on_the_wall_clock(cloud: LocalCloud) -> None:
    agent = cloud.client("bedrock-agent")
    source = _source(cloud)
    ids = {"knowledgeBaseId": source.knowledge_base_id, "dataSourceId": source.data_source_id}
    data_source = agent.get_data_source(**ids)["dataSource"]
    assert_now(data_source["createdAt"], "GetDataSource createdAt")
    assert_now(data_source["updatedAt"], "GetDataSource updatedAt")

    bedrock.faults().force_job_duration(3600, count=1)  # one virtual hour: 3.6 real seconds
    started = agent.start_ingestion_job(**ids)["ingestionJob"]
    assert_now(started["startedAt"], "StartIngestionJob startedAt")
    seen: list[dict[str, Any]] = [started]
    deadline = time.monotonic() + 60
    while seen[-1]["status"] not in ("COMPLETE", "FAILED"):
        assert time.monotonic() < deadline, f"job stuck in {seen[-1]['status']}"
        time.sleep(0.2)
        seen.append(agent.get_ingestion_job(**ids, ingestionJobId=started["ingestionJobId"])["ingestionJob"])
        assert_now(seen[-1]["updatedAt"], f"GetIngestionJob updatedAt ({seen[-1]['status']})")
    done = seen[-1]
    assert done["status"] == "COMPLETE"
    assert {job["startedAt"] for job in seen} == {started["startedAt"]}
    updates = [job["updatedAt"] for job in seen]
    assert updates == sorted(updates) and done["startedAt"] <= done["updatedAt"]
    # the virtual hour lasted 3.6 s of dates: durations are scaled, dates are not
    assert (done["updatedAt"] - done["startedAt"]).total_seconds() == pytest.approx(3600 * FAST, abs=0.01)
    [summary] = agent.list_ingestion_jobs(**ids)["ingestionJobSummaries"]
    assert (summary["startedAt"], summary["updatedAt"]) == (done["startedAt"], done["updatedAt"])


def test_a_stopped_job_is_dated_on_the_wall_clock(cloud: LocalCloud) -> None:
    agent = cloud.client("bedrock-agent")
    source = _source(cloud)
    ids = {"knowledgeBaseId": source.knowledge_base_id, "dataSourceId": source.data_source_id}
    bedrock.faults().hang_next_jobs()
    job = agent.start_ingestion_job(**ids)["ingestionJob"]
    stopping = agent.stop_ingestion_job(**ids, ingestionJobId=job["ingestionJobId"])["ingestionJob"]
    assert stopping["status"] == "STOPPING"
    assert_now(stopping["updatedAt"], "StopIngestionJob updatedAt")
    time.sleep(0.1)  # STOPPING lasts 3 virtual seconds = 3 ms
    stopped = agent.get_ingestion_job(**ids, ingestionJobId=job["ingestionJobId"])["ingestionJob"]
    assert stopped["status"] == "STOPPED"
    assert_now(stopped["updatedAt"], "STOPPED updatedAt")
    assert stopped["startedAt"] <= stopping["updatedAt"] <= stopped["updatedAt"]


def test_scheduler_scheduled_time_is_the_date_now(cloud: LocalCloud) -> None:
    from kbsync_localcloud import scheduler

    text = scheduler._context_input('{"at": "<aws.scheduler.scheduled-time>"}', SimpleNamespace(arn="a"), "x")
    stamp = text.split('"')[3]
    assert_now(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), "<aws.scheduler.scheduled-time>")


def test_the_asynchronous_invocation_record_is_dated_now(cloud: LocalCloud) -> None:
    from kbsync_localcloud.adapters import inprocess_lambda

    result = SimpleNamespace(payload=b"{}", function_error=None, request_id="r")
    function = SimpleNamespace(function_arn="arn:aws:lambda:us-east-1:123456789012:function:f")
    record = inprocess_lambda.invocation_record(function, {}, result, "RetriesExhausted", 3)  # type: ignore[arg-type]
    assert_now(datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")), "the invocation record")


def test_the_clock_is_safe_across_threads() -> None:
    """set_scale from one thread while others read: every reading maps back to itself (no torn segment)."""
    clock = ScaledClock(FAST)
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            virtual = clock.now()
            if abs(clock.virtual(clock.wall(virtual)) - virtual) > 1e-3:
                errors.append(f"{virtual}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for scale in (0.5, 0.001, 0.01, 1.0) * 25:
        clock.set_scale(scale)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
