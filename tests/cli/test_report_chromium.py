"""The night report as a browser shows it: headless Chromium (Debian's package, installed by `make chromium`, a
prerequisite of `make test`) renders the HTML; the screenshot is read pixel by pixel and `--dump-dom` gives the DOM
the browser built.

What the picture must show: each outcome's colour where its job ran (a COMPLETE job's green bar left of a later
FAILED job's red one, three times shorter when it took a third of the time; an overlapping job in the next lane), no
red at all on a night of successes, and a red lane when more than 5 jobs ran at once.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kbsync.cli import report
from tests.cli.test_report import NIGHT, record

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WINDOW = (1400, 900)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--force-color-profile=srgb",
)
#: A colour matches when each channel is within this of the report's (edges are anti-aliased, fills are exact).
TOLERANCE = 6


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


GREEN, RED, AMBER = rgb(report.GROUPS["ok"][0]), rgb(report.GROUPS["failed"][0]), rgb(report.GROUPS["partial"][0])
LANES = rgb(report.LANES_BACKGROUND)
OVER = rgb(report.OVER_QUOTA_BACKGROUND)
OVER_TEXT = rgb(report.OVER_QUOTA_TEXT)


# --------------------------------------------------------------------------- a PNG reader (zlib; no dependency)


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixels(self, y: int) -> list[tuple[int, int, int]]:
        row, step = self.rows[y], self.channels
        return list(zip(row[0::step], row[1::step], row[2::step], strict=True))

    def histogram(self) -> Counter[tuple[int, int, int]]:
        counts: Counter[tuple[int, int, int]] = Counter()
        for y in range(self.height):
            counts.update(self.pixels(y))
        return counts

    def count(self, colour: tuple[int, int, int]) -> int:
        """Pixels of that colour in the whole picture."""
        return sum(n for seen, n in self.histogram().items() if close(seen, colour))

    def plot_rows(self, background: tuple[int, int, int], min_run: int = 300) -> list[int]:
        """The rows with at least `min_run` pixels of a plot's background colour (anti-aliased edges of text and
        bars give a few pixels of any light colour, never hundreds in a row)."""
        return [y for y in range(self.height) if self.pixels(y).count(background) >= min_run]

    def plot(self, background: tuple[int, int, int]) -> tuple[int, int, int, int]:
        """The box (x0, y0, x1, y1) of a chart's plot area, found by its background colour."""
        rows = self.plot_rows(background)
        assert rows, f"no plot of background {background}"
        xs = [x for y in rows for x, seen in enumerate(self.pixels(y)) if seen == background]
        return min(xs), rows[0], max(xs), rows[-1]

    def where(
        self, colour: tuple[int, int, int], box: tuple[int, int, int, int] | None = None
    ) -> list[tuple[int, int]]:
        """Every (x, y) of that colour, inside box (x0, y0, x1, y1, inclusive) when given."""
        x0, y0, x1, y1 = box or (0, 0, self.width - 1, self.height - 1)
        return [
            (x, y)
            for y in range(y0, y1 + 1)
            for x, seen in enumerate(self.pixels(y))
            if x0 <= x <= x1 and close(seen, colour)
        ]


