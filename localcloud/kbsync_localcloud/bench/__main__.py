"""``make bench``: every kbsync benchmark in one place, printed as ratios (never absolute times, never a gate).

Sections (each skipped with a note when its module is absent):
- triggers (``kbsync_localcloud.bench.triggers.ratios()``): nightly makespan / quota lower bound, largest payload /
  256 KB and longest history / 25,000 events (from the histories) for 1,000 targets, 50 targets (first and
  next night) and 200 targets (first night), state transitions per target, jobs per 1,000-upload burst;
- local cloud (``kbsync_localcloud.bench.localcloud``): execution throughput against plain moto, aws-sdk model-cache
  speed-up;
- poll cost (``kbsync_localcloud.bench.cost``): state transitions per job and how late the end of a 2-minute and a
  60-minute job is noticed, relative to the job's duration and to the wait schedule alone.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kbsync_localcloud.bench import Ratio

JOB_SECONDS = (120.0, 3600.0)


def triggers() -> list[Ratio]:
    module = importlib.import_module("kbsync_localcloud.bench.triggers")
    found: list[Ratio] = module.ratios()
    return found


def local_cloud() -> list[Ratio]:
    from kbsync_localcloud.bench import localcloud

    return localcloud.ratios()


def poll_cost() -> list[Ratio]:
    cost = importlib.import_module("kbsync_localcloud.bench.cost")
    found = []
    for figure in cost.measure_poll_cost(JOB_SECONDS):
        label = f"{figure.jobSeconds / 60:g}-min job"
        found += [
            Ratio("poll cost", f"state transitions per job ({label})", float(figure.stateTransitions),
                  f"states entered, whole execution; {figure.polls} polls, {figure.historyEvents} history events"),
            Ratio("poll cost", f"detection delay / job duration ({label})",
                  figure.noticeDelaySeconds / figure.jobSeconds,
                  "virtual seconds from the job's end to the poll that saw it, per second of job"),
            Ratio("poll cost", f"detection delay / wait-schedule delay ({label})",
                  figure.noticeDelaySeconds / figure.scheduleDelaySeconds if figure.scheduleDelaySeconds else 1.0,
                  "measured delay over the delay the poll schedule alone implies (1 = no local overhead)"),
        ]  # fmt: skip
    return found


SECTIONS: dict[str, Callable[[], list[Ratio]]] = {
    "triggers": triggers,
    "local cloud": local_cloud,
    "poll cost": poll_cost,
}


#: ``make bench`` rewrites the README's table between these two lines with the figures it measured.
README_BEGIN = "<!-- make bench: begin (generated, do not edit by hand) -->"
README_END = "<!-- make bench: end -->"


def readme_table(figures: list[Ratio], started: float, failed: list[str]) -> str:
    minutes, seconds = divmod(round(time.time() - started), 60)
    lines = [
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')} ({minutes} min {seconds} s for the whole run"
        f"{'; FAILED: ' + ', '.join(failed) if failed else ''}):",
        "",
        "| Section | Figure | Ratio | What it is |",
        "|---|---|---|---|",
    ]
    for figure in figures:
        meaning = figure.meaning.replace("|", "\\|")
        lines.append(f"| {figure.section} | {figure.name} | {figure.value:.4g} | {meaning} |")
    return "\n".join(lines)


def write_readme(path: Path, table: str) -> None:
    """Replace what lies between README_BEGIN and README_END in `path` with `table` (both markers must be there)."""
    text = path.read_text()
    pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(
            f"kbsync_localcloud.bench: {path} has no '{README_BEGIN}' ... '{README_END}' block to write into"
        )
    path.write_text(pattern.sub(lambda _: f"{README_BEGIN}\n{table}\n{README_END}", text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kbsync_localcloud.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="also write the figures into this file's make-bench block")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="run only these sections")
    args = parser.parse_args(argv)
    started = time.time()
    print(f"kbsync benchmarks (ratios; python -m kbsync_localcloud.bench, {time.strftime('%Y-%m-%d')})")
    failed: list[str] = []
    measured: list[Ratio] = []
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the handlers' JSON logs are not figures
                figures = section()
        except ModuleNotFoundError as missing:
            print(f"{name:<12} skipped: {missing.name} is not available")
            continue
        except Exception as error:  # one broken section must not hide the others
            print(f"{name:<12} FAILED: {type(error).__name__}: {error}")
            failed.append(name)
            continue
        for figure in figures:
            print(figure.line())
        measured += figures
    if args.readme is not None:
        write_readme(args.readme, readme_table(measured, started, failed))
        print(f"figures written into {args.readme}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
