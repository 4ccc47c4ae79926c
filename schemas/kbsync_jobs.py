"""The job record's rules shared by the catch-all and the reconciler: which statuses are open, how an execution's end
closes a record, and Bedrock's ingestion job of a record that has no job id yet.

Whoever alerts about an execution that ended without recording its job (the catch-all, or the reconciler when the
catch-all's event never came) first claims the execution's marker (``claim_execution_alert``): one alert per
execution, whoever sends it.

A record is open (STARTING / IN_PROGRESS / STOPPING) until its execution records the job's outcome; an execution that
ended without doing so leaves it open, and the catch-all or the reconciler closes it (``close_if_open``), with the
terminal status ``CLOSED_STATUS`` gives for the execution's end (schemas/job-record.schema.json).

The workflow writes a job record before StartIngestionJob (never a job without a record) and adds the job id after
the start answers. An execution that ends between the two (stopped, timed out, crashed) leaves a record whose job
may exist in Bedrock. The record's ``description`` is what the workflow passed as the start's Description (it names
the execution and the attempt), and ListIngestionJobs returns each job's description
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_IngestionJobSummary.html), so the job is found
among the data source's newest jobs.

Imports the standard library and kbsync_keys / kbsync_values; the caller passes its clients and handles their
errors (a conditional write that lost is an answer, not an error).
"""

from __future__ import annotations

from typing import Any

import kbsync_keys
import kbsync_values

#: Job-record statuses that mean "the execution has not recorded the job's outcome yet".
OPEN_STATUSES = ("STARTING", "IN_PROGRESS", "STOPPING")
#: How an execution ended (Step Functions' status) -> the terminal status of the record it left open.
CLOSED_STATUS = {"ABORTED": "EXECUTION_ABORTED", "TIMED_OUT": "EXECUTION_TIMED_OUT", "FAILED": "EXECUTION_FAILED"}
#: Keep the once-per-execution alert markers for 30 days (DynamoDB TTL on expiresAt): far longer than EventBridge
#: redelivers an event or the reconciler takes to find a record left open.
MARKER_TTL_SECONDS = 30 * 24 * 3600

#: How many of the data source's newest jobs are searched (one ListIngestionJobs page): a record's job started
#: moments before its execution ended, and one data source runs one job at a time.
ORPHAN_SEARCH_JOBS = 25


def needs_lookup(record: dict[str, Any]) -> bool:
    """True for a record written before its start that never got its job id (it has the start's description)."""
    return not record.get("ingestionJobId") and bool(record.get("description"))


def job_by_description(agent: Any, knowledge_base_id: str, data_source_id: str, description: str) -> dict[str, Any]:
    """The IngestionJobSummary of the data source's job started with `description`, or {} when none was (the start
    never reached Bedrock). Errors of the call are the caller's (ClientError, BotoCoreError)."""
    page = agent.list_ingestion_jobs(
        knowledgeBaseId=knowledge_base_id,
        dataSourceId=data_source_id,
        sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
        maxResults=ORPHAN_SEARCH_JOBS,
    )
    for summary in page.get("ingestionJobSummaries", []):
        if summary.get("description") == description:
            found: dict[str, Any] = summary
            return found
    return {}


def close_if_open(jobs: Any, record: dict[str, Any], values: dict[str, Any]) -> bool:
    """Set `values` (``status`` among them) on `record` if it is still open and still names its execution; False
    if it is not (closed meanwhile by the workflow, the catch-all, the reconciler or an earlier delivery). One
    conditional UpdateItem, every attribute through a name placeholder."""
    names = {f"#{k}": k for k in values}
    opens = {f":open{i}": status for i, status in enumerate(OPEN_STATUSES)}
    try:
        jobs.update_item(
            Key=kbsync_keys.key_of(record),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
            ConditionExpression=f"executionArn = :arn AND #status IN ({', '.join(opens)})",
            ExpressionAttributeNames={"#status": "status", **names},
            ExpressionAttributeValues={
                **{f":{k}": v for k, v in values.items()},
                **opens,
                ":arn": record["executionArn"],
            },
        )
    except Exception as error:
        if kbsync_values.is_condition_failure(error):
            return False
        raise
    return True


def claim_execution_alert(targets: Any, execution_arn: str, now: int) -> bool:
    """Claim the once-per-execution alert marker (TargetsTable, kbsync_keys.alert_marker_key); False if it was
    already claimed (a redelivered event, or the other sender alerted)."""
    try:
        targets.put_item(
            Item={**kbsync_keys.alert_marker_key(execution_arn), "expiresAt": now + MARKER_TTL_SECONDS},
            ConditionExpression="attribute_not_exists(pk)",
        )
    except Exception as error:
        if kbsync_values.is_condition_failure(error):
            return False
        raise
    return True


def unclaim_execution_alert(targets: Any, execution_arn: str) -> None:
    """Give the marker back (the alert could not be sent: the next attempt must be able to claim it)."""
    targets.delete_item(Key=kbsync_keys.alert_marker_key(execution_arn))
