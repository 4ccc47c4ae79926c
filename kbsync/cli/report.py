"""`kbsync report --night DATE`: one night of job records as one self-contained HTML page.

The night DATE is a UTC day: every job record (schemas/job-record.schema.json) whose ``startedAt`` falls in
[DATE 00:00Z, DATE+1 00:00Z), whatever its trigger (the nightly schedule runs at 02:00 UTC by default; uploads and
manual syncs of that day are in it too). The page reads facts, the records and the target registry, never execution
histories: a record's bar runs from ``gateEnteredAt`` (its sync gate started: settle time, the pacer's queue; records
of older kbsync versions lack it) through ``startedAt`` (the record is written before StartIngestionJob) and
``jobStartedAt`` (the start attempt that created its job) to ``updatedAt`` (its final status written; still open:
until now, at most the night's end).

What is drawn: every record on a UTC time axis, once in the account's quota lanes (Bedrock runs 5 ingestion jobs
at once per account: each job goes to the lowest free lane, a greedy interval packing, so the lanes used are the
peak concurrency; a lane past 5 is tinted red) and once per target (the wait before the job, then the job, one
colour per outcome; a re-start after FAILED is marked), then the totals and a table of every record.

Self-contained: inline CSS and SVG, no script, no external URL, a Content-Security-Policy that forbids loading
anything; every value read from a record is HTML-escaped (ids, reasons and causes are untrusted text).

Pure functions (records in, HTML out) plus `night_records`, the one query (the byStatus index, one Query per status:
``status = S AND begins_with(startedAt, DATE)``, never a Scan of the jobs table).
"""

from __future__ import annotations

import argparse
import heapq
import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from string import Template
from typing import Any

from kbsync.cli import records
from kbsync.cli.aws import Client
from kbsync.cli.errors import CliError, ExitCode
from kbsync.cli.outcome import ALL_STATUSES, RUNNING_STATUSES
from kbsync.cli.records import Record
from kbsync.cli.render import duration as whole_seconds
from kbsync.cli.render import parse_time

