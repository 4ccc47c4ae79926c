"""functions/job_watch: the wait stores its token with the job record (and wakes at once when the logs' terminal
event came first), and the sweep heartbeats every waiting record and checks the due ones on the poll schedule.

moto's DynamoDB with the template's JobsTable (pk/sk, GSIs byStatus and byJobId); Step Functions and Bedrock as
botocore Stubbers (real clients: every request and response is checked against the service model, errors carry the
services' real codes), each queued answer consumed by the test's end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kbsync_polling
import pytest
from kbsync_contracts import ContractError

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.helpers.stubs import stubbed
from tests.helpers.tables import moto_jobs_table
from tests.unit.test_metrics_emf import emf_metrics

fn = load_function("job_watch")
logic = load_module("job_watch", "job_watch_logic")
Settings = load_module("job_watch", "job_watch_settings").Settings

KB, DS = "KB12345678", "DS12345678"
NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
SETTINGS = Settings(jobs_table="jobs", max_poll_interval_seconds=300)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-x"


def iso(epoch: float) -> str:
    import kbsync_values

    return kbsync_values.utc_seconds(epoch)


def token(n: int) -> str:
    return f"AQCEAAAAKgAAAAMAAAAAAAAAA{n:04d}" + "t" * 300


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The JobsTable in moto's in-memory DynamoDB (no network), and no client left over from another test."""
    with moto_jobs_table(monkeypatch, fn) as table:
        yield table


def put_record(jobs: Any, job: str, status: str = "IN_PROGRESS", started: float = NOW - 600, **extra: Any) -> Any:
    """A record as RecordJobStarted writes it, plus `extra` (the wait's attributes)."""
    item = {
        "pk": f"DS#{KB}#{DS}",
        "sk": f"JOB#{iso(started)}#manual-{job}-1",
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "ingestionJobId": job,
        "status": status,
        "trigger": "manual",
        "executionArn": EXECUTION,
        "attempt": 1,
        "startedAt": iso(started),
        "updatedAt": iso(started),
        **extra,
    }
    jobs.put_item(Item=item)
    return item


def waiting(n: int, check_at: float, wait: int = 15) -> dict[str, Any]:
    """The attributes a stored wait leaves on the record."""
    return {
        "waitToken": token(n),
        "waitingSince": iso(NOW - 60),
        "nextCheckAt": iso(check_at),
        "checkWaitSeconds": wait,
    }


def stored(jobs: Any, item: dict[str, Any]) -> dict[str, Any]:
    got: dict[str, Any] = jobs.get_item(Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)["Item"]
    return got


def wait_event(item: dict[str, Any], n: int = 1, interval: int = 15) -> dict[str, Any]:
    """What WaitForJobEnd sends (schemas/job-watch-input.schema.json, action wait)."""
    return {
        "action": "wait",
        "taskToken": token(n),
        "record": {"pk": item["pk"], "sk": item["sk"]},
        "ingestionJobId": item["ingestionJobId"],
        "executionArn": EXECUTION,
        "pollIntervalSeconds": interval,
    }


def bedrock_job(job: str, status: str) -> dict[str, Any]:
    """GetIngestionJob's answer as the API shapes it."""
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(NOW - 60, tz=UTC)
    return {
        "ingestionJob": {
            "knowledgeBaseId": KB,
            "dataSourceId": DS,
            "ingestionJobId": job,
            "status": status,
            "startedAt": at,
            "updatedAt": at,
        }
    }


def get_params(job: str) -> dict[str, str]:
    return {"knowledgeBaseId": KB, "dataSourceId": DS, "ingestionJobId": job}


def wake_params(n: int, job: str, status: str, source: str) -> dict[str, str]:
    output = {"source": source, "ingestionJobId": job, "status": status, "wokenAt": iso(NOW)}
    return {"taskToken": token(n), "output": json.dumps(output, separators=(",", ":"))}


# --- wait -------------------------------------------------------------------------------------------------------------


