"""Triggers: upload routing, the per-data-source sync gate, the account-wide start pacer and the nightly target list.

Why one code package for all of it: the upload router, the sync-gate state machine and the nightly fan-out share one
gate algorithm (create-or-count on a DynamoDB item) and one table layout; keeping them in one file means there is
exactly one implementation of "who may start a job for this data source now". The template deploys this code twice
(UploadRouterFunction, TargetsFunction) so each function gets only the permissions it needs.

Table layout (TargetsTable, keys pk/sk):

- ``DS#<kb>#<ds> / TARGET``: a registered sync target (written by ``kbsync targets add``, kbsync/targets.py).
  ``bucketName`` feeds the sparse GSI ``byBucket`` that the router queries per S3 event.
- ``DS#<kb>#<ds> / GATE``: exists while a gated sync of that data source is waiting or running. ``holder`` is the
  sync-gate execution name, ``changeSeq`` counts requests (uploads) since it was created, ``leaseUntil`` (epoch s)
  lets a crashed holder's gate be taken over even if the catch-all never released it.
- ``PACER / ACCOUNT``: the account-wide ingestion-job slots (Bedrock: 5 concurrent jobs per account, 1 per knowledge
  base), the start token that spaces StartIngestionJob calls (Bedrock: 0.1 requests/s per account) and the queue
  of rounds waiting for a slot.

Coalescing uses sequence numbers, never clock comparisons between events: a round captures ``changeSeq`` before
its ingestion job starts and releases the gate with ``DeleteItem ... ConditionExpression changeSeq = :seen``; if
that fails, something arrived after the job started and exactly one more round runs. Clocks are only used for
leases (backstops measured in hours), where the local cloud's scaled time does not matter.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import time
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import kbsync_contracts  # the Contracts layer (schemas/)
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="kbsync")

#: How long a gate or a job slot survives a holder that vanished without the catch-all noticing (seconds). Must
#: exceed the longest gated round: settle delay + slot wait + the ingestion-sync execution timeout.
GATE_LEASE_SECONDS = int(os.environ.get("GATE_LEASE_SECONDS", "172800"))
#: Bedrock allows 0.1 StartIngestionJob requests per second per account: one start per this many seconds.
START_SPACING_SECONDS = int(os.environ.get("START_SPACING_SECONDS", "10"))
#: Bedrock allows 5 concurrent ingestion jobs per account.
JOB_SLOTS = int(os.environ.get("JOB_SLOTS", "5"))
#: How long the round that has waited longest waits before asking again for a job slot (seconds, the ASL Wait).
SLOT_POLL_SECONDS = int(os.environ.get("SLOT_POLL_SECONDS", "10"))
#: How long the other waiting rounds wait: in a busy night a slot frees every few minutes, so only the head of the
#: queue needs to ask often (each ask is a Lambda call and 3 state transitions).
QUEUE_POLL_SECONDS = int(os.environ.get("QUEUE_POLL_SECONDS", "30"))
#: A queued round not seen for this long (its execution died and the catch-all missed it) leaves the queue.
WAITER_TTL_SECONDS = int(os.environ.get("WAITER_TTL_SECONDS", "900"))
#: The start token is held for START_SPACING_SECONDS by a live holder; after this it is considered abandoned.
START_TOKEN_LEASE_SECONDS = int(os.environ.get("START_TOKEN_LEASE_SECONDS", "900"))
SETTLE_SECONDS = int(os.environ.get("SETTLE_SECONDS", "60"))
#: Real seconds the nightly plan may spend asking Bedrock for the job history of targets kbsync never synced.
BEDROCK_HISTORY_SECONDS = float(os.environ.get("BEDROCK_HISTORY_SECONDS", "10"))
#: How many job records per target the nightly ordering reads to find the previous job's duration.
HISTORY_DEPTH = 10

TRIGGERS = ("schedule", "s3", "manual")
IF_BUSY = ("queue", "skip")
S3_DETAIL_TYPES = ("Object Created", "Object Deleted")
TERMINAL_JOB_STATUSES = ("COMPLETE", "PARTIAL", "FAILED", "STOPPED", "TIMED_OUT")
_ID_CHARS = string.ascii_letters + string.digits
_NAME_SUFFIX_CHARS = string.ascii_lowercase + string.digits

PACER_KEY = {"pk": "PACER", "sk": "ACCOUNT"}


class InvalidRequest(ValueError):
    """A gate request or schedule payload is malformed: the state machine ends in KbSync.InvalidRequest, no alert."""


class GateLost(RuntimeError):
    """This execution no longer holds its data source's gate (its lease expired and someone took over)."""


