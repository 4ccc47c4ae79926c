"""How kbsync's objects read on screen: history rows, the running table, one job in full, the end of a sync."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import kbsync_documents

from kbsync.cli.aws import Stack
from kbsync.cli.names import execution_name_of
from kbsync.cli.outcome import RUNNING_STATUSES, alert_type_for, runbook_url
from kbsync.cli.records import Record
from kbsync.cli.render import Style, duration, severity_of, span, table, when
from kbsync.cli.service import (
    OUTSIDE_TRIGGER,
    Ended,
    FreshnessRow,
    JobDetail,
    Progress,
    RunningRow,
    Started,
    statistics_counts,
)
from kbsync.targets import Target

STATISTICS_LABELS = (
    ("numberOfDocumentsScanned", "documents scanned"),
    ("numberOfMetadataDocumentsScanned", "metadata documents scanned"),
    ("numberOfNewDocumentsIndexed", "new documents indexed"),
    ("numberOfModifiedDocumentsIndexed", "modified documents indexed"),
    ("numberOfMetadataDocumentsModified", "metadata documents modified"),
    ("numberOfDocumentsDeleted", "documents deleted"),
    ("numberOfDocumentsFailed", "documents failed"),
    ("numberOfDocumentsSkipped", "documents skipped"),
)


def progress_text(p: Progress) -> tuple[str, str]:
    """(the line, the same line without the ticking clock) for ProgressLine."""
    job = f"job {p.job_id}" if p.job_id else "no job yet"
    attempt = f" (attempt {p.attempt})" if p.attempt and p.attempt > 1 else ""
    key = f"{p.status}  {job}{attempt}  scanned {p.scanned}  indexed {p.indexed}  failed {p.failed}"
    return f"{key}  elapsed {duration(p.elapsed_s)}", key


def started_text(started: Started) -> str:
    text = f"started {started.name}\n  execution {started.execution_arn}"
    if started.gated:
        text += "\n  through the sync gate: it starts the ingestion job as soon as Bedrock's account quotas allow"
    return text


def rerun_commands(stack: Stack, record: Record) -> list[str]:
    kb, ds = record["knowledgeBaseId"], record["dataSourceId"]
    job = record.get("ingestionJobId")
    first = f"kbsync rerun {job}" if job else f"kbsync rerun {record.get('executionArn')}"
    return [first, f"kbsync sync --kb {kb} --ds {ds} --wait"]


def ended_text(ended: Ended, stack: Stack, style: Style) -> str:
    """The last lines of `sync --wait`: outcome, numbers, reasons, where the alert points, what to do next."""
    record = ended.record or {}
    scanned, indexed, failed = statistics_counts(record.get("statistics"))
    job = record.get("ingestionJobId")
    lines = [
        f"{style.status(ended.outcome)}  {'job ' + job if job else 'no job'}  scanned {scanned}  indexed {indexed}  "
        f"failed {failed}  in {duration(ended.elapsed_s)}"
    ]
    if ended.coalesced_from:
        lines.append(
            f"  this sync ({execution_name_of(ended.coalesced_from)}) coalesced into the job of "
            f"{execution_name_of(ended.execution_arn)}, which already covered its request"
        )
    if ended.problem:
        lines.append(f"  {ended.problem}")
    reasons = record.get("failureReasons") or []
    for reason in reasons[:3]:
        lines.append(f"  reason: {reason}")
    if len(reasons) > 3 or int(record.get("failureReasonsTotal", 0)) > 3:
        lines.append(f"  ... {max(len(reasons), int(record.get('failureReasonsTotal', 0))) - 3} more")
    alert = alert_type_for(str(record.get("status"))) if record else None
    if ended.outcome.startswith("EXECUTION_DIED"):
        alert = "EXECUTION_DIED"
        if ended.cause:
            lines.append(f"  cause: {ended.cause[:300]}")
    if alert:
        lines.append(f"  alert: {alert} ({severity_of(alert)}), runbook {runbook_url(stack.runbook_base_url, alert)}")
    if job:
        lines.append(f"  next: kbsync show {job}")
    return "\n".join(lines)


def listing[T](
    items: Sequence[T], empty: str, headers: list[str], row: Callable[[T], list[str]], style: Style, **options: Any
) -> str:
    """One row per item under `headers` (render.table, with its `options`), or `empty`, a sentence, when there are
    no items."""
    if not items:
        return empty
    return table(headers, [row(item) for item in items], style, **options)


def history_table(rows: list[Record], style: Style) -> str:
    headers = ["started", "job", "status", "trigger", "try", "scanned", "indexed", "deleted", "failed", "took", "note"]
    return listing(rows, "no job records", headers, _history_row, style, status_column=2)


def _history_row(r: Record) -> list[str]:
    scanned, indexed, failed = statistics_counts(r.get("statistics"))
    note = r.get("errorCode") or (r.get("failureReasons") or [""])[0] or r.get("reason", "")
    return [
        when(r.get("startedAt")),
        r.get("ingestionJobId") or "-",
        str(r.get("status")),
        str(r.get("trigger", "")),
        str(r.get("attempt", "")),
        str(scanned),
        str(indexed),
        str((r.get("statistics") or {}).get("numberOfDocumentsDeleted", 0)),
        str(failed),
        span(r.get("startedAt"), r.get("updatedAt")),
        str(note),
    ]


def status_table(rows: list[RunningRow], style: Style) -> str:
    headers = ["knowledge base", "data source", "job", "status", "started", "trigger", "scanned", "indexed", "failed"]
    listed = listing(rows, "nothing running", headers, _status_row, style, status_column=3)
    notes = [outside_note(r.job_id or "-", r.knowledge_base_id, r.data_source_id) for r in rows if r.started_outside]
    return "\n".join([listed, *notes])


def _status_row(r: RunningRow) -> list[str]:
    return [
        r.knowledge_base_id,
        r.data_source_id,
        r.job_id or "-",
        r.status,
        when(r.started),
        r.trigger,
        str(r.scanned),
        str(r.indexed),
        str(r.failed),
    ]


def freshness_table(rows: list[FreshnessRow], style: Style) -> str:
    """Each registered target's age (since its last successful sync, or "never synced") and lag (the oldest S3 change
    waiting for a sync), with the freshness check's last verdict."""
    headers = ["knowledge base", "data source", "freshness", "last success", "age", "max age", "waiting since",
               "lag"]  # fmt: skip
    return listing(rows, "no registered targets", headers, _freshness_row, style)


