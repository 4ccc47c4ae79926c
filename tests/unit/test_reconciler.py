"""No record stuck open, unit level: the catch-all closes the record of an execution that died, the
reconciler closes what is still open after its execution ended and alerts once for each. moto's DynamoDB (the
template's key and index layout); Step Functions, Bedrock and SNS as fakes that answer only what the real APIs
answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import kbsync_contracts
import pytest
from botocore.exceptions import ClientError

from tests.helpers.functions import FakeLambdaContext, load_function
from tests.helpers.logs import log_lines
from tests.helpers.sns import as_received
from tests.helpers.tables import create_jobs_table
from tests.triggers.support import DS, KB, aws, create_targets_table

catch_all = load_function("catch_all")
reconciler = load_function("reconciler")

NOW = 1_800_000_000  # 2027-01-15T08:00:00Z
SYNC_SM = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-IngestionSync"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
JOB = "JOBAAAAAA1"
#: A Lambda task's failure as Step Functions reports it: the function's error JSON, stack trace included.
LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "An error occurred (AccessDeniedException) when calling the GetIngestionJob operation: "
        "You do not have sufficient access to perform this action.",
        "errorType": "ClientError",
        "requestId": "5b1c0bd6-2a3a-4f64-b2b4-9a0e1b1b2c3d",
        "stackTrace": [
            '  File "/var/task/app.py", line 88, in lambda_handler\n    job = poll(event)\n',
            '  File "/var/runtime/botocore/client.py", line 1023, in _make_api_call\n    raise error_class(...)\n',
        ],
    }
)


def arn_of(name: str) -> str:
    return SYNC_SM.replace(":stateMachine:", ":execution:") + ":" + name


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def put_record(jobs: Any, execution: str, status: str = "STARTING", job: str | None = JOB, started: float = NOW - 600):
    """A record as RecordJobStarted writes it (statuses Bedrock returns at start)."""
    item = {
        "pk": f"DS#{KB}#{DS}",
        "sk": f"JOB#{iso(started)}#{job or execution}",
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "status": status,
        "trigger": "s3",
        "reason": "test",
        "requestedBy": "test",
        "executionArn": arn_of(execution),
        "attempt": 1,
        "startedAt": iso(started),
        "updatedAt": iso(started),
    }
    if job:
        item["ingestionJobId"] = job
    jobs.put_item(Item=item)
    return item


def record(jobs: Any, item: dict[str, Any]) -> dict[str, Any]:
    got: dict[str, Any] = jobs.get_item(Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)["Item"]
    return got


def as_json(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(item, default=int))


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} message"}}, operation)


class FakeStepFunctions:
    """DescribeExecution as the API answers it (status, dates as datetimes, error/cause only when failed)."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def end(self, name: str, status: str, stopped: float = NOW - 7200, error: str | None = None, cause: str = ""):
        description: dict[str, Any] = {
            "executionArn": arn_of(name),
            "stateMachineArn": SYNC_SM,
            "name": name,
            "status": status,
            "startDate": datetime.fromtimestamp(stopped - 600, tz=UTC),
        }
        if status != "RUNNING":
            description["stopDate"] = datetime.fromtimestamp(stopped, tz=UTC)
        if error:
            description.update(error=error, cause=cause)
        self.executions[arn_of(name)] = description

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.calls += 1
        if executionArn not in self.executions:
            raise client_error("ExecutionDoesNotExist", "DescribeExecution")
        return self.executions[executionArn]