class GateContention(RuntimeError):
    """The gate item changed under us on every attempt; raised so the caller retries later."""


@dataclass(frozen=True)
class Entry:
    """The outcome of asking for a data source's gate."""

    outcome: str  # ACQUIRED | QUEUED | NOT_STARTED
    holder: str  # who holds the gate now
    change_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "heldBy": self.holder, "changeSeq": self.change_seq}


# --- clients (created lazily so unit tests can point them at moto or fakes) ---------------------------------------

_tables: dict[str, Any] = {}
_sfn: Any = None


def table(env_name: str = "TARGETS_TABLE") -> Any:
    name = os.environ[env_name]
    if name not in _tables:
        _tables[name] = boto3.resource("dynamodb").Table(name)
    return _tables[name]


def stepfunctions() -> Any:
    global _sfn
    if _sfn is None:
        _sfn = boto3.client("stepfunctions")
    return _sfn


_bedrock: Any = None


def bedrock_agent() -> Any:
    global _bedrock
    if _bedrock is None:
        _bedrock = boto3.client("bedrock-agent")
    return _bedrock


def reset_clients() -> None:
    """Forget cached clients (tests switch between mocked accounts)."""
    global _sfn, _bedrock
    _tables.clear()
    _sfn = None
    _bedrock = None


# --- small pure helpers ----------------------------------------------------------------------------------------------


def now_epoch() -> int:
    return int(time.time())


def is_bedrock_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 10 and all(c in _ID_CHARS for c in value)


def ds_pk(kb: str, ds: str) -> str:
    return f"DS#{kb}#{ds}"


def gate_key(kb: str, ds: str) -> dict[str, str]:
    return {"pk": ds_pk(kb, ds), "sk": "GATE"}


