"""`make mutate`: every mutant against the test files that can catch it, in throw-away copies of the work tree.

- The work tree is never written: each worker gets a copy (the files git tracks or would track, i.e. the current
  working state without ignored files) in a temporary directory; a mutant is written into the copy, its tests run
  there, and the original text is put back. Tests load everything relative to their own location (the template,
  ``statemachines/*.asl.json`` through its DefinitionUri, ``functions/<name>/app.py`` by file path), so a copy needs
  no hook in the product. PYTHONPATH puts the copy's ``kbsync``, ``schemas`` (kbsync_contracts) and
  ``localcloud`` (kbsync_localcloud, whose ``CHECKOUT`` is where TriggerRig deploys ``template.yaml`` from) before the
  editable installs, and no bytecode is written (a mutant of the same size written within the same second would
  otherwise run a stale .pyc).
- Each mutant runs ``pytest -x -q`` on its file's test files only (tools/mutate/plan.py), at most 2 at a time, with
  a per-mutant timeout (a timeout counts as caught: the mutant made the tests hang). Before any mutant, each
  target's tests run once unmutated: a target whose tests fail clean is reported and skipped.
- It prints caught/total, the score, the run time and every survivor, and writes a JSON report (``--report``);
  ``--survivors-of REPORT`` reruns only that report's survivors (after new tests) and merges the results.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from tools.mutate import asl, python
from tools.mutate.mutant import Mutant
from tools.mutate.plan import ASL_TARGETS, PYTHON_TARGETS, Target

REPO = Path(__file__).resolve().parents[2]
TEST_PYTHON = REPO / ".venv" / "bin" / "python"
DEFAULT_REPORT = REPO / "build" / "mutate" / "report.json"
MAX_JOBS = 2
#: Never copied, even when not ignored by git.
SKIPPED = (".venv", "build/", "node_modules/")


@dataclass
class Result:
    path: str
    where: str
    what: str
    kind: str
    outcome: str  # caught | timeout | survived | error (pytest gave no verdict: not counted)
    seconds: float
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.path} | {self.where} | {self.what}"


def copy_tree(destination: Path) -> None:
    """The work tree as git sees it (tracked + untracked, not ignored), without writing anything in it."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if not source.is_file() or name.startswith(SKIPPED):
            continue  # deleted in the work tree but still in the index; virtualenvs; reports
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def pytest_command(tests: list[str], fail_fast: bool = True, deselect: tuple[str, ...] = ()) -> list[str]:
    return [
        str(TEST_PYTHON),
        "-m",
        "pytest",
        *(["-x"] if fail_fast else ["-rf"]),
        *(f"--deselect={node}" for node in deselect),
        "-q",
        "--no-header",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *tests,
    ]


