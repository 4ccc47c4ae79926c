"""A target's freshness, the rules written once: what counts as a successful sync, and which S3 changes a sync
covers. The freshness check (functions/freshness) and `kbsync status` both read them.

- A **successful sync** is a job record COMPLETE or PARTIAL: a sync that ran (PARTIAL's failed documents are alerted
  PARTIAL on their own); its end is the record's ``updatedAt``. The **age** counts from there, or from the target's
  ``registeredAt`` when it never had one ("never synced", which is no error).
- A change is covered only by a sync that *started* after it (the job scans S3 when it starts). The upload router keeps
  ``lastChangeAt`` (the newest routed change) and ``pendingSince`` (the oldest one not known to be covered) on the
  TARGET item. A successful sync that started after ``lastChangeAt`` covers them all; one that started after
  ``pendingSince`` only, covers those before its start, so the oldest waiting change is after that start. The **lag**
  counts from the oldest waiting change.

Standard library only: it ships in the Contracts layer (``schemas/``) and is imported by the functions and the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: The job record statuses of a sync that ran.
SUCCESSFUL = ("COMPLETE", "PARTIAL")
#: The verdicts the freshness check keeps on a TARGET item (``freshness``; absent = FRESH).
FRESH, STALE, LAGGING = "FRESH", "STALE", "LAGGING"
NEVER_SYNCED = "never synced"


def parse_time(value: Any) -> datetime | None:
    """A stored UTC time (ISO 8601, with or without fractions) as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def waiting_since(target: dict[str, Any], last_sync: dict[str, Any] | None) -> tuple[datetime | None, str | None]:
    """(the oldest change no successful sync covers, or None; how the TARGET item's mark should change: None,
    "clear", or "move" — to the sync's start, the first member of the pair)."""
    pending = parse_time(target.get("pendingSince"))
    last_change = parse_time(target.get("lastChangeAt")) or pending
    started = parse_time(last_sync.get("startedAt")) if last_sync else None
    if pending is None or started is None or last_change is None:
        return pending, None
    if started > last_change:  # every change seen came before that sync started: covered
        return None, "clear"
    if started > pending:  # changes came in during it: the oldest uncovered one is after its start
        return started, "move"
    return pending, None


def age_seconds(target: dict[str, Any], last_sync: dict[str, Any] | None, now: datetime) -> float:
    """Seconds since the newest successful sync ended, or since the target's registration when it never synced."""
    since = parse_time((last_sync or {}).get("updatedAt")) or parse_time(target.get("registeredAt")) or now
    return max(0.0, (now - since).total_seconds())


def lag_seconds(target: dict[str, Any], last_sync: dict[str, Any] | None, now: datetime) -> float:
    """Seconds the oldest change no successful sync covers has waited (0: none waiting)."""
    since, _ = waiting_since(target, last_sync)
    return max(0.0, (now - since).total_seconds()) if since else 0.0
