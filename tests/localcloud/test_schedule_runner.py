"""The local cloud fires rate schedules on the scaled clock, as EventBridge Scheduler does (schedule_runner.py): the
job watch's sweep runs by itself, once per period, never while DISABLED; cron schedules stay fired on demand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.cloud import LocalCloud
from kbsync_localcloud.schedule_runner import DEFAULT_PREFIXES, ScheduleRunner, rate_seconds

ROLE = "arn:aws:iam::123456789012:role/scheduler"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001, run_schedules=()) as running:
        yield running


def make_schedule(cloud: LocalCloud, name: str, expression: str) -> tuple[Any, str]:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": arn, "RoleArn": ROLE, "Input": '{"source": "test"}'},
        State="ENABLED",
    )
    return sqs, url


def received(sqs: Any, url: str) -> int:
    count = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        count += len(messages)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return count


def after_virtual(seconds: float) -> None:
    time.sleep(CLOCK.to_real(seconds))


def test_rate_expressions_are_read_and_others_are_not() -> None:
    assert (rate_seconds("rate(1 minute)"), rate_seconds("rate(5 minutes)"), rate_seconds("rate(2 hours)")) == (
        60,
        300,
        7200,
    )
    assert rate_seconds("rate(1 day)") == 86400
    assert rate_seconds("cron(0 2 * * ? *)") is None and rate_seconds("at(2026-12-06T00:00:00)") is None


def test_a_rate_schedule_fires_once_per_period_and_never_while_disabled(cloud: LocalCloud) -> None:
    sqs, url = make_schedule(cloud, "runner-rate", "rate(1 minute)")
    runner = ScheduleRunner(("runner-",))
    assert runner.tick() == []  # first seen: due one period later, as Scheduler's rate schedules start
    after_virtual(61)
    assert runner.tick() == ["runner-rate"]
    assert runner.tick() == []  # not again within the period
    assert received(sqs, url) == 1
    scheduler = cloud.client("scheduler")
    scheduler.update_schedule(
        Name="runner-rate",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=scheduler.get_schedule(Name="runner-rate")["Target"],
        State="DISABLED",
    )
    after_virtual(61)
    assert runner.tick() == [] and received(sqs, url) == 0


def test_cron_schedules_and_other_names_are_left_alone(cloud: LocalCloud) -> None:
    make_schedule(cloud, "runner-cron", "cron(* * * * ? *)")
    make_schedule(cloud, "someone-else", "rate(1 minute)")
    runner = ScheduleRunner(("runner-cron", "runner-x"))
    runner.tick()
    after_virtual(61)
    assert runner.tick() == []


def test_the_local_cloud_fires_the_job_watch_by_default() -> None:
    assert DEFAULT_PREFIXES == ("kbsync-job-watch-",)
    assert LocalCloud().run_schedules == DEFAULT_PREFIXES
