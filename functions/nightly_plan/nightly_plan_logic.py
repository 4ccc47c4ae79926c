"""The night's plan, for the nightly fan-out (statemachines/nightly-fanout.asl.json): which targets, in what order, and
the lanes that claim them one at a time (PlanNight = storePlan, ClaimTarget, Summarize = summarizeNight; planNight is an
operator's dry run). Each step is given the step (valid against schemas/nightly-plan-input.schema.json), the tables, a
Bedrock agent client, the settings and the time; reads and writes are nightly_plan_data's.

The plan never enters the fan-out's state (it grows ~300 bytes per target and Step Functions caps a state at 256 KB):
it is kept in DynamoDB pages with a cursor the lanes share, so the fan-out's states and histories stay the same size
for 10 or 10,000 targets (docs/scale.md).
"""

from __future__ import annotations

import hashlib
import string
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kbsync_contracts
import kbsync_gate
import kbsync_handlers
import kbsync_names
import kbsync_values
import nightly_plan_data
from nightly_plan_settings import Settings

#: The contract of what the fan-out's states send this function.
CONTRACT = "nightly-plan-input"
#: The defaults (a test or a caller without an environment).
DEFAULTS = Settings()
#: The nightly plan is kept in DynamoDB, this many targets per item (~60 bytes each: far below the 400 KB item limit).
PLAN_PAGE_SIZE = 100
#: The fan-out's lanes (its SyncTargets Map's MaxConcurrency): the 5 job slots + 3 waiting at the pacer.
FANOUT_LANES = 8
#: Job-history lookups the nightly plan makes at once (DynamoDB Query / ListIngestionJobs, thread-safe clients).
PLAN_LOOKUP_THREADS = 16
#: A night's plan items expire (DynamoDB TTL on expiresAt) after this long.
PLAN_TTL_SECONDS = 14 * 24 * 3600
_PLAN_ID_CHARS = frozenset(string.ascii_letters + string.digits + "-_")

InvalidRequest = kbsync_gate.InvalidRequest
Step = Callable[[dict[str, Any], Any, Any | None, Any, Settings, int], dict[str, Any]]


def checked(event: Any) -> dict[str, Any]:
    """The step if it keeps its contract; InvalidRequest naming every bad field before anything is read or written."""
    return kbsync_handlers.checked(CONTRACT, "nightly plan step", event)


def check_schedule_payload(payload: Any) -> dict[str, Any]:
    """The schedule's input (eventbridge/nightly-schedule-input.json); raise InvalidRequest naming the bad field."""
    if not isinstance(payload, dict):
        raise InvalidRequest("invalid schedule payload", [kbsync_gate.problem("", "type", "must be a JSON object")])
    problems = []
    if payload.get("trigger") != "schedule":
        problems.append(kbsync_gate.problem("/trigger", "const", "must be 'schedule'"))
    problems += kbsync_gate.text_problems("/requestedBy", payload.get("requestedBy"), 200, required=True)
    problems += kbsync_gate.text_problems("/reason", payload.get("reason"), 500)
    if problems:
        raise InvalidRequest("invalid schedule payload", problems)
    return payload


# --------------------------------------------------------------------------- the night's order


