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
            "errorMessage": "Rate exceeded",
        },
        {
            "sk": denied["sk"],
            "ingestionJobId": "JOBAAAAAA2",
            "error": "AccessDeniedException",
            "errorMessage": "not authorized to SendTaskHeartbeat",
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


# --- promises the mutation run found unpinned (each test kills the mutants named in docs/testing.md) ----------------


def refuse_once(jobs: Any, monkeypatch: pytest.MonkeyPatch, operation: str, code: str, message: str) -> list[str]:
    """The table's next `operation` (a Table resource method: update_item, get_item...) is answered with DynamoDB's
    error `code` by a Stubber on the table's own client (the request is still checked against the service model);
    every other call goes to moto. Returns the refused operations, to check that the refusal happened."""
    from botocore.stub import Stubber

    original, refused = getattr(jobs, operation), []

    def refuse(**kwargs: Any) -> Any:
        monkeypatch.setattr(jobs, operation, original)
        refused.append(operation)
        with Stubber(jobs.meta.client) as stubber:
            stubber.add_client_error(operation, code, message, 400)
            return original(**kwargs)

    monkeypatch.setattr(jobs, operation, refuse)
    return refused


def test_a_record_whose_wait_was_woken_or_replaced_meanwhile_is_not_rescheduled(jobs: Any) -> None:
    """The sweep read the record, then the logs woke its wait (or a new wait stored its token) before the reschedule:
    the conditional write leaves the newer state alone, and that is no error."""
    as_read = put_record(jobs, "JOBAAAAAA1", **waiting(1, NOW, wait=15))
    jobs.update_item(  # the logs' wake, after the sweep's read
        Key={"pk": as_read["pk"], "sk": as_read["sk"]},
        UpdateExpression="SET wokenAt = :at, wokenBy = :by",
        ExpressionAttributeValues={":at": iso(NOW - 1), ":by": "logs"},
    )
    assert logic.reschedule(jobs, as_read, SETTINGS, NOW) == 23
    record = stored(jobs, as_read)
    assert (record["nextCheckAt"], record["checkWaitSeconds"], record["wokenBy"]) == (iso(NOW), 15, "logs")

    replaced = put_record(jobs, "JOBAAAAAA2", started=NOW - 500, **waiting(2, NOW, wait=15))
    jobs.update_item(  # a new wait's token, with its own first check
        Key={"pk": replaced["pk"], "sk": replaced["sk"]},
        UpdateExpression="SET waitToken = :token, nextCheckAt = :next",
        ExpressionAttributeValues={":token": token(3), ":next": iso(NOW + 15)},
    )
    logic.reschedule(jobs, replaced, SETTINGS, NOW)
    assert (stored(jobs, replaced)["nextCheckAt"], stored(jobs, replaced)["checkWaitSeconds"]) == (iso(NOW + 15), 15)


def test_a_reschedule_that_dynamodb_refuses_is_reported_by_the_sweep(
    jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the lost condition is quiet: any other refusal (throttling past the SDK's retries) reaches the sweep's
    errors, and the record keeps its due check for the next run."""
    item = put_record(jobs, "JOBAAAAAA1", **waiting(1, NOW - 1))
    refused = refuse_once(
        jobs, monkeypatch, "update_item", "ProvisionedThroughputExceededException", "Rate of requests"
    )
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        sfn, agent = stubs["stepfunctions"], stubs["bedrock-agent"]
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        agent.add_response("get_ingestion_job", bedrock_job("JOBAAAAAA1", "IN_PROGRESS"), get_params("JOBAAAAAA1"))
        done = logic.sweep(jobs, sfn.client, agent.client, SETTINGS, NOW)
    assert refused == ["update_item"]
    assert done.rescheduled == 0
    assert done.errors == [
        {
            "sk": item["sk"],
            "ingestionJobId": "JOBAAAAAA1",
            "error": "ProvisionedThroughputExceededException",
            "errorMessage": "Rate of requests",
        }
    ]
    assert stored(jobs, item)["nextCheckAt"] == iso(NOW - 1)


def test_a_wait_without_its_last_interval_grows_from_the_shortest_wait(jobs: Any) -> None:
    """A record whose wait left no checkWaitSeconds is checked again on the schedule's first step from 1 s (2 s), not
    at once and not later than that."""
    item = put_record(jobs, "JOBAAAAAA1", waitToken=token(1), nextCheckAt=iso(NOW))
    assert logic.reschedule(jobs, item, SETTINGS, NOW) == kbsync_polling.next_wait(1, 300) == 2
    assert (stored(jobs, item)["checkWaitSeconds"], stored(jobs, item)["nextCheckAt"]) == (2, iso(NOW + 2))


def test_a_check_time_that_cannot_be_read_makes_the_record_due(jobs: Any) -> None:
    """An unreadable nextCheckAt never stops the sweep nor hides the job: it is checked now, and rescheduled."""
    assert logic.when("not a time") is None and logic.when(None) is None
    assert logic.when("2027-01-15T08:00:00Z") == NOW
    item = put_record(jobs, "JOBAAAAAA1", **{**waiting(1, NOW, wait=15), "nextCheckAt": "soon"})
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        sfn, agent = stubs["stepfunctions"], stubs["bedrock-agent"]
        sfn.add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        agent.add_response("get_ingestion_job", bedrock_job("JOBAAAAAA1", "IN_PROGRESS"), get_params("JOBAAAAAA1"))
        done = logic.sweep(jobs, sfn.client, agent.client, SETTINGS, NOW)
    assert (done.checked, done.rescheduled, done.errors) == (1, 1, [])
    assert stored(jobs, item)["nextCheckAt"] == iso(NOW + 23)


@pytest.mark.parametrize(("remaining", "stops"), [(logic.RESERVE_MS, False), (logic.RESERVE_MS - 1, True)])
def test_the_sweep_keeps_five_seconds_of_its_invocation_in_reserve(jobs: Any, remaining: int, stops: bool) -> None:
    """With exactly the reserve left a record is still watched; with less, the sweep stops before it."""
    assert logic.RESERVE_MS == 5_000
    put_record(jobs, "JOBAAAAAA1", **waiting(1, NOW + 60))
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        if not stops:
            stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        done = logic.sweep(
            jobs,
            stubs["stepfunctions"].client,
            stubs["bedrock-agent"].client,
            SETTINGS,
            NOW,
            remaining_ms=lambda: remaining,
        )
    assert (done.stopped_early, done.waiting, done.heartbeats) == (stops, 0 if stops else 1, 0 if stops else 1)


def test_a_sweep_that_stops_reads_no_more_of_the_index(jobs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of time, the sweep makes no further call at all (no next page, no other status): the invocation's last
    seconds are not spent reading records it will not watch. The next run, a minute later, starts over."""
    for i in range(3):
        put_record(jobs, f"JOBAAAAAC{i}", "IN_PROGRESS", NOW - 900 + i, **waiting(i, NOW + 60))
    put_record(jobs, "JOBAAAAAC9", "STARTING", NOW - 100, **waiting(9, NOW + 60))
    calls: list[str] = []
    query = jobs.query

    def one_per_page(**kwargs: Any) -> Any:
        calls.append("query")
        return query(Limit=1, **kwargs)

    left = iter([60_000])

    def remaining() -> int:  # one record's worth of time, then none
        calls.append("clock")
        return next(left, 10)

    monkeypatch.setattr(jobs, "query", one_per_page)
    with stubbed("stepfunctions", "bedrock-agent") as stubs:
        stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(9)})
        done = logic.sweep(
            jobs, stubs["stepfunctions"].client, stubs["bedrock-agent"].client, SETTINGS, NOW, remaining_ms=remaining
        )
    assert (done.stopped_early, done.waiting, done.heartbeats) == (True, 1, 1)
    assert calls == ["query", "clock", "query", "clock"]


def test_the_settings_defaults_are_the_environments_defaults() -> None:
    """The dataclass's default (what a caller without an environment gets) is the one `from_env` falls back to, and
    both are the template's MaxPollIntervalSeconds default: the sweep's checks grow like the poll loop's waits."""
    from tests.helpers.sam import load_template

    from_env = Settings.from_env({"JOBS_TABLE": "jobs"})
    assert Settings(jobs_table="jobs") == from_env
    default = int(load_template()["Parameters"]["MaxPollIntervalSeconds"]["Default"])
    assert from_env.max_poll_interval_seconds == default == 300


def test_the_handler_logs_the_wait_with_its_job_and_the_sweep_with_its_counts(
    jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers.logs import log_lines

    monkeypatch.setattr(fn, "SETTINGS", SETTINGS)
    item = put_record(jobs, "JOBAAAAAA1")
    schedule = {"source": "kbsync.job-watch-schedule", "scheduledTime": "2027-01-15T08:00:00Z"}
    with log_lines(fn) as lines, stubbed("stepfunctions", "bedrock-agent") as stubs:
        monkeypatch.setattr(fn.CLIENTS, "stepfunctions", lambda: stubs["stepfunctions"].client)
        monkeypatch.setattr(fn.CLIENTS, "bedrock_agent", lambda: stubs["bedrock-agent"].client)
        fn.lambda_handler(wait_event(item, 1), Context())
        stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(1)})
        fn.lambda_handler(schedule, Context())
        wait, summary = lines()
    assert (wait["level"], wait["message"]) == ("INFO", "waiting for the job's end")
    assert (wait["ingestionJobId"], wait["stored"], wait["wokenAtOnce"]) == ("JOBAAAAAA1", True, False)
    assert (summary["level"], summary["message"]) == ("INFO", "swept the waiting jobs")
    assert {k: summary[k] for k in ("waiting", "heartbeats", "checked", "stoppedEarly")} == {
        "waiting": 1,
        "heartbeats": 1,
        "checked": 0,
        "stoppedEarly": False,
    }
    assert "errors" not in summary