class FakeBedrock:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.calls = 0
        #: The error ListIngestionJobs answers with (a data source deleted, throttling past retries), if any.
        self.list_error: str | None = None

    def set(self, job: str, status: str, failed: int = 0, description: str | None = None, age: float = 600) -> None:
        self.jobs[job] = {
            "knowledgeBaseId": KB,
            "dataSourceId": DS,
            "ingestionJobId": job,
            "status": status,
            "statistics": {"numberOfDocumentsScanned": 3, "numberOfDocumentsFailed": failed},
            "startedAt": datetime.fromtimestamp(NOW - age, tz=UTC),
            "updatedAt": datetime.fromtimestamp(NOW - 300, tz=UTC),
        }
        if description is not None:
            self.jobs[job]["description"] = description

    def list_ingestion_jobs(
        self, knowledgeBaseId: str, dataSourceId: str, sortBy: dict[str, str], maxResults: int
    ) -> dict[str, Any]:
        """IngestionJobSummary as the API lists it (no failureReasons), STARTED_AT newest first, one page."""
        self.calls += 1
        if self.list_error is not None:
            raise client_error(self.list_error, "ListIngestionJobs")
        assert sortBy == {"attribute": "STARTED_AT", "order": "DESCENDING"}
        jobs = sorted(self.jobs.values(), key=lambda job: job["startedAt"], reverse=True)
        summaries = [{k: v for k, v in job.items() if k != "failureReasons"} for job in jobs]
        page: dict[str, Any] = {"ingestionJobSummaries": summaries[:maxResults]}
        if len(summaries) > maxResults:
            page["nextToken"] = "more"
        return page

    def get_ingestion_job(self, knowledgeBaseId: str, dataSourceId: str, ingestionJobId: str) -> dict[str, Any]:
        self.calls += 1
        if ingestionJobId not in self.jobs:
            raise client_error("ResourceNotFoundException", "GetIngestionJob")
        return {"ingestionJob": self.jobs[ingestionJobId]}


class FakeSns:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = False

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail:
            raise client_error("InternalError", "Publish")
        self.published.append(as_received(kwargs))  # the text e-mail and SQS receive
        return {"MessageId": f"m-{len(self.published)}"}


class NoSleep:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with aws(monkeypatch):
        targets, jobs = create_targets_table(), create_jobs_table()
        for key, value in {
            "TARGETS_TABLE": "targets",
            "JOBS_TABLE": "jobs",
            "ALERTS_TOPIC_ARN": TOPIC,
            "RUNBOOK_BASE_URL": "https://example.com/runbooks",
            "SYNC_GATE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate-1",
        }.items():
            monkeypatch.setenv(key, value)
        catch_all.reset_clients()
        reconciler.reset_clients()
        sfn, agent, sns = FakeStepFunctions(), FakeBedrock(), FakeSns()
        catch_all._clients["sns"] = sns
        catch_all._clients["stepfunctions"] = sfn
        catch_all._clients["bedrock-agent"] = agent
        reconciler._clients.update({"stepfunctions": sfn, "bedrock-agent": agent, "sns": sns})
        yield {"targets": targets, "jobs": jobs, "sfn": sfn, "agent": agent, "sns": sns}
        catch_all.reset_clients()
        reconciler.reset_clients()


def run(env: dict[str, Any], grace: int = 3600, limit: int = 50, clock: NoSleep | None = None) -> dict[str, Any]:
    settings = reconciler.Settings.from_env(
        {
            "JOBS_TABLE": "jobs",
            "TARGETS_TABLE": "targets",
            "ALERTS_TOPIC_ARN": TOPIC,
            "RUNBOOK_BASE_URL": "https://example.com/runbooks",
            "RECONCILE_GRACE_SECONDS": str(grace),
            "RECONCILE_MAX_RECORDS": str(limit),
        }
    )
    clock = clock or NoSleep()
    pacer = reconciler.Pacer(settings.get_job_per_second, clock=clock.clock, sleep=clock.sleep)
    result: dict[str, Any] = reconciler.reconcile(settings, NOW, pacer=pacer)
    return result