def run_tests(
    tree: Path, tests: list[str], timeout: float, fail_fast: bool = True, deselect: tuple[str, ...] = ()
) -> tuple[str, float, str]:
    """('passed' | 'failed' | 'timeout' | 'error', seconds, output) of the tests in `tree` (the last lines of the
    output when failing fast, all of it otherwise)."""
    env = {
        **os.environ,
        # The copy's localcloud too: kbsync_localcloud.CHECKOUT (its parent's parent) is the tree TriggerRig deploys;
        # from the editable install it would deploy the unmutated work tree and every trigger e2e test would pass.
        "PYTHONPATH": os.pathsep.join(str(p) for p in (tree, tree / "schemas", tree / "localcloud")),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("PYTEST_ADDOPTS", None)
    started = time.monotonic()
    with subprocess.Popen(
        pytest_command(tests, fail_fast, deselect),
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return "timeout", time.monotonic() - started, ""
    text = output.decode(errors="replace").strip().splitlines()
    # pytest: 0 passed; 1 a test failed, 2 interrupted (a collection error: the mutant broke an import); anything
    # else (3 internal error, 4 usage error such as a missing file, 5 no tests) is no verdict.
    outcome = {0: "passed", 1: "failed", 2: "failed"}.get(process.returncode, "error")
    return outcome, time.monotonic() - started, "\n".join(text[-3:] if fail_fast else text)


def collect(targets: list[Target], kinds: set[str]) -> list[tuple[Mutant, Target]]:
    found: list[tuple[Mutant, Target]] = []
    if "asl" in kinds:
        for target in ASL_TARGETS:
            if target in targets:
                found += [(m, target) for m in asl.mutants_of(REPO / target.path, target.path)]
    if "python" in kinds:
        for target in PYTHON_TARGETS:
            if target in targets:
                found += [(m, target) for m in python.mutants_of(REPO / target.path, target.path, target.functions)]
    return found


def existing(tree: Path, tests: tuple[str, ...]) -> list[str]:
    """The test files of a target that exist (in the copy the tests run in)."""
    return [t for t in tests if (tree / t).exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("asl", "python", "all"), default="all")
    parser.add_argument("--file", action="append", default=[], help="only targets whose path contains this")
    parser.add_argument("--match", default="", help="only mutants whose description contains this")
    parser.add_argument("--sample", type=int, default=0, help="a random sample of N mutants (seeded)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=MAX_JOBS)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--survivors-of", type=Path, help="rerun only the survivors of this report, merge results")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--tests", nargs="+", help="run these test files instead of the plan's (e.g. does this test catch them?)"
    )
    args = parser.parse_args(argv)
    jobs = max(1, min(MAX_JOBS, args.jobs))

    kinds = {"asl", "python"} if args.kind == "all" else {args.kind}
    targets = [t for t in (*ASL_TARGETS, *PYTHON_TARGETS) if not args.file or any(f in t.path for f in args.file)]
    mutants = [(m, t) for m, t in collect(targets, kinds) if args.match in m.describe()]
    previous: list[Result] = []
    if args.survivors_of:
        previous = [Result(**r) for r in json.loads(args.survivors_of.read_text(encoding="utf-8"))["results"]]
        survivors = {r.key for r in previous if r.outcome == "survived"}
        mutants = [(m, t) for m, t in mutants if f"{m.path} | {m.where} | {m.what}" in survivors]
    if args.sample and args.sample < len(mutants):
        mutants = random.Random(args.seed).sample(mutants, args.sample)
    if args.tests:
        mutants = [(m, replace(t, tests=tuple(args.tests))) for m, t in mutants]
    if args.list:
        for mutant, _ in mutants:
            print(mutant.describe())
        print(f"{len(mutants)} mutants")
        return 0

    started = time.monotonic()
    print(f"make mutate: {len(mutants)} mutants, {jobs} at a time", flush=True)
    with tempfile.TemporaryDirectory(prefix="kbsync-mutate-") as scratch:
        trees: queue.Queue[Path] = queue.Queue()
        for index in range(jobs):
            tree = Path(scratch) / f"tree-{index}"
            copy_tree(tree)
            trees.put(tree)

        # Each target's tests, unmutated (all of them, not failing fast): their time sets the mutants' timeout. Tests
        # that fail without any mutant (someone's work in progress, a flaky test) are deselected for that target's
        # mutants and listed; a target whose tests cannot even be collected is skipped.
        used = {t for _, t in mutants}
        timeouts: dict[str, float] = {}
        red: dict[str, tuple[str, ...]] = {}

        def baseline(target: Target) -> tuple[Target, str, float, str]:
            tree = trees.get()
            try:
                outcome, seconds, output = run_tests(tree, existing(tree, target.tests), 900, fail_fast=False)
            finally:
                trees.put(tree)
            return target, outcome, seconds, output

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for target, outcome, seconds, output in pool.map(baseline, sorted(used, key=lambda t: t.path)):
                failing = tuple(
                    line.removeprefix("FAILED ").split(" - ")[0]
                    for line in output.splitlines()
                    if line.startswith("FAILED ")
                )
                print(f"baseline {target.path}: {outcome} in {seconds:.1f}s", flush=True)
                if outcome == "passed" or (outcome == "failed" and failing):
                    timeouts[target.path] = max(60.0, 3 * seconds)
                    red[target.path] = failing
                    for node in failing:
                        print(f"  red without any mutant, deselected for its mutants: {node}", flush=True)
                else:
                    tail = "\n".join(output.splitlines()[-5:])
                    print(f"  its tests cannot run without a mutant; its mutants are skipped:\n{tail}", flush=True)
        runnable = [(m, t) for m, t in mutants if t.path in timeouts]

        done = 0

        def one(item: tuple[Mutant, Target]) -> Result:
            nonlocal done
            mutant, target = item
            tree = trees.get()
            file = tree / mutant.path
            original = file.read_text(encoding="utf-8")
            try:
                file.write_text(mutant.text, encoding="utf-8")
                outcome, seconds, tail = run_tests(
                    tree, existing(tree, target.tests), timeouts[target.path], deselect=red[target.path]
                )
            finally:
                file.write_text(original, encoding="utf-8")
                trees.put(tree)
            verdict = {"passed": "survived", "failed": "caught", "timeout": "timeout", "error": "error"}[outcome]
            done += 1
            print(f"[{done}/{len(runnable)}] {verdict:8} {seconds:5.1f}s {mutant.describe()}", flush=True)
            return Result(mutant.path, mutant.where, mutant.what, mutant.kind, verdict, round(seconds, 1), tail)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, runnable))

    elapsed = time.monotonic() - started
    if previous:
        fresh = {r.key: r for r in results}
        results = [fresh.get(r.key, r) for r in previous]
    return summarize(results, elapsed, args.report, skipped=len(mutants) - len(runnable))


def summarize(results: list[Result], elapsed: float, report: Path, skipped: int) -> int:
    errors = [r for r in results if r.outcome == "error"]
    results = [r for r in results if r.outcome != "error"]
    caught = [r for r in results if r.outcome in ("caught", "timeout")]
    survivors = [r for r in results if r.outcome == "survived"]
    total = len(results)
    score = 100.0 * len(caught) / total if total else 0.0
    minutes, seconds = divmod(int(elapsed), 60)
    print()
    for kind in ("asl", "python"):
        mine = [r for r in results if r.kind == kind]
        if mine:
            kc = sum(r.outcome != "survived" for r in mine)
            print(f"  {kind:6}: {kc}/{len(mine)} caught")
    print(f"caught {len(caught)}/{total} ({sum(r.outcome == 'timeout' for r in results)} by timeout)")
    print(f"score {score:.1f}%   run time {minutes} min {seconds:02d} s   ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    for r in errors:
        print(f"no verdict (pytest error, not counted): {r.path} {r.where}: {r.what}\n    {r.detail}")
    if skipped:
        print(f"{skipped} mutants not run: their target's tests fail without a mutant")
    if survivors:
        print(f"survivors ({len(survivors)}):")
        for r in survivors:
            print(f"  {r.path} {r.where}: {r.what}")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "date": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
                "seconds": round(elapsed),
                "caught": len(caught),
                "total": total,
                "score": round(score, 1),
                "results": [asdict(r) for r in (*results, *errors)],
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
