"""The freshness check: is each registered target's knowledge base still in step with its S3 documents?

Two measures per target, both from facts kbsync already stores:

- **age**: now minus the end (``updatedAt``) of the data source's newest successful sync record (COMPLETE or PARTIAL:
  a sync that ran; PARTIAL's failed documents were alerted already). A target never synced counts from its
  ``registeredAt`` ("never synced"), which is no error. Stale when the age passes the target's ``maxAgeHours``
  (default: the stack's). This catches what makes no noise: a disabled schedule, a nightly flag off, uploads
  never routed.
- **lag**: how long the oldest S3 change no successful sync covers has waited. The upload router stamps the TARGET
  item on every routed S3 event (``lastChangeAt``; ``pendingSince`` when absent). A change is covered only by a sync
  that *started* after it (the job scans S3 when it starts): once the newest successful sync started after
  ``lastChangeAt`` the pending mark is removed; when it started after ``pendingSince`` but not after ``lastChangeAt``
  (changes came in during it), the mark moves to that start (the oldest uncovered change is after it: an upper bound
  on its wait). Lagging when the wait passes the threshold. It sees only routed changes: with S3's EventBridge
  notifications off nothing is stamped, and only the age catches it — which is why there are both.

The verdict (FRESH, STALE — which wins over LAGGING —, LAGGING) lives on the TARGET item; a check alerts only when it
changes it, with a conditional update, so two overlapping checks alert once: TARGET_STALE / TARGET_LAGGING when the
target turns so, TARGET_FRESH_AGAIN (INFO) when it recovers, nothing while it stays the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import freshness_data
import kbsync_alerts
import kbsync_chat
import kbsync_contracts
import kbsync_freshness
import kbsync_handlers
import kbsync_values
from botocore.exceptions import ClientError
from freshness_settings import Settings

#: The contract of what the FreshnessSchedule sends (schemas/freshness-schedule-input.schema.json).
CONTRACT = "freshness-schedule-input"
FRESH, STALE, LAGGING = kbsync_freshness.FRESH, kbsync_freshness.STALE, kbsync_freshness.LAGGING
#: The alert of each new verdict (severity, headline and runbook: schemas/alert-catalogue.json).
ALERT_OF = {STALE: "TARGET_STALE", LAGGING: "TARGET_LAGGING", FRESH: "TARGET_FRESH_AGAIN"}
NEVER_SYNCED = kbsync_freshness.NEVER_SYNCED
parse_time = kbsync_freshness.parse_time


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(kbsync_values.UTC_SECONDS_FORMAT)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True)
class Verdict:
    """One target's freshness at `now`."""

    knowledge_base_id: str
    data_source_id: str
    state: str
    age_seconds: float
    lag_seconds: float
    max_age_hours: int
    lag_threshold_seconds: int
    #: The newest successful sync record (None: never synced, or none among the newest records read).
    last_sync: dict[str, Any] | None
    #: What the age counts from: the sync's end, the registration ("never synced") or the oldest record read.
    age_from: str
    age_basis: str
    #: The oldest change no successful sync covers (None: none waiting).
    pending_since: str | None
    last_change_at: str | None
    #: How the TARGET item's pending mark changes: None, ("clear", None) or ("move", <the sync's start>).
    pending_update: tuple[str, str | None] | None = None

    @property
    def never_synced(self) -> bool:
        return self.last_sync is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "state": self.state,
            "ageSeconds": round(self.age_seconds),
            "lagSeconds": round(self.lag_seconds),
            "ageBasis": self.age_basis,
        }