def execution_name(trigger: str, kb: str, ds: str, at: datetime | None = None) -> str:
    """`<trigger>-<kb>-<ds>-<UTC yyyymmddTHHMMSS>-<4 random [a-z0-9]>` (names.md): unique, sortable, <= 80 chars."""
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    suffix = "".join(secrets.choice(_NAME_SUFFIX_CHARS) for _ in range(4))
    return f"{trigger}-{kb}-{ds}-{stamp}-{suffix}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN StartExecution will give `name` (known before starting, so the gate can name its holder)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def plain(value: Any) -> Any:
    """DynamoDB resource values (Decimal, sets) as JSON-friendly Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    return value


def is_condition_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def prefix_matches(key: str, prefixes: list[str]) -> bool:
    """Bedrock's S3 data source reads the whole bucket when it has no inclusion prefixes.

    S3 URL-encodes keys in its classic notifications ("red flower.jpg" -> "red+flower.jpg"); whether an EventBridge
    event's key is encoded or not, the decoded form is tried too: a false match costs one extra sync, a missed one
    a stale knowledge base.
    """
    if not prefixes:
        return True
    candidates = {key, urllib.parse.unquote_plus(key)}
    return any(candidate.startswith(p) for candidate in candidates for p in prefixes)


# --- the gate --------------------------------------------------------------------------------------------------------


def _count_on_live_gate(gates: Any, kb: str, ds: str, holder: str, now: int) -> Entry | None:
    """One more change on a live gate held by someone else; None if there is no such gate."""
    try:
        counted = gates.update_item(
            Key=gate_key(kb, ds),
            UpdateExpression="ADD changeSeq :one",
            ConditionExpression="attribute_exists(pk) AND leaseUntil >= :now AND holder <> :h",
            ExpressionAttributeValues={":one": 1, ":now": now, ":h": holder},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if is_condition_failure(error):
            return None
        raise
    return Entry("QUEUED", str(counted["Attributes"]["holder"]), int(counted["Attributes"]["changeSeq"]))


def _create_gate(gates: Any, kb: str, ds: str, holder: str, holder_arn: str, trigger: str, now: int) -> Entry | None:
    """Take the gate if it is free, already ours, or its lease expired; None if someone else holds it."""
    try:
        created = gates.update_item(
            Key=gate_key(kb, ds),
            UpdateExpression=(
                "SET holder = :h, holderArn = :a, leaseUntil = :l, acquiredAt = :now, #trigger = :t,"
                " knowledgeBaseId = :kb, dataSourceId = :ds ADD changeSeq :one"
            ),
            ConditionExpression="attribute_not_exists(pk) OR holder = :h OR leaseUntil < :now",
            ExpressionAttributeNames={"#trigger": "trigger"},
            ExpressionAttributeValues={
                ":h": holder,
                ":a": holder_arn,
                ":l": now + GATE_LEASE_SECONDS,
                ":now": now,
                ":t": trigger,
                ":kb": kb,
                ":ds": ds,
                ":one": 1,
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if is_condition_failure(error):
            return None
        raise
    return Entry("ACQUIRED", holder, int(created["Attributes"]["changeSeq"]))


def enter_gate(
    gates: Any, kb: str, ds: str, holder: str, holder_arn: str, trigger: str, if_busy: str, now: int
) -> Entry:
    """Take the data source's gate for `holder`, or (if busy) count one more change on it / report who holds it.

    Each step is one atomic conditional UpdateItem. When queueing, the count is tried first: in a burst nearly
    every request finds the gate held, so that is one write per upload instead of two. If the gate disappears
    between the steps (released, expired), try again.
    """
    for _ in range(5):
        if if_busy == "queue":
            counted = _count_on_live_gate(gates, kb, ds, holder, now)
            if counted is not None:
                return counted
        created = _create_gate(gates, kb, ds, holder, holder_arn, trigger, now)
        if created is not None:
            return created
        if if_busy == "skip":
            current = gates.get_item(Key=gate_key(kb, ds), ConsistentRead=True).get("Item")
            if current is not None:
                return Entry("NOT_STARTED", str(current["holder"]), int(current.get("changeSeq", 0)))
    raise GateContention(f"gate of {kb}/{ds} kept changing; try again")


def begin_round(gates: Any, kb: str, ds: str, holder: str, now: int) -> dict[str, Any]:
    """Capture changeSeq before this round's job starts, renew the lease, and name the round's ingestion-sync run."""
    try:
        updated = gates.update_item(
            Key=gate_key(kb, ds),
            UpdateExpression="SET leaseUntil = :l ADD rounds :one",
            ConditionExpression="holder = :h",
            ExpressionAttributeValues={":l": now + GATE_LEASE_SECONDS, ":h": holder, ":one": 1},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if is_condition_failure(error):
            raise GateLost(f"{holder} no longer holds the gate of {kb}/{ds}") from error
        raise
    item = updated["Attributes"]
    return {"seen": int(item["changeSeq"]), "round": int(item["rounds"])}


def release_gate(gates: Any, kb: str, ds: str, holder: str, seen: int) -> dict[str, Any]:
    """Delete the gate if nothing arrived since `seen`; otherwise report dirty so the holder runs one more round."""
    try:
        gates.delete_item(
            Key=gate_key(kb, ds),
            ConditionExpression="holder = :h AND changeSeq = :seen",
            ExpressionAttributeValues={":h": holder, ":seen": seen},
        )
        return {"released": True, "dirty": False}
    except ClientError as error:
        if not is_condition_failure(error):
            raise
    current = gates.get_item(Key=gate_key(kb, ds), ConsistentRead=True).get("Item")
    if current is None or current.get("holder") != holder:
        # Someone took over an expired lease (or the catch-all released it): their rounds cover what is left.
        return {"released": True, "dirty": False, "lost": True}
    return {"released": False, "dirty": True, "changeSeq": int(current["changeSeq"])}


# --- the account-wide pacer (job slots + start token) ------------------------------------------------------------


def _live_slots(slots: dict[str, Any], now: int) -> dict[str, Any]:
    return {h: s for h, s in slots.items() if int(s.get("leaseUntil", 0)) >= now}


def _busy_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """Slots whose job may still be running in Bedrock (not yet seen finished)."""
    return {h: s for h, s in slots.items() if not s.get("finished")}


def job_running(bedrock: Any, kb: str, ds: str) -> bool:
    """Whether Bedrock runs a job of this data source now (ListIngestionJobs filtered on the running statuses)."""
    page = bedrock.list_ingestion_jobs(
        knowledgeBaseId=kb,
        dataSourceId=ds,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS", "STOPPING"]}],
        maxResults=1,
    )
    return bool(page.get("ingestionJobSummaries"))


def reclaim_finished(bedrock: Any, slots: dict[str, Any]) -> tuple[bool, bool]:
    """Mark slots whose job Bedrock already finished (their execution has not noticed yet).

    Returns (a slot was freed, the slots changed). A slot is freed only if its job was SEEN running by an earlier
    check and is not running now: a holder whose StartIngestionJob is still on its way (startup, a throttling
    retry) never loses its slot. Only holders that gave the start token back are checked; the first freed slot
    ends the check (one is all the caller needs, and it keeps the ListIngestionJobs calls few).
    """
    changed = False
    for slot in _busy_slots(slots).values():
        if not (slot.get("started") and slot.get("dataSourceId")):
            continue
        running = job_running(bedrock, str(slot["knowledgeBaseId"]), str(slot["dataSourceId"]))
        if running and not slot.get("seenRunning"):
            slot["seenRunning"] = changed = True
        elif not running and slot.get("seenRunning"):
            slot["finished"] = True
            return True, True
    return False, changed


def _slot_refusal(slots: dict[str, Any], kb: str) -> str | None:
    busy = _busy_slots(slots)
    if len(busy) >= JOB_SLOTS:
        return "account job slots full"
    if any(s.get("knowledgeBaseId") == kb for s in busy.values()):
        return "knowledge base busy"
    return None


def _save_pacer(pacer: Any, item: dict[str, Any], version: int) -> bool:
    """Write the pacer if nobody else did since `version` was read; False if someone did (the caller asks again)."""
    try:
        pacer.put_item(
            Item={**item, **PACER_KEY, "version": version + 1},
            ConditionExpression="attribute_not_exists(pk) OR version = :v",
            ExpressionAttributeValues={":v": version},
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise
        return False
    return True


def queue_position(waiters: dict[str, Any], holder: str) -> int:
    """0 for the round that has waited longest for a slot, 1 for the next...: the order they first asked in."""
    order = sorted(waiters, key=lambda h: (int(waiters[h].get("seq", 0)), h))
    return order.index(holder) if holder in order else len(order)


def _join_queue(item: dict[str, Any], waiters: dict[str, Any], holder: str, now: int) -> bool:
    """Put `holder` in the slot queue (or refresh its entry); whether the pacer item changed."""
    entry = waiters.get(holder)
    if entry is not None and now - int(entry.get("seenAt", 0)) < WAITER_TTL_SECONDS // 2:
        return False
    if entry is None:
        item["queueSeq"] = int(item.get("queueSeq", 0)) + 1
        entry = {"seq": item["queueSeq"]}
    waiters[holder] = {**entry, "seenAt": now}
    return True


def acquire_slot(
    pacer: Any, holder: str, kb: str, now: int, ds: str = "", bedrock: Any | None = None
) -> dict[str, Any]:
    """Grant `holder` a job slot and the start token together, or say how long to wait before asking again.

    Granted only when fewer than JOB_SLOTS holders run jobs, none of them on the same knowledge base (Bedrock allows
    one job per knowledge base) and nobody started a job in the last START_SPACING_SECONDS (the token). When the
    slots are full and `bedrock` is given, slots whose job Bedrock already finished count as free: the holder's
    ingestion-sync execution notices a finished job only at its next poll (minutes, for long jobs), and the next
    target should not wait for that. Optimistic concurrency on `version` keeps the read-modify-write atomic.

    Refused rounds queue (`waiters`, in the order they first asked). The round that has waited longest asks again
    after SLOT_POLL_SECONDS, the others after QUEUE_POLL_SECONDS, and a round refused only for the token after a
    quarter of the spacing: a freed slot is taken within seconds, while the rounds behind the first cost few state
    transitions (each ask is a Lambda call and 3 transitions). Time here only ages the queue's entries (a backstop
    for a round that died unnoticed), never the slots or the token, which the state machines' own Waits release.
    """
    item = plain(pacer.get_item(Key=PACER_KEY, ConsistentRead=True).get("Item") or {})
    version = int(item.get("version", 0))
    slots = _live_slots(item.get("slots", {}), now)
    waiters = {h: w for h, w in item.get("waiters", {}).items() if int(w.get("seenAt", 0)) >= now - WAITER_TTL_SECONDS}
    if holder in slots and item.get("startHolder") == holder:
        return {"granted": True, "waitSeconds": 0, "spacingSeconds": START_SPACING_SECONDS}
    changed = False
    refusal = None
    if holder not in slots:
        refusal = _slot_refusal(slots, kb)
        if refusal is not None and bedrock is not None:
            freed, changed = reclaim_finished(bedrock, slots)
            refusal = _slot_refusal(slots, kb) if freed else refusal
    token_busy = bool(item.get("startHolder")) and int(item.get("startLeaseUntil", 0)) >= now
    if refusal is None and token_busy:
        refusal = "start spacing"
    if refusal is not None:
        changed = _join_queue(item, waiters, holder, now) or changed
        position = queue_position(waiters, holder)
        if refusal == "start spacing":
            wait = max(1, START_SPACING_SECONDS // 4)
        else:
            wait = SLOT_POLL_SECONDS if position == 0 else QUEUE_POLL_SECONDS
        if changed:  # what was seen running, and the queue: best effort (a lost write is redone by the next ask)
            _save_pacer(pacer, {**item, "slots": slots, "waiters": waiters}, version)
        return {"granted": False, "waitSeconds": wait, "reason": refusal, "position": position}
    if holder not in slots:
        slots[holder] = {"knowledgeBaseId": kb, "dataSourceId": ds, "leaseUntil": now + GATE_LEASE_SECONDS}
    waiters.pop(holder, None)
    granted = {
        **item,
        "slots": slots,
        "waiters": waiters,
        "startHolder": holder,
        "startLeaseUntil": now + START_TOKEN_LEASE_SECONDS,
    }
    if not _save_pacer(pacer, granted, version):
        return {"granted": False, "waitSeconds": 1, "reason": "contention", "position": 0}
    return {"granted": True, "waitSeconds": 0, "spacingSeconds": START_SPACING_SECONDS}


def release_pacer(pacer: Any, holder: str, slot: bool, start_token: bool) -> dict[str, Any]:
    """Give back `holder`'s start token and/or job slot (and its place in the slot queue); idempotent (releasing what
    one does not hold is a no-op)."""
    for _ in range(10):
        item = pacer.get_item(Key=PACER_KEY, ConsistentRead=True).get("Item")
        if item is None:
            return {"released": True}
        version = int(item.get("version", 0))
        slots = plain(item.get("slots", {}))
        waiters = plain(item.get("waiters", {}))
        drop_token = start_token and item.get("startHolder") == holder
        drop_slot = slot and holder in slots
        leave_queue = slot and holder in waiters
        if not (drop_token or drop_slot or leave_queue):
            return {"released": True}
        waiters.pop(holder, None)
        if drop_slot:
            del slots[holder]
        elif holder in slots:
            slots[holder]["started"] = True  # the start spacing passed: its job has begun (see reclaim_finished)
        new_item = {**plain(item), "slots": slots, "waiters": waiters}
        if drop_token:
            new_item.pop("startHolder", None)
            new_item.pop("startLeaseUntil", None)
        if _save_pacer(pacer, new_item, version):
            return {"released": True}
    raise GateContention(f"pacer kept changing while releasing {holder}")


# --- nightly ------------------------------------------------------------------------------------------------------


def check_schedule_payload(payload: Any) -> dict[str, Any]:
    """The schedule's input (eventbridge/nightly-schedule-input.json); raise InvalidRequest naming the bad field."""
    if not isinstance(payload, dict):
        raise InvalidRequest("schedule payload: expected a JSON object")
    if payload.get("trigger") != "schedule":
        raise InvalidRequest("schedule payload: field 'trigger' must be 'schedule'")
    requested_by = payload.get("requestedBy")
    if not isinstance(requested_by, str) or not requested_by or len(requested_by) > 200:
        raise InvalidRequest("schedule payload: field 'requestedBy' must be a non-empty string (<= 200 chars)")
    return payload