def test_the_wait_stores_its_token_and_first_check_and_clears_the_previous_wake(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1", wokenAt=iso(NOW - 300), wokenBy="sweep", waitToken=token(0))
    with stubbed("stepfunctions") as stubs:  # nothing queued: any call to Step Functions fails the test
        result = logic.begin_wait(jobs, stubs["stepfunctions"].client, wait_event(item, 1, 15), NOW)
    assert result == {"stored": True, "wokenAtOnce": False}
    record = stored(jobs, item)
    assert record["waitToken"] == token(1)
    assert record["waitingSince"] == iso(NOW)
    assert record["nextCheckAt"] == iso(NOW + 15) and record["checkWaitSeconds"] == 15
    assert "wokenAt" not in record and "wokenBy" not in record


def test_a_wait_for_a_record_that_does_not_hold_the_job_fails_so_the_execution_polls(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1")
    with stubbed("stepfunctions") as stubs:
        with pytest.raises(logic.UnknownJobRecord, match="JOBBBBBBB2"):
            logic.begin_wait(
                jobs, stubs["stepfunctions"].client, {**wait_event(item), "ingestionJobId": "JOBBBBBBB2"}, NOW
            )
        gone = {**wait_event(item), "record": {"pk": item["pk"], "sk": "JOB#1999-01-01T00:00:00Z#none-1"}}
        with pytest.raises(logic.UnknownJobRecord):
            logic.begin_wait(jobs, stubs["stepfunctions"].client, gone, NOW)
    assert "waitToken" not in stored(jobs, item)
    assert jobs.scan()["Count"] == 1  # the conditional update created no record


def test_a_terminal_event_that_came_before_the_token_wakes_the_wait_at_once(
    jobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    item = put_record(jobs, "JOBAAAAAA1", logStatus="COMPLETE")
    with stubbed("stepfunctions") as stubs:
        stubs["stepfunctions"].add_response("send_task_success", {}, wake_params(1, "JOBAAAAAA1", "COMPLETE", "logs"))
        result = logic.begin_wait(jobs, stubs["stepfunctions"].client, wait_event(item), NOW)
    assert result == {"stored": True, "wokenAtOnce": True}
    record = stored(jobs, item)
    assert (record["wokenAt"], record["wokenBy"], record["waitToken"]) == (iso(NOW), "logs", token(1))
    wakes = [m for m in emf_metrics(capsys.readouterr().out) if m["name"] == "Wakes"]
    assert [(m["dimensions"], m["values"]) for m in wakes] == [({"Source": "logs"}, [1.0])]


def test_a_wait_after_a_logs_wake_that_found_the_job_running_is_left_to_the_sweep(jobs: Any) -> None:
    """GetJobStatus saw the job still running after the logs woke the previous wait: waking again at once would loop
    without waiting and spend the poll budget; the sweep checks it on the poll schedule instead."""
    item = put_record(
        jobs, "JOBAAAAAA1", logStatus="COMPLETE", waitToken=token(1), wokenAt=iso(NOW - 5), wokenBy="logs"
    )
    with stubbed("stepfunctions") as stubs:
        result = logic.begin_wait(jobs, stubs["stepfunctions"].client, wait_event(item, 2, 15), NOW)
    assert result == {"stored": True, "wokenAtOnce": False}
    record = stored(jobs, item)
    assert record["waitToken"] == token(2) and "wokenAt" not in record and record["nextCheckAt"] == iso(NOW + 15)


def test_a_wait_whose_task_already_ended_is_not_marked_woken(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1", logStatus="FAILED")
    with stubbed("stepfunctions") as stubs:
        stubs["stepfunctions"].add_client_error("send_task_success", "TaskTimedOut", "Task Timed Out", 400)
        result = logic.begin_wait(jobs, stubs["stepfunctions"].client, wait_event(item), NOW)
    assert result == {"stored": True, "wokenAtOnce": False}
    assert "wokenAt" not in stored(jobs, item)


# --- sweep ------------------------------------------------------------------------------------------------------------


def test_the_sweep_heartbeats_every_waiting_record_and_checks_only_the_due_ones(
    jobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ended = put_record(jobs, "JOBAAAAAA1", "STARTING", NOW - 900, **waiting(1, NOW - 1))
    not_due = put_record(jobs, "JOBAAAAAA2", "IN_PROGRESS", NOW - 800, **waiting(2, NOW + 30))
    running = put_record(jobs, "JOBAAAAAA3", "IN_PROGRESS", NOW - 700, **waiting(3, NOW, wait=35))
    put_record(jobs, "JOBAAAAAA4", "IN_PROGRESS", NOW - 600)  # polling (no token): not the sweep's
    put_record(jobs, "JOBAAAAAA5", "IN_PROGRESS", NOW - 500, **waiting(5, NOW - 1), wokenAt=iso(NOW - 2))  # woken
    put_record(jobs, "JOBAAAAAA6", "COMPLETE", NOW - 400, **waiting(6, NOW - 1))  # closed
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        sfn, agent = stubs["stepfunctions"], stubs["bedrock-agent"]
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        agent.add_response("get_ingestion_job", bedrock_job("JOBAAAAAA1", "COMPLETE"), get_params("JOBAAAAAA1"))
        sfn.add_response("send_task_success", {}, wake_params(1, "JOBAAAAAA1", "COMPLETE", "sweep"))
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(2)})
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(3)})
        agent.add_response("get_ingestion_job", bedrock_job("JOBAAAAAA3", "IN_PROGRESS"), get_params("JOBAAAAAA3"))
        done = logic.sweep(jobs, sfn.client, agent.client, SETTINGS, NOW)
    assert done.as_dict() == {
        "waiting": 3,
        "heartbeats": 3,
        "spent": 0,
        "checked": 2,
        "woken": 1,
        "rescheduled": 1,
        "stoppedEarly": False,
        "errors": [],
    }
    assert (stored(jobs, ended)["wokenBy"], stored(jobs, ended)["wokenAt"]) == ("sweep", iso(NOW))
    assert stored(jobs, not_due)["nextCheckAt"] == iso(NOW + 30)  # untouched
    later = stored(jobs, running)
    assert later["checkWaitSeconds"] == kbsync_polling.next_wait(35, 300) == 53
    assert later["nextCheckAt"] == iso(NOW + 53)
    metrics = {(m["name"], json.dumps(m["dimensions"])): m["values"] for m in emf_metrics(capsys.readouterr().out)}
    assert metrics[("SweepChecks", "{}")] == [2.0]
    assert metrics[("Wakes", '{"Source": "sweep"}')] == [1.0]


def test_a_running_job_is_checked_on_the_poll_loops_schedule_up_to_the_maximum(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1", **waiting(1, NOW, wait=15))
    settings = Settings(jobs_table="jobs", max_poll_interval_seconds=60)
    seen, now = [], float(NOW)
    for _ in range(5):
        with stubbed("stepfunctions", "bedrock-agent") as stubs:
            stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
            stubs["bedrock-agent"].add_response(
                "get_ingestion_job", bedrock_job("JOBAAAAAA1", "IN_PROGRESS"), get_params("JOBAAAAAA1")
            )
            logic.sweep(jobs, stubs["stepfunctions"].client, stubs["bedrock-agent"].client, settings, now)
        record = stored(jobs, item)
        seen.append(int(record["checkWaitSeconds"]))
        now = logic.when(record["nextCheckAt"]) or 0.0
    assert seen == [23, 35, 53, 60, 60]


def test_one_failing_record_does_not_stop_the_sweep(jobs: Any) -> None:
    throttled = put_record(jobs, "JOBAAAAAA1", "STARTING", NOW - 900, **waiting(1, NOW - 1))
    denied = put_record(jobs, "JOBAAAAAA2", "IN_PROGRESS", NOW - 800, **waiting(2, NOW - 1))
    ended = put_record(jobs, "JOBAAAAAA3", "IN_PROGRESS", NOW - 700, **waiting(3, NOW - 1))
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        sfn, agent = stubs["stepfunctions"], stubs["bedrock-agent"]
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        agent.add_client_error("get_ingestion_job", "ThrottlingException", "Rate exceeded", 429)
        sfn.add_client_error("send_task_heartbeat", "AccessDeniedException", "not authorized to SendTaskHeartbeat", 400)
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(3)})
        agent.add_response("get_ingestion_job", bedrock_job("JOBAAAAAA3", "FAILED"), get_params("JOBAAAAAA3"))
        sfn.add_response("send_task_success", {}, wake_params(3, "JOBAAAAAA3", "FAILED", "sweep"))
        done = logic.sweep(jobs, sfn.client, agent.client, SETTINGS, NOW)
    assert done.woken == 1 and stored(jobs, ended)["wokenBy"] == "sweep"
    assert done.errors == [
        {
            "sk": throttled["sk"],
            "ingestionJobId": "JOBAAAAAA1",
            "error": "ThrottlingException",
            "message": "Rate exceeded",
        },
        {
            "sk": denied["sk"],
            "ingestionJobId": "JOBAAAAAA2",
            "error": "AccessDeniedException",
            "message": "not authorized to SendTaskHeartbeat",
        },
    ]
    assert "wokenAt" not in stored(jobs, throttled) and stored(jobs, throttled)["nextCheckAt"] == iso(NOW - 1)


