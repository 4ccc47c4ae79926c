"""Reading the job records (DynamoDB, schemas/job-record.schema.json) without scanning the table.

Keys: pk = 'DS#<kb>#<ds>', sk = 'JOB#<startedAt>#<job id>' (history newest first = one Query), GSI 'byStatus'
(status, startedAt): the running jobs of the whole account are a handful of items (Bedrock allows 5 at once).
A job id alone is found through the GSI 'byJobId' (ingestionJobId) when the table has it, else by a Scan that says so.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import kbsync_keys
import kbsync_values
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from kbsync.cli.aws import Client
from kbsync.cli.errors import error_code, error_text
from kbsync.cli.outcome import RUNNING_STATUSES

Record = dict[str, Any]
BY_STATUS_INDEX = "byStatus"
BY_JOB_ID_INDEX = "byJobId"
_DESERIALIZER = TypeDeserializer()


def ds_key(kb_id: str, ds_id: str) -> str:
    return kbsync_keys.ds_pk(kb_id, ds_id)


def from_item(item: dict[str, Any]) -> Record:
    """A record as plain JSON values (DynamoDB numbers come back as Decimal; records hold integers)."""
    return {key: kbsync_values.plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _pages(ddb: Client, operation: str, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    while True:
        page = getattr(ddb, operation)(**kwargs)
        yield page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def history(
    ddb: Client, table: str, kb_id: str, ds_id: str, status: str | None = None, limit: int = 20
) -> list[Record]:
    """The records of one data source, newest first, optionally of one status, at most `limit`."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :job)",
        "ExpressionAttributeValues": {":pk": {"S": ds_key(kb_id, ds_id)}, ":job": {"S": kbsync_keys.JOB_SK_PREFIX}},
        "ScanIndexForward": False,
    }
    if status:
        kwargs["FilterExpression"] = "#status = :status"
        kwargs["ExpressionAttributeNames"] = {"#status": "status"}
        kwargs["ExpressionAttributeValues"][":status"] = {"S": status}
    else:
        kwargs["Limit"] = limit
    found: list[Record] = []
    for items in _pages(ddb, "query", **kwargs):
        found.extend(from_item(item) for item in items)
        if len(found) >= limit:
            break
    return found[:limit]


def _full(ddb: Client, table: str, keys_only: Record) -> Record | None:
    got = ddb.get_item(TableName=table, Key=kbsync_keys.client_key(kbsync_keys.key_of(keys_only)))
    return from_item(got["Item"]) if "Item" in got else None


def _of_status(
    ddb: Client, table: str, status: str, condition: str = "", values: dict[str, Any] | None = None, **query: Any
) -> Iterator[Record]:
    """The whole records one Query of the byStatus index finds for `status` (`condition` added to its key condition,
    with its `values`; `query`: the Query's other parameters), in the index's order; a record the index holds only
    the keys of is read whole, and left out when it has gone since."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": BY_STATUS_INDEX,
        "KeyConditionExpression": "#status = :status" + condition,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":status": {"S": status}, **(values or {})},
        **query,
    }
    for items in _pages(ddb, "query", **kwargs):
        for item in items:
            record = from_item(item)
            full = record if "executionArn" in record else _full(ddb, table, record)
            if full is not None:
                yield full


def running(ddb: Client, table: str, kb_id: str | None = None, ds_id: str | None = None) -> list[Record]:
    """Records whose job is still STARTING / IN_PROGRESS / STOPPING (optionally of one data source), newest first."""
    one_source: dict[str, Any] = {}
    if kb_id and ds_id:
        one_source = {"FilterExpression": "pk = :pk", "values": {":pk": {"S": ds_key(kb_id, ds_id)}}}
    found = [
        record
        for status in RUNNING_STATUSES
        for record in _of_status(ddb, table, status, ScanIndexForward=False, **one_source)
        if record.get("status") in RUNNING_STATUSES
    ]
    return sorted(found, key=lambda r: str(r.get("startedAt", "")), reverse=True)


def started_on(ddb: Client, table: str, statuses: tuple[str, ...], started_prefix: str) -> list[Record]:
    """Every record of these statuses whose startedAt begins with `started_prefix` (a day: '2026-12-05'), oldest
    first: one Query of the byStatus index per status (in the order given: lifecycle order finds a record whose
    status changes during the read at least once), each key once (the later update wins)."""
    found: dict[tuple[str, str], Record] = {}
    day = {":day": {"S": started_prefix}}
    for status in statuses:
        for full in _of_status(ddb, table, status, " AND begins_with(startedAt, :day)", day):
            key = (str(full.get("pk")), str(full.get("sk")))
            if key not in found or str(full.get("updatedAt", "")) >= str(found[key].get("updatedAt", "")):
                found[key] = full
    return sorted(found.values(), key=lambda r: (str(r.get("startedAt", "")), str(r.get("sk", ""))))


def _jobs_of_data_source(table: str, kb_id: str, ds_id: str, attribute: str, value: str) -> dict[str, Any]:
    """A Query of one data source's job records, newest first, keeping those whose `attribute` equals `value`."""
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :job)",
        "FilterExpression": "#attribute = :value",  # a name, never the attribute itself: some are reserved words
        "ExpressionAttributeNames": {"#attribute": attribute},
        "ExpressionAttributeValues": {
            ":pk": {"S": ds_key(kb_id, ds_id)},
            ":job": {"S": kbsync_keys.JOB_SK_PREFIX},
            ":value": {"S": value},
        },
        "ScanIndexForward": False,
    }