def nightly_targets(targets_table: Any) -> list[dict[str, Any]]:
    """Every registered target with nightly on (the whole registry, page by page)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": "sk = :target AND nightly = :on",
        "ExpressionAttributeValues": {":target": "TARGET", ":on": True},
    }
    while True:
        page = targets_table.scan(**kwargs)
        found.extend(plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _seconds_between(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except ValueError:
        return None


def previous_duration(jobs_table: Any, kb: str, ds: str) -> float | None:
    """Seconds the data source's newest finished job took (job records: startedAt -> updatedAt), None if none."""
    page = jobs_table.query(
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": ds_pk(kb, ds)},
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

    Only a hint for the night's order: any error (throttling, access) means "unknown", never a failed plan.
    """
    try:
        page = bedrock.list_ingestion_jobs(
            knowledgeBaseId=kb,
            dataSourceId=ds,
            sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
            maxResults=HISTORY_DEPTH,
        )
    except ClientError as error:
        logger.warning("no Bedrock job history for the night's order", extra={"kb": kb, "ds": ds, "error": str(error)})
        return None
    for job in page.get("ingestionJobSummaries", []):
        if job.get("status") in TERMINAL_JOB_STATUSES and job.get("startedAt") and job.get("updatedAt"):
            seconds = (job["updatedAt"] - job["startedAt"]).total_seconds()
            if seconds >= 0:
                return float(seconds)
    return None


def longest_first(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Longest expected job first (LPT): with 5 parallel lanes this keeps the night close to its lower bound.

    Targets never synced before come first: their first job is a full scan, usually the longest of all.
    """
    return sorted(
        targets,
        key=lambda t: (t["expectedSeconds"] is not None, -(t["expectedSeconds"] or 0.0), t["pk"]),
    )


def spread_knowledge_bases(targets: list[dict[str, Any]], lanes: int = JOB_SLOTS) -> list[dict[str, Any]]:
    """Keep the order, but avoid two targets of one knowledge base within `lanes` consecutive places when possible.

    Bedrock runs one job per knowledge base: two neighbours of the same knowledge base would make one of the
    fan-out's lanes wait for the other instead of syncing something else.
    """
    remaining = list(targets)
    ordered: list[dict[str, Any]] = []
    while remaining:
        recent = {t["kb"] for t in ordered[-(lanes - 1) :]} if lanes > 1 else set()
        pick = next((t for t in remaining if t["kb"] not in recent), remaining[0])
        remaining.remove(pick)
        ordered.append(pick)
    return ordered


def plan_night(payload: Any, targets_table: Any, jobs_table: Any | None, bedrock: Any | None = None) -> dict[str, Any]:
    """The fan-out's work list: one gate request per nightly target, longest expected job first.

    Expected = the previous job's duration from kbsync's job records, else from Bedrock's own job history (asked
    for at most BEDROCK_HISTORY_SECONDS in all, so a first night of hundreds of targets stays far inside the
    function's timeout; targets past that budget are simply unknown, i.e. first).
    """
    checked = check_schedule_payload(payload)
    targets = []
    ask_bedrock_until = time.monotonic() + BEDROCK_HISTORY_SECONDS
    for target in nightly_targets(targets_table):
        kb, ds = target["knowledgeBaseId"], target["dataSourceId"]
        expected = previous_duration(jobs_table, kb, ds) if jobs_table is not None else None
        if expected is None and bedrock is not None and time.monotonic() < ask_bedrock_until:
            expected = bedrock_previous_duration(bedrock, kb, ds)
        targets.append({"pk": target["pk"], "kb": kb, "ds": ds, "expectedSeconds": expected})
    items = []
    for t in spread_knowledge_bases(longest_first(targets)):
        request = {"knowledgeBaseId": t["kb"], "dataSourceId": t["ds"], "trigger": "schedule"}
        request["requestedBy"] = checked["requestedBy"]
        if isinstance(checked.get("reason"), str):
            request["reason"] = checked["reason"][:500]
        items.append(
            {
                "executionName": execution_name("schedule", t["kb"], t["ds"]),
                "gateInput": {"request": request, "settleSeconds": 0, "ifBusy": "skip"},
            }
        )
    return {"count": len(items), "targets": items}


# --- gate requests (the sync-gate state machine's input) -----------------------------------------------------------


def check_gate_input(event: Any) -> dict[str, Any]:
    """Validate the sync-gate input {request, settleSeconds, ifBusy}; the request is the sync-request contract."""
    if not isinstance(event, dict) or not isinstance(event.get("request"), dict):
        raise InvalidRequest("gate input: field 'request' must be a sync request object")
    request = event["request"]
    # The request is the sync-request contract, checked by the same code as the workflow's own validation, so the
    # gate is never taken for a request the ingestion-sync workflow would then refuse.
    problems = [f"request.{problem}" for problem in kbsync_contracts.problems("sync-request", request)]
    settle = event.get("settleSeconds", 0)
    if not isinstance(settle, int) or isinstance(settle, bool) or not 0 <= settle <= 3600:
        problems.append("settleSeconds: must be an integer between 0 and 3600")
    if event.get("ifBusy", "queue") not in IF_BUSY:
        problems.append(f"ifBusy: must be one of {', '.join(IF_BUSY)}")
    if problems:
        raise InvalidRequest("invalid gate input: " + "; ".join(problems))
    return {"request": request, "settleSeconds": settle, "ifBusy": event.get("ifBusy", "queue")}


# --- upload routing ------------------------------------------------------------------------------------------------


def _member(value: Any, name: str) -> Any:
    """value[name] when value is a JSON object, else None (a malformed event is refused, never a crash)."""
    return value.get(name) if isinstance(value, dict) else None


def parse_s3_event(event: Any) -> tuple[str, str, str]:
    """(detail-type, bucket, key) of an EventBridge S3 event; raise InvalidRequest naming what is wrong."""
    if not isinstance(event, dict):
        raise InvalidRequest("S3 event: expected a JSON object")
    if event.get("source") != "aws.s3":
        raise InvalidRequest(f"S3 event: source must be 'aws.s3', got {event.get('source')!r}")
    detail_type = event.get("detail-type")
    if detail_type not in S3_DETAIL_TYPES:
        raise InvalidRequest(f"S3 event: detail-type must be one of {S3_DETAIL_TYPES}, got {detail_type!r}")
    detail = event.get("detail")
    bucket = _member(_member(detail, "bucket"), "name")
    key = _member(_member(detail, "object"), "key")
    if not isinstance(bucket, str) or not bucket:
        raise InvalidRequest("S3 event: detail.bucket.name missing")
    if not isinstance(key, str) or not key:
        raise InvalidRequest("S3 event: detail.object.key missing")
    return detail_type, bucket, key


def targets_for_object(targets_table: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """Registered targets whose bucket and inclusion prefixes cover s3://bucket/key (GSI byBucket, paginated)."""
    matched = []
    kwargs: dict[str, Any] = {
        "IndexName": "byBucket",
        "KeyConditionExpression": "bucketName = :b",
        "ExpressionAttributeValues": {":b": bucket},
    }
    while True:
        page = targets_table.query(**kwargs)
        for item in page.get("Items", []):
            target = plain(item)
            if prefix_matches(key, list(target.get("inclusionPrefixes") or [])):
                matched.append(target)
        if "LastEvaluatedKey" not in page:
            return matched
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def route_upload(event: Any, targets_table: Any, sfn: Any, gate_sm_arn: str, now: int) -> dict[str, Any]:
    """Count the upload on each matching target's gate; start a gated sync only where this event created the gate."""
    detail_type, bucket, key = parse_s3_event(event)
    started, queued = [], []
    for target in targets_for_object(targets_table, bucket, key):
        kb, ds = target["knowledgeBaseId"], target["dataSourceId"]
        name = execution_name("s3", kb, ds)
        arn = execution_arn(gate_sm_arn, name)
        entry = enter_gate(targets_table, kb, ds, name, arn, "s3", "queue", now)
        if entry.outcome != "ACQUIRED":
            queued.append({"knowledgeBaseId": kb, "dataSourceId": ds, "heldBy": entry.holder})
            continue
        request = {
            "knowledgeBaseId": kb,
            "dataSourceId": ds,
            "trigger": "s3",
            "requestedBy": "s3-upload",
            "reason": f"{detail_type}: s3://{bucket}/{key}"[:500],
        }
        gate_input = {"request": request, "settleSeconds": SETTLE_SECONDS, "ifBusy": "queue"}
        try:
            sfn.start_execution(stateMachineArn=gate_sm_arn, name=name, input=json.dumps(gate_input))
        except Exception:
            # Nothing half-held: give the gate back so the retried event (or the next upload) can start the sync.
            release_holder_gate(targets_table, kb, ds, name)
            raise
        started.append({"knowledgeBaseId": kb, "dataSourceId": ds, "executionArn": arn})
    return {"bucket": bucket, "key": key, "started": started, "queued": queued}


def release_holder_gate(gates: Any, kb: str, ds: str, holder: str) -> None:
    """Delete the gate only if `holder` still holds it."""
    try:
        gates.delete_item(
            Key=gate_key(kb, ds), ConditionExpression="holder = :h", ExpressionAttributeValues={":h": holder}
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise


# --- the state machines' steps -----------------------------------------------------------------------------------


def gate_step(event: dict[str, Any], now: int) -> dict[str, Any]:
    """One step of the sync-gate or fan-out state machine, chosen by event['action']."""
    action = event.get("action")
    if action == "planNight":
        jobs = table("JOBS_TABLE") if os.environ.get("JOBS_TABLE") else None
        return plan_night(event.get("payload"), table(), jobs, bedrock_agent())
    holder = str(event.get("holder", ""))
    if action == "enter":
        gate_input = check_gate_input(event.get("input"))
        request = gate_input["request"]
        entry = enter_gate(
            table(),
            request["knowledgeBaseId"],
            request["dataSourceId"],
            holder,
            str(event.get("holderArn", "")),
            request["trigger"],
            gate_input["ifBusy"],
            now,
        )
        return entry.as_dict()
    kb, ds = str(event.get("knowledgeBaseId", "")), str(event.get("dataSourceId", ""))
    if action == "beginRound":
        result = begin_round(table(), kb, ds, holder, now)
        result["childName"] = execution_name(str(event.get("trigger", "manual")), kb, ds)
        return result
    if action == "acquireSlot":
        return acquire_slot(table(), holder, kb, now, ds=ds, bedrock=bedrock_agent())
    if action == "releaseStart":
        return release_pacer(table(), holder, slot=False, start_token=True)
    if action == "releaseSlot":
        return release_pacer(table(), holder, slot=True, start_token=True)
    if action == "releaseGate":
        return release_gate(table(), kb, ds, holder, int(event.get("seen", -1)))
    raise InvalidRequest(f"unknown action {action!r}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 events from EventBridge (the upload router) or {action: ...} steps from the trigger state machines."""
    if isinstance(event, dict) and "detail-type" in event:
        try:
            routed = route_upload(event, table(), stepfunctions(), os.environ["GATE_STATE_MACHINE_ARN"], now_epoch())
        except InvalidRequest as bad:
            # Rejected, not failed: raising would only retry a malformed event into the dead-letter queue.
            logger.warning("S3 event rejected", extra={"reason": str(bad)})
            metrics.add_metric(name="RejectedUploadEvents", unit=MetricUnit.Count, value=1)
            return {"rejected": str(bad)}
        metrics.add_metric(name="UploadSyncsStarted", unit=MetricUnit.Count, value=len(routed["started"]))
        metrics.add_metric(name="UploadsCoalesced", unit=MetricUnit.Count, value=len(routed["queued"]))
        logger.info("upload routed", extra=routed)
        return routed
    try:
        result = gate_step(event, now_epoch())
    except InvalidRequest as bad:
        logger.warning("trigger request rejected", extra={"reason": str(bad)})
        raise
    logger.info("trigger step", extra={"action": event.get("action"), "result": result})
    return result