#: Bedrock's concurrent ingestion jobs per account (a quota, not adjustable): the lanes of the page.
QUOTA_LANES = 5
NIGHT_HELP = (
    "the UTC day to show: every job record whose startedAt falls in [DATE 00:00Z, DATE+1 00:00Z), whatever its "
    "trigger (default: yesterday, UTC)"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

#: Outcome groups (their CSS class is s-<group> / c-<group>): colour and meaning. GROUP_OF puts each status of the job
#: record in one; the legend lists only the statuses present, so a night of successes shows no red at all.
GROUPS: dict[str, tuple[str, str]] = {
    "ok": ("#2ca02c", "completed, every document indexed"),
    "partial": ("#f2a900", "completed, some documents failed"),
    "failed": ("#d62728", "failed, not started, timed out, unwatched or its execution died"),
    "stopped": ("#8c8c8c", "stopped"),
    "running": ("#1f77b4", "still running (no final status yet)"),
    "coalesced": ("#c5b0d5", "no job: covered by another execution's job"),
    "other": ("#9467bd", "a status this kbsync version does not know"),
}
GROUP_OF: dict[str, str] = {
    "COMPLETE": "ok",
    "PARTIAL": "partial",
    "FAILED": "failed",
    "START_FAILED": "failed",
    "TIMED_OUT": "failed",
    "POLL_FAILED": "failed",
    "EXECUTION_ABORTED": "failed",
    "EXECUTION_TIMED_OUT": "failed",
    "EXECUTION_FAILED": "failed",
    "STOPPED": "stopped",
    "COALESCED": "coalesced",
    **dict.fromkeys(RUNNING_STATUSES, "running"),
}
WAIT_COLOUR = "#b4bfcf"
GATE_COLOUR = "#7d8799"
LANES_BACKGROUND = "#eef2f8"
TARGETS_BACKGROUND = "#f6f7f9"
OVER_QUOTA_BACKGROUND = "#f8d0d0"
OVER_QUOTA_TEXT = "#b01c1c"
#: The colours the page's CSS names ($lanes, $wait, ...).
CSS_COLOURS = {
    "lanes": LANES_BACKGROUND,
    "targets": TARGETS_BACKGROUND,
    "over": OVER_QUOTA_BACKGROUND,
    "over_text": OVER_QUOTA_TEXT,
    "wait": WAIT_COLOUR,
    "gate": GATE_COLOUR,
}

# Geometry of the charts (px).
WIDTH = 1340
LABEL_W = 200
RIGHT_PAD = 16
AXIS_H = 26
ROW_H = 18
BAR_H = 12
WAIT_H = 6
MIN_BAR_W = 2.0
#: Tick spacings the time axis may use (seconds): the first that gives at most MAX_TICKS ticks.
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_TICKS = 12
#: A reason or cause in the table is cut to this many characters (the record keeps up to 25 of 1,024).
NOTE_CHARS = 160
#: The table of records is open by default up to this many rows (a 1,000-job night opens it by a click).
OPEN_TABLE_ROWS = 100


# --------------------------------------------------------------------------- the night


@dataclass(frozen=True)
class Night:
    """One UTC day: [start, end)."""

    day: date

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    @property
    def label(self) -> str:
        return self.day.isoformat()


def night_date(text: str) -> date:
    """--night: YYYY-MM-DD, a real day (ValueError naming what was given, for argparse)."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"expected YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected YYYY-MM-DD, got {text!r} ({exc})") from exc


def night_argument(text: str) -> date:
    """argparse type of --night (its error: `argument --night: expected YYYY-MM-DD, got '...'`, exit code 2)."""
    try:
        return night_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def last_night(now: datetime | None = None) -> date:
    """The default night: yesterday in UTC."""
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()


def default_out(night: Night) -> str:
    return f"kbsync-night-{night.label}.html"


# --------------------------------------------------------------------------- the query


def night_records(ddb: Client, jobs_table: str, night: Night) -> list[Record]:
    """Every job record started on the night (records.started_on: the byStatus index, never a Scan)."""
    return records.started_on(ddb, jobs_table, ALL_STATUSES, night.label)


# --------------------------------------------------------------------------- layout


@dataclass
class Bar:
    """One record on the time axis (epoch seconds)."""

    record: Record
    kb: str
    ds: str
    status: str
    group: str
    attempt: int
    start: float  # the record was written (startedAt)
    job_start: float | None  # the job's start attempt (jobStartedAt); None: no job of this record
    end: float  # updatedAt, or now while the job runs
    open: bool
    lane: int | None = None  # 1.. for records that held a Bedrock job
    gate_start: float | None = None  # waiting in the sync gate since (gateEnteredAt, after the target's last record)

    @property
    def job_id(self) -> str:
        return str(self.record.get("ingestionJobId") or "")

    @property
    def target(self) -> tuple[str, str]:
        return self.kb, self.ds

    @property
    def took(self) -> float:
        return max(0.0, self.end - (self.job_start if self.job_start is not None else self.start))

    @property
    def waited(self) -> float:
        """From the record to its job's start (the coalescing check, waits for a job started outside kbsync)."""
        return max(0.0, self.job_start - self.start) if self.job_start is not None else 0.0

    @property
    def gate_waited(self) -> float:
        """In the sync gate before the record (settle time, the pacer's queue), when the record says so."""
        return max(0.0, self.start - self.gate_start) if self.gate_start is not None else 0.0

    @property
    def first(self) -> float:
        return self.gate_start if self.gate_start is not None else self.start


def _epoch(value: Any) -> float | None:
    parsed = parse_time(value)
    return parsed.timestamp() if parsed else None


def _duration(seconds: float) -> str:
    """'0.4s' under 10 s (the local cloud's jobs last a second or less), else as the other commands show it."""
    return f"{seconds:.1f}s" if seconds < 10 else whole_seconds(seconds)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def bars_of(records: Iterable[Record], night: Night, now: datetime) -> tuple[list[Bar], int]:
    """(the records that have a readable startedAt as bars, sorted by start; how many had none)."""
    bars, unreadable = [], 0
    now_s = now.timestamp()
    for record in records:
        start = _epoch(record.get("startedAt"))
        if start is None:
            unreadable += 1
            continue
        status = str(record.get("status", ""))
        updated = _epoch(record.get("updatedAt")) or start
        is_open = status in RUNNING_STATUSES
        end = max(updated, min(now_s, night.end.timestamp())) if is_open else updated
        has_job = bool(record.get("ingestionJobId"))
        job_start = _epoch(record.get("jobStartedAt")) if has_job else None
        if has_job and job_start is None:
            job_start = start
        if job_start is not None:
            job_start = min(max(job_start, start), max(end, start))
        bars.append(
            Bar(
                record=record,
                kb=str(record.get("knowledgeBaseId", "")),
                ds=str(record.get("dataSourceId", "")),
                status=status,
                group=GROUP_OF.get(status, "other"),
                attempt=max(1, _int(record.get("attempt"), 1)),
                start=start,
                job_start=job_start,
                end=max(end, start),
                open=is_open,
            )
        )
    bars.sort(key=lambda b: (b.start, b.kb, b.ds, b.attempt))
    _gate_waits(bars)
    return bars, unreadable


def _gate_waits(bars: Sequence[Bar]) -> None:
    """A record's gate wait runs from its gateEnteredAt (when the gate execution started) to its startedAt, but not
    over the target's earlier records: a later round or a re-start entered the same gate long before."""
    last_end: dict[tuple[str, str], float] = {}
    for bar in bars:  # by start
        entered = _epoch(bar.record.get("gateEnteredAt"))
        earlier = last_end.get(bar.target)
        if entered is not None and entered < bar.start:
            begin = max(entered, earlier) if earlier is not None and earlier <= bar.start else entered
            bar.gate_start = begin if begin < bar.start else None
        last_end[bar.target] = max(bar.end, last_end.get(bar.target, bar.end))


def pack_lanes(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """Lane (1..) of each [start, end) interval: by start, each takes the lowest-numbered lane free at its start
    (greedy interval partitioning: the number of lanes used is the peak number of overlapping intervals)."""
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1]))
    lanes = [0] * len(intervals)
    busy: list[tuple[float, int]] = []  # (end, lane)
    free: list[int] = []
    used = 0
    for i in order:
        start, end = intervals[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            used += 1
            lane = used
        lanes[i] = lane
        heapq.heappush(busy, (max(end, start), lane))
    return lanes


def assign_lanes(bars: Sequence[Bar]) -> int:
    """Put every bar that held a Bedrock job in a lane; return the lanes used (the peak concurrency)."""
    jobs = [b for b in bars if b.job_start is not None]
    for bar, lane in zip(
        jobs, pack_lanes([(b.start if b.job_start is None else b.job_start, b.end) for b in jobs]), strict=True
    ):
        bar.lane = lane
    return max((b.lane or 0 for b in jobs), default=0)


# --------------------------------------------------------------------------- totals


@dataclass(frozen=True)
class Totals:
    records: int
    by_status: dict[str, int]
    targets_with_jobs: int
    registered: int
    registered_without_job: list[tuple[str, str]]
    jobs: int  # records that held a Bedrock job
    retries: int  # records of attempt >= 2
    scanned: int
    indexed: int
    deleted: int
    failed_documents: int
    alerts: int
    peak: int
    longest: Bar | None
    makespan_s: float
    first_start: float | None
    last_end: float | None
    waited_s: float
    gate_waited_s: float
    unreadable: int


def totals_of(bars: Sequence[Bar], registered: Sequence[tuple[str, str]], peak: int, unreadable: int) -> Totals:
    stats = [b.record.get("statistics") or {} for b in bars]

    def total(name: str) -> int:
        return sum(_int(s.get(name)) for s in stats if isinstance(s, dict))

    with_jobs = [b for b in bars if b.job_start is not None]
    targets = {b.target for b in bars}
    first = min((b.first for b in bars), default=None)
    last = max((b.end for b in bars), default=None)
    return Totals(
        records=len(bars),
        by_status=dict(Counter(b.status for b in bars)),
        targets_with_jobs=len(targets),
        registered=len(registered),
        registered_without_job=sorted(set(registered) - targets),
        jobs=len(with_jobs),
        retries=sum(1 for b in bars if b.attempt >= 2),
        scanned=total("numberOfDocumentsScanned"),
        indexed=total("numberOfNewDocumentsIndexed") + total("numberOfModifiedDocumentsIndexed"),
        deleted=total("numberOfDocumentsDeleted"),
        failed_documents=total("numberOfDocumentsFailed"),
        alerts=sum(1 for b in bars if b.record.get("alertSent") is True),
        peak=peak,
        longest=max((b for b in with_jobs if not b.open), key=lambda b: b.took, default=None),
        makespan_s=(last - first) if first is not None and last is not None else 0.0,
        first_start=first,
        last_end=last,
        waited_s=sum(b.waited for b in bars),
        gate_waited_s=sum(b.gate_waited for b in bars),
        unreadable=unreadable,
    )


# --------------------------------------------------------------------------- HTML


def _e(value: Any) -> str:
    """Every value that comes from a record or the registry goes through here."""
    return html.escape(str(value), quote=True)


def _utc(epoch: float | None, with_date: bool = True) -> str:
    if epoch is None:
        return "-"
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ" if with_date else "%H:%M:%SZ")


def _order(status: str) -> tuple[int, str]:
    return (ALL_STATUSES.index(status), status) if status in ALL_STATUSES else (len(ALL_STATUSES), status)


def _cut(text: str, chars: int = NOTE_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _note(record: Record) -> str:
    """What the record says about why (first failure reason, error code, cause, coalescing), one short line."""
    parts = []
    reasons = record.get("failureReasons") or []
    if isinstance(reasons, list) and reasons:
        count = max(len(reasons), _int(record.get("failureReasonsTotal")))
        parts.append(_cut(str(reasons[0])) + (f" (+{count - 1} more)" if count > 1 else ""))
    for key in ("errorCode", "cause"):
        if record.get(key):
            parts.append(_cut(str(record[key])))
    if record.get("coalescedInto"):
        parts.append(f"covered by job {record['coalescedInto']}")
    if record.get("closedBy"):
        parts.append(f"closed by the {record['closedBy']}")
    return "; ".join(parts)


class Axis:
    """Epoch seconds -> x (px) over [t0, t1], padded so that bars never touch the plot's edges."""

    def __init__(self, t0: float, t1: float, night: Night) -> None:
        span = max(t1 - t0, 1.0)
        pad = span * 0.02
        self.t0, self.t1 = t0 - pad, t1 + pad
        self.left, self.right = float(LABEL_W), float(WIDTH - RIGHT_PAD)
        self.night = night

    def x(self, t: float) -> float:
        return self.left + (t - self.t0) / (self.t1 - self.t0) * (self.right - self.left)

    def ticks(self) -> list[tuple[float, str]]:
        span = self.t1 - self.t0
        step = next((s for s in TICK_STEPS if span / s <= MAX_TICKS), TICK_STEPS[-1])
        first = int(self.t0 // step + 1) * step
        found = []
        t = float(first)
        while t <= self.t1:
            moment = datetime.fromtimestamp(t, UTC)
            label = moment.strftime("%H:%M:%S" if step < 60 else "%H:%M")
            days = (moment.date() - self.night.day).days
            if days:
                label += f" {days:+d}d"
            found.append((t, label))
            t += step
        return found


def _axis_svg(axis: Axis, top: float, bottom: float) -> list[str]:
    parts = [f'<text class="ax" x="{axis.left - 8:.0f}" y="{top - 8:.0f}" text-anchor="end">UTC</text>']
    for t, label in axis.ticks():
        x = axis.x(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4:.0f}" y2="{bottom:.0f}"/>')
        parts.append(f'<text class="ax" x="{x:.1f}" y="{top - 8:.0f}" text-anchor="middle">{label}</text>')
    return parts


def _short_title(bar: Bar) -> str:
    """The tooltip of a lane bar: whose job, how it ended, how long it took."""
    job = f"job {bar.job_id}" if bar.job_id else "no job"
    return _e(f"{bar.kb} / {bar.ds}  {job}  {bar.status}  {_duration(bar.took)}")


def _title(bar: Bar) -> str:
    """The tooltip of a target's record: every time it holds, trigger, attempt and why it ended so."""
    lines = [
        f"{bar.kb} / {bar.ds}  {'job ' + bar.job_id if bar.job_id else 'no job'}  {bar.status}",
        f"trigger {bar.record.get('trigger', '-')}, attempt {bar.attempt}"
        + (f", gate round {bar.record['round']}" if bar.record.get("round") else ""),
        f"record {_utc(bar.start, False)}"
        + (f", job start {_utc(bar.job_start, False)}" if bar.job_start is not None else "")
        + f", {'still open at' if bar.open else 'ended'} {_utc(bar.end, False)}",
        f"took {_duration(bar.took)}"
        + (f", waited {_duration(bar.gate_waited)} in the sync gate" if bar.gate_start is not None else "")
        + (f", waited {_duration(bar.waited)} for the start" if bar.waited else ""),
    ]
    note = _note(bar.record)
    if note:
        lines.append(note)
    return _e("\n".join(lines))


def _rect(axis: Axis, start: float, end: float, y: float, height: float, css: str) -> str:
    x0, x1 = axis.x(start), axis.x(end)
    width = max(x1 - x0, MIN_BAR_W)
    return f'<rect class="{css}" x="{x0:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.0f}"/>'


def _lanes_svg(bars: Sequence[Bar], peak: int, axis: Axis) -> str:
    rows = max(QUOTA_LANES, peak)
    top = AXIS_H
    height = top + rows * ROW_H + 6
    parts = [
        f'<svg class="chart" id="lanes-chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'role="img" aria-label="ingestion jobs in the account quota lanes">',
        f'<rect class="plot-lanes" x="{axis.left:.0f}" y="{top}" width="{axis.right - axis.left:.0f}" '
        f'height="{rows * ROW_H}"/>',
    ]
    for lane in range(1, rows + 1):
        y = top + (lane - 1) * ROW_H
        if lane > QUOTA_LANES:
            parts.append(
                f'<rect class="over" x="{axis.left:.0f}" y="{y}" width="{axis.right - axis.left:.0f}" '
                f'height="{ROW_H}"/>'
            )
            parts.append(
                f'<text class="lab over-text" x="{axis.left - 8:.0f}" y="{y + 13}" text-anchor="end">lane {lane}: '
                "over quota</text>"
            )
        else:
            parts.append(f'<text class="lab" x="{axis.left - 8:.0f}" y="{y + 13}" text-anchor="end">lane {lane}</text>')
    parts += _axis_svg(axis, top, top + rows * ROW_H)
    for bar in bars:
        if bar.lane is None or bar.job_start is None:
            continue
        bar_y = top + (bar.lane - 1) * ROW_H + (ROW_H - BAR_H) / 2
        rect = _rect(axis, bar.job_start, bar.end, bar_y, BAR_H, f"s-{bar.group}")
        parts.append(f"<g><title>{_short_title(bar)}</title>{rect}")
        x0, x1 = axis.x(bar.job_start), axis.x(bar.end)
        if x1 - x0 > 80:
            parts.append(f'<text class="in" x="{x0 + 4:.1f}" y="{bar_y + 10:.1f}">{_e(bar.kb)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _targets_svg(bars: Sequence[Bar], without_job: Sequence[tuple[str, str]], axis: Axis) -> str:
    by_target: dict[tuple[str, str], list[Bar]] = {}
    for bar in bars:
        by_target.setdefault(bar.target, []).append(bar)
    rows: list[tuple[tuple[str, str], list[Bar]]] = [*by_target.items(), *((t, []) for t in without_job)]
    top = AXIS_H
    height = top + max(1, len(rows)) * ROW_H + 6
    parts = [
        f'<svg class="chart" id="targets-chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'role="img" aria-label="job records of each target">',
        f'<rect class="plot-targets" x="{axis.left:.0f}" y="{top}" width="{axis.right - axis.left:.0f}" '
        f'height="{max(1, len(rows)) * ROW_H}"/>',
    ]
    parts += _axis_svg(axis, top, top + max(1, len(rows)) * ROW_H)
    for row, ((kb, ds), row_bars) in enumerate(rows):
        y = top + row * ROW_H
        parts.append(
            f'<text class="lab mono" x="{axis.left - 8:.0f}" y="{y + 13}" text-anchor="end">{_e(kb)} / {_e(ds)}</text>'
        )
        if not row_bars:
            parts.append(
                f'<text class="none" x="{axis.left + 6:.0f}" y="{y + 13}">registered, no job this night</text>'
            )
        for bar in row_bars:
            mid = y + ROW_H / 2
            css = f"s-{bar.group}"
            parts.append(f"<g><title>{_title(bar)}</title>")
            if bar.gate_start is not None:  # in the sync gate: a dashed line up to the record
                x0, x1 = axis.x(bar.gate_start), axis.x(bar.start)
                parts.append(f'<line class="gate" x1="{x0:.1f}" x2="{x1:.1f}" y1="{mid:.1f}" y2="{mid:.1f}"/>')
            if bar.job_start is None:  # no job: the start was refused, coalesced, or has not happened yet
                parts.append(_rect(axis, bar.start, bar.end, mid - BAR_H / 2, BAR_H, css))
            else:
                if bar.job_start > bar.start:
                    parts.append(_rect(axis, bar.start, bar.job_start, mid - WAIT_H / 2, WAIT_H, "wait"))
                parts.append(_rect(axis, bar.job_start, bar.end, mid - BAR_H / 2, BAR_H, css))
                if bar.attempt >= 2:  # a re-start after FAILED: a marker above the bar's start
                    parts.append(
                        f'<path class="retry" d="M{axis.x(bar.job_start):.1f} {mid - BAR_H / 2:.1f}l-4 -4h8z"/>'
                    )
            parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


CSS = Template(
    "body{font:14px/1.4 'DejaVu Sans','Liberation Sans',Arial,sans-serif;color:#1d2330;margin:18px 24px;"
    "background:#fff}h1{font-size:20px;margin:0 0 2px}h2{font-size:15px;margin:16px 0 4px}"
    ".sub,.note{color:#5a6475;font-size:12px;margin:2px 0}.cards{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}"
    ".card{border:1px solid #d5dbe5;border-radius:6px;padding:4px 10px;min-width:92px}"
    ".card b{display:block;font-size:17px}.card span{color:#5a6475;font-size:12px}"
    ".legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:6px 0;font-size:13px}"
    ".legend i{display:inline-block;width:14px;height:14px;vertical-align:-2px;margin-right:5px;border-radius:2px}"
    ".chart{display:block;max-width:none}.plot-lanes{fill:$lanes}.plot-targets{fill:$targets}"
    ".over{fill:$over}.over-text{fill:$over_text;font-weight:bold}.c-over{background:$over}"
    ".grid{stroke:#d0d6e0;stroke-width:1}.ax{font-size:11px;fill:#5a6475}.lab{font-size:11px;fill:#1d2330}"
    ".mono{font-family:'DejaVu Sans Mono','Liberation Mono',monospace}.in{font-size:10px;fill:#fff}"
    ".none{font-size:11px;fill:#8a93a3;font-style:italic}.retry{fill:#1d2330}"
    ".wait{fill:$wait}.c-wait{background:$wait}.gate{stroke:$gate;stroke-width:2;stroke-dasharray:4 3}"
    ".legend i.c-gate{height:0;border-top:2px dashed $gate;border-radius:0;vertical-align:4px}"
    "$groups table{border-collapse:collapse;font-size:12px;margin-top:6px}"
    "th,td{border-bottom:1px solid #e3e7ee;padding:2px 8px;text-align:left;vertical-align:top}th{background:#f1f3f7}"
    "#jobs td{white-space:nowrap}#jobs td:last-child{white-space:normal;min-width:320px}"
    "#jobs td:nth-child(5),#jobs td:nth-child(n+7):nth-child(-n+13){text-align:right}"
    "#jobs td:nth-child(-n+3){font-family:'DejaVu Sans Mono','Liberation Mono',monospace}"
    ".sw{display:inline-block;width:9px;height:9px}.warn{color:$over_text;font-weight:bold}"
).substitute(
    CSS_COLOURS,
    groups="".join(f".s-{g}{{fill:{c}}}.c-{g}{{background:{c}}}" for g, (c, _) in GROUPS.items()),
)


def _card(ident: str, value: Any, label: str, extra: str = "") -> str:
    return f'<div class="card" id="{ident}"><b>{_e(value)}</b><span>{_e(label)}</span>{extra}</div>'


def _legend(totals: Totals, peak: int) -> str:
    items = []
    for status in sorted(totals.by_status, key=_order):
        group = GROUP_OF.get(status, "other")
        items.append(
            f'<span class="st" data-status="{_e(status)}" title="{_e(GROUPS[group][1])}"><i class="c-{group}"></i>'
            f"{_e(status)} <b>{totals.by_status[status]}</b></span>"
        )
    if totals.gate_waited_s:
        items.append('<span><i class="c-gate"></i>waiting in the sync gate</span>')
    if totals.waited_s:
        items.append('<span><i class="c-wait"></i>waiting for the job to start</span>')
    if totals.retries:
        items.append("<span>▼ re-start after FAILED (attempt 2 or more)</span>")
    if peak > QUOTA_LANES:
        items.append(f'<span class="warn"><i class="c-over"></i>more than {QUOTA_LANES} jobs at once</span>')
    return f'<div class="legend" id="legend">{"".join(items)}</div>'


def _table(bars: Sequence[Bar]) -> str:
    head = (
        "<tr><th>started (UTC)</th><th>knowledge base / data source</th><th>job</th><th>trigger</th><th>try</th>"
        "<th>status</th><th>gate</th><th>start</th><th>took</th><th>lane</th><th>scanned</th><th>indexed</th><th>failed</th>"
        "<th>alert</th><th>note</th></tr>"
    )
    rows = []
    for bar in bars:
        stats = bar.record.get("statistics") or {}
        stats = stats if isinstance(stats, dict) else {}
        indexed = _int(stats.get("numberOfNewDocumentsIndexed")) + _int(stats.get("numberOfModifiedDocumentsIndexed"))
        rows.append(
            f'<tr class="job" data-status="{_e(bar.status)}"><td>{_utc(bar.start, with_date=False)}</td>'
            f"<td>{_e(bar.kb)} / {_e(bar.ds)}</td><td>{_e(bar.job_id or '-')}</td>"
            f"<td>{_e(bar.record.get('trigger', '-'))}</td><td>{bar.attempt}</td>"
            f'<td><i class="sw c-{bar.group}"></i> {_e(bar.status)}'
            f"{' (open)' if bar.open else ''}</td>"
            f"<td>{_duration(bar.gate_waited) if bar.gate_start is not None else '-'}</td>"
            f"<td>{_duration(bar.waited) if bar.job_start is not None else '-'}</td>"
            f"<td>{_duration(bar.took)}</td><td>{bar.lane or '-'}</td>"
            f"<td>{_int(stats.get('numberOfDocumentsScanned'))}</td><td>{indexed}</td>"
            f"<td>{_int(stats.get('numberOfDocumentsFailed'))}</td>"
            f"<td>{'sent' if bar.record.get('alertSent') is True else ''}</td><td>{_e(_note(bar.record))}</td></tr>"
        )
    is_open = " open" if len(bars) <= OPEN_TABLE_ROWS else ""
    return (
        f'<details id="jobs"{is_open}><summary>{len(bars)} job record(s), by start</summary>'
        f"<table>{head}{''.join(rows)}</table></details>"
    )


def render(
    records: Iterable[Record],
    night: Night,
    registered: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
    stack: str = "",
) -> str:
    """The night's page: records (as read from the JobsTable) in, one self-contained HTML document out."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    bars, unreadable = bars_of(records, night, now)
    peak = assign_lanes(bars)
    totals = totals_of(bars, registered, peak, unreadable)
    if bars:
        axis = Axis(min(b.first for b in bars), max(b.end for b in bars), night)
    else:
        axis = Axis(night.start.timestamp(), night.end.timestamp(), night)
    longest = totals.longest
    cards = [
        _card("total-records", totals.records, "job records"),
        _card("total-jobs", totals.jobs, "ingestion jobs"),
        _card(
            "total-targets",
            f"{totals.targets_with_jobs} / {totals.registered}" if totals.registered else totals.targets_with_jobs,
            "targets synced / registered" if totals.registered else "targets synced",
        ),
        _card("total-retries", totals.retries, "re-starts"),
        _card("total-scanned", totals.scanned, "documents scanned"),
        _card("total-indexed", totals.indexed, "documents indexed"),
        _card("total-failed-documents", totals.failed_documents, "documents failed"),
        _card("total-alerts", totals.alerts, "alerts sent"),
        _card(
            "total-longest",
            _duration(longest.took) if longest else "-",
            f"longest job ({longest.kb} / {longest.ds} {longest.job_id})" if longest else "longest job",
        ),
        _card("total-makespan", _duration(totals.makespan_s) if totals.records else "-", "makespan"),
        _card(
            "total-peak",
            f"{totals.peak} / {QUOTA_LANES}",
            "peak concurrent jobs / quota",
            ' <span class="warn">over quota</span>' if totals.peak > QUOTA_LANES else "",
        ),
        _card(
            "total-gate-waited", _duration(totals.gate_waited_s) if totals.records else "-", "waited in the sync gate"
        ),
        _card("total-waited", _duration(totals.waited_s) if totals.records else "-", "waited for the starts"),
    ]
    span_text = (
        f"first start {_utc(totals.first_start)}, last end {_utc(totals.last_end)}"
        if totals.records
        else "no job record started on this night"
    )
    notes = []
    if totals.peak > QUOTA_LANES:
        notes.append(
            f'<p class="note warn" id="over-quota">{totals.peak} jobs overlapped, more than Bedrock\'s '
            f"{QUOTA_LANES} per account. A bar ends when kbsync recorded the outcome, at its first poll after "
            "Bedrock's own end, and the pacer gives a slot away once Bedrock reports the job ended: an overlap of "
            "less than one poll interval may be that delay; a longer one is a quota bug (compare with "
            "`aws bedrock-agent get-ingestion-job`).</p>"
        )
    if totals.unreadable:
        notes.append(f'<p class="note warn">{totals.unreadable} record(s) without a readable startedAt, not drawn.</p>')
    without = totals.registered_without_job
    registry = ""
    if without:
        registry = (
            f'<p class="note" id="no-job">{len(without)} registered target(s) had no job this night: '
            + ", ".join(f"{_e(kb)} / {_e(ds)}" for kb, ds in without[:20])
            + (f" and {len(without) - 20} more" if len(without) > 20 else "")
            + "</p>"
        )
    stack_text = f" · stack {_e(stack)}" if stack else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>kbsync night {night.label} (UTC)</title><style>{CSS}</style></head><body>"
        f"<h1>kbsync: the night of {night.label} (UTC)</h1>"
        f'<p class="sub">job records started from {_utc(night.start.timestamp())} to '
        f"{_utc(night.end.timestamp())} (any trigger){stack_text} · {span_text} · written {_utc(now.timestamp())}</p>"
        f'<div class="cards" id="totals">{"".join(cards)}</div>'
        f"{_legend(totals, peak)}"
        f"<h2>Account quota lanes: Bedrock runs {QUOTA_LANES} ingestion jobs at once</h2>"
        f"{_lanes_svg(bars, peak, axis)}{''.join(notes)}"
        "<h2>Jobs by target</h2>"
        '<p class="note">dashed line: in the sync gate (settle time, the pacer\'s queue), from gateEnteredAt when the '
        "record has it; thin bar: the record is written, then the workflow waits for its job's start (coalescing "
        "check, a job started outside kbsync); thick bar: the ingestion job, to its recorded end (a record without "
        "a job: its whole span).</p>"
        f"{_targets_svg(bars, without, axis)}{registry}"
        f"<h2>Every job record</h2>{_table(bars)}"
        "</body></html>\n"
    )


def write(path: str, page: str) -> None:
    """Write the page to `path` (UTF-8); a path that cannot be written is a usage error naming it."""
    try:
        with open(path, "w", encoding="utf-8", errors="backslashreplace") as file:
            file.write(page)
    except OSError as exc:
        raise CliError(f"--out: cannot write {path}: {exc.strerror or exc}", ExitCode.USAGE) from exc


def summary(records: Sequence[Record], night: Night) -> str:
    """One line for the terminal: how many records, of how many targets, by status."""
    if not records:
        return f"no job record started on {night.label} (UTC)"
    counts = Counter(str(r.get("status", "")) for r in records)
    targets = {(r.get("knowledgeBaseId"), r.get("dataSourceId")) for r in records}
    by_status = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=_order))
    return f"{len(records)} job record(s) of {len(targets)} target(s): {by_status}"
