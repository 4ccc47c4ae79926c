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


def push_cost() -> list[Ratio]:
    """Push completion (docs/push-completion.md) against the poll loop, on the same jobs: detection delay in virtual
    seconds (goal <= 5) and state transitions per job (goal: constant however long the job runs)."""
    cost = importlib.import_module("kbsync_localcloud.bench.cost")
    figures = cost.measure_push_versus_poll(JOB_SECONDS)
    by = {(f.mode, f.jobSeconds): f for f in figures}
    found = []
    for seconds in JOB_SECONDS:
        push, poll = by[("push", seconds)], by[("poll", seconds)]
        label = f"{seconds / 60:g}-min job"
        found += [
            Ratio("push cost", f"detection delay, push (s virtual, {label})", push.noticeDelaySeconds,
                  f"job's end to the GetJobStatus after the wake (woken by {push.wokenBy or '?'}); goal <= 5 s; "
                  f"poll: {poll.noticeDelaySeconds:g} s"),
            Ratio("push cost", f"state transitions per job, push ({label})", float(push.stateTransitions),
                  f"states entered, whole execution, {push.waitingTransitions} of them waiting for the end; "
                  f"poll: {poll.stateTransitions} ({poll.waitingTransitions} waiting)"),
            Ratio("push cost", f"state transitions push / poll ({label})",
                  push.stateTransitions / poll.stateTransitions, "below 1: push costs fewer transitions"),
        ]  # fmt: skip
    return found


SECTIONS: dict[str, Callable[[], list[Ratio]]] = {
    "triggers": triggers,
    "local cloud": local_cloud,
    "poll cost": poll_cost,
    "push cost": push_cost,
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


def partial_table(old_block: str, figures: list[Ratio], started: float, failed: list[str]) -> str:
    """`--only`: the block as it was, its rows of the sections measured now replaced (or added) by the new ones, and
    a line saying which sections were measured again, when and how long it took (the other rows keep their date)."""
    measured = {figure.section for figure in figures}
    lines = old_block.strip("\n").splitlines()
    kept = [line for line in lines if not (line.startswith("| ") and line.split("|")[1].strip() in measured)]
    rows = readme_table(figures, started, failed).splitlines()[4:]
    minutes, seconds = divmod(round(time.time() - started), 60)
    note = (
        f"Sections {', '.join(sorted(measured))} measured again by `make bench` (`--only`) on "
        f"{time.strftime('%Y-%m-%d')} ({minutes} min {seconds} s); the other rows are from the run above."
    )
    kept = [line for line in kept if not line.startswith("Sections ")]
    table_end = (
        max(i for i, line in enumerate(kept) if line.startswith("|")) + 1
        if any(line.startswith("|") for line in kept)
        else len(kept)
    )
    return "\n".join([*kept[:table_end], *rows, *kept[table_end:], "", note])


def write_readme(
    path: Path, table: str | None = None, *, partial: tuple[list[Ratio], float, list[str]] | None = None
) -> None:
    """Replace what lies between README_BEGIN and README_END in `path` with `table` (both markers must be there);
    with `partial`, only the rows of the sections measured (partial_table)."""
    text = path.read_text()
    pattern = re.compile(re.escape(README_BEGIN) + "(.*?)" + re.escape(README_END), re.DOTALL)
    found = pattern.search(text)
    if not found:
        raise SystemExit(
            f"kbsync_localcloud.bench: {path} has no '{README_BEGIN}' ... '{README_END}' block to write into"
        )
    block = table if partial is None else partial_table(found.group(1), *partial)
    path.write_text(pattern.sub(lambda _: f"{README_BEGIN}\n{block}\n{README_END}", text, count=1))


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
    if args.readme is not None and args.only:
        write_readme(args.readme, partial=(measured, started, failed))
        print(f"figures of {', '.join(args.only)} written into {args.readme}")
    elif args.readme is not None:
        write_readme(args.readme, readme_table(measured, started, failed))
        print(f"figures written into {args.readme}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