def status_change(name: str, status: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html)."""
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2027-01-15T08:00:00Z",
        "region": "us-east-1",
        "resources": [arn_of(name)],
        "detail": {
            "executionArn": arn_of(name),
            "stateMachineArn": SYNC_SM,
            "name": name,
            "status": status,
            "startDate": (NOW - 900) * 1000,
            "stopDate": NOW * 1000,
            "input": json.dumps({"knowledgeBaseId": KB, "dataSourceId": DS, "trigger": "s3"}),
            "inputDetails": {"included": True},
            "output": None,
            "outputDetails": None,
            "error": error,
            "cause": cause,
        },
    }


# ====================================================================== shared rules


def test_both_functions_share_the_open_statuses_and_the_terminal_statuses() -> None:
    assert catch_all.OPEN_STATUSES == reconciler.OPEN_STATUSES
    assert catch_all.CLOSED_STATUS == reconciler.CLOSED_STATUS
    assert catch_all.MARKER_TTL_SECONDS == reconciler.MARKER_TTL_SECONDS


def test_every_record_status_of_the_contract_is_open_or_terminal() -> None:
    """A status added to the job-record schema must be classified here: open (closable) or terminal."""
    statuses = set(kbsync_contracts.schema("job-record")["properties"]["status"]["enum"])
    terminal = {"COMPLETE", "PARTIAL", "FAILED", "STOPPED", "TIMED_OUT", "START_FAILED", "POLL_FAILED", "COALESCED"}
    assert statuses == set(reconciler.OPEN_STATUSES) | terminal | set(reconciler.CLOSED_STATUS.values())


@pytest.mark.parametrize(
    ("status", "error", "cause"),
    [
        ("FAILED", "ClientError", LAMBDA_CAUSE),
        ("FAILED", "States.Runtime", 'Traceback (most recent call last):\n  File "/var/task/app.py", line 3\nKeyError'),
        ("ABORTED", None, None),
        ("ABORTED", "Operator", "killed by\nthe test"),
        ("TIMED_OUT", None, None),
        ("FAILED", None, "x" * 5000),
    ],
)
def test_causes_are_clean_one_liners_in_both_functions(status: str, error: str | None, cause: str | None) -> None:
    name, sentence = catch_all.clean_cause(status, error, cause)
    assert (name, sentence) == reconciler.clean_cause(status, error, cause)
    assert name and sentence and "\n" not in sentence and len(sentence) <= 600
    for leak in ("Traceback", "stackTrace", "/var/task", "/var/runtime", 'File "', "requestId"):
        assert leak not in sentence and leak not in name


def test_a_lambda_crash_cause_keeps_the_aws_error_and_its_message() -> None:
    name, sentence = catch_all.clean_cause("FAILED", "ClientError", LAMBDA_CAUSE)
    assert name == "AccessDeniedException"
    assert sentence == (
        "The execution failed before it recorded the job's outcome: You do not have sufficient access to perform this"
        " action. (GetIngestionJob)"
    )


# ====================================================================== the catch-all closes


@pytest.mark.parametrize(
    ("status", "error", "closed", "code"),
    [
        ("ABORTED", None, "EXECUTION_ABORTED", "StopExecution"),
        ("TIMED_OUT", None, "EXECUTION_TIMED_OUT", "States.Timeout"),
        ("FAILED", "ClientError", "EXECUTION_FAILED", "AccessDeniedException"),
    ],
)
def test_the_catch_all_closes_the_dead_executions_open_record(
    env: dict[str, Any], status: str, error: str | None, closed: str, code: str
) -> None:
    item = put_record(env["jobs"], "s3-dead", "IN_PROGRESS")
    result = catch_all.handle(status_change("s3-dead", status, error, LAMBDA_CAUSE if error else None), NOW)
    assert result["closed"] == [{"record": JOB, "status": closed}]
    got = record(env["jobs"], item)
    assert (got["status"], got["executionStatus"], got["errorCode"], got["closedBy"]) == (
        closed,
        status,
        code,
        "catch-all",
    )
    assert got["executionArn"] == arn_of("s3-dead") and "stackTrace" not in got["cause"]
    assert got["closedAt"] == got["updatedAt"] == "2027-01-15T08:00:00Z"  # when kbsync closed it (NOW)
    kbsync_contracts.validate("job-record", as_json(got))


def test_a_redelivered_event_changes_nothing(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-dead")
    event = status_change("s3-dead", "ABORTED")
    assert catch_all.handle(event, NOW)["closed"] != []
    first = record(env["jobs"], item)
    again = catch_all.handle(event, NOW + 60)
    assert again["closed"] == [] and record(env["jobs"], item) == first
    assert len(env["sns"].published) == 1


def test_a_record_the_workflow_closed_is_never_overwritten(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-done", "COMPLETE")
    catch_all.handle(status_change("s3-done", "FAILED", "States.Runtime", "boom"), NOW)
    assert record(env["jobs"], item)["status"] == "COMPLETE" and "closedBy" not in record(env["jobs"], item)


def test_only_the_dead_executions_records_are_closed(env: dict[str, Any]) -> None:
    other = put_record(env["jobs"], "s3-alive", "IN_PROGRESS", job="JOBAAAAAA2")
    mine = put_record(env["jobs"], "s3-dead", "IN_PROGRESS", started=NOW - 300)
    catch_all.handle(status_change("s3-dead", "ABORTED"), NOW)
    assert record(env["jobs"], other)["status"] == "IN_PROGRESS"
    assert record(env["jobs"], mine)["status"] == "EXECUTION_ABORTED"


def test_an_execution_ending_in_its_own_error_still_gets_its_open_record_closed(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-own")
    result = catch_all.handle(status_change("s3-own", "ABORTED", "KbSync.Stopped", "deliberate"), NOW)
    assert result["alerted"] is False and result["closed"] == [{"record": JOB, "status": "EXECUTION_ABORTED"}]
    assert record(env["jobs"], item)["errorCode"] == "KbSync.Stopped"


def test_the_died_alert_carries_a_clean_cause(env: dict[str, Any]) -> None:
    put_record(env["jobs"], "s3-crash", "IN_PROGRESS")
    catch_all.handle(status_change("s3-crash", "FAILED", "ClientError", LAMBDA_CAUSE), NOW)
    [published] = env["sns"].published
    assert "AccessDeniedException" in published["Message"]
    for leak in ("stackTrace", "/var/task", "/var/runtime", "requestId"):
        assert leak not in published["Message"]


# ====================================================================== the reconciler


def test_a_running_execution_keeps_its_record_and_bedrock_is_not_asked(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-running", "IN_PROGRESS")
    env["sfn"].end("s3-running", "RUNNING")
    result = run(env, grace=0)
    assert (result["checked"], result["running"], result["closed"]) == (1, 1, [])
    assert env["agent"].calls == 0
    assert record(env["jobs"], item)["status"] == "IN_PROGRESS"


def test_an_execution_that_ended_unnoticed_is_closed_and_alerted_once(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-lost", "IN_PROGRESS")
    env["sfn"].end("s3-lost", "FAILED", error="ClientError", cause=LAMBDA_CAUSE)
    env["agent"].set(JOB, "IN_PROGRESS")
    result = run(env)
    assert result["closed"] == [{"record": JOB, "status": "EXECUTION_FAILED"}] and result["alerted"] == 1
    got = record(env["jobs"], item)
    assert got["closedBy"] == "reconciler" and got["jobStatus"] == "IN_PROGRESS"
    assert got["closedAt"] == got["updatedAt"] == "2027-01-15T08:00:00Z"  # when kbsync closed it (NOW)
    assert got["alertSent"] is True and got["alertMessageId"] == "m-1"
    kbsync_contracts.validate("job-record", as_json(got))
    [published] = env["sns"].published
    alert = {k: published[v] for k, v in (("subject", "Subject"), ("message", "Message"))}
    alert["messageAttributes"] = published["MessageAttributes"]
    kbsync_contracts.validate("alert", alert)
    assert alert["subject"] == f"[WARNING] kbsync RECORD_RECONCILED: kb {KB} / ds {DS}"
    assert "https://example.com/runbooks/record-reconciled.md" in alert["message"]
    assert f"Execution:       {arn_of('s3-lost')}" in alert["message"]
    assert "still running in Bedrock" in alert["message"]
    assert "stackTrace" not in alert["message"]
    assert run(env)["closed"] == [] and len(env["sns"].published) == 1  # once


def test_an_execution_the_catch_all_already_alerted_is_closed_without_a_second_alert(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-alerted")
    env["sfn"].end("s3-alerted", "ABORTED")
    catch_all.claim_alert(env["targets"], arn_of("s3-alerted"), NOW - 7000)  # the catch-all's marker
    result = run(env)
    assert result["closed"] == [{"record": JOB, "status": "EXECUTION_ABORTED"}] and result["alerted"] == 0
    assert env["sns"].published == []
    assert record(env["jobs"], item)["alertSent"] is True


def test_a_late_catch_all_does_not_alert_an_execution_the_reconciler_alerted(env: dict[str, Any]) -> None:
    put_record(env["jobs"], "s3-late")
    env["sfn"].end("s3-late", "ABORTED")
    assert run(env)["alerted"] == 1
    result = catch_all.handle(status_change("s3-late", "ABORTED"), NOW)
    assert result["alerted"] is False and result["closed"] == []
    assert len(env["sns"].published) == 1


def test_the_catch_all_gets_its_grace_period_first(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-recent")
    env["sfn"].end("s3-recent", "ABORTED", stopped=NOW - 60)
    assert run(env, grace=3600)["left"] == 1
    assert record(env["jobs"], item)["status"] == "STARTING"
    assert run(env, grace=30)["closed"] != []


@pytest.mark.parametrize(
    ("execution", "job_status", "failed", "closed"),
    [
        ("SUCCEEDED", "COMPLETE", 0, "COMPLETE"),
        ("SUCCEEDED", "COMPLETE", 2, "PARTIAL"),
        ("SUCCEEDED", "COMPLETE", 1, "PARTIAL"),  # one failed document is enough (the workflow's `> 0`)
        (None, "FAILED", 0, "FAILED"),
        (None, "STOPPED", 0, "STOPPED"),
        (None, None, 0, "EXECUTION_FAILED"),
    ],
)
def test_a_record_whose_execution_is_gone_takes_the_jobs_own_outcome(
    env: dict[str, Any], execution: str | None, job_status: str | None, failed: int, closed: str
) -> None:
    item = put_record(env["jobs"], "s3-gone")
    if execution:
        env["sfn"].end("s3-gone", execution)
    if job_status:
        env["agent"].set(JOB, job_status, failed)
    assert run(env)["closed"] == [{"record": JOB, "status": closed}]
    got = record(env["jobs"], item)
    assert got["executionStatus"] == (execution or "NOT_FOUND")
    assert got["jobStatus"] == (job_status or "NOT_FOUND")
    kbsync_contracts.validate("job-record", as_json(got))


def test_a_job_bedrock_still_runs_keeps_its_record_open_when_the_execution_is_gone(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-orphan", "IN_PROGRESS")
    env["agent"].set(JOB, "IN_PROGRESS")
    assert run(env)["left"] == 1
    assert record(env["jobs"], item)["status"] == "IN_PROGRESS"
    env["agent"].set(JOB, "COMPLETE")
    assert run(env)["closed"] == [{"record": JOB, "status": "COMPLETE"}]


def test_a_failed_publish_reopens_the_record_and_the_next_run_alerts(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-flaky")
    env["sfn"].end("s3-flaky", "TIMED_OUT")
    env["sns"].fail = True
    with pytest.raises(ClientError):
        run(env)
    got = record(env["jobs"], item)
    assert got["status"] == "STARTING" and "closedBy" not in got and "alertSent" not in got
    env["sns"].fail = False
    assert run(env)["alerted"] == 1
    assert record(env["jobs"], item)["status"] == "EXECUTION_TIMED_OUT"


def test_a_record_closed_between_read_and_write_is_not_alerted(env: dict[str, Any]) -> None:
    item = put_record(env["jobs"], "s3-race")
    env["sfn"].end("s3-race", "ABORTED")
    stale = dict(item)
    catch_all.handle(status_change("s3-race", "ABORTED"), NOW)  # the catch-all wins
    values = {"status": "EXECUTION_ABORTED", "executionStatus": "ABORTED", "closedBy": "reconciler"}
    assert reconciler.close(env["jobs"], stale, values) is False
    assert record(env["jobs"], item)["closedBy"] == "catch-all"


def test_getingestionjob_is_paced_and_a_run_is_bounded(env: dict[str, Any]) -> None:
    for i in range(6):
        job = f"JOBAAAAAB{i}"
        put_record(env["jobs"], f"s3-many-{i}", job=job, started=NOW - 1000 + i)
        env["sfn"].end(f"s3-many-{i}", "SUCCEEDED")
        env["agent"].set(job, "COMPLETE")
    clock = NoSleep()
    result = run(env, limit=4, clock=clock)
    assert result["checked"] == 4 and env["agent"].calls == 4
    assert clock.slept == [pytest.approx(0.25)] * 3  # 4 GetIngestionJob a second at most (quota: 10/s account-wide)
    assert len(run(env, limit=4)["closed"]) == 2  # the rest on the next run


def test_one_unreadable_execution_does_not_stop_the_run(env: dict[str, Any]) -> None:
    put_record(env["jobs"], "s3-denied", job="JOBAAAAAC1", started=NOW - 900)
    put_record(env["jobs"], "s3-fine", job="JOBAAAAAC2", started=NOW - 800)
    env["sfn"].end("s3-fine", "ABORTED")
    original = env["sfn"].describe_execution

    def describe(executionArn: str) -> dict[str, Any]:
        if executionArn.endswith("s3-denied"):
            raise client_error("AccessDeniedException", "DescribeExecution")
        return original(executionArn)

    env["sfn"].describe_execution = describe
    result = run(env)
    assert result["errors"] == 1 and [c["record"] for c in result["closed"]] == ["JOBAAAAAC2"]


DESCRIPTION = "kbsync s3 sync, attempt 1, execution s3-lost-answer"


def put_record_before_its_job(jobs: Any, execution: str) -> dict[str, Any]:
    """A record as PrepareJobRecord writes it before StartIngestionJob: no job id, the description the start sends."""
    item = put_record(jobs, execution, job=None)
    jobs.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET description = :d, clientToken = :t",
        ExpressionAttributeValues={":d": DESCRIPTION, ":t": hashlib.sha256(f"{execution}#1".encode()).hexdigest()},
    )
    return item


def test_a_job_whose_start_answer_was_lost_is_found_by_its_description_and_named_on_the_record(
    env: dict[str, Any],
) -> None:
    """The execution died between StartIngestionJob and RecordJobId: the reconciler finds the Bedrock job by the
    record's description (never a Bedrock job kbsync does not know), names it on the record and in the alert."""
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    env["sfn"].end("s3-lost-answer", "ABORTED")
    env["agent"].set("OTHERJOB01", "COMPLETE", description="kbsync s3 sync, attempt 1, execution someone-else", age=60)
    env["agent"].set(JOB, "COMPLETE", failed=1, description=DESCRIPTION)
    result = run(env)
    assert result["closed"] == [{"record": JOB, "status": "EXECUTION_ABORTED"}] and result["alerted"] == 1
    got = record(env["jobs"], item)
    assert (got["ingestionJobId"], got["jobStatus"]) == (JOB, "COMPLETE")
    kbsync_contracts.validate("job-record", as_json(got))
    [published] = env["sns"].published
    assert f"Ingestion job:   {JOB}" in published["Message"]
    assert f"kbsync rerun {JOB}" in published["Message"]
    assert published["MessageAttributes"]["ingestionJobId"]["StringValue"] == JOB