def longest_first(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Longest expected job first (LPT): with 5 parallel lanes this keeps the night close to its lower bound.

    Targets never synced before come first: their first job is a full scan, usually the longest of all.
    """
    return sorted(
        targets,
        key=lambda t: (t["expectedSeconds"] is not None, -(t["expectedSeconds"] or 0.0), t["pk"]),
    )


def spread_knowledge_bases(targets: list[dict[str, Any]], lanes: int = DEFAULTS.job_slots) -> list[dict[str, Any]]:
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


def night_order(
    targets_table: Any, jobs_table: Any | None, bedrock: Any | None = None, settings: Settings = DEFAULTS
) -> list[dict[str, Any]]:
    """Every nightly target as {pk, kb, ds, expectedSeconds}, longest expected job first, knowledge bases spread.

    Expected = the previous job's duration from kbsync's job records, else from Bedrock's own job history (asked
    for at most BEDROCK_HISTORY_SECONDS in all, so a first night of hundreds of targets stays far inside the
    function's timeout; targets past that budget are simply unknown, i.e. first).
    """
    ask_bedrock_until = time.monotonic() + settings.bedrock_history_seconds

    def expected_seconds(target: dict[str, Any]) -> dict[str, Any]:
        kb, ds = target["knowledgeBaseId"], target["dataSourceId"]
        expected = nightly_plan_data.previous_duration(jobs_table, kb, ds) if jobs_table is not None else None
        if expected is None and bedrock is not None and time.monotonic() < ask_bedrock_until:
            expected = nightly_plan_data.bedrock_previous_duration(bedrock, kb, ds)
        return {"pk": target["pk"], "kb": kb, "ds": ds, "expectedSeconds": expected}

    # One Query per target: 10,000 in a row (~5 ms each) would not fit the function's 30 s timeout; 16 at a time do.
    with ThreadPoolExecutor(max_workers=PLAN_LOOKUP_THREADS) as pool:
        targets = list(pool.map(expected_seconds, nightly_plan_data.nightly_targets(targets_table)))
    return spread_knowledge_bases(longest_first(targets), settings.job_slots)


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
        "executionName": kbsync_names.execution_name("schedule", kb, ds),
        "gateInput": kbsync_gate.gate_input(schedule_request(kb, ds, requested_by, reason), 0, "skip"),
    }


def plan_night(
    payload: Any,
    targets_table: Any,
    jobs_table: Any | None,
    bedrock: Any | None = None,
    settings: Settings = DEFAULTS,
) -> dict[str, Any]:
    """The night's whole work list in one answer (the `planNight` action: a dry run for operators and tests).

    The fan-out itself never carries this list in its state: it runs `storePlan`, which keeps the same list in
    DynamoDB pages (see store_plan).
    """
    checked_payload = check_schedule_payload(payload)
    items = [
        gate_item(t["kb"], t["ds"], checked_payload["requestedBy"], checked_payload.get("reason"))
        for t in night_order(targets_table, jobs_table, bedrock, settings)
    ]
    return {"count": len(items), "targets": items}


# --------------------------------------------------------------------------- the plan kept outside the state


def check_plan_id(plan_id: Any) -> str:
    """A plan is named after the fan-out execution that made it (`$$.Execution.Name`: <= 80 of [A-Za-z0-9-_])."""
    if not isinstance(plan_id, str) or not 0 < len(plan_id) <= 80 or not all(c in _PLAN_ID_CHARS for c in plan_id):
        raise InvalidRequest(
            "invalid plan",
            [kbsync_gate.problem("/planId", "pattern", "must be an execution name (1-80 of A-Z a-z 0-9 - _)")],
        )
    return plan_id


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
    settings: Settings = DEFAULTS,
) -> dict[str, Any]:
    """Order the night (night_order) and keep it in DynamoDB, PLAN_PAGE_SIZE targets per item; answer only counts.

    Items (TargetsTable, expiring after PLAN_TTL_SECONDS): `PLAN#<planId> / PAGE#<n>` = {targets: [[kb, ds], ...]},
    `PLAN#<planId> / CURSOR` = {count, nextIndex, synced, notSynced, requestedBy, reason}. Writing the cursor last
    and from scratch makes a retried call start the night over cleanly (nothing has claimed from it yet: the lanes
    start after this step). The answer is the same few hundred bytes for 10 or 10,000 targets.
    """
    checked_payload = check_schedule_payload(payload)
    plan_id = check_plan_id(plan_id)
    order = night_order(targets_table, jobs_table, bedrock, settings)
    stamp = now if now is not None else kbsync_values.now_epoch()
    pages = [[[t["kb"], t["ds"]] for t in order[i : i + PLAN_PAGE_SIZE]] for i in range(0, len(order), PLAN_PAGE_SIZE)]
    cursor: dict[str, Any] = {
        "count": len(order),
        "pageSize": PLAN_PAGE_SIZE,
        "nextIndex": 0,
        "synced": 0,
        "notSynced": 0,
        "requestedBy": checked_payload["requestedBy"],
        "createdAt": stamp,
        "expiresAt": stamp + PLAN_TTL_SECONDS,
    }
    if isinstance(checked_payload.get("reason"), str):
        cursor["reason"] = kbsync_contracts.normalize_text(checked_payload["reason"], 500)
    nightly_plan_data.write_plan(targets_table, plan_id, pages, cursor)
    lanes = [lane_input(plan_id, lane, 1) for lane in range(min(FANOUT_LANES, len(order)))]
    return {"planId": plan_id, "count": len(order), "pages": len(pages), "lanes": lanes}


def _missing_plan(plan_id: str) -> kbsync_gate.InvalidRequest:
    return InvalidRequest(
        "invalid plan",
        [kbsync_gate.problem("/planId", "exists", f"plan {plan_id} does not exist (expired, or never stored)")],
    )


def claim_target(
    targets_table: Any,
    plan_id: Any,
    lane_execution: str,
    lane: int,
    hop: int,
    step: int,
    last_status: str,
    settings: Settings = DEFAULTS,
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
    names = {"#step": f"step#{lane_execution}", "#idx": f"idx#{lane_execution}"}
    hand_off = this_step > settings.lane_targets_per_execution
    if hand_off:
        update = "SET #step = :k, #idx = :none ADD synced :s, notSynced :f"
        values = {":k": this_step, ":none": -1, **counted}
    else:
        update = "SET nextIndex = nextIndex + :one, #step = :k, #idx = nextIndex ADD synced :s, notSynced :f"
        values = {":k": this_step, ":one": 1, **counted}
    cursor = nightly_plan_data.claim_on_cursor(targets_table, plan_id, update, names, values)
    if cursor is None:  # this step was taken before (a retry whose answer was lost), or there is no such plan
        cursor = nightly_plan_data.read_cursor(targets_table, plan_id)
        if cursor is None:
            raise _missing_plan(plan_id)
        if int(cursor.get(names["#step"], 0)) != this_step:
            raise InvalidRequest(
                "invalid lane step",
                [
                    kbsync_gate.problem(
                        "/step", "order", f"lane {lane_execution} asked for step {this_step} out of order"
                    )
                ],
            )
    index, count = int(cursor[names["#idx"]]), int(cursor["count"])
    answer: dict[str, Any] = {"step": this_step, "next": "DONE", "target": None, "handoff": None}
    if hand_off:
        if int(cursor["nextIndex"]) < count:
            answer.update(next="HANDOFF", handoff=lane_input(plan_id, lane, hop + 1))
        return answer
    if index >= count:
        return answer
    kb, ds = nightly_plan_data.read_page_target(targets_table, plan_id, index, int(cursor["pageSize"]))
    answer.update(next="TARGET", target=gate_item(kb, ds, str(cursor["requestedBy"]), cursor.get("reason")))
    answer["target"]["index"] = index
    return answer


def summarize_night(targets_table: Any, plan_id: Any) -> dict[str, Any]:
    """The night's outcome from the cursor: how many targets, synced (gate SUCCEEDED), not synced, never reached."""
    cursor = nightly_plan_data.read_cursor(targets_table, check_plan_id(plan_id))
    if cursor is None:
        raise _missing_plan(plan_id)
    count, synced, not_synced = int(cursor["count"]), int(cursor["synced"]), int(cursor["notSynced"])
    return {
        "planId": plan_id,
        "count": count,
        "synced": synced,
        "notSynced": not_synced,
        "notReached": max(0, count - synced - not_synced),
    }


# --------------------------------------------------------------------------- the steps


def store_step(
    step: dict[str, Any], targets: Any, jobs: Any | None, bedrock: Any, settings: Settings, now: int
) -> dict[str, Any]:
    """PlanNight: order the night and store it; answer counts and the lanes' start inputs."""
    return store_plan(step["payload"], step["planId"], targets, jobs, bedrock, now, settings)


def plan_step(
    step: dict[str, Any], targets: Any, jobs: Any | None, bedrock: Any, settings: Settings, now: int
) -> dict[str, Any]:
    """planNight (an operator's dry run): the night's whole work list, nothing stored or started."""
    return plan_night(step["payload"], targets, jobs, bedrock, settings)


def claim_step(
    step: dict[str, Any], targets: Any, jobs: Any | None, bedrock: Any, settings: Settings, now: int
) -> dict[str, Any]:
    """ClaimTarget: the lane's next target, a hand-off, or done."""
    return claim_target(
        targets,
        step["planId"],
        step["laneExecution"],
        step["lane"],
        step["hop"],
        step["step"],
        step["lastStatus"],
        settings,
    )


def summarize_step(
    step: dict[str, Any], targets: Any, jobs: Any | None, bedrock: Any, settings: Settings, now: int
) -> dict[str, Any]:
    """Summarize: the night's outcome from the plan's cursor."""
    return summarize_night(targets, step["planId"])


#: `action` -> its logic (the contract's enum, exactly: tests/unit/test_fanout_plan_paging.py).
STEPS: dict[str, Step] = {
    "storePlan": store_step,
    "planNight": plan_step,
    "claimTarget": claim_step,
    "summarizeNight": summarize_step,
}
