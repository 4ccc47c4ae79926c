"""The producer side of every message a function receives: while a test runs, each event the local cloud delivers
to a function (from a state, a rule or a schedule of the real template) is checked against that function's input
contract in schemas/. A state that sends a field the contract lacks, or leaves out one it requires, fails the test
that made it send it, naming the function, the contract and the field.

The same for what the functions publish: every alert's chat notification (the "https" entry of its SNS
MessageStructure=json message, kbsync_alerts.publish) is checked against schemas/chat-notification.schema.json as
the local cloud's SNS takes it.

Installed for the whole suite by tests/conftest.py. A test that forges events on purpose (to prove a function
refuses them) marks itself ``@pytest.mark.forged_events``: its invocations are not held against the producers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
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
    "freshness": "freshness-schedule-input",
    "alarm_relay": "alarm-state-change-event",
    "job_watch": "job-watch-input",
    "job_events": "log-subscription-event",
}

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


#: The entry of a MessageStructure=json message that Amazon Q Developer in chat applications receives, and its contract.
CHAT_ENTRY = "https"
CHAT_CONTRACT = "chat-notification"


def check_chat_entry(entries: Mapping[str, str]) -> None:
    """Hold the chat notification of a MessageStructure=json message (its string entries) to its contract."""
    entry = entries.get(CHAT_ENTRY)
    if entry is None or _excused:
        return
    try:
        problems = kbsync_contracts.problems(CHAT_CONTRACT, json.loads(entry))
    except ValueError:
        problems = [f"the {CHAT_ENTRY!r} entry is not JSON"]
    if problems:
        found = f"a message published to SNS carries a chat notification that breaks {CHAT_CONTRACT}: " + "; ".join(
            problems[:5]
        )
        with _lock:
            if found not in _found:  # once, not once per subscription it is delivered to
                _found.append(found)


def install_chat_check() -> None:
    """Wrap the local cloud's reading of MessageStructure=json messages (adapters/sns_message_structure.py, at Publish
    and at each delivery) with check_chat_entry (once per process)."""
    from kbsync_localcloud.adapters import sns_message_structure

    original = sns_message_structure.entries
    if getattr(original, "_checks_contracts", False):
        return

    def entries(message: str) -> dict[str, str]:
        found = original(message)
        check_chat_entry(found)
        return found

    entries._checks_contracts = True  # type: ignore[attr-defined]
    sns_message_structure.entries = entries


def install() -> None:
    """Wrap the local cloud's in-process Lambda invoke and its SNS structured messages (once per process)."""
    from kbsync_localcloud.adapters import inprocess_lambda

    install_chat_check()
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