def test_a_found_job_still_running_keeps_the_record_open_then_takes_its_outcome(env: dict[str, Any]) -> None:
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")  # execution gone (NOT_FOUND)
    env["agent"].set(JOB, "IN_PROGRESS", description=DESCRIPTION)
    assert run(env)["left"] == 1
    assert record(env["jobs"], item)["status"] == "STARTING"
    env["agent"].set(JOB, "COMPLETE", failed=2, description=DESCRIPTION)
    assert run(env)["closed"] == [{"record": JOB, "status": "PARTIAL"}]
    assert record(env["jobs"], item)["ingestionJobId"] == JOB


def test_a_record_whose_start_never_reached_bedrock_is_closed_as_no_job(env: dict[str, Any]) -> None:
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    env["agent"].set(JOB, "COMPLETE", description="kbsync s3 sync, attempt 2, execution s3-lost-answer")  # not it
    result = run(env)
    assert [c["status"] for c in result["closed"]] == ["EXECUTION_FAILED"]
    got = record(env["jobs"], item)
    assert "ingestionJobId" not in got and "Bedrock knows no job" in got["cause"]


def test_a_record_whose_data_source_is_gone_is_closed_as_no_job(env: dict[str, Any]) -> None:
    """ListIngestionJobs: ResourceNotFoundException (the data source was deleted, its jobs with it): no job to wait
    for, so the record is closed like one whose start never reached Bedrock."""
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    env["agent"].list_error = "ResourceNotFoundException"
    result = run(env)
    assert [c["status"] for c in result["closed"]] == ["EXECUTION_FAILED"]
    got = record(env["jobs"], item)
    assert "ingestionJobId" not in got and "Bedrock knows no job" in got["cause"]


