"""The account-wide pacer item (TargetsTable ``PACER / ACCOUNT``): its fields and its transitions, written once.

The contract is schemas/pacer-item.schema.json. Bedrock allows 5 concurrent ingestion jobs per account, 1 per
knowledge base, and 0.1 StartIngestionJob requests per second per account
(https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html); one item holds what enforces that:

- ``slots``: ``{holder: {knowledgeBaseId, dataSourceId, leaseUntil, started?, seenRunning?, finished?}}``, the
  executions granted a job slot (``holder`` = execution name);
- ``startHolder`` / ``startLeaseUntil``: the start token, held by the one execution allowed to call
  StartIngestionJob now (it gives it back after the spacing);
- ``waiters`` / ``queueSeq``: the rounds refused a slot, in the order they first asked (``{holder: {seq, seenAt}}``);
- ``version``: optimistic concurrency; every write is conditional on the version it read.

Who changes it: functions/pacer (the sync gate's acquireSlot / releaseStart / releaseSlot steps: the policy,
how long to wait, lives there) and functions/catch_all (releasing what a dead execution held). Both go through the
transitions below, so a field renamed here is renamed for both.

Imports the standard library and kbsync_keys / kbsync_values; the caller passes its DynamoDB Table resource.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kbsync_keys
import kbsync_values

KEY = kbsync_keys.PACER_KEY
VERSION = "version"
SLOTS = "slots"
WAITERS = "waiters"
QUEUE_SEQ = "queueSeq"
START_HOLDER = "startHolder"
START_LEASE_UNTIL = "startLeaseUntil"
#: A slot's fields besides its knowledge base and data source.
SLOT_LEASE_UNTIL = "leaseUntil"
SLOT_STARTED = "started"  # the holder gave the start token back: its StartIngestionJob has been called
SLOT_SEEN_RUNNING = "seenRunning"  # Bedrock was seen running its job
SLOT_FINISHED = "finished"  # Bedrock was then seen not running it: the slot is free for the policy
#: A waiter's fields.
WAITER_SEQ = "seq"
WAITER_SEEN_AT = "seenAt"

#: Why a slot is refused (the acquireSlot answer's `reason`).
SLOTS_FULL = "account job slots full"
KNOWLEDGE_BASE_BUSY = "knowledge base busy"
#: How many times a release re-reads and rewrites the item before giving up.
RELEASE_ATTEMPTS = 10

Item = dict[str, Any]
Entries = dict[str, dict[str, Any]]


class PacerContention(RuntimeError):
    """The pacer item changed under every attempt of a read-modify-write."""


# --------------------------------------------------------------------------- reading and writing


def read(table: Any) -> tuple[Item, int]:
    """The item as plain values ({} when it does not exist yet) and the version it was read at."""
    item: Item = kbsync_values.plain(table.get_item(Key=KEY, ConsistentRead=True).get("Item") or {})
    return item, int(item.get(VERSION, 0))


def save(table: Any, item: Item, version: int) -> bool:
    """Write `item` if nobody else did since `version` was read; False if someone did (the caller reads again)."""
    try:
        table.put_item(
            Item={**item, **KEY, VERSION: version + 1},
            ConditionExpression="attribute_not_exists(pk) OR version = :v",
            ExpressionAttributeValues={":v": version},
        )
    except Exception as error:
        if not kbsync_values.is_condition_failure(error):
            raise
        return False
    return True


# --------------------------------------------------------------------------- what the item says


def live_slots(item: Item, now: int) -> Entries:
    """The slots whose lease has not run out."""
    slots: Entries = item.get(SLOTS, {})
    return {h: dict(s) for h, s in slots.items() if int(s.get(SLOT_LEASE_UNTIL, 0)) >= now}


def live_waiters(item: Item, now: int, ttl_seconds: int) -> Entries:
    """The queued rounds seen within `ttl_seconds` (a round that died unnoticed leaves the queue)."""
    waiters: Entries = item.get(WAITERS, {})
    return {h: dict(w) for h, w in waiters.items() if int(w.get(WAITER_SEEN_AT, 0)) >= now - ttl_seconds}


def busy_slots(slots: Entries) -> Entries:
    """Slots whose job may still be running in Bedrock (not yet seen finished)."""
    return {h: s for h, s in slots.items() if not s.get(SLOT_FINISHED)}


def holds_start_token(item: Item, holder: str) -> bool:
    return bool(item.get(START_HOLDER) == holder)


def start_token_busy(item: Item, now: int) -> bool:
    """Someone holds the start token and its lease has not run out."""
    return bool(item.get(START_HOLDER)) and int(item.get(START_LEASE_UNTIL, 0)) >= now


def slot_refusal(slots: Entries, knowledge_base_id: str, job_slots: int) -> str | None:
    """Why no slot can be granted for a job of `knowledge_base_id` (None: one can)."""
    busy = busy_slots(slots)
    if len(busy) >= job_slots:
        return SLOTS_FULL
    if any(s.get("knowledgeBaseId") == knowledge_base_id for s in busy.values()):
        return KNOWLEDGE_BASE_BUSY
    return None


def queue_position(waiters: Entries, holder: str) -> int:
    """0 for the round that has waited longest for a slot, 1 for the next...: the order they first asked in."""
    order = sorted(waiters, key=lambda h: (int(waiters[h].get(WAITER_SEQ, 0)), h))
    return order.index(holder) if holder in order else len(order)


# --------------------------------------------------------------------------- transitions


def reclaim_finished(slots: Entries, job_running: Callable[[str, str], bool]) -> tuple[bool, bool]:
    """Mark slots whose job Bedrock already finished (their execution has not noticed yet); changes `slots`.

    Returns (a slot was freed, the slots changed). A slot is freed only if its job was SEEN running by an earlier
    check and is not running now: a holder whose StartIngestionJob is still on its way (startup, a throttling
    retry) never loses its slot. Only holders that gave the start token back are checked; the first freed slot
    ends the check (one is all the caller needs, and it keeps the `job_running` calls few).
    """
    changed = False
    for slot in busy_slots(slots).values():
        if not (slot.get(SLOT_STARTED) and slot.get("dataSourceId")):
            continue
        running = job_running(str(slot["knowledgeBaseId"]), str(slot["dataSourceId"]))
        if running and not slot.get(SLOT_SEEN_RUNNING):
            slot[SLOT_SEEN_RUNNING] = changed = True
        elif not running and slot.get(SLOT_SEEN_RUNNING):
            slot[SLOT_FINISHED] = True
            return True, True
    return False, changed


def join_queue(item: Item, waiters: Entries, holder: str, now: int, refresh_seconds: int) -> bool:
    """Put `holder` in the slot queue, or refresh its entry when older than `refresh_seconds`; changes `item`
    (the queue's counter) and `waiters`. Whether anything changed."""
    entry = waiters.get(holder)
    if entry is not None and now - int(entry.get(WAITER_SEEN_AT, 0)) < refresh_seconds:
        return False
    if entry is None:
        item[QUEUE_SEQ] = int(item.get(QUEUE_SEQ, 0)) + 1
        entry = {WAITER_SEQ: item[QUEUE_SEQ]}
    waiters[holder] = {**entry, WAITER_SEEN_AT: now}
    return True


def with_entries(item: Item, slots: Entries, waiters: Entries) -> Item:
    """The item with these slots and waiters (what the caller saw live, changed)."""
    return {**item, SLOTS: slots, WAITERS: waiters}


def granted(
    item: Item,
    slots: Entries,
    waiters: Entries,
    holder: str,
    knowledge_base_id: str,
    data_source_id: str,
    slot_lease_until: int,
    token_lease_until: int,
) -> Item:
    """The item once `holder` has a job slot (kept if it had one) and the start token, and left the queue."""
    slots = dict(slots)
    if holder not in slots:
        slots[holder] = {
            "knowledgeBaseId": knowledge_base_id,
            "dataSourceId": data_source_id,
            SLOT_LEASE_UNTIL: slot_lease_until,
        }
    waiters = {h: w for h, w in waiters.items() if h != holder}
    return {**with_entries(item, slots, waiters), START_HOLDER: holder, START_LEASE_UNTIL: token_lease_until}


def released(item: Item, holder: str, slot: bool, start_token: bool) -> Item | None:
    """The item once `holder` gave back its start token (`start_token`) and/or its job slot and place in the queue
    (`slot`); None when it holds none of what it gives back (nothing to write).

    Giving back the token alone keeps the slot and marks it started (its job has begun: see reclaim_finished).
    """
    slots: Entries = {h: dict(s) for h, s in item.get(SLOTS, {}).items()}
    waiters: Entries = dict(item.get(WAITERS, {}))
    drop_token = start_token and holds_start_token(item, holder)
    drop_slot = slot and holder in slots
    leave_queue = slot and holder in waiters
    if not (drop_token or drop_slot or leave_queue):
        return None
    waiters.pop(holder, None)
    if drop_slot:
        del slots[holder]
    elif holder in slots:
        slots[holder][SLOT_STARTED] = True
    new_item = with_entries(item, slots, waiters)
    if drop_token:
        new_item.pop(START_HOLDER, None)
        new_item.pop(START_LEASE_UNTIL, None)
    return new_item


def release(table: Any, holder: str, *, slot: bool, start_token: bool) -> bool:
    """Give back what `holder` holds (see `released`) with an optimistic read-modify-write; idempotent. True if
    something was given back, False if it held nothing (or there is no pacer yet). PacerContention when the item
    changed under every attempt."""
    for _ in range(RELEASE_ATTEMPTS):
        response = table.get_item(Key=KEY, ConsistentRead=True)
        if "Item" not in response:
            return False
        item: Item = kbsync_values.plain(response["Item"])
        new_item = released(item, holder, slot, start_token)
        if new_item is None:
            return False
        if save(table, new_item, int(item.get(VERSION, 0))):
            return True
    raise PacerContention(f"pacer kept changing while releasing {holder}")