def of_execution(ddb: Client, table: str, kb_id: str, ds_id: str, execution_arn: str) -> list[Record]:
    """The records an execution wrote (one per attempt), newest first. Its records are the data source's newest."""
    page = ddb.query(**_jobs_of_data_source(table, kb_id, ds_id, "executionArn", execution_arn), Limit=25)
    return [from_item(item) for item in page.get("Items", [])]


def of_gate(ddb: Client, table: str, kb_id: str, ds_id: str, gate_execution_arn: str, since: str) -> list[Record]:
    """The records of a gated sync's rounds (their `gateExecutionArn`), newest first: only the records started at or
    after `since` (the gate execution's start, ISO 8601) are read, so a long history costs nothing."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk >= :since",
        "FilterExpression": "gateExecutionArn = :gate",
        "ExpressionAttributeValues": {
            ":pk": {"S": ds_key(kb_id, ds_id)},
            ":since": {"S": kbsync_keys.job_sk_since(since)},
            ":gate": {"S": gate_execution_arn},
        },
        "ScanIndexForward": False,
    }
    return [from_item(item) for items in _pages(ddb, "query", **kwargs) for item in items]


def of_description(ddb: Client, table: str, kb_id: str, ds_id: str, description: str) -> Record | None:
    """The record whose StartIngestionJob Description is `description` (each attempt's is unique: it names the
    execution and the attempt), newest first."""
    for items in _pages(ddb, "query", **_jobs_of_data_source(table, kb_id, ds_id, "description", description)):
        if items:
            return from_item(items[0])
    return None


def gate(ddb: Client, targets_table: str, kb_id: str, ds_id: str) -> Record | None:
    """The data source's sync gate (schemas/gate-item.schema.json), None when no gated sync holds it."""
    key = kbsync_keys.client_key(kbsync_keys.gate_key(kb_id, ds_id))
    got = ddb.get_item(TableName=targets_table, Key=key, ConsistentRead=True)
    return from_item(got["Item"]) if "Item" in got else None


def gates(ddb: Client, targets_table: str) -> list[Record]:
    """Every data source's sync gate (a Scan of the TargetsTable keeping sk GATE: one item per registered target,
    its gate while one is held, the pacer and the nightly plans — a few items per target)."""
    kwargs: dict[str, Any] = {
        "TableName": targets_table,
        "FilterExpression": "sk = :gate",
        "ExpressionAttributeValues": {":gate": {"S": kbsync_keys.GATE_SK}},
    }
    return [from_item(item) for items in _pages(ddb, "scan", **kwargs) for item in items]


def find_job(ddb: Client, table: str, job_id: str, kb_id: str | None = None, ds_id: str | None = None) -> Record | None:
    """The record of one ingestion job: by its data source when known, else the byJobId index, else a Scan."""
    if kb_id and ds_id:
        return _find_in_partition(ddb, table, job_id, kb_id, ds_id)
    try:
        return _find_by_index(ddb, table, job_id)
    except ClientError as exc:
        # AWS: ValidationException "The table does not have the specified index"; moto: ResourceNotFoundException.
        missing_index = error_code(exc) in {"ValidationException", "ResourceNotFoundException"}
        if not (missing_index and "index" in error_text(exc).lower()):
            raise
    print(
        f"note: table {table} has no {BY_JOB_ID_INDEX} index; scanning it (pass --kb and --ds to avoid the scan)",
        file=sys.stderr,
    )
    return _find_by_scan(ddb, table, job_id)


def _find_in_partition(ddb: Client, table: str, job_id: str, kb_id: str, ds_id: str) -> Record | None:
    for items in _pages(ddb, "query", **_jobs_of_data_source(table, kb_id, ds_id, "ingestionJobId", job_id)):
        if items:
            return from_item(items[0])
    return None


def _find_by_index(ddb: Client, table: str, job_id: str) -> Record | None:
    page = ddb.query(
        TableName=table,
        IndexName=BY_JOB_ID_INDEX,
        KeyConditionExpression="ingestionJobId = :id",
        ExpressionAttributeValues={":id": {"S": job_id}},
    )
    items = page.get("Items", [])
    if not items:
        return None
    record = from_item(items[0])
    return record if "executionArn" in record else _full(ddb, table, record)


def _find_by_scan(ddb: Client, table: str, job_id: str) -> Record | None:
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "ingestionJobId = :id",
        "ExpressionAttributeValues": {":id": {"S": job_id}},
    }
    for items in _pages(ddb, "scan", **kwargs):
        if items:
            return from_item(items[0])
    return None


def registered(ddb: Client, targets_table: str) -> list[tuple[str, str]]:
    """(knowledge base, data source) of every registered target, from the TargetsTable's keys (pk DS#<kb>#<ds>,
    sk TARGET; kbsync.targets), sorted."""
    kwargs: dict[str, Any] = {
        "TableName": targets_table,
        "FilterExpression": "sk = :target",
        "ExpressionAttributeValues": {":target": {"S": kbsync_keys.TARGET_SK}},
        "ProjectionExpression": "pk",
    }
    found = []
    for items in _pages(ddb, "scan", **kwargs):
        for item in items:
            ids = kbsync_keys.parse_ds_pk(str(item["pk"]["S"]))
            if ids is not None:
                found.append(ids)
    return sorted(found)