def test_a_record_whose_jobs_cannot_be_listed_is_left_open_for_the_next_run(env: dict[str, Any]) -> None:
    """Any other error (throttling past boto3's retries): nothing is known, so nothing is closed."""
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    env["agent"].list_error = "ThrottlingException"
    result = run(env)
    assert (result["closed"], result["alerted"]) == ([], 0)
    assert record(env["jobs"], item)["status"] == "STARTING"
    assert env["sns"].published == []


def test_the_catch_all_names_the_job_a_dead_execution_started_before_it_could_record_its_id(
    env: dict[str, Any],
) -> None:
    """Stopped between StartIngestionJob and RecordJobId: the catch-all closes the record with the job Bedrock
    started for it (found by the record's description), and its alert names that job."""
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    env["agent"].set(JOB, "IN_PROGRESS", description=DESCRIPTION)
    result = catch_all.handle(status_change("s3-lost-answer", "ABORTED"), NOW)
    assert result["closed"] == [{"record": JOB, "status": "EXECUTION_ABORTED"}] and result["alerted"] is True
    got = record(env["jobs"], item)
    assert (got["ingestionJobId"], got["jobStatus"], got["closedBy"]) == (JOB, "IN_PROGRESS", "catch-all")
    kbsync_contracts.validate("job-record", as_json(got))
    [published] = env["sns"].published
    assert JOB in published["Message"]
    assert published["MessageAttributes"]["ingestionJobId"]["StringValue"] == JOB


