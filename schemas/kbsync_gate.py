"""The per-data-source sync gate (TargetsTable ``DS#<kb>#<ds> / GATE``): its input, its item and its transitions,
written once.

Who uses it: functions/sync_gate (the sync-gate state machine's enter / beginRound / releaseGate steps) and
functions/upload_router (an upload counts on the data source's gate, or takes it and starts a gated sync); the nightly
plan (functions/nightly_plan) builds gate inputs with ``gate_input``. One implementation of "who may start a job for
this data source now".

The item exists while a gated sync of that data source waits or runs: ``holder`` is the sync-gate execution name,
``holderArn`` its ARN, ``changeSeq`` counts requests (uploads) since it was created, ``rounds`` the holder's rounds,
``leaseUntil`` (epoch s) lets a crashed holder's gate be taken over even if the catch-all never released it; also
``acquiredAt``, ``trigger``, ``knowledgeBaseId``, ``dataSourceId``.

Coalescing uses sequence numbers, never clock comparisons between events: a round captures ``changeSeq`` before its
ingestion job starts and releases the gate with ``DeleteItem ... ConditionExpression changeSeq = :seen``; if that
fails, something arrived after the job started and exactly one more round runs. Clocks are only used for leases
(backstops measured in hours), where the local cloud's scaled time does not matter.

The errors here are the trigger steps' own (their class names are what the state machines' Retry and Catch match):
``InvalidRequest`` (a malformed request, step or event: the state machine ends in ``KbSync.InvalidRequest``, the
upload router logs a rejection), ``GateLost`` and ``GateContention``.

Imports the standard library and kbsync_contracts / kbsync_keys / kbsync_values; the caller passes its DynamoDB Table
resource and the lease length (each function reads its settings once, at cold start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kbsync_contracts
import kbsync_handlers
import kbsync_keys
import kbsync_values

#: What a gated sync does when the gate is held by another execution: count on it (uploads) or skip (the night).
IF_BUSY = ("queue", "skip")
#: The outcomes of entering the gate (the enter step's `outcome`).
ACQUIRED = "ACQUIRED"
QUEUED = "QUEUED"
NOT_STARTED = "NOT_STARTED"
#: How many times entering re-reads a gate that changed between its conditional writes.
ENTER_ATTEMPTS = 5


#: A gate request, step or event that is malformed: the state machine ends in KbSync.InvalidRequest, no alert (the one
#: definition is kbsync_handlers', shared by every function that checks a step).
InvalidRequest = kbsync_handlers.InvalidRequest


class GateLost(RuntimeError):
    """This execution no longer holds its data source's gate (its lease expired and someone took over)."""


class GateContention(RuntimeError):
    """The gate or pacer item changed under us on every attempt; raised so the caller retries later."""


def problem(pointer: str, rule: str, message: str) -> str:
    """One problem of a refusal, as every contract names it: `<pointer>: <rule>: <sentence>`."""
    return str(kbsync_contracts.Violation(pointer, rule, message))


def text_problems(pointer: str, value: Any, limit: int, required: bool = False) -> list[str]:
    """The free-text rule of the contracts (kbsync_contracts.text_problem) for one field of a trigger payload."""
    if value is None and not required:
        return []
    if not isinstance(value, str) or (required and not value):
        return [problem(pointer, "type", "must be a non-empty string" if required else "must be a string")]
    if len(value) > limit:
        return [problem(pointer, "maxLength", f"{len(value)} characters, at most {limit} allowed")]
    why = kbsync_contracts.text_problem(value)
    return [problem(pointer, "text", why)] if why else []


# --------------------------------------------------------------------------- the gate's input


def gate_input(request: dict[str, Any], settle_seconds: int, if_busy: str) -> dict[str, Any]:
    """The sync-gate execution's input: {request (the sync-request contract), settleSeconds, ifBusy}."""
    return {"request": request, "settleSeconds": settle_seconds, "ifBusy": if_busy}


def check_input(event: Any) -> dict[str, Any]:
    """Validate the sync-gate input {request, settleSeconds, ifBusy}; the request is the sync-request contract."""
    if not isinstance(event, dict):
        raise InvalidRequest("invalid gate input", [problem("", "type", "must be a JSON object {request, ...}")])
    if not isinstance(event.get("request"), dict):
        raise InvalidRequest("invalid gate input", [problem("/request", "type", "must be a sync request object")])
    request = event["request"]
    # The request is the sync-request contract, checked by the same code as the workflow's own validation, so the
    # gate is never taken for a request the ingestion-sync workflow would then refuse.
    problems = kbsync_contracts.problems("sync-request", request, base="/request")
    settle = event.get("settleSeconds", 0)
    if not isinstance(settle, int) or isinstance(settle, bool) or not 0 <= settle <= 3600:
        problems.append(problem("/settleSeconds", "range", "must be an integer between 0 and 3600"))
    if event.get("ifBusy", "queue") not in IF_BUSY:
        problems.append(problem("/ifBusy", "enum", f"must be one of {', '.join(IF_BUSY)}"))
    if problems:
        raise InvalidRequest("invalid gate input", problems)
    return gate_input(request, settle, event.get("ifBusy", "queue"))


# --------------------------------------------------------------------------- the gate item


@dataclass(frozen=True)
class Entry:
    """The outcome of asking for a data source's gate."""

    outcome: str  # ACQUIRED | QUEUED | NOT_STARTED
    holder: str  # who holds the gate now
    change_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "heldBy": self.holder, "changeSeq": self.change_seq}