def _freshness_row(r: FreshnessRow) -> list[str]:
    return [
        r.knowledge_base_id,
        r.data_source_id,
        r.freshness,
        when(r.last_success) + f" ({r.last_status})" if r.last_success else "never synced",
        duration(r.age_seconds),
        f"{r.max_age_hours}h" if r.max_age_hours is not None else "default",
        when(r.pending_since) if r.pending_since else "-",
        duration(r.lag_seconds) if r.pending_since else "-",
    ]


def outside_note(job_id: str, kb_id: str, ds_id: str) -> str:
    """What kbsync does about a running job it did not start: it waits (a manual sync is refused, exit 7; an upload
    or nightly sync waits for it, ConflictWaitSeconds x MaxConflictWaits, then starts its own job)."""
    return (
        f"note: job {job_id} on {kb_id}/{ds_id} was started outside kbsync (console or script); kbsync waits for it: "
        "uploads and nightly syncs start once it ends, `kbsync sync` is refused until then"
    )


def show_text(detail: JobDetail, stack: Stack, style: Style) -> str:
    """One job in full: identity, timing, statistics, every failure reason, the execution and the alert."""
    record, live, execution = detail.record, detail.live, detail.execution
    if record is None:
        return outside_show_text(live or {}, style)
    status = str(record.get("status"))
    pairs: list[tuple[str, str]] = [
        ("knowledge base", str(record["knowledgeBaseId"])),
        ("data source", str(record["dataSourceId"])),
        ("status", style.status(status) + (f" (Bedrock: {live['status']})" if live else "")),
        ("trigger", str(record.get("trigger", ""))),
        ("reason", str(record.get("reason") or "-")),
        ("requested by", str(record.get("requestedBy") or "-")),
        ("attempt", str(record.get("attempt", "-"))),
        *_gate_pairs(record),
        ("started", when(record.get("startedAt"))),
        ("updated", f"{when(record.get('updatedAt'))} ({span(record.get('startedAt'), record.get('updatedAt'))})"),
    ]
    if record.get("errorCode"):
        pairs.append(("error", str(record["errorCode"])))
    lines = [style.bold(f"Job {record.get('ingestionJobId', '-')}"), *_pairs(pairs)]
    lines += ["", style.bold("Statistics")]
    stats = (live or {}).get("statistics") or record.get("statistics") or {}
    lines += _pairs([(label, str(stats.get(key, 0))) for key, label in STATISTICS_LABELS])
    lines += ["", *_reasons(record, live, style)]
    lines += documents_lines(record, stats, style)
    lines += ["", style.bold("Execution"), *_pairs(_execution_pairs(record, execution))]
    lines += ["", *_alert(record, stack, style)]
    return "\n".join(lines)


def outside_show_text(job: dict[str, Any], style: Style) -> str:
    """A job kbsync has no record of (started outside kbsync): Bedrock's view, and what kbsync does about it."""
    status = str(job.get("status"))
    kb, ds, job_id = str(job.get("knowledgeBaseId")), str(job.get("dataSourceId")), str(job.get("ingestionJobId"))
    running = status in RUNNING_STATUSES
    pairs = [
        ("knowledge base", kb),
        ("data source", ds),
        ("status", style.status(status) + " (Bedrock)"),
        ("trigger", OUTSIDE_TRIGGER),
        ("description", str(job.get("description") or "-")),
        ("started", when(job.get("startedAt"))),
        ("updated", f"{when(job.get('updatedAt'))} ({span(job.get('startedAt'), job.get('updatedAt'))})"),
    ]
    lines = [style.bold(f"Job {job_id}"), *_pairs(pairs)]
    lines += ["", style.bold("Statistics")]
    stats = job.get("statistics") or {}
    lines += _pairs([(label, str(stats.get(key, 0))) for key, label in STATISTICS_LABELS])
    lines += ["", *_reasons({}, job, style)]
    if running:
        kbsync = [outside_note(job_id, kb, ds)[len("note: ") :], f"stop it with `kbsync stop --kb {kb} --ds {ds}`"]
    else:
        kbsync = ["started outside kbsync (console or script): no job record, no execution, no alert"]
    lines += ["", style.bold("kbsync"), *(f"  {line}" for line in kbsync)]
    return "\n".join(lines)


