"""Triggers: upload routing, the per-data-source sync gate, the account-wide start pacer and the nightly target list.

Why one code package for all of it: the upload router, the sync-gate state machine and the nightly fan-out share one
gate algorithm (create-or-count on a DynamoDB item) and one table layout; keeping them in one file means there is
exactly one implementation of "who may start a job for this data source now". The template deploys this code twice
(UploadRouterFunction, TargetsFunction) so each function gets only the permissions it needs.

Table layout (TargetsTable, keys pk/sk; every key is built by kbsync_keys, the pacer item is kbsync_pacer's):

- ``DS#<kb>#<ds> / TARGET``: a registered sync target (written by ``kbsync targets add``, kbsync/targets.py).
  ``bucketName`` feeds the sparse GSI ``byBucket`` that the router queries per S3 event.
- ``DS#<kb>#<ds> / GATE``: exists while a gated sync of that data source is waiting or running. ``holder`` is the
  sync-gate execution name, ``changeSeq`` counts requests (uploads) since it was created, ``leaseUntil`` (epoch s)
  lets a crashed holder's gate be taken over even if the catch-all never released it.
- ``PACER / ACCOUNT``: the account-wide ingestion-job slots (Bedrock: 5 concurrent jobs per account, 1 per knowledge
  base), the start token that spaces StartIngestionJob calls (Bedrock: 0.1 requests/s per account) and the queue
  of rounds waiting for a slot (schemas/pacer-item.schema.json).

Coalescing uses sequence numbers, never clock comparisons between events: a round captures ``changeSeq`` before
its ingestion job starts and releases the gate with ``DeleteItem ... ConditionExpression changeSeq = :seen``; if
that fails, something arrived after the job started and exactly one more round runs. Clocks are only used for
leases (backstops measured in hours), where the local cloud's scaled time does not matter.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import kbsync_contracts  # the Contracts layer (schemas/): the shared core
import kbsync_keys
import kbsync_names
import kbsync_pacer
import kbsync_values
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

logger = Logger()
tracer = Tracer()
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE, as the service is POWERTOOLS_SERVICE_NAME

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
#: The nightly plan is kept in DynamoDB, this many targets per item (~60 bytes each: far below the 400 KB item limit).
PLAN_PAGE_SIZE = 100
#: Targets one lane execution of the fan-out syncs before handing its lane to a fresh execution: ~13 history events
#: per target, so a lane execution stays near 1,300 events whatever the number of targets (docs/scale.md).
LANE_TARGETS_PER_EXECUTION = int(os.environ.get("LANE_TARGETS_PER_EXECUTION", "100"))
#: The fan-out's lanes (its SyncTargets Map's MaxConcurrency): the 5 job slots + 3 waiting at the pacer.
FANOUT_LANES = 8
#: Job-history lookups the nightly plan makes at once (DynamoDB Query / ListIngestionJobs, thread-safe clients).
PLAN_LOOKUP_THREADS = 16
#: A night's plan items expire (DynamoDB TTL on expiresAt) after this long.
PLAN_TTL_SECONDS = 14 * 24 * 3600

IF_BUSY = ("queue", "skip")
TERMINAL_JOB_STATUSES = ("COMPLETE", "PARTIAL", "FAILED", "STOPPED", "TIMED_OUT")
_PLAN_ID_CHARS = frozenset(string.ascii_letters + string.digits + "-_")

PACER_KEY = kbsync_keys.PACER_KEY


class InvalidRequest(ValueError):
    """A gate request or schedule payload is malformed: the state machine ends in KbSync.InvalidRequest, no alert.

    The message is the Fail state's Cause: `<what>: <pointer>: <rule>: <sentence>[; ...]`, each problem naming the
    field as a JSON pointer into the state machine's input (kbsync_contracts.Violation), never echoing raw input
    that could not be stored or published.
    """

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{what}: " + kbsync_contracts.listing(problems))


def _problem(pointer: str, rule: str, message: str) -> str:
    return str(kbsync_contracts.Violation(pointer, rule, message))


def _text_problems(pointer: str, value: Any, limit: int, required: bool = False) -> list[str]:
    """The free-text rule of the contracts (kbsync_contracts.text_problem) for one field of a trigger payload."""
    if value is None and not required:
        return []
    if not isinstance(value, str) or (required and not value):
        return [_problem(pointer, "type", "must be a non-empty string" if required else "must be a string")]
    if len(value) > limit:
        return [_problem(pointer, "maxLength", f"{len(value)} characters, at most {limit} allowed")]
    why = kbsync_contracts.text_problem(value)
    return [_problem(pointer, "text", why)] if why else []


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


# --- the shared core's rules, under the names the handler's callers use ---------------------------------------------

now_epoch = kbsync_values.now_epoch
gate_key = kbsync_keys.gate_key
execution_name = kbsync_names.execution_name
execution_arn = kbsync_names.execution_arn
plain = kbsync_values.plain
is_condition_failure = kbsync_values.is_condition_failure
prefix_matches = kbsync_values.prefix_matches


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


def job_running(bedrock: Any, kb: str, ds: str) -> bool:
    """Whether Bedrock runs a job of this data source now (ListIngestionJobs filtered on the running statuses)."""
    page = bedrock.list_ingestion_jobs(
        knowledgeBaseId=kb,
        dataSourceId=ds,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["STARTING", "IN_PROGRESS", "STOPPING"]}],
        maxResults=1,
    )
    return bool(page.get("ingestionJobSummaries"))


queue_position = kbsync_pacer.queue_position


def _join_queue(item: dict[str, Any], waiters: dict[str, Any], holder: str, now: int) -> bool:
    """Put `holder` in the slot queue, or refresh its entry once it is half WAITER_TTL_SECONDS old (a write per ask
    would make the grants lose to contention; a rarer one would let a live round's entry expire)."""
    return kbsync_pacer.join_queue(item, waiters, holder, now, WAITER_TTL_SECONDS // 2)


def acquire_slot(
    pacer: Any, holder: str, kb: str, now: int, ds: str = "", bedrock: Any | None = None
) -> dict[str, Any]:
    """Grant `holder` a job slot and the start token together, or say how long to wait before asking again.

    Granted only when fewer than JOB_SLOTS holders run jobs, none of them on the same knowledge base (Bedrock allows
    one job per knowledge base) and nobody started a job in the last START_SPACING_SECONDS (the token). When the
    slots are full and `bedrock` is given, slots whose job Bedrock already finished count as free: the holder's
    ingestion-sync execution notices a finished job only at its next poll (minutes, for long jobs), and the next
    target should not wait for that. Optimistic concurrency on the item's version keeps the read-modify-write atomic
    (the item and its transitions: kbsync_pacer).

    Refused rounds queue (in the order they first asked). The round that has waited longest asks again after
    SLOT_POLL_SECONDS, the others after QUEUE_POLL_SECONDS, and a round refused only for the token after a quarter
    of the spacing: a freed slot is taken within seconds, while the rounds behind the first cost few state
    transitions (each ask is a Lambda call and 3 transitions). Time here only ages the queue's entries (a backstop
    for a round that died unnoticed), never the slots or the token, which the state machines' own Waits release.
    """
    item, version = kbsync_pacer.read(pacer)
    slots = kbsync_pacer.live_slots(item, now)
    waiters = kbsync_pacer.live_waiters(item, now, WAITER_TTL_SECONDS)
    if holder in slots and kbsync_pacer.holds_start_token(item, holder):
        return {"granted": True, "waitSeconds": 0, "spacingSeconds": START_SPACING_SECONDS}
    changed = False
    refusal = None
    if holder not in slots:
        refusal = kbsync_pacer.slot_refusal(slots, kb, JOB_SLOTS)
        if refusal is not None and bedrock is not None:
            freed, changed = kbsync_pacer.reclaim_finished(slots, lambda k, d: job_running(bedrock, k, d))
            refusal = kbsync_pacer.slot_refusal(slots, kb, JOB_SLOTS) if freed else refusal
    if refusal is None and kbsync_pacer.start_token_busy(item, now):
        refusal = "start spacing"
    if refusal is not None:
        changed = _join_queue(item, waiters, holder, now) or changed
        position = queue_position(waiters, holder)
        if refusal == "start spacing":
            wait = max(1, START_SPACING_SECONDS // 4)
        else:
            wait = SLOT_POLL_SECONDS if position == 0 else QUEUE_POLL_SECONDS
        if changed:  # what was seen running, and the queue: best effort (a lost write is redone by the next ask)
            kbsync_pacer.save(pacer, kbsync_pacer.with_entries(item, slots, waiters), version)
        return {"granted": False, "waitSeconds": wait, "reason": refusal, "position": position}
    granted = kbsync_pacer.granted(
        item, slots, waiters, holder, kb, ds, now + GATE_LEASE_SECONDS, now + START_TOKEN_LEASE_SECONDS
    )
    if not kbsync_pacer.save(pacer, granted, version):
        return {"granted": False, "waitSeconds": 1, "reason": "contention", "position": 0}
    return {"granted": True, "waitSeconds": 0, "spacingSeconds": START_SPACING_SECONDS}


def release_pacer(pacer: Any, holder: str, slot: bool, start_token: bool) -> dict[str, Any]:
    """Give back `holder`'s start token and/or job slot (and its place in the slot queue); idempotent (releasing what
    one does not hold is a no-op)."""
    try:
        kbsync_pacer.release(pacer, holder, slot=slot, start_token=start_token)
    except kbsync_pacer.PacerContention as error:
        raise GateContention(str(error)) from error  # the sync gate's Retry names GateContention
    return {"released": True}


# --- nightly ------------------------------------------------------------------------------------------------------


def check_schedule_payload(payload: Any) -> dict[str, Any]:
    """The schedule's input (eventbridge/nightly-schedule-input.json); raise InvalidRequest naming the bad field."""
    if not isinstance(payload, dict):
        raise InvalidRequest("invalid schedule payload", [_problem("", "type", "must be a JSON object")])
    problems = []
    if payload.get("trigger") != "schedule":
        problems.append(_problem("/trigger", "const", "must be 'schedule'"))
    problems += _text_problems("/requestedBy", payload.get("requestedBy"), 200, required=True)
    problems += _text_problems("/reason", payload.get("reason"), 500)
    if problems:
        raise InvalidRequest("invalid schedule payload", problems)
    return payload


def nightly_targets(targets_table: Any) -> list[dict[str, Any]]:
    """Every registered target with nightly on (the whole registry, page by page)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": "sk = :target AND nightly = :on",
        "ExpressionAttributeValues": {":target": kbsync_keys.TARGET_SK, ":on": True},
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
    """Seconds the data source's newest finished job took (job records: startedAt -> updatedAt), None if none.

    Through the table resource's client (a botocore client: thread-safe, unlike the resource object; it keeps the
    resource's plain-value (de)serialization): night_order asks for many targets at once.
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


def night_order(targets_table: Any, jobs_table: Any | None, bedrock: Any | None = None) -> list[dict[str, Any]]:
    """Every nightly target as {pk, kb, ds, expectedSeconds}, longest expected job first, knowledge bases spread.

    Expected = the previous job's duration from kbsync's job records, else from Bedrock's own job history (asked
    for at most BEDROCK_HISTORY_SECONDS in all, so a first night of hundreds of targets stays far inside the
    function's timeout; targets past that budget are simply unknown, i.e. first).
    """
    ask_bedrock_until = time.monotonic() + BEDROCK_HISTORY_SECONDS

    def expected_seconds(target: dict[str, Any]) -> dict[str, Any]:
        kb, ds = target["knowledgeBaseId"], target["dataSourceId"]
        expected = previous_duration(jobs_table, kb, ds) if jobs_table is not None else None
        if expected is None and bedrock is not None and time.monotonic() < ask_bedrock_until:
            expected = bedrock_previous_duration(bedrock, kb, ds)
        return {"pk": target["pk"], "kb": kb, "ds": ds, "expectedSeconds": expected}

    # One Query per target: 10,000 in a row (~5 ms each) would not fit the function's 30 s timeout; 16 at a time do.
    with ThreadPoolExecutor(max_workers=PLAN_LOOKUP_THREADS) as pool:
        targets = list(pool.map(expected_seconds, nightly_targets(targets_table)))
    return spread_knowledge_bases(longest_first(targets))


def schedule_request(kb: str, ds: str, requested_by: str, reason: Any) -> dict[str, Any]:
    """The sync request (schemas/sync-request) the night sends through a target's gate."""
    request = {
        "knowledgeBaseId": kb,
        "dataSourceId": ds,
        "trigger": "schedule",
        "requestedBy": kbsync_contracts.normalize_text(requested_by, 200),
    }
    if isinstance(reason, str):
        request["reason"] = kbsync_contracts.normalize_text(reason, 500)
    return request


def gate_item(kb: str, ds: str, requested_by: str, reason: Any) -> dict[str, Any]:
    """One target of the night: the gate execution's name and input (`ifBusy: skip`: a running sync covers it)."""
    return {
        "executionName": execution_name("schedule", kb, ds),
        "gateInput": {"request": schedule_request(kb, ds, requested_by, reason), "settleSeconds": 0, "ifBusy": "skip"},
    }


def plan_night(payload: Any, targets_table: Any, jobs_table: Any | None, bedrock: Any | None = None) -> dict[str, Any]:
    """The night's whole work list in one answer (the `planNight` action: a dry run for operators and tests).

    The fan-out itself never carries this list in its state (it grows ~300 bytes per target and Step Functions caps a
    state at 256 KB): it runs `storePlan`, which keeps the same list in DynamoDB pages (see store_plan).
    """
    checked = check_schedule_payload(payload)
    items = [
        gate_item(t["kb"], t["ds"], checked["requestedBy"], checked.get("reason"))
        for t in night_order(targets_table, jobs_table, bedrock)
    ]
    return {"count": len(items), "targets": items}


# --- the night's plan outside the state: DynamoDB pages, a shared cursor, lanes that claim one target at a time --


def check_plan_id(plan_id: Any) -> str:
    """A plan is named after the fan-out execution that made it (`$$.Execution.Name`: <= 80 of [A-Za-z0-9-_])."""
    if not isinstance(plan_id, str) or not 0 < len(plan_id) <= 80 or not all(c in _PLAN_ID_CHARS for c in plan_id):
        raise InvalidRequest(
            "invalid plan", [_problem("/planId", "pattern", "must be an execution name (1-80 of A-Z a-z 0-9 - _)")]
        )
    return plan_id


cursor_key = kbsync_keys.cursor_key
page_key = kbsync_keys.page_key


def lane_name(plan_id: str, lane: int, hop: int) -> str:
    """The execution name of a lane's `hop`-th execution: unique per night, <= 80 chars, the same on a retry."""
    base = plan_id if len(plan_id) <= 60 else f"{plan_id[:47]}-{hashlib.sha256(plan_id.encode()).hexdigest()[:12]}"
    return f"{base}-lane{lane}-{hop}"


def lane_input(plan_id: str, lane: int, hop: int) -> dict[str, Any]:
    """What a lane execution is started with (nightly-fanout.asl.json, `IsLane?`): {lane: {planId, index, hop}}."""
    return {"name": lane_name(plan_id, lane, hop), "input": {"lane": {"planId": plan_id, "index": lane, "hop": hop}}}


def store_plan(
    payload: Any,
    plan_id: Any,
    targets_table: Any,
    jobs_table: Any | None,
    bedrock: Any | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """Order the night (night_order) and keep it in DynamoDB, PLAN_PAGE_SIZE targets per item; answer only counts.

    Items (TargetsTable, expiring after PLAN_TTL_SECONDS): `PLAN#<planId> / PAGE#<n>` = {targets: [[kb, ds], ...]},
    `PLAN#<planId> / CURSOR` = {count, nextIndex, synced, notSynced, requestedBy, reason}. Writing the cursor last
    and from scratch makes a retried call start the night over cleanly (nothing has claimed from it yet: the lanes
    start after this step). The answer is the same few hundred bytes for 10 or 10,000 targets.
    """
    checked = check_schedule_payload(payload)
    plan_id = check_plan_id(plan_id)
    order = night_order(targets_table, jobs_table, bedrock)
    stamp = now if now is not None else now_epoch()
    expires = stamp + PLAN_TTL_SECONDS
    pages = [order[i : i + PLAN_PAGE_SIZE] for i in range(0, len(order), PLAN_PAGE_SIZE)]
    with targets_table.batch_writer() as batch:
        for number, page in enumerate(pages):
            targets = [[t["kb"], t["ds"]] for t in page]
            batch.put_item(Item={**page_key(plan_id, number), "targets": targets, "expiresAt": expires})
    cursor: dict[str, Any] = {
        **cursor_key(plan_id),
        "count": len(order),
        "pageSize": PLAN_PAGE_SIZE,
        "nextIndex": 0,
        "synced": 0,
        "notSynced": 0,
        "requestedBy": checked["requestedBy"],
        "createdAt": stamp,
        "expiresAt": expires,
    }
    if isinstance(checked.get("reason"), str):
        cursor["reason"] = kbsync_contracts.normalize_text(checked["reason"], 500)
    targets_table.put_item(Item=cursor)
    lanes = [lane_input(plan_id, lane, 1) for lane in range(min(FANOUT_LANES, len(order)))]
    return {"planId": plan_id, "count": len(order), "pages": len(pages), "lanes": lanes}


def _lane_step_names(lane_execution: str) -> dict[str, str]:
    return {"#step": f"step#{lane_execution}", "#idx": f"idx#{lane_execution}"}


def claim_target(
    targets_table: Any, plan_id: Any, lane_execution: str, lane: int, hop: int, step: int, last_status: str
) -> dict[str, Any]:
    """A lane's next move: the next unclaimed target of the plan (TARGET), hand the lane to a fresh execution
    (HANDOFF, after LANE_TARGETS_PER_EXECUTION targets: each lane execution's history stays bounded) or DONE.

    One conditional UpdateItem on the cursor takes index `nextIndex` and counts the previous target's outcome
    (`last_status`: its gate execution's status, NONE before the first). Lanes share the cursor, so the plan's order
    (longest first) is kept across lanes exactly as a Map over the whole list would. Idempotent per (execution,
    step): a retried call (its answer was lost) finds its step recorded and answers the same index again, so no
    target is skipped and no outcome counted twice.
    """
    plan_id = check_plan_id(plan_id)
    this_step = step + 1
    counted = {":s": 1 if last_status == "SUCCEEDED" else 0, ":f": 0 if last_status in ("NONE", "SUCCEEDED") else 1}
    names = _lane_step_names(lane_execution)
    hand_off = this_step > LANE_TARGETS_PER_EXECUTION
    if hand_off:
        update = "SET #step = :k, #idx = :none ADD synced :s, notSynced :f"
        values = {":k": this_step, ":none": -1, **counted}
    else:
        update = "SET nextIndex = nextIndex + :one, #step = :k, #idx = nextIndex ADD synced :s, notSynced :f"
        values = {":k": this_step, ":one": 1, **counted}
    try:
        cursor = targets_table.update_item(
            Key=cursor_key(plan_id),
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#step) OR #step < :k)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if not is_condition_failure(error):
            raise
        cursor = targets_table.get_item(Key=cursor_key(plan_id), ConsistentRead=True).get("Item")
        if cursor is None:
            raise InvalidRequest(
                "invalid plan",
                [_problem("/planId", "exists", f"plan {plan_id} does not exist (expired, or never stored)")],
            ) from error
        if int(cursor.get(names["#step"], 0)) != this_step:
            raise InvalidRequest(
                "invalid lane step",
                [_problem("/step", "order", f"lane {lane_execution} asked for step {this_step} out of order")],
            ) from error
    index, count = int(cursor[names["#idx"]]), int(cursor["count"])
    answer: dict[str, Any] = {"step": this_step, "next": "DONE", "target": None, "handoff": None}
    if hand_off:
        if int(cursor["nextIndex"]) < count:
            answer.update(next="HANDOFF", handoff=lane_input(plan_id, lane, hop + 1))
        return answer
    if index >= count:
        return answer
    page = targets_table.get_item(Key=page_key(plan_id, index // int(cursor["pageSize"])), ConsistentRead=True)
    kb, ds = page["Item"]["targets"][index % int(cursor["pageSize"])]
    answer.update(next="TARGET", target=gate_item(str(kb), str(ds), str(cursor["requestedBy"]), cursor.get("reason")))
    answer["target"]["index"] = index
    return answer


def summarize_night(targets_table: Any, plan_id: Any) -> dict[str, Any]:
    """The night's outcome from the cursor: how many targets, synced (gate SUCCEEDED), not synced, never reached."""
    cursor = targets_table.get_item(Key=cursor_key(check_plan_id(plan_id)), ConsistentRead=True).get("Item")
    if cursor is None:
        raise InvalidRequest(
            "invalid plan", [_problem("/planId", "exists", f"plan {plan_id} does not exist (expired, or never stored)")]
        )
    count, synced, not_synced = int(cursor["count"]), int(cursor["synced"]), int(cursor["notSynced"])
    return {
        "planId": plan_id,
        "count": count,
        "synced": synced,
        "notSynced": not_synced,
        "notReached": max(0, count - synced - not_synced),
    }


# --- gate requests (the sync-gate state machine's input) -----------------------------------------------------------


def check_gate_input(event: Any) -> dict[str, Any]:
    """Validate the sync-gate input {request, settleSeconds, ifBusy}; the request is the sync-request contract."""
    if not isinstance(event, dict):
        raise InvalidRequest("invalid gate input", [_problem("", "type", "must be a JSON object {request, ...}")])
    if not isinstance(event.get("request"), dict):
        raise InvalidRequest("invalid gate input", [_problem("/request", "type", "must be a sync request object")])
    request = event["request"]
    # The request is the sync-request contract, checked by the same code as the workflow's own validation, so the
    # gate is never taken for a request the ingestion-sync workflow would then refuse.
    problems = kbsync_contracts.problems("sync-request", request, base="/request")
    settle = event.get("settleSeconds", 0)
    if not isinstance(settle, int) or isinstance(settle, bool) or not 0 <= settle <= 3600:
        problems.append(_problem("/settleSeconds", "range", "must be an integer between 0 and 3600"))
    if event.get("ifBusy", "queue") not in IF_BUSY:
        problems.append(_problem("/ifBusy", "enum", f"must be one of {', '.join(IF_BUSY)}"))
    if problems:
        raise InvalidRequest("invalid gate input", problems)
    return {"request": request, "settleSeconds": settle, "ifBusy": event.get("ifBusy", "queue")}


# --- upload routing ------------------------------------------------------------------------------------------------


def _member(value: Any, name: str) -> Any:
    """value[name] when value is a JSON object, else None (a malformed event is refused, never a crash)."""
    return value.get(name) if isinstance(value, dict) else None


def parse_s3_event(event: Any) -> tuple[str, str, str]:
    """(detail-type, bucket, key) of an EventBridge S3 event (schemas/upload-event.schema.json); raise InvalidRequest
    naming what is wrong."""
    problems = kbsync_contracts.problems("upload-event", event)
    if problems:
        raise InvalidRequest("S3 event", problems)
    # Powertools' event source data class for S3 notifications delivered by EventBridge
    # (https://docs.aws.amazon.com/powertools/python/latest/api/utilities/data_classes/s3_event.html),
    # read once the contract holds. The key is taken as S3 sent it, not through `.object.key` (which URL-decodes
    # it): prefix_matches tries both forms, and the reason shows the key as it arrived.
    s3_event = S3EventBridgeNotificationEvent(event)
    detail_type, bucket, key = s3_event.detail_type, s3_event.detail.bucket.name, s3_event.detail.object["key"]
    # A bucket name is not free text: one that could not be stored is refused. The key is normalized where it is
    # shown (upload_reason), never refused: S3 keys may hold control characters, and such an upload must still sync.
    problems = _text_problems("/detail/bucket/name", bucket, 255, required=True)
    if problems:
        raise InvalidRequest("S3 event", problems)
    return str(detail_type), str(bucket), str(key)


def upload_reason(detail_type: str, bucket: str, key: str) -> str:
    """The sync request's `reason` for an upload: the S3 URI, normalized to the contract's free text (forbidden
    characters escaped, at most 500 characters)."""
    return kbsync_contracts.normalize_text(f"{detail_type}: s3://{bucket}/{key}", 500)


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
            "reason": upload_reason(detail_type, bucket, key),
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
    """One step of the sync-gate or fan-out state machine, chosen by event['action'] (schemas/targets-input.schema.json:
    a step that breaks it is refused naming the field, before anything is read or written)."""
    problems = kbsync_contracts.problems("targets-input", event)
    if problems:
        raise InvalidRequest("targets step", problems)
    action = event.get("action")
    if action == "planNight":
        jobs = table("JOBS_TABLE") if os.environ.get("JOBS_TABLE") else None
        return plan_night(event.get("payload"), table(), jobs, bedrock_agent())
    if action == "storePlan":
        jobs = table("JOBS_TABLE") if os.environ.get("JOBS_TABLE") else None
        return store_plan(event.get("payload"), event.get("planId"), table(), jobs, bedrock_agent(), now)
    if action == "claimTarget":
        return claim_target(
            table(),
            event.get("planId"),
            str(event.get("laneExecution", "")),
            int(event.get("lane", 0)),
            int(event.get("hop", 1)),
            int(event.get("step", 0)),
            str(event.get("lastStatus", "NONE")),
        )
    if action == "summarizeNight":
        return summarize_night(table(), event.get("planId"))
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
    raise InvalidRequest("invalid trigger step", [_problem("/action", "enum", "unknown action")])


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 events from EventBridge (the upload router) or {action: ...} steps from the trigger state machines."""
    if isinstance(event, dict) and "detail-type" in event:
        try:
            routed = route_upload(
                event, table(), stepfunctions(), os.environ["SYNC_GATE_STATE_MACHINE_ARN"], now_epoch()
            )
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