def test_the_handler_logs_each_record_that_failed_with_its_aws_error_and_sums_up_the_sweep(
    jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One WARNING per failed record (its key, its job, the AWS error code and message: never a stack trace), then
    one summary line with the counts (the errors are in the warnings, not repeated there)."""
    from tests.helpers.logs import log_lines

    monkeypatch.setattr(fn, "SETTINGS", SETTINGS)
    failing = put_record(jobs, "JOBAAAAAA1", **waiting(1, NOW + 60))
    put_record(jobs, "JOBAAAAAA2", started=NOW - 500, **waiting(2, NOW + 60))
    schedule = {"source": "kbsync.job-watch-schedule", "scheduledTime": "2027-01-15T08:00:00Z"}
    with log_lines(fn) as lines, stubbed("stepfunctions", "bedrock-agent") as stubs:
        monkeypatch.setattr(fn.CLIENTS, "stepfunctions", lambda: stubs["stepfunctions"].client)
        monkeypatch.setattr(fn.CLIENTS, "bedrock_agent", lambda: stubs["bedrock-agent"].client)
        stubs["stepfunctions"].add_client_error("send_task_heartbeat", "ThrottlingException", "Rate exceeded", 400)
        stubs["stepfunctions"].add_response("send_task_heartbeat", {}, {"taskToken": token(2)})
        result = fn.lambda_handler(schedule, Context())
        warning, summary = lines()
    assert result["errors"] == [
        {
            "sk": failing["sk"],
            "ingestionJobId": "JOBAAAAAA1",
            "error": "ThrottlingException",
            "errorMessage": "Rate exceeded",
        }
    ]
    assert (warning["level"], warning["message"]) == ("WARNING", "cannot watch a waiting job")
    assert (warning["sk"], warning["ingestionJobId"], warning["error"]) == (
        failing["sk"],
        "JOBAAAAAA1",
        "ThrottlingException",
    )
    assert "Rate exceeded" in warning.values()  # the AWS message, under a key of its own
    assert (summary["level"], summary["message"]) == ("INFO", "swept the waiting jobs")
    assert {k: summary[k] for k in ("waiting", "heartbeats", "checked")} == {
        "waiting": 2,
        "heartbeats": 1,
        "checked": 0,
    }
    assert "errors" not in summary