def test_the_catch_all_closes_a_record_whose_start_never_reached_bedrock_without_a_job(env: dict[str, Any]) -> None:
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    assert catch_all.handle(status_change("s3-lost-answer", "TIMED_OUT"), NOW)["closed"] != []
    got = record(env["jobs"], item)
    assert got["status"] == "EXECUTION_TIMED_OUT" and "ingestionJobId" not in got and "jobStatus" not in got


def test_when_bedrock_cannot_be_asked_the_catch_all_leaves_the_record_to_the_reconciler(env: dict[str, Any]) -> None:
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")
    env["agent"].set(JOB, "COMPLETE", description=DESCRIPTION)

    def throttled(**_kwargs: Any) -> dict[str, Any]:
        raise client_error("ThrottlingException", "ListIngestionJobs")

    env["agent"].list_ingestion_jobs = throttled
    env["sfn"].end("s3-lost-answer", "ABORTED")
    result = catch_all.handle(status_change("s3-lost-answer", "ABORTED"), NOW)
    assert result["closed"] == [] and result["alerted"] is True  # the execution's death is still alerted, once
    assert record(env["jobs"], item)["status"] == "STARTING"
    del env["agent"].list_ingestion_jobs  # Bedrock answers again
    closed = run(env)
    assert closed["closed"] == [{"record": JOB, "status": "EXECUTION_ABORTED"}] and closed["alerted"] == 0
    assert record(env["jobs"], item)["ingestionJobId"] == JOB


