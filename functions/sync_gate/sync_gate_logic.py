"""The sync gate's steps (statemachines/sync-gate.asl.json: EnterGate, BeginRound, ReleaseGate), one logic function per
`action`, each given the step (valid against schemas/sync-gate-input.schema.json), the TargetsTable, the settings and
the time. The gate item and its transitions are kbsync_gate's (the shared core: the upload router enters the same
gate); what is here is what each step of the state machine asks of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kbsync_gate
import kbsync_handlers
import kbsync_metrics
import kbsync_names
from sync_gate_settings import Settings

#: The contract of what the sync-gate states send this function.
CONTRACT = "sync-gate-input"

Step = Callable[[dict[str, Any], Any, Settings, int], dict[str, Any]]


def checked(event: Any) -> dict[str, Any]:
    """The step if it keeps its contract; InvalidRequest naming every bad field before anything is read or written."""
    return kbsync_handlers.checked(CONTRACT, "sync gate step", event)


def enter(step: dict[str, Any], gates: Any, settings: Settings, now: int) -> dict[str, Any]:
    """EnterGate: take the data source's gate for this execution, or count on / report the execution holding it.
    The gate's input (the execution's own input) is checked first: never a gate for a request the ingestion-sync
    workflow would refuse."""
    gate_input = kbsync_gate.check_input(step["input"])
    request = gate_input["request"]
    entry = kbsync_gate.enter(
        gates,
        request["knowledgeBaseId"],
        request["dataSourceId"],
        step["holder"],
        step["holderArn"],
        request["trigger"],
        gate_input["ifBusy"],
        now,
        settings.gate_lease_seconds,
    )
    return entry.as_dict()


def begin_round(step: dict[str, Any], gates: Any, settings: Settings, now: int) -> dict[str, Any]:
    """BeginRound: capture changeSeq before the round's job starts, renew the lease, name the round's ingestion-sync
    execution (`childName`); the GateWaitSeconds metric: how long since the gate was taken."""
    kb, ds = step["knowledgeBaseId"], step["dataSourceId"]
    result = kbsync_gate.begin_round(gates, kb, ds, step["holder"], now, settings.gate_lease_seconds)
    kbsync_metrics.emit(kbsync_metrics.GATE_WAIT, max(0, now - result.pop("acquiredAt")))
    result["childName"] = kbsync_names.execution_name(step["trigger"], kb, ds)
    return result


def release_gate(step: dict[str, Any], gates: Any, settings: Settings, now: int) -> dict[str, Any]:
    """ReleaseGate: delete the gate if nothing arrived since the round began (`seen`), else report dirty."""
    return kbsync_gate.release(gates, step["knowledgeBaseId"], step["dataSourceId"], step["holder"], step["seen"])


#: `action` -> its logic (the contract's enum, exactly: tests/unit/test_trigger_gate.py).
STEPS: dict[str, Step] = {"enter": enter, "beginRound": begin_round, "releaseGate": release_gate}
