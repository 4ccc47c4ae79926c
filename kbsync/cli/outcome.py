"""What a job's final status means for the operator: exit code and alert type (whose severity and runbook come from
the alert catalogue, schemas/alert-catalogue.json, as the alert senders' do)."""

from __future__ import annotations

import kbsync_alerts
import kbsync_jobs
from kbsync_alerts import runbook_url as runbook_url  # the alert's runbook link, for the views

from kbsync.cli.errors import ExitCode

#: A job Bedrock still runs (the records' open statuses, kbsync_jobs).
RUNNING_STATUSES = kbsync_jobs.OPEN_STATUSES
#: Final statuses of a job record (schemas/job-record.schema.json): the workflow's, and EXECUTION_* written by the
#: catch-all or the reconciler for an execution that ended without recording its job's outcome.
FINAL_STATUSES = (
    "COMPLETE",
    "PARTIAL",
    "FAILED",
    "STOPPED",
    "TIMED_OUT",
    "START_FAILED",
    "POLL_FAILED",
    "COALESCED",
    "EXECUTION_ABORTED",
    "EXECUTION_TIMED_OUT",
    "EXECUTION_FAILED",
)
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

#: Runbooks that no alert kind names (the catalogue names every other one).
OTHER_RUNBOOKS = ("rerun-a-sync.md", "pause-nightly-syncs.md")

#: The workflow's own terminal errors ("already alerted") -> the status they stand for.
STATUS_BY_ERROR: dict[str, str] = {
    "KbSync.JobFailed": "FAILED",
    "KbSync.JobTimedOut": "TIMED_OUT",
    "KbSync.JobStopped": "STOPPED",
    "KbSync.StartFailed": "START_FAILED",
    "KbSync.PollFailed": "POLL_FAILED",
}


def alert_type_for(status: str) -> str | None:
    """The alert a final job status sends (None for COMPLETE and running statuses): the workflow's alert kinds are
    named after the job record's final status."""
    return status if status in kbsync_alerts.kinds_raised_by(kbsync_alerts.WORKFLOW) else None


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
