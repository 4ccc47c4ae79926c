"""The nightly plan's data access: the registry (TargetsTable TARGET items), the job history (kbsync's job records and
Bedrock's own), and the night's plan kept outside the fan-out's state (TargetsTable ``PLAN#<planId>`` items: pages of
targets and one shared cursor; keys by kbsync_keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kbsync_keys
import kbsync_values
from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

logger = Logger(child=True)

#: How many job records (or Bedrock job summaries) per target are read to find the previous job's duration.
HISTORY_DEPTH = 10
#: A job record's statuses once its job ended (the job-record contract's final statuses).
TERMINAL_JOB_STATUSES = ("COMPLETE", "PARTIAL", "FAILED", "STOPPED", "TIMED_OUT")


def _member(value: Any, name: str) -> Any:
    """value[name] when value is a JSON object, else None (a malformed answer means "unknown", never a crash)."""
    return value.get(name) if isinstance(value, dict) else None


# --------------------------------------------------------------------------- the registry and the job history


def nightly_targets(targets_table: Any) -> list[dict[str, Any]]:
    """Every registered target with nightly on (the whole registry, page by page)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": "sk = :target AND nightly = :on",
        "ExpressionAttributeValues": {":target": kbsync_keys.TARGET_SK, ":on": True},
    }
    while True:
        page = targets_table.scan(**kwargs)
        found.extend(kbsync_values.plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except ValueError:
        return None


def previous_duration(jobs_table: Any, kb: str, ds: str) -> float | None:
    """Seconds the data source's newest finished job took (job records: startedAt -> updatedAt), None if none.

    Through the table resource's client (a botocore client: thread-safe, unlike the resource object; it keeps the
    resource's plain-value (de)serialization): the plan asks for many targets at once.
    """
    page = jobs_table.meta.client.query(
        TableName=jobs_table.name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": kbsync_keys.ds_pk(kb, ds)},
        ScanIndexForward=False,
        Limit=HISTORY_DEPTH,
    )
    for record in page.get("Items", []):
        if record.get("status") in TERMINAL_JOB_STATUSES:
            seconds = _seconds_between(record.get("startedAt"), record.get("updatedAt"))
            if seconds is not None and seconds >= 0:
                return seconds
    return None


def bedrock_previous_duration(bedrock: Any, kb: str, ds: str) -> float | None:
    """Seconds the data source's newest finished job took by Bedrock's own history (a data source synced before it
    was registered with kbsync: the console, another tool); None if it has none or Bedrock cannot say.

    Only a hint for the night's order: any error Bedrock or the SDK can raise means "unknown", never a failed plan:
    an API error (ClientError: throttling, access denied, a data source deleted since it was registered, validation
    of a malformed registered id), a transport or client-side error (BotoCoreError: connection refused or reset,
    read timeout, missing credentials, ParamValidationError) and a summary without usable timestamps.
    """
    try:
        page = bedrock.list_ingestion_jobs(
            knowledgeBaseId=kb,
            dataSourceId=ds,
            sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
            maxResults=HISTORY_DEPTH,
        )
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else type(error).__name__
        logger.warning("no Bedrock job history for the night's order", extra={"kb": kb, "ds": ds, "error": code})
        return None
    summaries = page.get("ingestionJobSummaries") if isinstance(page, dict) else None
    for job in summaries if isinstance(summaries, list) else []:
        started, updated = _member(job, "startedAt"), _member(job, "updatedAt")
        if _member(job, "status") in TERMINAL_JOB_STATUSES and isinstance(started, datetime):
            if not isinstance(updated, datetime) or (started.tzinfo is None) != (updated.tzinfo is None):
                continue
            seconds = (updated - started).total_seconds()
            if seconds >= 0:
                return float(seconds)
    return None


# --------------------------------------------------------------------------- the night's plan


def write_plan(targets_table: Any, plan_id: str, pages: list[list[list[str]]], cursor: dict[str, Any]) -> None:
    """Store the plan's pages (`PLAN#<planId> / PAGE#<n>` = {targets: [[kb, ds], ...], expiresAt}), then its cursor
    (`PLAN#<planId> / CURSOR`), last and from scratch: a retried store starts the night over cleanly."""
    with targets_table.batch_writer() as batch:
        for number, targets in enumerate(pages):
            item = {**kbsync_keys.page_key(plan_id, number), "targets": targets, "expiresAt": cursor["expiresAt"]}
            batch.put_item(Item=item)
    targets_table.put_item(Item={**kbsync_keys.cursor_key(plan_id), **cursor})


def claim_on_cursor(
    targets_table: Any, plan_id: str, update: str, names: dict[str, str], values: dict[str, Any]
) -> dict[str, Any] | None:
    """One conditional UpdateItem of the plan's cursor for a lane's step `:k` (only if that step is new for the lane
    execution: `names` are its step and index attributes); the cursor after it, None if the step was taken before
    (or the plan does not exist)."""
    try:
        cursor: dict[str, Any] = targets_table.update_item(
            Key=kbsync_keys.cursor_key(plan_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#step) OR #step < :k)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if not kbsync_values.is_condition_failure(error):
            raise
        return None
    return cursor


def read_cursor(targets_table: Any, plan_id: str) -> dict[str, Any] | None:
    """The plan's cursor (strongly consistent), None if the plan does not exist (expired, or never stored)."""
    cursor: dict[str, Any] | None = targets_table.get_item(
        Key=kbsync_keys.cursor_key(plan_id), ConsistentRead=True
    ).get("Item")
    return cursor


def read_page_target(targets_table: Any, plan_id: str, index: int, page_size: int) -> tuple[str, str]:
    """(knowledge base, data source) of the plan's target number `index`."""
    page = targets_table.get_item(Key=kbsync_keys.page_key(plan_id, index // page_size), ConsistentRead=True)
    kb, ds = page["Item"]["targets"][index % page_size]
    return str(kb), str(ds)
