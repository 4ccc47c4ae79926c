"""Terminal output: tables and live progress that look good on a terminal and stay plain text when piped.

On a terminal: bold headers, a rule, coloured statuses, a progress line rewritten in place, long cells cut to the
terminal width. Piped (or NO_COLOR / TERM=dumb): aligned columns, no escape codes, one progress line per change,
nothing cut — so grep/awk and CI logs see everything.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import kbsync_alerts

_COLOURS = {
    "COMPLETE": "32",
    "SUCCEEDED": "32",
    "PARTIAL": "33",
    "STOPPED": "33",
    "STOPPING": "33",
    "FAILED": "31",
    "START_FAILED": "31",
    "TIMED_OUT": "31",
    "NO_RECORD": "31",
    "EXECUTION_DIED": "31",
    "ABORTED": "31",
    "STARTING": "36",
    "IN_PROGRESS": "36",
    "WAITING": "36",
    "RUNNING": "36",
}


@dataclass(frozen=True)
class Style:
    """How to write to one stream: `tty` allows rewriting lines and cutting to `width`; `colour` allows ANSI."""

    tty: bool
    colour: bool
    width: int

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        tty = bool(getattr(stream, "isatty", lambda: False)())
        colour = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        width = shutil.get_terminal_size((100, 24)).columns if tty else 0
        return cls(tty=tty, colour=colour, width=width)

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def status(self, status: str) -> str:
        return self.paint(status, _COLOURS.get(status.split(" ")[0], ""))


PLAIN = Style(tty=False, colour=False, width=0)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], style: Style, status_column: int | None = None) -> str:
    """Aligned columns; on a terminal the widest column is cut so a row fits the width."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    if style.tty and style.width:
        widths = _fit(widths, style.width)
        cells = [[_cut(c, widths[i]) for i, c in enumerate(r)] for r in cells]
    lines = [style.bold(_join([h.upper() for h in headers], widths, PLAIN, None))]
    if style.tty:
        lines.append("─" * min(sum(widths) + 2 * (len(widths) - 1), style.width or 10_000))
    lines += [_join(row, widths, style, status_column) for row in cells]
    return "\n".join(lines)


def _join(cells: Sequence[str], widths: Sequence[int], style: Style, status_column: int | None) -> str:
    """One row: cells padded to their column (the last one not, so no trailing blanks), the status coloured."""
    parts = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        text = cell if i == len(cells) - 1 else cell.ljust(width)
        if i == status_column:
            text = style.status(cell) + text[len(cell) :]
        parts.append(text)
    return "  ".join(parts).rstrip()


def _fit(widths: list[int], total: int) -> list[int]:
    """Narrow the last column (free text: notes, reasons) first, then the widest ones, until a row fits."""
    fitted = list(widths)
    excess = sum(fitted) + 2 * (len(fitted) - 1) - total
    if excess > 0:
        cut = min(excess, max(0, fitted[-1] - 6))
        fitted[-1] -= cut
        excess -= cut
    while excess > 0:
        widest = max(range(len(fitted)), key=lambda i: fitted[i])
        if fitted[widest] <= 8:
            break
        fitted[widest] -= 1
        excess -= 1
    return fitted


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def duration(seconds: float | None) -> str:
    """'42s', '3m05s', '1h02m' — short enough for a table column."""
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{(total % 3600) // 60:02d}m"


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM:SSZ' (UTC, what alerts and AWS consoles show)."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%SZ") if parsed else (str(value) if value else "-")


def span(start: Any, end: Any) -> str:
    first, last = parse_time(start), parse_time(end)
    return duration((last - first).total_seconds()) if first and last else "-"


def as_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def severity_of(alert_type: str) -> str:
    return kbsync_alerts.alert_kind(alert_type).severity


class ProgressLine:
    """Live progress: rewritten in place on a terminal; piped, a new line only when something changed."""

    def __init__(self, stream: TextIO, style: Style) -> None:
        self._stream = stream
        self._style = style
        self._last = ""
        self._open = False

    def update(self, text: str, status: str, key: str | None = None) -> None:
        """Show `text`; piped, only when `key` (the text without the ticking clock) changed."""
        changed = (key if key is not None else text) != self._last
        if self._style.tty:
            shown = text if not self._style.width else _cut(text, self._style.width - 1)
            self._stream.write("\r\x1b[2K" + shown.replace(status, self._style.status(status), 1))
            self._stream.flush()
            self._open = True
        elif changed:
            self._stream.write(text + "\n")
            self._stream.flush()
        self._last = key if key is not None else text

    def close(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._stream.flush()
            self._open = False