def test_a_spent_token_is_not_checked_and_a_wake_that_lost_the_race_is_not_marked(jobs: Any) -> None:
    spent = put_record(jobs, "JOBAAAAAA1", "IN_PROGRESS", NOW - 900, **waiting(1, NOW - 1))
    raced = put_record(jobs, "JOBAAAAAA2", "IN_PROGRESS", NOW - 800, **waiting(2, NOW - 1))
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        sfn, agent = stubs["stepfunctions"], stubs["bedrock-agent"]
        sfn.add_client_error("send_task_heartbeat", "TaskTimedOut", "Task Timed Out", 400)
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(2)})
        agent.add_response("get_ingestion_job", bedrock_job("JOBAAAAAA2", "STOPPED"), get_params("JOBAAAAAA2"))
        sfn.add_client_error("send_task_success", "TaskTimedOut", "Task Timed Out", 400)  # the logs woke it first
        done = logic.sweep(jobs, sfn.client, agent.client, SETTINGS, NOW)
    assert (done.heartbeats, done.spent, done.checked, done.woken) == (1, 2, 1, 0)
    assert "wokenAt" not in stored(jobs, spent) and "wokenAt" not in stored(jobs, raced)


def test_the_sweep_reads_every_page_of_the_index(jobs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(7):
        put_record(jobs, f"JOBAAAAAB{i}", "IN_PROGRESS", NOW - 900 + i, **waiting(i, NOW + 60))
    pages: list[int] = []
    query = jobs.query

    def small_pages(**kwargs: Any) -> Any:
        page = query(Limit=3, **kwargs)
        pages.append(page["Count"])
        return page

    monkeypatch.setattr(jobs, "query", small_pages)
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        for i in range(7):
            stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(i)})
        done = logic.sweep(jobs, stubs["stepfunctions"].client, stubs["bedrock-agent"].client, SETTINGS, NOW)
    assert done.waiting == done.heartbeats == 7 and len(pages) >= 4


