"""What the EXECUTION_DIED alert (functions/catch_all) and the RECORD_RECONCILED alert (functions/reconciler) tell an
operator, line by line, and the promises of one catch-all call and one reconciler run that the alerts rest on.

The alert texts are asserted whole (runbooks/execution-died.md and runbooks/record-reconciled.md name their lines:
"Knowledge base:", "Data source:", "Ingestion job:", "Job in Bedrock:", "Error:", "Cause:"). Same moto tables and
fakes as tests/unit/test_reconciler.py (the fixture `env` included).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import kbsync_contracts
import pytest

from tests.helpers.sam import load_template
from tests.triggers.support import DS, KB
from tests.unit.test_reconciler import (
    JOB,
    LAMBDA_CAUSE,
    NOW,
    SYNC_SM,
    TOPIC,
    NoSleep,
    arn_of,
    catch_all,
    env,
    iso,
    put_record,
    reconciler,
    record,
    status_change,
)

__all__ = ["env"]  # the fixture of tests/unit/test_reconciler.py, used here by name

GATE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync-gate-1"  # as the `env` fixture sets it
RUNBOOKS = "https://example.com/runbooks"
#: NOW - 900 s and NOW (status_change's startDate / stopDate), as the alert prints them.
STARTED = "2027-01-15T07:45:00Z"
STOPPED = "2027-01-15T08:00:00Z"
ACCESS_DENIED = (
    "The execution failed before it recorded the job's outcome: You do not have sufficient access to perform this"
    " action. (GetIngestionJob)"
)
WHAT_THE_CATCH_ALL_DID = [
    "What kbsync did: released the data source's sync gate and job slot held by this execution, so the next",
    "upload, nightly run or manual sync starts normally. An ingestion job it started may still be running in",
    "Bedrock (a new sync waits for it).",
]


def attributes(kind: str, severity: str, kb: str, ds: str, job: str | None = None) -> dict[str, dict[str, str]]:
    values = {"severity": severity, "alertType": kind, "knowledgeBaseId": kb, "dataSourceId": ds}
    if job:
        values["ingestionJobId"] = job
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def gate_rerun(kb: str, ds: str, gate_arn: str, reason: str, suffix: str) -> str:
    gate_input = (
        '{"request":{"knowledgeBaseId":"'
        + kb
        + '","dataSourceId":"'
        + ds
        + '","trigger":"manual","reason":"'
        + reason
        + '"},"settleSeconds":0,"ifBusy":"skip"}'
    )
    return (
        f"  aws stepfunctions start-execution --state-machine-arn {gate_arn}"
        f" --name manual-{kb}-{ds}-$(date -u +%Y%m%dT%H%M%S)-{suffix} --input '{gate_input}'"
    )


def died_alert(
    status: str,
    execution: str,
    job_line: str,
    error: str,
    cause: str,
    *,
    kb: str = KB,
    ds: str = DS,
    state_machine: str = SYNC_SM,
    started: str = STARTED,
    stopped: str = STOPPED,
    rerun_of: str | None = None,
) -> str:
    """The EXECUTION_DIED message, written out line by line (rerun_of: the Rerun block's `kbsync rerun` argument)."""
    lines = [
        f"A kbsync execution {status} outside its own error handling, so no other alert was sent.",
        "",
        f"Status:          {status}",
        f"Execution:       {execution}",
        f"State machine:   {state_machine}",
        f"Knowledge base:  {kb}",
        f"Data source:     {ds}",
        f"Ingestion job:   {job_line}",
        f"Started:         {started}",
        f"Stopped:         {stopped}",
        f"Error:           {error}",
        f"Cause:           {cause}",
        "",
        *WHAT_THE_CATCH_ALL_DID,
        "",
        f"Runbook: {RUNBOOKS}/execution-died.md",
    ]
    if rerun_of is not None:
        lines += [
            "",
            "Rerun:",
            f"  kbsync rerun {rerun_of}",
            gate_rerun(kb, ds, GATE_ARN, "rerun after EXECUTION_DIED", "rr01"),
        ]
    return "\n".join(lines)


def published_alert(published: dict[str, Any]) -> dict[str, Any]:
    alert = {"subject": published["Subject"], "message": published["Message"]}
    alert["messageAttributes"] = published["MessageAttributes"]
    kbsync_contracts.validate("alert", alert)
    return alert


def hold(targets: Any, holder: str) -> None:
    """`holder` holds the data source's gate, a job slot and the start token (as kbsync_gate and functions/pacer
    write them)."""
    targets.put_item(Item={"pk": f"DS#{KB}#{DS}", "sk": "GATE", "holder": holder, "since": NOW - 900})
    targets.put_item(
        Item={
            **catch_all.PACER_KEY,
            "version": 7,
            "slots": {holder: {"knowledgeBaseId": KB, "since": NOW - 900}},
            "waiters": {},
            "startHolder": holder,
            "startLeaseUntil": NOW + 30,
        }
    )


def released_everything(targets: Any) -> bool:
    pacer = targets.get_item(Key=catch_all.PACER_KEY, ConsistentRead=True)["Item"]
    gate = targets.get_item(Key={"pk": f"DS#{KB}#{DS}", "sk": "GATE"}, ConsistentRead=True).get("Item")
    return gate is None and pacer["slots"] == {} and "startHolder" not in pacer and pacer["version"] == 8


# ====================================================================== the EXECUTION_DIED alert


def test_the_died_alert_of_a_failed_execution_with_its_job_reads_line_by_line(env: dict[str, Any]) -> None:
    put_record(env["jobs"], "s3-dead", "IN_PROGRESS")
    event = status_change("s3-dead", "FAILED", "ClientError", LAMBDA_CAUSE)
    event["detail"]["startDate"] += 789  # millis: the alert prints whole seconds
    assert catch_all.handle(event, NOW)["alerted"] is True
    [published] = env["sns"].published
    alert = published_alert(published)
    assert published["TopicArn"] == TOPIC
    assert alert["subject"] == f"[CRITICAL] kbsync EXECUTION_DIED: kb {KB} / ds {DS}"
    assert alert["message"] == died_alert(
        "FAILED", arn_of("s3-dead"), JOB, "AccessDeniedException", ACCESS_DENIED, rerun_of=JOB
    )
    assert alert["messageAttributes"] == attributes("EXECUTION_DIED", "CRITICAL", KB, DS, JOB)


def test_the_died_alert_of_a_stopped_execution_without_a_recorded_job(env: dict[str, Any]) -> None:
    assert catch_all.handle(status_change("s3-stopped", "ABORTED"), NOW)["alerted"] is True
    [published] = env["sns"].published
    alert = published_alert(published)
    assert alert["message"] == died_alert(
        "ABORTED",
        arn_of("s3-stopped"),
        "unknown (none recorded for this execution)",
        "(stopped by StopExecution)",
        "The execution was stopped (StopExecution) before it recorded the job's outcome.",
        rerun_of=arn_of("s3-stopped"),  # no job to name: the execution is rerun
    )
    assert alert["messageAttributes"] == attributes("EXECUTION_DIED", "CRITICAL", KB, DS)  # no ingestionJobId


def test_the_died_alert_of_an_execution_stopped_with_an_error_names_that_error(env: dict[str, Any]) -> None:
    catch_all.handle(status_change("s3-op", "ABORTED", "Operator", "killed by the on-call"), NOW)
    [published] = env["sns"].published
    assert published["Message"] == died_alert(
        "ABORTED",
        arn_of("s3-op"),
        "unknown (none recorded for this execution)",
        "Operator",
        "The execution was stopped (StopExecution) before it recorded the job's outcome: killed by the on-call",
        rerun_of=arn_of("s3-op"),
    )


def test_the_died_alert_of_a_timed_out_fanout_has_no_data_source_and_no_rerun(env: dict[str, Any]) -> None:
    """No sync request in the input (a fan-out): n/a for the data source, no Rerun block; no error: '-'."""
    event = status_change("nightly-1", "TIMED_OUT")
    event["detail"]["input"] = json.dumps({"trigger": "schedule", "requestedBy": "nightly"})
    del event["detail"]["stateMachineArn"]
    event["detail"]["startDate"] = None
    event["detail"]["stopDate"] = "2027-01-15T08:00:00.000Z"  # anything but millis is shown as it came
    assert catch_all.handle(event, NOW)["alerted"] is True
    [published] = env["sns"].published
    alert = published_alert(published)
    assert alert["subject"] == "[CRITICAL] kbsync EXECUTION_DIED: kb n/a / ds n/a"
    assert alert["message"] == died_alert(
        "TIMED_OUT",
        arn_of("nightly-1"),
        "unknown (none recorded for this execution)",
        "-",
        "The execution ran past its TimeoutSeconds before it recorded the job's outcome.",
        kb="n/a",
        ds="n/a",
        state_machine="n/a",
        started="n/a",
        stopped="2027-01-15T08:00:00.000Z",
    )
    assert alert["messageAttributes"] == attributes("EXECUTION_DIED", "CRITICAL", "n/a", "n/a")


def test_no_rerun_block_when_the_request_names_no_knowledge_base() -> None:
    detail = status_change("s3-odd", "FAILED", "States.Runtime")["detail"]
    alert = catch_all.build_alert(detail, {"knowledgeBaseId": "", "dataSourceId": DS}, None, RUNBOOKS, GATE_ARN)
    assert alert["message"] == died_alert(
        "FAILED",
        arn_of("s3-odd"),
        "unknown (none recorded for this execution)",
        "States.Runtime",
        "The execution failed before it recorded the job's outcome.",
        kb="n/a",
    )


@pytest.mark.parametrize(
    ("millis", "when", "iso_when"),
    [
        (1_800_000_000_000, "2027-01-15T08:00:00Z", "2027-01-15T08:00:00"),
        (1_800_000_000_999, "2027-01-15T08:00:00Z", "2027-01-15T08:00:00"),  # seconds, never rounded up
        (1_799_999_099_001, "2027-01-15T07:44:59Z", "2027-01-15T07:44:59"),
        (1_800_000_000_500.0, "2027-01-15T08:00:00Z", "2027-01-15T08:00:00"),
    ],
)
def test_event_millis_are_formatted_to_the_second(millis: float, when: str, iso_when: str) -> None:
    assert catch_all._when(millis) == when
    assert catch_all._iso(millis) == iso_when


def test_what_is_not_millis_is_not_formatted() -> None:
    assert (catch_all._when(None), catch_all._when(""), catch_all._when("yesterday")) == ("n/a", "n/a", "yesterday")
    assert (catch_all._iso(None), catch_all._iso("1800000000000"), catch_all._iso(True)) == (None, None, None)


# ====================================================================== catch_all.handle()


def test_handle_reports_the_alert_the_releases_and_the_closed_record(env: dict[str, Any]) -> None:
    """An event without `name`: the holder is the ARN's last segment (the execution name the sync gate's steps use)."""
    hold(env["targets"], "s3-dead")
    put_record(env["jobs"], "s3-dead", "IN_PROGRESS")
    event = status_change("s3-dead", "FAILED", "ClientError", LAMBDA_CAUSE)
    del event["detail"]["name"]
    result = catch_all.handle(event, NOW)
    assert result == {
        "alerted": True,
        "executionArn": arn_of("s3-dead"),
        "released": {"gate": True, "pacer": True},
        "closed": [{"record": JOB, "status": "EXECUTION_FAILED"}],
    }
    assert released_everything(env["targets"])


def test_handle_releases_for_the_events_name_first(env: dict[str, Any]) -> None:
    hold(env["targets"], "gate-holder-7")
    event = status_change("s3-dead", "ABORTED")
    event["detail"]["name"] = "gate-holder-7"
    result = catch_all.handle(event, NOW)
    assert result["released"] == {"gate": True, "pacer": True}
    assert released_everything(env["targets"])


def test_handle_releases_nothing_it_did_not_hold(env: dict[str, Any]) -> None:
    hold(env["targets"], "someone-else")
    result = catch_all.handle(status_change("s3-dead", "ABORTED"), NOW)
    assert result == {
        "alerted": True,
        "executionArn": arn_of("s3-dead"),
        "released": {"gate": False, "pacer": False},
        "closed": [],
    }
    assert env["targets"].get_item(Key={"pk": f"DS#{KB}#{DS}", "sk": "GATE"})["Item"]["holder"] == "someone-else"


def test_handle_without_a_data_source_releases_the_slot_only(env: dict[str, Any]) -> None:
    hold(env["targets"], "nightly-1")
    event = status_change("nightly-1", "FAILED", "States.Runtime")
    event["detail"]["input"] = json.dumps({"trigger": "schedule"})
    result = catch_all.handle(event, NOW)
    assert result["released"] == {"gate": False, "pacer": True}
    assert env["targets"].get_item(Key={"pk": f"DS#{KB}#{DS}", "sk": "GATE"})["Item"]["holder"] == "nightly-1"


def test_handle_of_an_own_error_or_a_redelivery_still_reports_releases_and_closes(env: dict[str, Any]) -> None:
    hold(env["targets"], "s3-own")
    put_record(env["jobs"], "s3-own")
    own = catch_all.handle(status_change("s3-own", "FAILED", "KbSync.JobFailed", "alerted itself"), NOW)
    assert own == {
        "alerted": False,
        "ignored": "ended in its own error KbSync.JobFailed (already alerted, or deliberately not)",
        "released": {"gate": True, "pacer": True},
        "closed": [{"record": JOB, "status": "EXECUTION_FAILED"}],
    }
    hold(env["targets"], "s3-twice")
    catch_all.handle(status_change("s3-twice", "ABORTED"), NOW)
    hold(env["targets"], "s3-twice")  # held again (a stale read), then the event is redelivered
    again = catch_all.handle(status_change("s3-twice", "ABORTED"), NOW)
    assert again == {
        "alerted": False,
        "ignored": "alert already sent for this execution",
        "released": {"gate": True, "pacer": True},
        "closed": [],
    }
    assert len(env["sns"].published) == 1


def test_an_event_without_its_input_reads_it_from_describe_execution(env: dict[str, Any]) -> None:
    """inputDetails.included false (input too large for the event): the input comes from DescribeExecution."""
    hold(env["targets"], "s3-big")
    env["sfn"].end("s3-big", "ABORTED", stopped=NOW)
    env["sfn"].executions[arn_of("s3-big")]["input"] = json.dumps({"knowledgeBaseId": KB, "dataSourceId": DS})
    event = status_change("s3-big", "ABORTED")
    event["detail"]["input"] = ""
    event["detail"]["inputDetails"] = {"included": False}
    result = catch_all.handle(event, NOW)
    assert env["sfn"].calls == 1
    assert result["released"] == {"gate": True, "pacer": True}
    assert env["sns"].published[0]["Subject"] == f"[CRITICAL] kbsync EXECUTION_DIED: kb {KB} / ds {DS}"


def test_an_event_with_its_input_is_not_described_again(env: dict[str, Any]) -> None:
    hold(env["targets"], "s3-small")
    result = catch_all.handle(status_change("s3-small", "ABORTED"), NOW)
    assert env["sfn"].calls == 0  # the execution is unknown to the fake: describing it would lose the request
    assert result["released"] == {"gate": True, "pacer": True}


def test_an_input_that_cannot_be_described_alerts_without_a_data_source(env: dict[str, Any]) -> None:
    event = status_change("s3-gone", "ABORTED")
    event["detail"]["inputDetails"] = {"included": False}
    del event["detail"]["input"]
    assert catch_all.handle(event, NOW)["alerted"] is True
    assert env["sfn"].calls == 1
    assert env["sns"].published[0]["Subject"] == "[CRITICAL] kbsync EXECUTION_DIED: kb n/a / ds n/a"


def test_only_records_started_since_the_execution_started_are_closed(env: dict[str, Any]) -> None:
    """open_records_of reads sk >= JOB#<startDate to the second>: a record of the same second is the execution's."""
    event = status_change("s3-dead", "ABORTED")
    event["detail"]["startDate"] = (NOW - 900) * 1000 + 999
    same_second = put_record(env["jobs"], "s3-dead", job="JOBAAAAAD1", started=NOW - 900)
    before = put_record(env["jobs"], "s3-dead", job="JOBAAAAAD0", started=NOW - 901)
    assert catch_all.handle(event, NOW)["closed"] == [{"record": "JOBAAAAAD1", "status": "EXECUTION_ABORTED"}]
    assert record(env["jobs"], same_second)["status"] == "EXECUTION_ABORTED"
    assert record(env["jobs"], before)["status"] == "STARTING"


# ====================================================================== the RECORD_RECONCILED alert


def settings(limit: int = 50, grace: int = 3600) -> Any:
    return reconciler.Settings.from_env(
        {
            "JOBS_TABLE": "jobs",
            "TARGETS_TABLE": "targets",
            "ALERTS_TOPIC_ARN": TOPIC,
            "RUNBOOK_BASE_URL": RUNBOOKS,
            "SYNC_GATE_STATE_MACHINE_ARN": GATE_ARN,
            "RECONCILE_GRACE_SECONDS": str(grace),
            "RECONCILE_MAX_RECORDS": str(limit),
        }
    )


def reconcile(limit: int = 50, remaining_ms: Callable[[], int] = lambda: 60_000) -> dict[str, Any]:
    clock = NoSleep()
    pacer = reconciler.Pacer(4.0, clock=clock.clock, sleep=clock.sleep)
    result: dict[str, Any] = reconciler.reconcile(settings(limit), NOW, remaining_ms=remaining_ms, pacer=pacer)
    return result


def reconciled_alert(
    closed: str,
    was: str,
    execution: str,
    execution_end: str,
    job: str,
    in_bedrock: str,
    started: str,
    error: str,
    cause: str,
    *,
    kb: str = KB,
    ds: str = DS,
    still_running: bool = False,
    rerun_of: str | None = None,
) -> str:
    lines = [
        "A kbsync job record was left open after its execution ended; the reconciler closed it. No other alert was",
        "sent for this execution.",
        "",
        f"Record status:   {closed} (was {was})",
        f"Execution:       {execution}",
        f"Execution end:   {execution_end}",
        f"Knowledge base:  {kb}",
        f"Data source:     {ds}",
        f"Ingestion job:   {job}",
        f"Job in Bedrock:  {in_bedrock}",
        f"Started:         {started}",
        f"Error:           {error}",
        f"Cause:           {cause}",
        "",
        "What kbsync did: closed the record (closedBy reconciler), so `kbsync status` no longer shows the job running.",
    ]
    if still_running:
        lines.append("The ingestion job is still running in Bedrock and nobody is following it: see the runbook.")
    lines += ["", f"Runbook: {RUNBOOKS}/record-reconciled.md"]
    if rerun_of is not None:
        lines += [
            "",
            "Rerun:",
            f"  kbsync rerun {rerun_of}",
            gate_rerun(kb, ds, GATE_ARN, "rerun after RECORD_RECONCILED", "rc01"),
        ]
    return "\n".join(lines)


def test_the_reconciled_alert_of_a_failed_execution_whose_job_still_runs_reads_line_by_line(
    env: dict[str, Any],
) -> None:
    put_record(env["jobs"], "s3-lost", "IN_PROGRESS")
    env["sfn"].end("s3-lost", "FAILED", error="ClientError", cause=LAMBDA_CAUSE)
    env["agent"].set(JOB, "IN_PROGRESS")
    assert reconcile()["alerted"] == 1
    [published] = env["sns"].published
    alert = published_alert(published)
    assert published["TopicArn"] == TOPIC
    assert alert["subject"] == f"[WARNING] kbsync RECORD_RECONCILED: kb {KB} / ds {DS}"
    assert alert["message"] == reconciled_alert(
        "EXECUTION_FAILED",
        "IN_PROGRESS",
        arn_of("s3-lost"),
        "FAILED",
        JOB,
        "IN_PROGRESS",
        iso(NOW - 600),
        "AccessDeniedException",
        ACCESS_DENIED,
        still_running=True,
        rerun_of=JOB,
    )
    assert alert["messageAttributes"] == attributes("RECORD_RECONCILED", "WARNING", KB, DS, JOB)


def test_the_reconciled_alert_of_a_gone_execution_whose_job_finished(env: dict[str, Any]) -> None:
    put_record(env["jobs"], "s3-gone")
    env["agent"].set(JOB, "COMPLETE", failed=2)
    reconcile()
    [published] = env["sns"].published
    assert published["Message"] == reconciled_alert(
        "PARTIAL",
        "STARTING",
        arn_of("s3-gone"),
        "NOT_FOUND",
        JOB,
        "COMPLETE",
        iso(NOW - 600),
        "KbSync.RecordLeftOpen",
        "The execution is no longer known to Step Functions without recording the job's outcome; Bedrock reports"
        " the job COMPLETE.",
        rerun_of=JOB,
    )


def test_the_reconciled_alert_of_a_record_without_job_or_data_source() -> None:
    """What the record does not say is said so; no Rerun block without both the knowledge base and data source."""
    values = {"status": "EXECUTION_ABORTED", "executionStatus": "ABORTED"}
    for known in ({}, {"knowledgeBaseId": KB}, {"dataSourceId": DS}):
        rec = {"status": "STOPPING", "executionArn": arn_of("s3-bare"), **known}
        alert = reconciler.build_alert(rec, values, settings())
        assert alert["message"] == reconciled_alert(
            "EXECUTION_ABORTED",
            "STOPPING",
            arn_of("s3-bare"),
            "ABORTED",
            "none recorded",
            "unknown",
            "n/a",
            "-",
            "-",
            kb=known.get("knowledgeBaseId", "n/a"),
            ds=known.get("dataSourceId", "n/a"),
        )
        kb, ds = known.get("knowledgeBaseId", "n/a"), known.get("dataSourceId", "n/a")
        assert alert["messageAttributes"] == attributes("RECORD_RECONCILED", "WARNING", kb, ds)


def test_the_reconciled_alert_names_a_job_found_by_its_description_and_reruns_the_execution_without_one() -> None:
    rec = {"status": "STARTING", "executionArn": arn_of("s3-x"), "knowledgeBaseId": KB, "dataSourceId": DS}
    found = {"status": "EXECUTION_ABORTED", "executionStatus": "ABORTED", "ingestionJobId": JOB, "jobStatus": "STOPPED"}
    message = reconciler.build_alert(rec, found, settings())["message"]
    assert f"\nIngestion job:   {JOB}\nJob in Bedrock:  STOPPED\n" in message and f"kbsync rerun {JOB}\n" in message
    none = {"status": "EXECUTION_ABORTED", "executionStatus": "ABORTED"}
    assert f"\n  kbsync rerun {arn_of('s3-x')}\n" in reconciler.build_alert(rec, none, settings())["message"]


# ====================================================================== reconcile()


def test_a_run_stops_early_only_below_ten_seconds_left(env: dict[str, Any]) -> None:
    for i in range(3):
        put_record(env["jobs"], f"s3-run-{i}", job=f"JOBAAAAAE{i}", started=NOW - 1000 + i)
        env["sfn"].end(f"s3-run-{i}", "RUNNING")
    assert reconcile(remaining_ms=lambda: 10_000) == {
        "checked": 3,
        "running": 3,
        "left": 0,
        "errors": 0,
        "closed": [],
        "alerted": 0,
        "stoppedEarly": False,
    }
    left = iter([10_000, 10_000, 9_999])
    result = reconcile(remaining_ms=lambda: next(left))
    assert (result["checked"], result["running"], result["stoppedEarly"]) == (2, 2, True)


def test_a_record_skipped_for_any_reason_does_not_end_the_run(env: dict[str, Any], monkeypatch: Any) -> None:
    """Oldest first: running, within the catch-all's grace, already alerted by the catch-all, closed meanwhile, job
    still running in Bedrock; the newest record after all of them is still closed and alerted."""
    names = ["s3-running", "s3-recent", "s3-alerted", "s3-raced", "s3-bedrock", "s3-last"]
    items = {
        name: put_record(env["jobs"], name, job=f"JOBAAAAAF{i}", started=NOW - 5000 + i) for i, name in enumerate(names)
    }
    env["sfn"].end("s3-running", "RUNNING")
    env["sfn"].end("s3-recent", "ABORTED", stopped=NOW - 60)
    env["sfn"].end("s3-alerted", "ABORTED")
    catch_all.claim_alert(env["targets"], arn_of("s3-alerted"), NOW - 7000)
    env["sfn"].end("s3-raced", "ABORTED")
    env["sfn"].end("s3-bedrock", "SUCCEEDED")
    env["agent"].set("JOBAAAAAF4", "IN_PROGRESS")
    env["sfn"].end("s3-last", "TIMED_OUT")
    jobs = env["jobs"]
    raced = items["s3-raced"]

    class WorkflowClosesFirst:
        """The jobs table, where the workflow records s3-raced's outcome just before the reconciler's close."""

        def __getattr__(self, name: str) -> Any:
            return getattr(jobs, name)

        def update_item(self, **kwargs: Any) -> dict[str, Any]:
            if kwargs["Key"] == {"pk": raced["pk"], "sk": raced["sk"]} and "closedBy" not in record(jobs, raced):
                jobs.update_item(
                    Key=kwargs["Key"],
                    UpdateExpression="SET #s = :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":s": "COMPLETE"},
                )
            answer: dict[str, Any] = jobs.update_item(**kwargs)
            return answer

    monkeypatch.setitem(reconciler._clients, "table:jobs", WorkflowClosesFirst())
    result = reconcile()
    assert result == {
        "checked": 6,
        "running": 1,
        "left": 2,
        "errors": 0,
        "closed": [
            {"record": "JOBAAAAAF2", "status": "EXECUTION_ABORTED"},
            {"record": "JOBAAAAAF5", "status": "EXECUTION_TIMED_OUT"},
        ],
        "alerted": 1,
        "stoppedEarly": False,
    }
    assert record(jobs, raced)["status"] == "COMPLETE" and "closedBy" not in record(jobs, raced)
    assert record(jobs, items["s3-alerted"])["alertSent"] is True
    [published] = env["sns"].published
    assert f"Execution:       {arn_of('s3-last')}\n" in published["Message"]


class QuerySpy:
    """The jobs table, counting the Query pages asked for."""

    def __init__(self, jobs: Any) -> None:
        self.jobs = jobs
        self.queries: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jobs, name)

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs)
        page: dict[str, Any] = self.jobs.query(**kwargs)
        return page


