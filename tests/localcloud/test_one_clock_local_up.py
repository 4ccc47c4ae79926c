"""One clock, through the real CLI against `kbsync local up`, in a temporary HOME with no AWS configuration.

`kbsync local up --time-scale 0.001` (1 virtual second = 1 ms: the virtual clock gains 999 s per real second, so it
is hours ahead of the wall clock by the time the server is ready). Then, in a clean shell holding only what the banner
says: the banner's own two example commands (`kbsync sync ... --wait`, `kbsync history ...`), `kbsync history --json`
(the DynamoDB records), `kbsync show`, the AWS CLI's view of the Bedrock emulator's jobs, and the CLI's message about a
job started outside kbsync (a date that comes from Bedrock's startedAt). Every date any of them shows must fall within
the test's own real-time window: scaled time changes durations, not dates.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.localcloud.local_up import LocalUp, clean_env, serve, shell

pytestmark = pytest.mark.e2e

SCALE = "0.001"
#: Dates are shown to the second (truncated) and the host's clocks may disagree by a little.
SLACK_S = 2.0
#: A date anywhere in the CLI's or the AWS CLI's output: 2026-12-06 02:10:24Z, 2026-12-06T02:10:24.5+00:00, and the
#: compact form in execution names (…-20261206T021024-ab12).
DATE = re.compile(
    r"(?P<iso>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))|(?P<compact>\d{8}T\d{6})"
)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("one-clock"), time_scale=SCALE)


def dates_in(text: str) -> list[datetime]:
    found = []
    for match in DATE.finditer(text):
        if match["iso"]:
            found.append(datetime.fromisoformat(match["iso"].replace(" ", "T").replace("Z", "+00:00")))
        else:
            found.append(datetime.strptime(match["compact"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC))
    return found


class Window:
    """The real time the test ran in; every date shown must fall inside it."""

    def __init__(self) -> None:
        self.start = time.time()

    def check(self, moments: list[datetime], what: str, required: bool = True) -> None:
        assert moments or not required, f"{what}: no date to check"
        end = time.time()
        for moment in moments:
            seconds = moment.timestamp()
            assert self.start - SLACK_S <= seconds <= end + SLACK_S, (
                f"{what}: {moment.isoformat()} is outside the real time this test ran "
                f"({datetime.fromtimestamp(self.start, UTC):%H:%M:%S}..{datetime.fromtimestamp(end, UTC):%H:%M:%S} "
                f"UTC): not on the wall clock"
            )


def banner_lines(up: LocalUp, start: str) -> list[str]:
    return [line.strip() for line in up.banner if line.strip().startswith(start)]


def run(up: LocalUp, home: Path, script: str, expect: int = 0) -> str:
    """`script` in a clean shell that holds only the banner's exports and aws function; its stdout and stderr."""
    done = shell("\n".join([*banner_lines(up, "export "), *banner_lines(up, "aws() "), script]), clean_env(home))
    assert done.returncode == expect, f"{script} -> {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_every_date_the_cli_the_records_and_the_emulator_show_is_real_time(up: LocalUp, tmp_path: Path) -> None:
    window = Window()
    home = tmp_path / "home"  # no ~/.aws
    home.mkdir()
    assert f"time scale {SCALE}: 1 virtual second lasts 1 ms (1000x faster)" in "\n".join(up.banner)
    kb, ds = up.seeded("knowledge base"), up.seeded("data source")
    try_lines = up.banner[up.banner.index("  # then try:") + 1 :][:2]
    assert [line.strip() for line in try_lines] == [
        f"kbsync sync --kb {kb} --ds {ds} --wait",
        f"kbsync history --kb {kb} --ds {ds}",
    ]

    synced = run(up, home, try_lines[0].strip())  # the banner's first example, verbatim: exit 0 = COMPLETE
    window.check(dates_in(synced), "kbsync sync --wait")
    history = run(up, home, try_lines[1].strip())
    window.check(dates_in(history), "kbsync history")

    [record] = json.loads(run(up, home, f"kbsync history --kb {kb} --ds {ds} --json"))
    assert record["status"] == "COMPLETE"
    record_dates = [datetime.fromisoformat(record[key]) for key in ("startedAt", "updatedAt")]
    window.check(record_dates, "the job record (DynamoDB)")
    window.check(dates_in(run(up, home, f"kbsync show {record['ingestionJobId']}")), "kbsync show")

    jobs = json.loads(
        run(up, home, f"aws bedrock-agent list-ingestion-jobs --knowledge-base-id {kb} --data-source-id {ds}")
    )["ingestionJobSummaries"]
    [job] = [job for job in jobs if job["ingestionJobId"] == record["ingestionJobId"]]
    started, updated = (datetime.fromisoformat(job[key]) for key in ("startedAt", "updatedAt"))
    window.check([started, updated], "the Bedrock emulator's job (aws bedrock-agent list-ingestion-jobs)")
    assert started <= updated
    # the same job on the same clock: Bedrock starts it after kbsync recorded STARTING, and ends it before the
    # record of its end is written
    assert record_dates[0].timestamp() - SLACK_S <= started.timestamp()
    assert updated.timestamp() <= record_dates[1].timestamp() + SLACK_S


def test_a_job_started_outside_kbsync_is_dated_on_the_same_clock(up: LocalUp, tmp_path: Path) -> None:
    window = Window()
    home = tmp_path / "home"
    home.mkdir()
    kb, ds = up.seeded("knowledge base"), up.seeded("data source")
    # the emulator's documented fault control: the next job never finishes
    request = urllib.request.Request(  # noqa: S310 - the local server
        up.endpoint + "/kbsync-local/bedrock/faults",
        data=json.dumps({"action": "hang_next_jobs", "count": 1}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local server
        assert response.status == 200
    started = json.loads(
        run(up, home, f"aws bedrock-agent start-ingestion-job --knowledge-base-id {kb} --data-source-id {ds}")
    )["ingestionJob"]
    try:
        window.check([datetime.fromisoformat(started["startedAt"])], "StartIngestionJob startedAt")
        refused = run(up, home, f"kbsync sync --kb {kb} --ds {ds}", expect=7)
        assert started["ingestionJobId"] in refused, refused
        window.check(dates_in(refused), "kbsync sync refused by a foreign job (its Bedrock startedAt)")
        window.check(dates_in(run(up, home, "kbsync status")), "kbsync status", required=False)
    finally:
        run(
            up,
            home,
            f"aws bedrock-agent stop-ingestion-job --knowledge-base-id {kb} --data-source-id {ds} "
            f"--ingestion-job-id {started['ingestionJobId']}",
        )