def test_a_sweep_short_of_time_stops_and_leaves_the_rest_to_the_next_run(jobs: Any) -> None:
    put_record(jobs, "JOBAAAAAA1", **waiting(1, NOW + 60))
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        done = logic.sweep(
            jobs, stubs["stepfunctions"].client, stubs["bedrock-agent"].client, SETTINGS, NOW, remaining_ms=lambda: 10
        )
    assert done.stopped_early and done.waiting == 0


# --- the handler ------------------------------------------------------------------------------------------------------


def test_the_handler_refuses_an_event_that_breaks_its_contract_before_any_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fn.CLIENTS, "jobs_table", lambda: pytest.fail("the table was touched"))
    with pytest.raises(ContractError, match="/taskToken: required"):
        fn.lambda_handler({"action": "wait"}, FakeLambdaContext())
    with pytest.raises(ContractError, match="/source"):
        fn.lambda_handler({"source": "kbsync.reconcile-schedule", "scheduledTime": "x"}, FakeLambdaContext())


class Context(FakeLambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_the_handler_runs_the_wait_and_the_schedule_with_its_clients(
    jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fn, "SETTINGS", SETTINGS)
    item = put_record(jobs, "JOBAAAAAA1")
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        monkeypatch.setattr(fn.CLIENTS, "stepfunctions", lambda: stubs["stepfunctions"].client)
        monkeypatch.setattr(fn.CLIENTS, "bedrock_agent", lambda: stubs["bedrock-agent"].client)
        assert fn.lambda_handler(wait_event(item), Context()) == {"stored": True, "wokenAtOnce": False}
        stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        schedule = {"source": "kbsync.job-watch-schedule", "scheduledTime": "2027-01-15T08:00:00Z"}
        result = fn.lambda_handler(schedule, Context())
    assert (result["waiting"], result["heartbeats"], result["checked"]) == (1, 1, 0)