def assess(
    target: dict[str, Any], last_sync: dict[str, Any] | None, horizon: str | None, now: datetime, settings: Settings
) -> Verdict:
    """The verdict of one target from its TARGET item and its newest successful sync record (pure)."""
    max_age_hours = int(target.get("maxAgeHours") or settings.max_age_hours)
    threshold = settings.lag_minutes * 60
    registered = parse_time(target.get("registeredAt")) or now
    ended = parse_time(last_sync.get("updatedAt")) if last_sync else None
    if last_sync is not None and ended is not None:
        age_from, basis = ended, f"last successful sync ended {utc(ended)} ({last_sync.get('status')})"
    elif horizon and parse_time(horizon):
        age_from = parse_time(horizon) or registered
        basis = f"no successful sync among the newest {settings.max_records} records (the oldest started {horizon})"
    else:
        age_from, basis = registered, f"{NEVER_SYNCED} (registered {utc(registered)})"
    age = max(0.0, (now - age_from).total_seconds())

    pending, change = kbsync_freshness.waiting_since(target, last_sync)
    last_change = parse_time(target.get("lastChangeAt")) or parse_time(target.get("pendingSince"))
    update: tuple[str, str | None] | None = None
    if change == "clear":
        update = ("clear", None)
    elif change == "move" and pending is not None:
        update = ("move", utc(pending))
    lag = kbsync_freshness.lag_seconds(target, last_sync, now)

    state = FRESH
    if age > max_age_hours * 3600:
        state = STALE
    elif lag > threshold:
        state = LAGGING
    return Verdict(
        knowledge_base_id=str(target["knowledgeBaseId"]),
        data_source_id=str(target["dataSourceId"]),
        state=state,
        age_seconds=age,
        lag_seconds=lag,
        max_age_hours=max_age_hours,
        lag_threshold_seconds=threshold,
        last_sync=last_sync,
        age_from=utc(age_from),
        age_basis=basis,
        pending_since=utc(pending) if pending else None,
        last_change_at=utc(last_change) if last_change else None,
        pending_update=update,
    )


# --- the alert --------------------------------------------------------------------------------------------------------


def sync_commands(verdict: Verdict, kind: str, settings: Settings) -> list[str]:
    """`kbsync sync` and the AWS CLI start of the sync gate for the target (none for the recovery notice)."""
    if verdict.state == FRESH:
        return []
    kb, ds = verdict.knowledge_base_id, verdict.data_source_id
    return [
        f"kbsync sync --kb {kb} --ds {ds} --wait",
        kbsync_alerts.gate_start_command(settings.sync_gate_arn, kb, ds, f"sync after {kind}", "fr01"),
    ]


def facts(verdict: Verdict) -> list[tuple[str, str]]:
    """The facts both forms of the alert show, in order."""
    sync = verdict.last_sync
    last = NEVER_SYNCED
    if sync is not None:
        last = f"{sync.get('updatedAt')} ({sync.get('status')}, ingestion job {sync.get('ingestionJobId') or 'n/a'})"
    waiting = "none recorded"
    if verdict.pending_since:
        waiting = f"since {verdict.pending_since} ({hours(verdict.lag_seconds)})"
    return [
        ("Freshness", verdict.state),
        ("Last successful sync", last),
        ("Age", f"{hours(verdict.age_seconds)} (allowed {verdict.max_age_hours} h; from {verdict.age_basis})"),
        ("Changes waiting", f"{waiting}; threshold {hours(verdict.lag_threshold_seconds)}"),
        ("Last S3 change seen", verdict.last_change_at or "none recorded"),
    ]


def build_alert(verdict: Verdict, was: str, settings: Settings) -> dict[str, Any]:
    kind = ALERT_OF[verdict.state]
    entry = kbsync_alerts.alert_kind(kind)
    kb, ds = verdict.knowledge_base_id, verdict.data_source_id
    job = str((verdict.last_sync or {}).get("ingestionJobId") or "")
    lines = [
        f"kbsync {kind} ({entry.severity}): {entry.headline}.",
        "",
        f"Knowledge base:  {kb}",
        f"Data source:     {ds}",
        f"Was:             {was}",
        *(f"{label + ':':<16} {value}" for label, value in facts(verdict)),
        "",
        f"Runbook: {kbsync_alerts.runbook_url(settings.runbook_base_url, kind)}",
    ]
    return kbsync_alerts.alert(kind, kb, ds, job or None, lines, sync_commands(verdict, kind, settings), "Sync now:")