@pytest.fixture
def many_running(env: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """28 STARTING and 3 IN_PROGRESS records (more than one page of PAGE_SIZE), all of running executions."""
    for i in range(31):
        name = f"s3-page-{i:02d}"
        put_record(
            env["jobs"], name, "STARTING" if i < 28 else "IN_PROGRESS", job=f"JOBAAAAG{i:02d}", started=NOW - 9000 + i
        )
        env["sfn"].end(name, "RUNNING")
    yield env


def test_open_records_are_read_in_pages_of_page_size(many_running: dict[str, Any]) -> None:
    spy = QuerySpy(many_running["jobs"])
    given = list(reconciler.open_records(spy, 50))
    assert reconciler.PAGE_SIZE == 25
    assert [item["executionArn"] for item in given] == [arn_of(f"s3-page-{i:02d}") for i in range(31)]  # oldest first
    assert {query["Limit"] for query in spy.queries} == {25}
    assert {query["IndexName"] for query in spy.queries} == {"byStatus"}
    assert [query["ExpressionAttributeValues"][":status"] for query in spy.queries][:2] == ["STARTING", "STARTING"]
    assert "ExclusiveStartKey" in spy.queries[1]


def test_a_run_works_beyond_one_page_up_to_its_limit(many_running: dict[str, Any]) -> None:
    assert reconcile()["checked"] == 31
    assert reconcile(limit=27)["checked"] == 27
    assert reconcile(limit=25)["checked"] == 25
    assert reconcile(limit=0)["checked"] == 0


# ====================================================================== Settings


def test_settings_defaults_and_the_getingestionjob_rate() -> None:
    """The template does not set GET_INGESTION_JOB_PER_SECOND: the default (4/s, the template's Timeout comment) holds;
    the variable, when set, changes it."""
    variables = load_template()["Resources"]["ReconcilerFunction"]["Properties"]["Environment"]["Variables"]
    assert "GET_INGESTION_JOB_PER_SECOND" not in variables
    minimal = {"JOBS_TABLE": "j", "TARGETS_TABLE": "t", "ALERTS_TOPIC_ARN": TOPIC}
    assert reconciler.Settings.from_env(minimal) == reconciler.Settings(
        jobs_table="j",
        targets_table="t",
        topic_arn=TOPIC,
        runbook_base_url="https://github.com/kbsync/kbsync/blob/main/runbooks",
        gate_arn="<SyncGateStateMachineArn>",
        grace_seconds=3600,
        max_records=50,
        get_job_per_second=4.0,
    )
    assert reconciler.Settings.from_env({**minimal, "GET_INGESTION_JOB_PER_SECOND": "2.5"}).get_job_per_second == 2.5
    assert settings(limit=7, grace=90) == reconciler.Settings("jobs", "targets", TOPIC, RUNBOOKS, GATE_ARN, 90, 7, 4.0)


def test_a_run_without_a_given_pacer_paces_at_the_settings_rate(env: dict[str, Any], monkeypatch: Any) -> None:
    made: list[float] = []
    real = reconciler.Pacer

    def pacer(per_second: float) -> Any:
        made.append(per_second)
        return real(per_second, clock=NoSleep().clock, sleep=NoSleep().sleep)

    monkeypatch.setattr(reconciler, "Pacer", pacer)
    rate = reconciler.Settings.from_env(
        {
            "JOBS_TABLE": "jobs",
            "TARGETS_TABLE": "targets",
            "ALERTS_TOPIC_ARN": TOPIC,
            "GET_INGESTION_JOB_PER_SECOND": "3",
        }
    )
    reconciler.reconcile(rate, NOW)
    assert made == [3.0]


def test_a_run_that_stops_early_reads_no_further_page(many_running: dict[str, Any], monkeypatch: Any) -> None:
    spy = QuerySpy(many_running["jobs"])
    monkeypatch.setitem(reconciler._clients, "table:jobs", spy)
    result = reconcile(remaining_ms=lambda: 9_999)
    assert (result["checked"], result["stoppedEarly"]) == (0, True)
    assert len(spy.queries) == 1  # the time left is not spent paging through records it will not check
