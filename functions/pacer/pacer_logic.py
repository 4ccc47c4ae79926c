"""The account-wide start pacer's policy: job slots (Bedrock: 5 concurrent ingestion jobs per account, 1 per knowledge
base) and the start token that spaces StartIngestionJob calls (0.1 requests/s per account), for the sync gate's
AcquireSlot, ReleaseStartToken and ReleaseSlot steps (statemachines/sync-gate.asl.json).

The item and its transitions are kbsync_pacer's (the shared core: the catch-all releases what a dead holder held);
what is here is the policy: who is granted, who waits, and how long. Each step is given the step (valid against
schemas/pacer-input.schema.json), the TargetsTable, a Bedrock agent client, the settings and the time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kbsync_gate
import kbsync_handlers
import kbsync_pacer
import pacer_data
from pacer_settings import Settings

#: The contract of what the sync-gate states send this function.
CONTRACT = "pacer-input"
#: The defaults (a test or a caller without an environment).
DEFAULTS = Settings()

Step = Callable[[dict[str, Any], Any, Any, Settings, int], dict[str, Any]]


def checked(event: Any) -> dict[str, Any]:
    """The step if it keeps its contract; InvalidRequest naming every bad field before anything is read or written."""
    return kbsync_handlers.checked(CONTRACT, "pacer step", event)


def join_queue(
    item: dict[str, Any], waiters: dict[str, Any], holder: str, now: int, settings: Settings = DEFAULTS
) -> bool:
    """Put `holder` in the slot queue, or refresh its entry once it is half WAITER_TTL_SECONDS old (a write per ask
    would make the grants lose to contention; a rarer one would let a live round's entry expire)."""
    return kbsync_pacer.join_queue(item, waiters, holder, now, settings.waiter_ttl_seconds // 2)


def acquire_slot(
    pacer: Any,
    holder: str,
    kb: str,
    now: int,
    ds: str = "",
    bedrock: Any | None = None,
    settings: Settings = DEFAULTS,
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
    spacing = settings.start_spacing_seconds
    item, version = kbsync_pacer.read(pacer)
    slots = kbsync_pacer.live_slots(item, now)
    waiters = kbsync_pacer.live_waiters(item, now, settings.waiter_ttl_seconds)
    if holder in slots and kbsync_pacer.holds_start_token(item, holder):
        return {"granted": True, "waitSeconds": 0, "spacingSeconds": spacing}
    changed = False
    refusal = None
    if holder not in slots:
        refusal = kbsync_pacer.slot_refusal(slots, kb, settings.job_slots)
        if refusal is not None and bedrock is not None:
            freed, changed = kbsync_pacer.reclaim_finished(slots, lambda k, d: pacer_data.job_running(bedrock, k, d))
            refusal = kbsync_pacer.slot_refusal(slots, kb, settings.job_slots) if freed else refusal
    if refusal is None and kbsync_pacer.start_token_busy(item, now):
        refusal = "start spacing"
    if refusal is not None:
        changed = join_queue(item, waiters, holder, now, settings) or changed
        position = kbsync_pacer.queue_position(waiters, holder)
        if refusal == "start spacing":
            wait = max(1, spacing // 4)
        else:
            wait = settings.slot_poll_seconds if position == 0 else settings.queue_poll_seconds
        if changed:  # what was seen running, and the queue: best effort (a lost write is redone by the next ask)
            kbsync_pacer.save(pacer, kbsync_pacer.with_entries(item, slots, waiters), version)
        return {"granted": False, "waitSeconds": wait, "reason": refusal, "position": position}
    granted = kbsync_pacer.granted(
        item,
        slots,
        waiters,
        holder,
        kb,
        ds,
        now + settings.gate_lease_seconds,
        now + settings.start_token_lease_seconds,
    )
    if not kbsync_pacer.save(pacer, granted, version):
        return {"granted": False, "waitSeconds": 1, "reason": "contention", "position": 0}
    return {"granted": True, "waitSeconds": 0, "spacingSeconds": spacing}


def release_pacer(pacer: Any, holder: str, slot: bool, start_token: bool) -> dict[str, Any]:
    """Give back `holder`'s start token and/or job slot (and its place in the slot queue); idempotent (releasing what
    one does not hold is a no-op)."""
    try:
        kbsync_pacer.release(pacer, holder, slot=slot, start_token=start_token)
    except kbsync_pacer.PacerContention as error:
        raise kbsync_gate.GateContention(str(error)) from error  # the sync gate's Retry names GateContention
    return {"released": True}


def acquire_step(step: dict[str, Any], pacer: Any, bedrock: Any, settings: Settings, now: int) -> dict[str, Any]:
    """AcquireSlot: a slot and the start token for this round's job, or how long to wait."""
    return acquire_slot(
        pacer, step["holder"], step["knowledgeBaseId"], now, ds=step["dataSourceId"], bedrock=bedrock, settings=settings
    )


def release_start_step(step: dict[str, Any], pacer: Any, bedrock: Any, settings: Settings, now: int) -> dict[str, Any]:
    """ReleaseStartToken: the spacing has passed, the next round may start a job."""
    return release_pacer(pacer, step["holder"], slot=False, start_token=True)


def release_slot_step(step: dict[str, Any], pacer: Any, bedrock: Any, settings: Settings, now: int) -> dict[str, Any]:
    """ReleaseSlot: the round's job ended (or never started): its slot, token and place in the queue go back."""
    return release_pacer(pacer, step["holder"], slot=True, start_token=True)


#: `action` -> its logic (the contract's enum, exactly: tests/unit/test_trigger_pacer_and_plan.py).
STEPS: dict[str, Step] = {
    "acquireSlot": acquire_step,
    "releaseStart": release_start_step,
    "releaseSlot": release_slot_step,
}