def test_when_bedrock_cannot_be_asked_the_catch_alls_warning_names_the_aws_error_code(env: dict[str, Any]) -> None:
    """Clean causes in the log too: the record and the AWS error code, never an exception's repr."""
    item = put_record_before_its_job(env["jobs"], "s3-lost-answer")

    def denied(**_kwargs: Any) -> dict[str, Any]:
        raise client_error("AccessDeniedException", "ListIngestionJobs")

    env["agent"].list_ingestion_jobs = denied
    with log_lines(catch_all) as lines:
        assert catch_all.handle(status_change("s3-lost-answer", "ABORTED"), NOW)["closed"] == []
    (warning,) = [line for line in lines() if line["message"] == "cannot look up the job of an open record"]
    assert (warning["level"], warning["error"], warning["sk"]) == ("WARNING", "AccessDeniedException", item["sk"])


# ====================================================================== the reconciler's handler and settings


def test_the_settings_defaults_are_the_environments_defaults() -> None:
    """One default per setting: the dataclass's (what a caller without an environment gets) is the one `from_env`
    falls back to, which tests/static/test_configuration_table.py holds to the README and the template's parameter
    (ReconcileGraceSeconds 3600; GET_INGESTION_JOB_PER_SECOND 4; RECONCILE_MAX_RECORDS 50)."""
    required = {"JOBS_TABLE": "jobs", "TARGETS_TABLE": "targets", "ALERTS_TOPIC_ARN": TOPIC}
    from_env = reconciler.Settings.from_env(required)
    constructed = reconciler.Settings("jobs", "targets", TOPIC, from_env.runbook_base_url, from_env.gate_arn)
    assert constructed == from_env
    assert (from_env.grace_seconds, from_env.get_job_per_second, from_env.max_records) == (3600, 4.0, 50)


class Context(FakeLambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_run_that_closed_records_says_so_at_warning_and_a_quiet_run_at_info(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed record means an execution ended unnoticed: the run's log line is a WARNING (a log-level filter
    finds it); a run that found nothing open to close logs at INFO."""
    put_record(env["jobs"], "s3-lost", "IN_PROGRESS")
    env["sfn"].end("s3-lost", "FAILED", error="ClientError", cause=LAMBDA_CAUSE)
    env["agent"].set(JOB, "IN_PROGRESS")
    monkeypatch.setattr(reconciler, "time", SimpleNamespace(time=lambda: float(NOW)))  # the handler's clock
    schedule = {"source": "kbsync.reconcile-schedule", "scheduledTime": "2027-01-15T08:00:00Z"}
    with log_lines(reconciler) as lines:
        assert reconciler.lambda_handler(schedule, Context())["closed"] != []
        assert reconciler.lambda_handler(schedule, Context())["closed"] == []
    runs = [(line["level"], line["message"]) for line in lines() if "left open" in line["message"]]
    assert runs == [("WARNING", "closed job records left open"), ("INFO", "no job record left open")]
