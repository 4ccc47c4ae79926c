"""The producer side of every message a function receives: while a test runs, each event the local cloud delivers
to a function (from a state, a rule or a schedule of the real template) is checked against that function's input
contract in schemas/. A state that sends a field the contract lacks, or leaves out one it requires, fails the test
that made it send it, naming the function, the contract and the field.

Installed for the whole suite by tests/conftest.py. A test that forges events on purpose (to prove a function
refuses them) marks itself ``@pytest.mark.forged_events``: its invocations are not held against the producers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import kbsync_contracts

#: functions/<dir> -> the contract of what it receives.
CONTRACTS = {
    "validate_request": "validate-request-input",
    "get_job_status": "get-job-status-input",
    "send_alert": "send-alert-input",
    "sync_gate": "sync-gate-input",
    "pacer": "pacer-input",
    "nightly_plan": "nightly-plan-input",
    "upload_router": "upload-event",
    "catch_all": "execution-status-event",
    "reconciler": "reconcile-schedule-input",
}
UPLOAD_CONTRACT = "upload-event"

_lock = threading.Lock()
_found: list[str] = []
#: While > 0 (a test marked forged_events runs), invocations are not checked.
_excused = 0


def contract_for(source_dir: Path, event: Any) -> str | None:
    """The input contract of the function whose code is in `source_dir` (None: not a kbsync function); one per
    function, whatever the event."""
    return CONTRACTS.get(source_dir.name)


def check(source_dir: Path, function_name: str, event: Any) -> None:
    contract = contract_for(source_dir, event)
    if contract is None or _excused:
        return
    problems = kbsync_contracts.problems(contract, event)
    if problems:
        with _lock:
            _found.append(
                f"{function_name} ({source_dir.name}) received an event that breaks {contract}: "
                + "; ".join(problems[:5])
            )


def install() -> None:
    """Wrap the local cloud's in-process Lambda invoke (once per process)."""
    from kbsync_localcloud.adapters import inprocess_lambda

    original = inprocess_lambda.invoke_function
    if getattr(original, "_checks_contracts", False):
        return

    def invoke(fn: Any, event: Any) -> Any:
        try:
            source = inprocess_lambda.source_dir_of(fn)
        except RuntimeError:
            source = None
        if source is not None:
            check(source, str(getattr(fn, "function_name", "?")), event)
        return original(fn, event)

    invoke._checks_contracts = True  # type: ignore[attr-defined]
    inprocess_lambda.invoke_function = invoke


def taken() -> list[str]:
    """The violations found since the last call (and forget them)."""
    with _lock:
        found = list(_found)
        _found.clear()
    return found


def excuse(on: bool) -> None:
    global _excused
    with _lock:
        _excused += 1 if on else -1
