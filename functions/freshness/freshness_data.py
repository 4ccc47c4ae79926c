"""The freshness check's data access: the registered targets (TargetsTable TARGET items, a Scan), the last
successful sync of each (JobsTable, newest first), and the conditional writes of the verdict and of the pending
changes on the TARGET item (kbsync_keys: every key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kbsync_freshness
import kbsync_keys
import kbsync_values
from botocore.exceptions import ClientError

#: The statuses of a sync that ran: COMPLETE, and PARTIAL (COMPLETE with failed documents: every other document was
#: indexed, and the failed ones were alerted PARTIAL already).
SUCCESSFUL = kbsync_freshness.SUCCESSFUL
PAGE_SIZE = 100


def targets(table: Any) -> Iterator[dict[str, Any]]:
    """Every TARGET item (all pages)."""
    kwargs: dict[str, Any] = {
        "FilterExpression": "sk = :t",
        "ExpressionAttributeValues": {":t": kbsync_keys.TARGET_SK},
    }
    while True:
        page = table.scan(**kwargs)
        for item in page.get("Items", []):
            yield kbsync_values.plain(item)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def last_successful_sync(jobs: Any, kb: str, ds: str, max_records: int) -> tuple[dict[str, Any] | None, str | None]:
    """(the newest COMPLETE or PARTIAL record, None) of the data source; (None, None) when it never had one; or
    (None, the startedAt of the oldest record read) when none is among its newest `max_records` records (the read is
    bounded: its age is at least that old)."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :job)",
        "FilterExpression": "#status IN (:complete, :partial)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":pk": kbsync_keys.ds_pk(kb, ds),
            ":job": kbsync_keys.JOB_SK_PREFIX,
            ":complete": SUCCESSFUL[0],
            ":partial": SUCCESSFUL[1],
        },
        "ScanIndexForward": False,
        "Limit": PAGE_SIZE,
    }
    read = 0
    while True:
        page = jobs.query(**kwargs)
        items = page.get("Items", [])
        if items:
            return kbsync_values.plain(items[0]), None
        read += int(page.get("ScannedCount", 0))
        last = page.get("LastEvaluatedKey")
        if last is None:
            return None, None
        if read >= max_records:
            return None, _started_at_of(str(last["sk"]))
        kwargs["ExclusiveStartKey"] = last


def _started_at_of(sort_key: str) -> str:
    """The startedAt in a job record's sort key (JOB#<startedAt>#<execution name>-<attempt>)."""
    return sort_key[len(kbsync_keys.JOB_SK_PREFIX) :].split("#", 1)[0]


def set_verdict(table: Any, target: dict[str, Any], old: str, new: str, when: str, fresh: str) -> bool:
    """Move the target's verdict from `old` to `new` (conditional: only one of two overlapping checks wins, and a
    removed target is not written back). False when another check (or a removal) came first."""
    condition = "attribute_exists(pk) AND freshness = :old"
    if old == fresh:
        condition = "attribute_exists(pk) AND (attribute_not_exists(freshness) OR freshness = :old)"
    return _conditional(
        table,
        Key=kbsync_keys.target_key(target["knowledgeBaseId"], target["dataSourceId"]),
        UpdateExpression="SET freshness = :new, freshnessChangedAt = :when",
        ConditionExpression=condition,
        ExpressionAttributeValues={":old": old, ":new": new, ":when": when},
    )


def undo_verdict(table: Any, target: dict[str, Any], old: str, new: str, when: str) -> bool:
    """Give the verdict back (its alert could not be published): the next check sees the change again."""
    return _conditional(
        table,
        Key=kbsync_keys.target_key(target["knowledgeBaseId"], target["dataSourceId"]),
        UpdateExpression="SET freshness = :old",
        ConditionExpression="freshness = :new AND freshnessChangedAt = :when",
        ExpressionAttributeValues={":old": old, ":new": new, ":when": when},
    )


def clear_pending(table: Any, target: dict[str, Any]) -> bool:
    """Forget the pending changes a successful sync covered, unless the router recorded a newer one meanwhile."""
    values = {":pending": target["pendingSince"]}
    condition = "pendingSince = :pending"
    if target.get("lastChangeAt"):
        values[":seen"] = target["lastChangeAt"]
        condition += " AND lastChangeAt = :seen"
    return _conditional(
        table,
        Key=kbsync_keys.target_key(target["knowledgeBaseId"], target["dataSourceId"]),
        UpdateExpression="REMOVE pendingSince",
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
    )


def move_pending(table: Any, target: dict[str, Any], since: str) -> bool:
    """The changes before `since` (a successful sync's start) are covered: the oldest waiting one is after it."""
    return _conditional(
        table,
        Key=kbsync_keys.target_key(target["knowledgeBaseId"], target["dataSourceId"]),
        UpdateExpression="SET pendingSince = :since",
        ConditionExpression="pendingSince = :pending",
        ExpressionAttributeValues={":pending": target["pendingSince"], ":since": since},
    )


def _conditional(table: Any, **kwargs: Any) -> bool:
    try:
        table.update_item(**kwargs)
    except ClientError as error:
        if kbsync_values.is_condition_failure(error):
            return False
        raise
    return True