def close(seen: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= TOLERANCE for a, b in zip(seen, colour, strict=True))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def read_png(data: bytes) -> Image:
    """8-bit RGB or RGBA, not interlaced: what Chromium's screenshots are."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type, interlace)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + (left + previous[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                corner = previous[i - channels] if i >= channels else 0
                line[i] = (line[i] + _paeth(left, previous[i], corner)) & 255
        rows.append(bytes(line))
        previous = line
    return Image(width, height, channels, rows)


def box_of(points: list[tuple[int, int]]) -> tuple[int, int, int, int]:
    assert points, "no pixel of that colour"
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


# --------------------------------------------------------------------------- Chromium


def chromium(tmp_path: Path, page: Path, *what: str) -> subprocess.CompletedProcess[str]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make chromium` installs Debian's package"
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *what, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def screenshot(tmp_path: Path, html: str, name: str) -> Image:
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    chromium(tmp_path, page, f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    image = read_png(png.read_bytes())
    assert (image.width, image.height) == WINDOW
    return image


def dump_dom(tmp_path: Path, html: str, name: str) -> str:
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    return chromium(tmp_path, page, "--dump-dom").stdout


# --------------------------------------------------------------------------- the tests


def test_each_outcome_is_drawn_in_its_colour_where_and_as_long_as_it_ran(tmp_path: Path) -> None:
    night = [
        record(kb="KB00000001", status="COMPLETE", start_s=3600, took_s=600, wait_s=0, job="JB00000001"),
        record(kb="KB00000002", status="PARTIAL", start_s=3900, took_s=600, wait_s=0, job="JB00000002"),
        record(kb="KB00000003", status="FAILED", start_s=4800, took_s=1800, wait_s=0, job="JB00000003"),
    ]
    image = screenshot(tmp_path, report.render(night, NIGHT, now=NIGHT.end), "outcomes")
    lanes = image.plot(LANES)  # the quota lanes' plot: the first chart, at the top of the page
    green, amber, red = (box_of(image.where(c, lanes)) for c in (GREEN, AMBER, RED))
    # time runs left to right: the COMPLETE job (01:00-01:10) ends before the FAILED one (01:20-01:50) starts
    assert green[2] < red[0], (green, red)
    # 10 minutes against 30: a third of the width (bars are whole pixels: 10% slack)
    ratio = (red[2] - red[0] + 1) / (green[2] - green[0] + 1)
    assert 2.7 < ratio < 3.3, (green, red, ratio)
    # the PARTIAL job overlapped the COMPLETE one: the next lane down; the FAILED one reused lane 1
    assert amber[1] > green[3] and abs(red[1] - green[1]) <= 1, (green, amber, red)
    assert green[0] < amber[0] < green[2]
    # a bar is 12 px high, its width in pixels of that colour; no over-quota lane, no red label
    assert len(image.where(RED, lanes)) > 12 * 100
    assert image.plot_rows(OVER) == [] and image.count(OVER_TEXT) == 0


def test_a_night_of_successes_shows_no_red(tmp_path: Path) -> None:
    night = [
        record(kb=f"KB0000000{i}", status="COMPLETE", start_s=3600 + 400 * i, took_s=300 + 60 * i, job=f"JB0000000{i}")
        for i in range(4)
    ]
    image = screenshot(tmp_path, report.render(night, NIGHT, now=NIGHT.end), "successes")
    assert image.count(GREEN) > 4 * 2 * 12 * 20  # four jobs, in both charts
    for red in (RED, OVER, OVER_TEXT, AMBER):
        assert image.count(red) == 0, red


def test_more_than_five_jobs_at_once_is_a_red_lane(tmp_path: Path) -> None:
    night = [
        record(kb=f"KB0000000{i}", status="COMPLETE", start_s=3600 + 30 * i, took_s=900, job=f"JB0000000{i}")
        for i in range(6)
    ]
    image = screenshot(tmp_path, report.render(night, NIGHT, now=NIGHT.end), "over-quota")
    lanes = image.plot(LANES)
    over = image.plot(OVER)
    # the sixth lane, tinted, right below the five lanes of the quota, as wide as they are
    assert over[1] >= lanes[3] and over[1] - lanes[3] <= 2, (lanes, over)
    assert abs(over[0] - lanes[0]) <= 1 and abs(over[2] - lanes[2]) <= 1
    assert image.count(OVER_TEXT) > 20  # "lane 6: over quota", in red


def test_the_browser_dom_holds_the_totals_and_no_script(tmp_path: Path) -> None:
    night = [
        record(kb="KB00000001", status="COMPLETE", start_s=3600, took_s=600, job="JB00000001", alertSent=False),
        record(kb="KB00000002", status="FAILED", start_s=3700, took_s=60, job="JB00000002", alertSent=True),
        record(
            kb="<script>document.title='pwned'</script>",
            status="START_FAILED",
            start_s=3800,
            job=None,
            errorCode="BedrockAgent.AccessDeniedException",
        ),
    ]
    dom = dump_dom(tmp_path, report.render(night, NIGHT, [("KB00000009", "DS00000009")], now=NIGHT.end), "dom")
    for ident, value in (
        ("total-records", "3"),
        ("total-jobs", "2"),
        ("total-targets", "3 / 1"),
        ("total-scanned", "30"),
        ("total-failed-documents", "3"),
        ("total-alerts", "1"),
        ("total-longest", "10m00s"),
        ("total-peak", "2 / 5"),
    ):
        assert f'id="{ident}"><b>{value}</b>' in dom, ident
    assert "<title>kbsync night 2026-12-06 (UTC)</title>" in dom  # the hostile id did not retitle the page
    assert "<script" not in dom.lower() and "&lt;script&gt;document.title" in dom
    assert dom.count('<tr class="job"') == 3 and dom.count("<rect ") >= 3 + 2 + 2  # plots, lanes, target bars


def test_a_thousand_jobs_render_in_the_browser(tmp_path: Path) -> None:
    night = [
        record(
            kb=f"KB{i:08d}",
            ds=f"DS{i:08d}",
            status=("COMPLETE", "PARTIAL", "FAILED")[i % 3],
            start_s=3600 + (i // 5) * 100 + (i % 5) * 10,
            took_s=60 + i % 30,
            job=f"JB{i:08d}",
        )
        for i in range(1000)
    ]
    html = report.render(night, NIGHT, now=NIGHT.end)
    started = time.monotonic()
    dom = dump_dom(tmp_path, html, "thousand")
    took = time.monotonic() - started
    assert dom.count('<tr class="job"') == 1000 and 'id="total-records"><b>1000</b>' in dom
    assert took < 60, f"Chromium took {took:.1f} s"
