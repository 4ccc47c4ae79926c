"""The ingestion-sync workflow, one test per path: the real ASL and handlers on the local cloud.

Each test asserts the execution's end, the data source's job records in DynamoDB (validated against the job-record
contract) and the exact number of alerts that reached the SQS queue subscribed to the alerts topic (validated
against the alert contract). The scenarios themselves are in scenarios.py; conftest.py runs them once.
"""

from __future__ import annotations

import re
from typing import Any

import kbsync_contracts

from tests.workflow.scenarios import STACK_PARAMETERS

SNS_LIMIT_BYTES = 256 * 1024
STATE_LIMIT_BYTES = 256 * 1024


# ------------------------------------------------------------------ helpers


def only_execution(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["executions"]) == 1
    execution: dict[str, Any] = result["executions"][0]
    return execution


def records(result: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The data source's records, oldest first, each valid against the contract; exactly `count` of them."""
    found = sorted(result["records"], key=lambda r: r["sk"])
    for record in found:
        kbsync_contracts.validate("job-record", record)
        assert record["knowledgeBaseId"] == result["source"]["knowledgeBaseId"]
        assert record["dataSourceId"] == result["source"]["dataSourceId"]
    assert len(found) == count, found
    return found


def alerts(result: dict[str, Any], count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = result["alerts"]
    assert len(found) == count, [a["subject"] for a in found]
    for alert in found:
        kbsync_contracts.validate("alert", alert["contract"])
        assert alert["snsBytes"] <= SNS_LIMIT_BYTES
    return found


def the_alert(result: dict[str, Any], alert_type: str, severity: str, runbook: str) -> dict[str, Any]:
    (alert,) = alerts(result, 1)
    source = result["source"]
    assert alert["attributes"]["alertType"] == alert_type
    assert alert["attributes"]["severity"] == severity
    assert alert["subject"] == (
        f"[{severity}] kbsync {alert_type}: kb {source['knowledgeBaseId']} / ds {source['dataSourceId']}"
    )
    assert f"/{runbook}" in alert["message"]
    # The AWS CLI rerun starts the deployed sync gate with the gate's input.
    assert re.search(r":stateMachine:kbsync-sync-gate-[0-9a-f]{8} --name manual-", alert["message"])
    assert '"ifBusy":"skip"' in alert["message"]
    return alert


def entered(execution: dict[str, Any], state: str) -> int:
    return sum(1 for e in execution["events"] if e["type"].endswith("StateEntered") and e["name"] == state)


def failures(execution: dict[str, Any]) -> list[str]:
    return [e["error"] for e in execution["events"] if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]


def assert_failed_with(execution: dict[str, Any], error: str) -> None:
    assert (execution["status"], execution["error"]) == ("FAILED", error), execution["cause"]


def assert_start_failed(result: dict[str, Any], error_code: str) -> dict[str, Any]:
    execution = only_execution(result)
    assert_failed_with(execution, "KbSync.StartFailed")
    (record,) = records(result, 1)
    assert record["status"] == "START_FAILED"
    assert record["errorCode"] == error_code
    assert "ingestionJobId" not in record
    assert record["alertSent"] is True
    alert = the_alert(result, "START_FAILED", "CRITICAL", "sync-failed.md")
    assert error_code in alert["message"]
    assert alert["attributes"]["knowledgeBaseId"] == result["source"]["knowledgeBaseId"]
    return record


# ------------------------------------------------------------------ one test per path


def test_success(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    (record,) = records(scenario_result, 1)
    assert record["status"] == "COMPLETE"
    assert record["attempt"] == 1
    assert record["statistics"]["numberOfNewDocumentsIndexed"] == 2
    assert record["statistics"]["numberOfDocumentsFailed"] == 0
    assert record["failureReasons"] == [] and record["failureReasonsTotal"] == 0
    assert [j["ingestionJobId"] for j in scenario_result["jobs"]] == [record["ingestionJobId"]]
    assert record["executionArn"] == execution["arn"]
    assert "alertSent" not in record
    alerts(scenario_result, 0)


def test_partial(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    (record,) = records(scenario_result, 1)
    assert record["status"] == "PARTIAL"
    assert record["statistics"]["numberOfDocumentsFailed"] == 2
    assert record["statistics"]["numberOfNewDocumentsIndexed"] == 2
    assert record["failureReasonsTotal"] >= 1
    assert any("diagram.xyz" in reason for reason in record["failureReasons"])
    assert record["alertSent"] is True
    alert = the_alert(scenario_result, "PARTIAL", "WARNING", "sync-partial.md")
    assert "diagram.xyz" in alert["message"] and "archive.bin" in alert["message"]
    assert f"kbsync rerun {record['ingestionJobId']}" in alert["message"]
    assert alert["attributes"]["ingestionJobId"] == record["ingestionJobId"]


def test_failed_then_succeeded(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    first, second = records(scenario_result, 2)
    assert (first["status"], first["attempt"]) == ("FAILED", 1)
    assert (second["status"], second["attempt"]) == ("COMPLETE", 2)
    assert first["ingestionJobId"] != second["ingestionJobId"]
    assert "embedding model" in first["failureReasons"][0]
    assert len(scenario_result["jobs"]) == 2
    assert entered(execution, "PrepareRestart") == 1
    alerts(scenario_result, 0)


def test_failed_after_all_attempts(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert_failed_with(execution, "KbSync.JobFailed")
    found = records(scenario_result, 3)
    assert [(r["status"], r["attempt"]) for r in found] == [("FAILED", 1), ("FAILED", 2), ("FAILED", 3)]
    assert len({r["ingestionJobId"] for r in found}) == 3
    assert len(scenario_result["jobs"]) == 3
    assert [r.get("alertSent", False) for r in found] == [False, False, True]
    alert = the_alert(scenario_result, "FAILED", "CRITICAL", "sync-failed.md")
    assert f"{found[-1]['ingestionJobId']} (attempt 3 of 3)" in alert["message"]
    assert "is not accessible" in alert["message"]


def test_stopped(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert_failed_with(execution, "KbSync.JobStopped")
    (record,) = records(scenario_result, 1)
    assert record["status"] == "STOPPED"
    assert [j["status"] for j in scenario_result["jobs"]] == ["STOPPED"]
    the_alert(scenario_result, "STOPPED", "WARNING", "sync-stopped.md")


def test_poll_budget_exhausted(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert_failed_with(execution, "KbSync.JobTimedOut")
    budget = int(STACK_PARAMETERS["PollBudget"])
    assert entered(execution, "GetJobStatus") == budget
    assert entered(execution, "StopIngestionJob") == 1
    (record,) = records(scenario_result, 1)
    assert record["status"] == "TIMED_OUT"
    assert [j["status"] for j in scenario_result["jobs"]] in (["STOPPING"], ["STOPPED"])
    alert = the_alert(scenario_result, "TIMED_OUT", "CRITICAL", "sync-timed-out.md")
    assert f"after {budget} polls" in alert["message"]


def test_poll_budget_exhausted_and_stop_refused(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert_failed_with(execution, "KbSync.JobTimedOut")
    assert "BedrockAgent.AccessDeniedException" in failures(execution)
    (record,) = records(scenario_result, 1)
    assert record["status"] == "TIMED_OUT"
    the_alert(scenario_result, "TIMED_OUT", "CRITICAL", "sync-timed-out.md")


def test_throttled_then_fine(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    assert failures(execution) == ["BedrockAgent.ThrottlingException"] * 2
    assert entered(execution, "StartIngestionJob") == 1  # retried inside the state, same ClientToken
    (record,) = records(scenario_result, 1)
    assert record["status"] == "COMPLETE"
    assert len(scenario_result["jobs"]) == 1
    alerts(scenario_result, 0)


def test_throttled_past_retries(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert failures(execution) == ["BedrockAgent.ThrottlingException"] * 7
    assert_start_failed(scenario_result, "BedrockAgent.ThrottlingException")
    assert scenario_result["jobs"] == []


def test_conflict_with_outside_job_then_fine(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    assert "BedrockAgent.ConflictException" in failures(execution)
    assert entered(execution, "WaitForRunningJob") >= 1
    (record,) = records(scenario_result, 1)
    assert record["status"] == "COMPLETE"
    assert record["ingestionJobId"] != scenario_result["outsideJobId"]
    assert len(scenario_result["jobs"]) == 2
    alerts(scenario_result, 0)


def test_conflict_reported_as_validation_then_fine(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    assert "BedrockAgent.ValidationException" in failures(execution)
    assert "BedrockAgent.ConflictException" not in failures(execution)
    assert entered(execution, "WaitForRunningJob") >= 1
    (record,) = records(scenario_result, 1)
    assert record["status"] == "COMPLETE"
    alerts(scenario_result, 0)


def test_conflict_outlasts_the_waits(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    waits = int(STACK_PARAMETERS["MaxConflictWaits"])
    assert entered(execution, "WaitForRunningJob") == waits
    record = assert_start_failed(scenario_result, "BedrockAgent.ConflictException")
    assert record["attempt"] == 1


def test_access_denied(scenario_result: dict[str, Any]) -> None:
    assert_start_failed(scenario_result, "BedrockAgent.AccessDeniedException")
    assert failures(only_execution(scenario_result)) == ["BedrockAgent.AccessDeniedException"]  # not retried


def test_unknown_data_source(scenario_result: dict[str, Any]) -> None:
    assert_start_failed(scenario_result, "BedrockAgent.ResourceNotFoundException")
    assert failures(only_execution(scenario_result)) == ["BedrockAgent.ResourceNotFoundException"]


def test_invalid_request(scenario_result: dict[str, Any]) -> None:
    named = {
        "wrong_pattern": "dataSourceId",
        "missing_field": "'trigger' is a required property",
        "extra_field": "'priority'",
    }
    for label, execution in zip(scenario_result["labels"], scenario_result["executions"], strict=True):
        assert_failed_with(execution, "KbSync.InvalidRequest")
        assert named[label] in execution["cause"], (label, execution["cause"])
        assert entered(execution, "StartIngestionJob") == 0
    records(scenario_result, 0)
    assert scenario_result["jobs"] == []
    alerts(scenario_result, 0)


def test_dynamodb_write_retried(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    assert scenario_result["throttledWrites"] == 1
    assert failures(execution) == ["DynamoDB.ProvisionedThroughputExceededException"]
    assert entered(execution, "RecordJobStarting") == 1
    (record,) = records(scenario_result, 1)
    assert record["status"] == "COMPLETE"
    alerts(scenario_result, 0)


def test_huge_failure_reasons(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert_failed_with(execution, "KbSync.JobFailed")
    largest = max(e["payloadBytes"] for e in execution["events"])
    assert largest < STATE_LIMIT_BYTES / 2, largest
    for record in records(scenario_result, 3):
        assert record["failureReasonsTotal"] == 2048
        assert len(record["failureReasons"]) == 25
    alert = the_alert(scenario_result, "FAILED", "CRITICAL", "sync-failed.md")
    assert "Failure reasons (2048 reported" in alert["message"]
    assert "omitted to stay under the SNS 256 KB limit" in alert["message"]
    assert "[1024 x] Encountered error: document <file> could not be parsed" in alert["message"]


def test_one_alert_per_job_across_the_suite(workflow_results: dict[str, Any]) -> None:
    alerted = [
        (a["attributes"].get("ingestionJobId"), a["attributes"]["knowledgeBaseId"])
        for result in workflow_results["scenarios"].values()
        for a in result.get("alerts", [])
    ]
    assert len(alerted) == len(set(alerted))


# ------------------------------------------------------------------ records first, coalescing, clean causes

#: Every alert kind, its severity and the condition that raises it (docs/alerts.md is the same
#: table). Each scenario raises exactly the alerts listed here for it, and every scenario not listed raises none.
ALERT_TABLE = {
    "FAILED": ("CRITICAL", "the job FAILED on the last allowed attempt"),
    "START_FAILED": ("CRITICAL", "StartIngestionJob refused and no other execution's job covers the request"),
    "TIMED_OUT": ("CRITICAL", "the poll budget ran out (kbsync stopped the job)"),
    "POLL_FAILED": ("CRITICAL", "GetIngestionJob failed after the retries (kbsync stopped watching)"),
    "PARTIAL": ("WARNING", "COMPLETE with numberOfDocumentsFailed > 0"),
    "STOPPED": ("WARNING", "the job was stopped outside kbsync"),
    "EXECUTION_DIED": ("CRITICAL", "the execution ended outside its own error handling (catch-all)"),
    "RECORD_RECONCILED": ("WARNING", "the scheduled reconciler closed a record its execution left open"),
    "TARGET_STALE": ("WARNING", "no successful sync within the target's allowed age (freshness check)"),
    "TARGET_LAGGING": ("WARNING", "an S3 change waited past the lag threshold for a sync (freshness check)"),
    "TARGET_FRESH_AGAIN": ("INFO", "a stale or lagging target is fresh again (freshness check)"),
    "ALARM_JOBS_FAILED": ("WARNING", "FailedJobsAlarm: failed jobs within an hour reached the pattern threshold"),
    "ALARM_TARGETS_STALE": ("WARNING", "StaleTargetsAlarm: several registered targets stale at once"),
    "ALARM_DEAD_LETTERS": ("CRITICAL", "DeadLetterQueueAlarm: a message in the triggers' dead-letter queue"),
    "ALARM_EXECUTIONS_FAILED": ("WARNING", "SyncGateExecutionsFailedAlarm: failed syncs within an hour reached it"),
    "ALARM_RECOVERED": ("INFO", "one of the alarms above is OK again"),
}
EXPECTED_ALERTS = {
    "partial": ["PARTIAL"],
    "failed_after_all_attempts": ["FAILED"],
    "stopped": ["STOPPED"],
    "poll_budget_exhausted": ["TIMED_OUT"],
    "poll_budget_exhausted_and_stop_refused": ["TIMED_OUT"],
    "throttled_past_retries": ["START_FAILED"],
    "conflict_outlasts_the_waits": ["START_FAILED"],
    "access_denied": ["START_FAILED"],
    "unknown_data_source": ["START_FAILED"],
    "huge_failure_reasons": ["FAILED"],
    "poll_access_denied": ["POLL_FAILED"],
    # Push completion (scenarios.PUSH_SCENARIOS, KnowledgeBaseLogs=on): the same alerts, once each.
    "push_woken_by_logs": ["PARTIAL"],
    "push_spurious_wake": ["STOPPED"],
}
#: Scenarios whose alert is decided by request validation: a lone surrogate is refused
#: before anything starts (no alert), or, where the engine cannot even encode it, the execution dies (the catch-all's
#: one EXECUTION_DIED). Either way no job and never a START_FAILED.
EITHER_ALERTS = {"lone_surrogate_in_free_text": ([], ["EXECUTION_DIED"])}
#: What no alert, stack trace, path or repr may contain.
UNCLEAN = ("Traceback", 'File "', "stackTrace", "errorMessage", "/var/task", "/opt/python", ".py", " object at 0x")


def test_each_alert_condition_raises_exactly_its_alert_and_nothing_else_raises_any(
    workflow_results: dict[str, Any],
) -> None:
    for name, result in workflow_results["scenarios"].items():
        if "crashed" in result:
            continue  # reported by the scenario's own test
        got = sorted(a["attributes"]["alertType"] for a in result["alerts"])
        allowed = EITHER_ALERTS.get(name, (sorted(EXPECTED_ALERTS.get(name, [])),))
        assert got in allowed, (name, [a["subject"] for a in result["alerts"]])
        for alert in result["alerts"]:
            severity, _ = ALERT_TABLE[alert["attributes"]["alertType"]]
            assert alert["attributes"]["severity"] == severity, (name, alert["subject"])
            assert not [m for m in UNCLEAN if m in alert["message"]], (name, alert["message"])


def test_the_alert_table_is_the_documented_one() -> None:
    from pathlib import Path

    from kbsync_alerts import catalogue

    assert {k: v.severity for k, v in catalogue().items()} == {k: v[0] for k, v in ALERT_TABLE.items()}
    doc = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text(encoding="utf-8")
    for alert_type, (severity, _) in ALERT_TABLE.items():
        assert re.search(rf"^\| `{alert_type}` \| {severity} \|", doc, re.MULTILINE), alert_type


def test_every_bedrock_job_has_a_record_across_the_suite(workflow_results: dict[str, Any]) -> None:
    """No order of failures leaves a Bedrock job kbsync does not know (jobs started by the tests
    themselves, outside kbsync, excepted)."""
    for name, result in workflow_results["scenarios"].items():
        if "crashed" in result:
            continue
        recorded = {r.get("ingestionJobId") for r in result["records"]}
        outside = {result.get("outsideJobId")}
        unknown = [j["ingestionJobId"] for j in result["jobs"] if j["ingestionJobId"] not in recorded | outside]
        assert unknown == [], (name, unknown)


def test_records_are_written_before_the_start() -> None:
    """The static order of the definition: the record's PutItem precedes every StartIngestionJob."""
    import json
    from pathlib import Path

    asl = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "ingestion-sync.asl.json").read_text())
    states = asl["States"]
    assert states["PrepareRestart"]["Next"] == "PrepareJobRecord"
    assert states["PrepareJobRecord"]["Next"] == "RecordJobStarting"
    assert states["RecordJobStarting"]["Resource"].endswith("dynamodb:putItem")
    assert states["StartIngestionJob"]["Parameters"]["ClientToken.$"] == "$.record.clientToken"
    assert states["StartIngestionJob"]["Next"] == "RecordJobId"


def test_concurrent_starts_coalesce(scenario_result: dict[str, Any]) -> None:
    executions = scenario_result["executions"]
    assert len(executions) == 10
    assert all(e["status"] == "SUCCEEDED" for e in executions), [(e["status"], e["error"]) for e in executions]
    found = records(scenario_result, 10)
    ran = {r["ingestionJobId"]: r for r in found if r["status"] == "COMPLETE"}
    assert {r["status"] for r in found} <= {"COMPLETE", "COALESCED"}
    assert sorted(ran) == sorted(j["ingestionJobId"] for j in scenario_result["jobs"])
    assert len(ran) < 10  # at least one start coalesced
    for record in (r for r in found if r["status"] == "COALESCED"):
        assert record["coalescedIntoExecution"] == ran[record["coalescedInto"]]["executionArn"]
    alerts(scenario_result, 0)


def test_concurrent_starts_held_then_released(scenario_result: dict[str, Any]) -> None:
    executions = scenario_result["executions"]
    assert all(e["status"] == "SUCCEEDED" for e in executions), [(e["status"], e["error"]) for e in executions]
    assert all("BedrockAgent.ConflictException" in failures(e) for e in executions)
    ours = [j for j in scenario_result["jobs"] if j["ingestionJobId"] != scenario_result["outsideJobId"]]
    (job,) = ours  # exactly one job ran
    found = records(scenario_result, 10)
    (ran,) = [r for r in found if r["status"] == "COMPLETE"]
    assert ran["ingestionJobId"] == job["ingestionJobId"]
    coalesced = [r for r in found if r["status"] == "COALESCED"]
    assert len(coalesced) == 9
    for record in coalesced:
        assert (record["coalescedInto"], record["coalescedIntoExecution"]) == (
            job["ingestionJobId"],
            ran["executionArn"],
        )
        assert record["startedAt"] <= ran["jobStartedAt"]
        assert "ingestionJobId" not in record and "alertSent" not in record
    alerts(scenario_result, 0)


def test_poll_access_denied(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert_failed_with(execution, "KbSync.PollFailed")
    (record,) = records(scenario_result, 1)
    assert (record["status"], record["errorCode"]) == ("POLL_FAILED", "AccessDeniedException")
    assert record["alertSent"] is True
    alert = the_alert(scenario_result, "POLL_FAILED", "CRITICAL", "execution-died.md")
    assert "Error:          AccessDeniedException\n" in alert["message"]
    assert (
        "Cause:          You do not have sufficient access to perform this action. (GetIngestionJob)\n"
        in (alert["message"])
    )
    assert not [m for m in UNCLEAN if m in alert["message"]], alert["message"]
    assert not [m for m in UNCLEAN if m in str(record)]


def test_covering_query_refused(scenario_result: dict[str, Any]) -> None:
    execution = only_execution(scenario_result)
    assert execution["status"] == "SUCCEEDED"
    assert scenario_result["refusedQueries"] == 1
    assert entered(execution, "AssumeNotCovered") == 1
    (record,) = records(scenario_result, 1)
    assert record["status"] == "COMPLETE"
    alerts(scenario_result, 0)


def test_lone_surrogate_in_free_text(scenario_result: dict[str, Any]) -> None:
    """Rejected or normalized, never a Bedrock job without a record."""
    recorded = {r.get("ingestionJobId") for r in scenario_result["records"]}
    assert [j for j in scenario_result["jobs"] if j["ingestionJobId"] not in recorded] == []
    assert all(a["attributes"]["alertType"] != "START_FAILED" for a in scenario_result["alerts"])