def build_chat(verdict: Verdict, was: str, settings: Settings) -> dict[str, Any]:
    kind = ALERT_OF[verdict.state]
    job = str((verdict.last_sync or {}).get("ingestionJobId") or "")
    return kbsync_chat.chat_notification(
        kind,
        verdict.knowledge_base_id,
        verdict.data_source_id,
        runbook_url=kbsync_alerts.runbook_url(settings.runbook_base_url, kind),
        rerun_commands=sync_commands(verdict, kind, settings),
        ingestion_job_id=job or None,
        facts=[("Was", was), *facts(verdict)],
    )


# --- one run ----------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    checked: int = 0
    alerted: list[dict[str, str]] = field(default_factory=list)
    errors: int = 0
    verdicts: list[Verdict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for verdict in self.verdicts:
            counts[verdict.state] = counts.get(verdict.state, 0) + 1
        return {"checked": self.checked, "states": counts, "alerted": self.alerted, "errors": self.errors}


Publish = Callable[[dict[str, Any], dict[str, Any]], str]


def check_target(
    target: dict[str, Any], targets: Any, jobs: Any, publish: Publish, settings: Settings, now: datetime
) -> tuple[Verdict, dict[str, str] | None]:
    """Assess one target, keep its pending mark, and alert if (and only if) this check changed its verdict."""
    kb, ds = str(target["knowledgeBaseId"]), str(target["dataSourceId"])
    last_sync, horizon = freshness_data.last_successful_sync(jobs, kb, ds, settings.max_records)
    verdict = assess(target, last_sync, horizon, now, settings)
    if verdict.pending_update is not None:
        action, since = verdict.pending_update
        if action == "clear":
            freshness_data.clear_pending(targets, target)
        elif since is not None:
            freshness_data.move_pending(targets, target, since)
    was = str(target.get("freshness") or FRESH)
    if verdict.state == was:
        return verdict, None
    when = utc(now)
    if not freshness_data.set_verdict(targets, target, was, verdict.state, when, FRESH):
        return verdict, None  # another check (or a removal) came first: theirs to report
    alert = build_alert(verdict, was, settings)
    kbsync_contracts.validate("alert", alert)
    try:
        message_id = publish(alert, build_chat(verdict, was, settings))
    except Exception:
        freshness_data.undo_verdict(targets, target, was, verdict.state, when)
        raise
    return verdict, {"knowledgeBaseId": kb, "dataSourceId": ds, "alertType": ALERT_OF[verdict.state],
                     "messageId": message_id}  # fmt: skip


def check_all(
    targets: Any,
    jobs: Any,
    publish: Publish,
    settings: Settings,
    now: datetime,
    observe: Callable[[Verdict], None] = lambda verdict: None,
) -> Result:
    """One pass over every registered target. A target that cannot be read or written is counted and skipped; a
    publish that fails gives its verdict back and fails the run after the other targets (the next run retries it)."""
    result = Result()
    failed: list[str] = []
    for target in freshness_data.targets(targets):
        result.checked += 1
        try:
            verdict, alerted = check_target(target, targets, jobs, publish, settings, now)
        except ClientError as error:
            result.errors += 1
            failed.append(f"{target.get('pk')}: {error.response.get('Error', {}).get('Code', '')}")
            continue
        result.verdicts.append(verdict)
        observe(verdict)
        if alerted:
            result.alerted.append(alerted)
    if failed:
        raise RuntimeError(f"freshness check: {len(failed)} target(s) not checked: {'; '.join(failed[:10])}")
    return result


def checked(event: Any) -> dict[str, Any]:
    """The schedule's document if it keeps its contract (nothing is read from it)."""
    return kbsync_handlers.checked(CONTRACT, "freshness check input", event)