def _count_on_live_gate(gates: Any, kb: str, ds: str, holder: str, now: int) -> Entry | None:
    """One more change on a live gate held by someone else; None if there is no such gate."""
    try:
        counted = gates.update_item(
            Key=kbsync_keys.gate_key(kb, ds),
            UpdateExpression="ADD changeSeq :one",
            ConditionExpression="attribute_exists(pk) AND leaseUntil >= :now AND holder <> :h",
            ExpressionAttributeValues={":one": 1, ":now": now, ":h": holder},
            ReturnValues="ALL_NEW",
        )
    except Exception as error:
        if kbsync_values.is_condition_failure(error):
            return None
        raise
    return Entry(QUEUED, str(counted["Attributes"]["holder"]), int(counted["Attributes"]["changeSeq"]))


def _create_gate(
    gates: Any, kb: str, ds: str, holder: str, holder_arn: str, trigger: str, now: int, lease_seconds: int
) -> Entry | None:
    """Take the gate if it is free, already ours, or its lease expired; None if someone else holds it."""
    try:
        created = gates.update_item(
            Key=kbsync_keys.gate_key(kb, ds),
            UpdateExpression=(
                "SET holder = :h, holderArn = :a, leaseUntil = :l, acquiredAt = :now, #trigger = :t,"
                " knowledgeBaseId = :kb, dataSourceId = :ds ADD changeSeq :one"
            ),
            ConditionExpression="attribute_not_exists(pk) OR holder = :h OR leaseUntil < :now",
            ExpressionAttributeNames={"#trigger": "trigger"},
            ExpressionAttributeValues={
                ":h": holder,
                ":a": holder_arn,
                ":l": now + lease_seconds,
                ":now": now,
                ":t": trigger,
                ":kb": kb,
                ":ds": ds,
                ":one": 1,
            },
            ReturnValues="ALL_NEW",
        )
    except Exception as error:
        if kbsync_values.is_condition_failure(error):
            return None
        raise
    return Entry(ACQUIRED, holder, int(created["Attributes"]["changeSeq"]))


def enter(
    gates: Any,
    kb: str,
    ds: str,
    holder: str,
    holder_arn: str,
    trigger: str,
    if_busy: str,
    now: int,
    lease_seconds: int,
) -> Entry:
    """Take the data source's gate for `holder`, or (if busy) count one more change on it / report who holds it.

    Each step is one atomic conditional UpdateItem. When queueing, the count is tried first: in a burst nearly
    every request finds the gate held, so that is one write per upload instead of two. If the gate disappears
    between the steps (released, expired), try again.
    """
    for _ in range(ENTER_ATTEMPTS):
        if if_busy == "queue":
            counted = _count_on_live_gate(gates, kb, ds, holder, now)
            if counted is not None:
                return counted
        created = _create_gate(gates, kb, ds, holder, holder_arn, trigger, now, lease_seconds)
        if created is not None:
            return created
        if if_busy == "skip":
            current = gates.get_item(Key=kbsync_keys.gate_key(kb, ds), ConsistentRead=True).get("Item")
            if current is not None:
                return Entry(NOT_STARTED, str(current["holder"]), int(current.get("changeSeq", 0)))
    raise GateContention(f"gate of {kb}/{ds} kept changing; try again")


def begin_round(gates: Any, kb: str, ds: str, holder: str, now: int, lease_seconds: int) -> dict[str, Any]:
    """Capture changeSeq before this round's job starts and renew the lease: {seen, round, acquiredAt} (acquiredAt:
    when the gate was taken, for the gate-wait metric)."""
    try:
        updated = gates.update_item(
            Key=kbsync_keys.gate_key(kb, ds),
            UpdateExpression="SET leaseUntil = :l ADD rounds :one",
            ConditionExpression="holder = :h",
            ExpressionAttributeValues={":l": now + lease_seconds, ":h": holder, ":one": 1},
            ReturnValues="ALL_NEW",
        )
    except Exception as error:
        if kbsync_values.is_condition_failure(error):
            raise GateLost(f"{holder} no longer holds the gate of {kb}/{ds}") from error
        raise
    item = updated["Attributes"]
    acquired_at = int(item.get("acquiredAt", now))
    return {"seen": int(item["changeSeq"]), "round": int(item["rounds"]), "acquiredAt": acquired_at}


def release(gates: Any, kb: str, ds: str, holder: str, seen: int) -> dict[str, Any]:
    """Delete the gate if nothing arrived since `seen`; otherwise report dirty so the holder runs one more round."""
    try:
        gates.delete_item(
            Key=kbsync_keys.gate_key(kb, ds),
            ConditionExpression="holder = :h AND changeSeq = :seen",
            ExpressionAttributeValues={":h": holder, ":seen": seen},
        )
        return {"released": True, "dirty": False}
    except Exception as error:
        if not kbsync_values.is_condition_failure(error):
            raise
    current = gates.get_item(Key=kbsync_keys.gate_key(kb, ds), ConsistentRead=True).get("Item")
    if current is None or current.get("holder") != holder:
        # Someone took over an expired lease (or the catch-all released it): their rounds cover what is left.
        return {"released": True, "dirty": False, "lost": True}
    return {"released": False, "dirty": True, "changeSeq": int(current["changeSeq"])}


def release_holder(gates: Any, kb: str, ds: str, holder: str) -> bool:
    """Delete the gate only if `holder` still holds it; True if it did (the sync gate's release, the catch-all's)."""
    try:
        gates.delete_item(
            Key=kbsync_keys.gate_key(kb, ds),
            ConditionExpression="holder = :h",
            ExpressionAttributeValues={":h": holder},
        )
        return True
    except Exception as error:
        if not kbsync_values.is_condition_failure(error):
            raise
        return False
