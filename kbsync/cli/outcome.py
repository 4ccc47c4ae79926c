"""What a job's final status means for the operator: exit code, alert type, severity and runbook (names fixed
across the team; the alert formatter and the runbooks use the same table)."""

from __future__ import annotations

from kbsync.cli.errors import ExitCode

RUNNING_STATUSES = ("STARTING", "IN_PROGRESS", "STOPPING")
FINAL_STATUSES = ("COMPLETE", "PARTIAL", "FAILED", "STOPPED", "TIMED_OUT", "START_FAILED", "POLL_FAILED", "COALESCED")
ALL_STATUSES = RUNNING_STATUSES + FINAL_STATUSES

EXIT_BY_STATUS: dict[str, ExitCode] = {
    "COMPLETE": ExitCode.OK,
    "PARTIAL": ExitCode.PARTIAL,
    "FAILED": ExitCode.FAILED,
    "START_FAILED": ExitCode.FAILED,
    "TIMED_OUT": ExitCode.FAILED,
    "POLL_FAILED": ExitCode.FAILED,
    "STOPPED": ExitCode.STOPPED,
}

#: Alert type -> (severity, runbook file). Dead-letter-queue alarms are not job alerts and live in the index only.
ALERTS: dict[str, tuple[str, str]] = {
    "FAILED": ("CRITICAL", "sync-failed.md"),
    "START_FAILED": ("CRITICAL", "sync-failed.md"),
    "PARTIAL": ("WARNING", "sync-partial.md"),
    "TIMED_OUT": ("CRITICAL", "sync-timed-out.md"),
    "POLL_FAILED": ("CRITICAL", "execution-died.md"),
    "STOPPED": ("WARNING", "sync-stopped.md"),
    "EXECUTION_DIED": ("CRITICAL", "execution-died.md"),
    "RECORD_RECONCILED": ("WARNING", "record-reconciled.md"),
}
DEAD_LETTER_RUNBOOK = "dead-letter-queue.md"
OTHER_RUNBOOKS = ("rerun-a-sync.md", "pause-nightly-syncs.md")

#: The workflow's own terminal errors ("already alerted") -> the status they stand for.
STATUS_BY_ERROR: dict[str, str] = {
    "KbSync.JobFailed": "FAILED",
    "KbSync.JobTimedOut": "TIMED_OUT",
    "KbSync.JobStopped": "STOPPED",
    "KbSync.JobPartial": "PARTIAL",
    "KbSync.StartFailed": "START_FAILED",
    "KbSync.PollFailed": "POLL_FAILED",
}


def alert_type_for(status: str) -> str | None:
    """The alert a final job status sends (None for COMPLETE and running statuses)."""
    return status if status in ALERTS and status not in ("EXECUTION_DIED", "RECORD_RECONCILED") else None


def runbook_url(base_url: str, alert_type: str) -> str:
    return f"{base_url.rstrip('/')}/{ALERTS[alert_type][1]}"


def exit_for(execution_status: str, error: str | None, record_status: str | None) -> ExitCode:
    """The exit code of an ended sync: the final job record decides; the execution's error when it wrote none."""
    if record_status in EXIT_BY_STATUS and (execution_status == "SUCCEEDED" or _is_own_error(error)):
        return EXIT_BY_STATUS[record_status]
    if execution_status == "SUCCEEDED":
        return EXIT_BY_STATUS.get(record_status or "COMPLETE", ExitCode.OK)
    if error == "KbSync.InvalidRequest":
        return ExitCode.USAGE
    if error in STATUS_BY_ERROR:
        return EXIT_BY_STATUS[STATUS_BY_ERROR[error]]
    return ExitCode.FAILED


def _is_own_error(error: str | None) -> bool:
    return bool(error and error.startswith("KbSync."))


def describe_end(execution_status: str, error: str | None, record_status: str | None) -> str:
    """A short word for how the sync ended, for the final line."""
    if execution_status != "SUCCEEDED" and not _is_own_error(error):
        return f"EXECUTION_DIED ({execution_status}{': ' + error if error else ''})"
    if record_status:
        return record_status
    if error in STATUS_BY_ERROR:
        return STATUS_BY_ERROR[error]
    return error or execution_status