def _gate_pairs(record: Record) -> list[tuple[str, str]]:
    """The gated sync this job is a round of, and how long the sync waited before this record (settle time,
    queueing behind the account's job slots): from the record (records before kbsync kept them have none)."""
    gate = record.get("gateExecutionArn")
    if not gate:
        return []
    own = gate == record.get("executionArn")  # started directly, not through the sync gate
    sync = "started directly (no sync gate)" if own else f"of sync gate execution {execution_name_of(str(gate))}"
    return [
        ("round", f"{record.get('round', '-')} {sync}"),
        ("gate wait", span(record.get("gateEnteredAt"), record.get("startedAt"))),
    ]


def _pairs(pairs: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in pairs)
    return [f"  {k.ljust(width)}  {v}" for k, v in pairs]


def _reasons(record: Record, live: dict[str, Any] | None, style: Style) -> list[str]:
    reasons = list((live or {}).get("failureReasons") or record.get("failureReasons") or [])
    total = max(len(reasons), int(record.get("failureReasonsTotal", 0)))
    title = f"Failure reasons ({total})" if total else "Failure reasons (none)"
    lines = [style.bold(title)]
    lines += [f"  - {reason}" for reason in reasons]
    if total > len(reasons):
        lines.append(f"  ... {total - len(reasons)} more not kept in the record (Bedrock no longer lists them)")
    return lines


def documents_lines(record: Record, statistics: dict[str, Any], style: Style) -> list[str]:
    """The failed documents the knowledge base's logs named (the record's documentFailures): every stored key under
    its reason (kbsync_documents.all_lines), after how many were named and how many Bedrock counts as failed. A job
    with failed documents and no names says where names come from; a job without failures says nothing."""
    failures = record.get("documentFailures")
    failed = int(statistics.get("numberOfDocumentsFailed", 0) or 0)
    if not failures:
        if not failed or "knowledgeBaseId" not in record:
            return []
        title = "Failed documents (none named: the knowledge base's logs are off or not delivered)"
        return ["", style.bold(title), f"  see `kbsync logs status --knowledge-base-id {record['knowledgeBaseId']}`"]
    named = max(int(record.get("documentFailuresTotal", 0) or 0), kbsync_documents.total(failures))
    title = f"Failed documents ({named} named by the knowledge base's logs; Bedrock counts {failed} failed)"
    return ["", style.bold(title), *(f"  {line}" for line in kbsync_documents.all_lines(failures))]


def _execution_pairs(record: Record, execution: dict[str, Any] | None) -> list[tuple[str, str]]:
    arn = str(record.get("executionArn", "-"))
    pairs = [("name", execution_name_of(arn)), ("arn", arn)]
    if execution is None:
        return [*pairs, ("status", "unknown (Step Functions no longer has it)")]
    state = str(execution["status"])
    if execution.get("error"):
        state += f" ({execution['error']})"
    pairs.append(("status", state))
    pairs.append(("started", when(execution.get("startDate"))))
    if execution.get("stopDate"):
        pairs.append(("stopped", when(execution.get("stopDate"))))
    return pairs


def _alert(record: Record, stack: Stack, style: Style) -> list[str]:
    alert = alert_type_for(str(record.get("status")))
    if alert is None:
        return [style.bold("Alert"), "  none (no alert for this status)"]
    sent = record.get("alertSent")
    pairs = [
        ("type", f"{alert} ({severity_of(alert)})"),
        ("sent", "yes" if sent else ("not yet" if sent is False else "unknown")),
        ("runbook", runbook_url(stack.runbook_base_url, alert)),
        *[("rerun", command) for command in rerun_commands(stack, record)],
    ]
    return [style.bold("Alert"), *_pairs(pairs)]


def targets_table(found: list[Target], style: Style) -> str:
    empty = "no targets registered: add one with `kbsync targets add --kb ID --ds ID`"
    headers = ["knowledge base", "data source", "nightly", "bucket", "prefixes", "registered", "name"]
    return listing(found, empty, headers, _target_row, style)


def _target_row(t: Target) -> list[str]:
    return [
        t.knowledge_base_id,
        t.data_source_id,
        "on" if t.nightly else "off",
        t.bucket_name,
        ",".join(t.inclusion_prefixes) or "(whole bucket)",
        when(t.registered_at),
        t.data_source_name or "-",
    ]
