"""`kbsync report --night DATE`: the renderer on built records (0 jobs, each outcome, overlaps, 1,000 jobs, hostile
values), the query on a fake client, the command's arguments, and one report of real syncs on the local cloud."""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kbsync.cli import main, report
from kbsync.cli.errors import CliError, ExitCode
from kbsync.cli.outcome import ALL_STATUSES
from tests.cli.support import Deployed, cli

NIGHT = report.Night(date(2026, 12, 6))
ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:schedule-x"
WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")
#: A 1,000-job night must stay a file a browser opens at once and a mail attaches.
MAX_BYTES_1000 = 2_000_000


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(
    kb: str = "KB00000001",
    ds: str = "DS00000001",
    status: str = "COMPLETE",
    start_s: float = 7200.0,
    took_s: float = 600.0,
    wait_s: float = 5.0,
    attempt: int = 1,
    job: str | None = "JB00000001",
    **extra: Any,
) -> dict[str, Any]:
    """A job record as the JobsTable holds it (schemas/job-record.schema.json), started `start_s` after the night's
    00:00Z, its job `wait_s` later, ended `took_s` after that."""
    started = NIGHT.start + timedelta(seconds=start_s)
    built: dict[str, Any] = {
        "pk": f"DS#{kb}#{ds}",
        "sk": f"JOB#{iso(started)}#schedule-x-{attempt}",
        "knowledgeBaseId": kb,
        "dataSourceId": ds,
        "status": status,
        "trigger": "schedule",
        "executionArn": ARN,
        "attempt": attempt,
        "startedAt": iso(started),
        "updatedAt": iso(started + timedelta(seconds=wait_s + took_s)),
        "statistics": {"numberOfDocumentsScanned": 10, "numberOfNewDocumentsIndexed": 9, "numberOfDocumentsFailed": 1},
    }
    if job:
        built["ingestionJobId"] = job
        built["jobStartedAt"] = iso(started + timedelta(seconds=wait_s))
    built.update(extra)
    return built


def jobs_in_table(page: str) -> list[str]:
    return re.findall(r'<tr class="job" data-status="([A-Z_]+)">', page)


def card(page: str, ident: str) -> str:
    found = re.search(rf'id="{ident}"><b>([^<]*)</b>', page)
    assert found, f"no card {ident}"
    return found.group(1)


def column(page: str, number: int) -> list[str]:
    """The cells of one column (1..) of the table of records."""
    rows = re.findall(r'<tr class="job".*?</tr>', page)
    return [re.findall(r"<td>(.*?)</td>", row)[number - 1] for row in rows]


def lanes_chart(page: str) -> str:
    return page[page.index('id="lanes-chart"') : page.index("</svg>", page.index('id="lanes-chart"'))]


# --------------------------------------------------------------------------- the renderer


def test_a_night_without_jobs_is_a_page_that_says_so() -> None:
    page = report.render([], NIGHT, registered=[("KB00000009", "DS00000009")], now=NIGHT.end)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "no job record started on this night" in page
    assert card(page, "total-records") == "0" and card(page, "total-peak") == "0 / 5"
    assert jobs_in_table(page) == []
    assert all(f">lane {n}</text>" in page for n in range(1, 6)) and "over quota" not in page
    assert "KB00000009 / DS00000009" in page and "registered, no job this night" in page
    assert report.summary([], NIGHT) == "no job record started on 2026-12-06 (UTC)"


@pytest.mark.parametrize(
    ("status", "group", "colour"),
    [
        ("COMPLETE", "ok", "#2ca02c"),
        ("PARTIAL", "partial", "#f2a900"),
        ("FAILED", "failed", "#d62728"),
        ("START_FAILED", "failed", "#d62728"),
        ("TIMED_OUT", "failed", "#d62728"),
        ("POLL_FAILED", "failed", "#d62728"),
        ("EXECUTION_ABORTED", "failed", "#d62728"),
        ("EXECUTION_TIMED_OUT", "failed", "#d62728"),
        ("EXECUTION_FAILED", "failed", "#d62728"),
        ("STOPPED", "stopped", "#8c8c8c"),
        ("STARTING", "running", "#1f77b4"),
        ("IN_PROGRESS", "running", "#1f77b4"),
        ("STOPPING", "running", "#1f77b4"),
        ("COALESCED", "coalesced", "#c5b0d5"),
        ("SOMETHING_NEW", "other", "#9467bd"),
    ],
)
def test_one_job_of_each_outcome_in_its_colour_with_a_legend(status: str, group: str, colour: str) -> None:
    job = None if status in {"START_FAILED", "COALESCED"} else "JB00000001"
    page = report.render([record(status=status, job=job)], NIGHT, now=NIGHT.end)
    assert f".s-{group}{{fill:{colour}}}" in page
    assert f'class="s-{group}"' in page  # its bar
    assert re.search(rf'data-status="{status}"[^>]*><i class="c-{group}"></i>{status} <b>1</b>', page)  # legend
    assert jobs_in_table(page) == [status]
    assert card(page, "total-records") == "1"
    assert card(page, "total-jobs") == ("1" if job else "0")
    lanes = lanes_chart(page)
    assert ('class="s-' in lanes) == bool(job)  # only a record that held a Bedrock job takes a quota lane
    assert ("JB00000001" in page) == bool(job)


def test_every_status_of_the_contract_has_its_group() -> None:
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "job-record.schema.json").read_text())
    assert set(schema["properties"]["status"]["enum"]) == set(ALL_STATUSES) == set(report.GROUP_OF)


def test_a_night_of_successes_has_no_red_in_it() -> None:
    page = report.render([record(), record(kb="KB00000002", start_s=9000, job="JB00000002")], NIGHT, now=NIGHT.end)
    body = page[page.index("</style>") :]
    assert 'class="s-failed"' not in body and "c-failed" not in body and "over quota" not in body
    assert "warn" not in body


def test_a_retry_is_marked_and_counted_and_the_wait_is_drawn() -> None:
    page = report.render(
        [
            record(status="FAILED", job="JB00000001", failureReasons=["bucket gone"], failureReasonsTotal=3),
            record(status="COMPLETE", start_s=7900, attempt=2, job="JB00000002"),
        ],
        NIGHT,
        now=NIGHT.end,
    )
    assert card(page, "total-retries") == "1"
    assert page.count('class="retry"') == 1
    assert page.count('class="wait"') == 2  # 5 s between each record and its job
    assert "bucket gone (+2 more)" in page
    assert "re-start after FAILED" in page


def test_the_gate_wait_is_drawn_when_the_record_has_it() -> None:
    gate: dict[str, Any] = {
        "gateExecutionArn": ARN.replace("IngestionSync", "sync-gate"),
        "gateEnteredAt": iso(NIGHT.start + timedelta(seconds=7140)),
    }
    first = record(start_s=7200, took_s=600, job="JB00000001", round=1, **gate)  # 60 s in the gate
    second = record(start_s=7900, took_s=60, job="JB00000002", round=2, **gate)  # a second round of the same gate
    older = record(kb="KB00000002", start_s=8000, job="JB00000003")  # a record of a kbsync without the field
    page = report.render([first, second, older], NIGHT, now=NIGHT.end)
    bars, _ = report.bars_of([first, second, older], NIGHT, NIGHT.end)
    assert [b.gate_waited for b in bars] == [60.0, 95.0, 0.0]  # round 2 waited from round 1's end, not the gate's start
    assert page.count('class="gate"') == 2 and "waiting in the sync gate" in page
    assert card(page, "total-gate-waited") == "2m35s" and card(page, "total-waited") == "15s"
    assert column(page, 7) == ["1m00s", "1m35s", "-"] and "gate round 2" in page
    assert card(page, "total-makespan") == "24m25s"  # from the gate's start (01:59:00Z) to 02:23:25Z


def test_totals_add_up() -> None:
    page = report.render(
        [
            record(start_s=7200, took_s=600, job="JB00000001", alertSent=True),
            record(kb="KB00000002", start_s=7300, took_s=1800, job="JB00000002"),
            record(kb="KB00000003", status="IN_PROGRESS", start_s=7400, took_s=60, job="JB00000003"),
        ],
        NIGHT,
        registered=[("KB00000001", "DS00000001"), ("KB00000007", "DS00000007")],
        now=NIGHT.start + timedelta(hours=3),
    )
    assert card(page, "total-records") == "3" and card(page, "total-jobs") == "3"
    assert card(page, "total-scanned") == "30" and card(page, "total-indexed") == "27"
    assert card(page, "total-failed-documents") == "3" and card(page, "total-alerts") == "1"
    assert card(page, "total-targets") == "3 / 2"
    assert card(page, "total-longest") == "30m00s"  # the closed 30-minute job, not the one still running
    assert "JB00000002" in page[page.index('id="total-longest"') :][:200]
    # the running job is drawn until now (03:00Z): the makespan runs from 02:00:00Z to then
    assert card(page, "total-makespan") == "1h00m"
    assert "IN_PROGRESS (open)" in page
    assert "1 registered target(s) had no job this night: KB00000007 / DS00000007" in page


def test_a_job_still_open_after_the_night_is_drawn_to_the_nights_end_only() -> None:
    bars, _ = report.bars_of(
        [record(status="IN_PROGRESS", start_s=86000, took_s=10)], NIGHT, NIGHT.end + timedelta(days=3)
    )
    assert bars[0].open and bars[0].end == NIGHT.end.timestamp()


def test_overlapping_jobs_take_the_lowest_free_lane() -> None:
    assert report.pack_lanes([]) == []
    assert report.pack_lanes([(0, 10), (5, 15), (10, 20), (12, 13), (30, 40)]) == [1, 2, 1, 3, 1]
    assert report.pack_lanes([(10, 20), (0, 10)]) == [1, 1]  # touching jobs share a lane
    records = [record(kb=f"KB0000000{i}", start_s=7200 + 60 * i, job=f"JB0000000{i}") for i in range(5)]
    page = report.render(records, NIGHT, now=NIGHT.end)
    assert card(page, "total-peak") == "5 / 5" and "over quota" not in page
    assert column(page, 10) == ["1", "2", "3", "4", "5"]  # the lane column, by start


def test_a_sixth_job_at_once_is_a_red_lane() -> None:
    records = [record(kb=f"KB0000000{i}", start_s=7200 + 60 * i, job=f"JB0000000{i}") for i in range(6)]
    page = report.render(records, NIGHT, now=NIGHT.end)
    assert card(page, "total-peak") == "6 / 5"
    lanes = lanes_chart(page)
    assert 'class="over"' in lanes and "lane 6: over quota" in lanes
    assert 'id="over-quota"' in page and "6 jobs overlapped" in page


def test_a_thousand_jobs_fit_in_a_small_file_and_every_one_is_there() -> None:
    statuses = ["COMPLETE", "PARTIAL", "FAILED", "STOPPED", "COMPLETE"]
    records = [
        record(
            kb=f"KB{i:08d}",
            ds=f"DS{i:08d}",
            status=statuses[i % 5],
            start_s=7200 + (i // 5) * 90 + (i % 5) * 10,
            took_s=60 + i % 20,
            job=f"JB{i:08d}",
            failureReasons=["x" * 1024] * 25 if statuses[i % 5] == "FAILED" else [],
            errorCode="BedrockAgent.InternalServerException" if statuses[i % 5] == "FAILED" else None,
        )
        for i in range(1000)
    ]
    started = time.perf_counter()
    page = report.render(records, NIGHT, registered=[(f"KB{i:08d}", f"DS{i:08d}") for i in range(1200)])
    took = time.perf_counter() - started
    size = len(page.encode())
    assert size < MAX_BYTES_1000, f"{size} bytes"
    assert took < 10, f"{took:.2f} s"
    assert len(jobs_in_table(page)) == 1000
    for i in range(1000):
        assert f"JB{i:08d}" in page
    assert card(page, "total-records") == "1000" and card(page, "total-targets") == "1000 / 1200"
    assert "200 registered target(s) had no job this night" in page
    assert "<details" in page and '<details id="jobs" open>' not in page  # the long table opens by a click


def test_values_from_records_are_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    page = report.render(
        [
            record(
                kb=hostile,
                ds='"><img src=x onerror=alert(2)>',
                status="FAILED",
                job="JB</title><script>",
                failureReasons=["</table><script>alert(3)</script>"],
                errorCode="<b onclick=x>",
                trigger="<svg onload=alert(4)>",
            )
        ],
        NIGHT,
        registered=[("<script>reg</script>", "DS00000001")],
        stack="<script>stack</script>",
    )
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<svg onload" not in lowered
    assert "<b onclick" not in lowered and "</title><script" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page


def test_the_page_is_self_contained() -> None:
    page = report.render([record()], NIGHT, now=NIGHT.end)
    lowered = page.lower()
    for loads_something in (
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "src=",
        "@import",
        "url(",
        "http:",
        "https:",
    ):
        assert loads_something not in lowered, loads_something
    assert "content-security-policy" in lowered and "default-src 'none'" in page


# --------------------------------------------------------------------------- the night and the arguments


def test_the_night_is_a_utc_day() -> None:
    assert (NIGHT.start.isoformat(), NIGHT.end.isoformat()) == (
        "2026-12-06T00:00:00+00:00",
        "2026-12-07T00:00:00+00:00",
    )
    assert report.last_night(datetime(2026, 12, 6, 0, 30, tzinfo=UTC)) == date(2026, 12, 5)
    assert report.default_out(NIGHT) == "kbsync-night-2026-12-06.html"
    assert report.night_date("2024-02-29") == date(2024, 2, 29)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-02-30", "2026-1-5", "20261206", "", " 2026-12-06"])
def test_a_bad_night_is_a_usage_error_naming_the_option(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected YYYY-MM-DD, got"):
        report.night_argument(bad)
    assert main(["report", "--night", bad]) == ExitCode.USAGE
    assert f"argument --night: expected YYYY-MM-DD, got {bad!r}" in capsys.readouterr().err


def test_help_says_what_the_night_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "[DATE 00:00Z, DATE+1 00:00Z)" in shown and "default: yesterday, UTC" in shown and "--out PATH" in shown


def test_an_out_path_that_cannot_be_written_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CliError) as raised:
        report.write(str(tmp_path / "missing" / "night.html"), "<html></html>")
    assert raised.value.code == ExitCode.USAGE and "--out: cannot write" in raised.value.message


class FakeJobsTable:
    """DynamoDB's Query on the byStatus index over a list of records, two items per page; GetItem by key."""

    def __init__(self, records: list[dict[str, Any]], keys_only: bool = False) -> None:
        self.records = records
        self.keys_only = keys_only
        self.calls: list[dict[str, Any]] = []

    @staticmethod
    def item(record: dict[str, Any]) -> dict[str, Any]:
        return {k: {"N": str(v)} if isinstance(v, int) else {"S": str(v)} for k, v in record.items()}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        assert kwargs["IndexName"] == "byStatus"
        assert kwargs["KeyConditionExpression"] == "#status = :status AND begins_with(startedAt, :day)"
        values = kwargs["ExpressionAttributeValues"]
        hits = [
            r
            for r in self.records
            if r["status"] == values[":status"]["S"] and r["startedAt"].startswith(values[":day"]["S"])
        ]
        offset = int(kwargs.get("ExclusiveStartKey", {}).get("offset", 0))
        page = hits[offset : offset + 2]
        items = [
            {k: v for k, v in self.item(r).items() if k in {"pk", "sk", "status", "startedAt"}}
            if self.keys_only
            else self.item(r)
            for r in page
        ]
        answer: dict[str, Any] = {"Items": items}
        if offset + 2 < len(hits):
            answer["LastEvaluatedKey"] = {"offset": offset + 2}
        return answer

    def get_item(self, TableName: str, Key: dict[str, Any]) -> dict[str, Any]:
        for r in self.records:
            if (r["pk"], r["sk"]) == (Key["pk"]["S"], Key["sk"]["S"]):
                return {"Item": self.item(r)}
        return {}


@pytest.mark.parametrize("keys_only", [False, True])
def test_the_query_reads_each_status_of_the_night_page_by_page(keys_only: bool) -> None:
    tonight = [record(kb=f"KB0000000{i}", start_s=3600 * i, job=f"JB0000000{i}") for i in range(5)]
    tonight.append(record(kb="KB00000009", status="FAILED", start_s=86399.999, job="JB00000009"))
    other_nights = [
        record(kb="KB00000008", start_s=-0.001, job="JB00000008"),  # 23:59:59.999Z the day before
        record(kb="KB00000007", start_s=86400, job="JB00000007"),  # 00:00:00Z the day after
    ]
    table = FakeJobsTable(tonight + other_nights, keys_only)
    found = report.night_records(table, "kbsync-Jobs", NIGHT)
    assert [r["knowledgeBaseId"] for r in found] == [r["knowledgeBaseId"] for r in tonight]
    assert found[0]["executionArn"] == ARN and found[0]["attempt"] == 1
    queried = [c["ExpressionAttributeValues"][":status"]["S"] for c in table.calls]
    assert set(queried) == set(ALL_STATUSES) and queried.count("COMPLETE") == 3  # 5 records, 2 per page


# --------------------------------------------------------------------------- kbsync report on the local cloud


def test_kbsync_report_shows_every_job_of_real_syncs(
    deployed: Deployed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = deployed.new_target()
    partial = deployed.new_target({"ok.md": b"# ok\n", "setup.exe": b"MZ"})
    failed = deployed.new_target(bucket_exists=False)
    registered_only = deployed.new_target()
    added = cli("targets", "add", "--kb", registered_only.kb, "--ds", registered_only.ds)
    assert added.code == 0, added.err
    for target, code in ((ok, ExitCode.OK), (partial, ExitCode.PARTIAL), (failed, ExitCode.FAILED)):
        synced = cli("sync", "--kb", target.kb, "--ds", target.ds, *WAIT)
        assert synced.code == code, synced.out + synced.err
    records = []
    for target in (ok, partial, failed):
        listed = cli("history", "--kb", target.kb, "--ds", target.ds, "--json")
        records += json.loads(listed.out)
    assert sorted(r["status"] for r in records) == ["COMPLETE", "FAILED", "FAILED", "FAILED", "PARTIAL"]
    night = min(r["startedAt"] for r in records)[:10]
    tonight = [r for r in records if r["startedAt"].startswith(night)]  # all of them, unless midnight passed

    out = tmp_path / "night.html"
    written = cli("report", "--night", night, "--out", str(out))
    assert written.code == ExitCode.OK, written.err
    assert written.out.startswith(f"wrote {out} (") and written.err == ""
    page = out.read_text(encoding="utf-8")
    for r in tonight:
        assert r["ingestionJobId"] in page
        assert f"{r['knowledgeBaseId']} / {r['dataSourceId']}" in page
    assert sorted(jobs_in_table(page)) >= sorted(r["status"] for r in tonight)  # other tests' jobs may be there
    assert f"{registered_only.kb} / {registered_only.ds}" in page  # registered, no job this night
    assert page.count('class="retry"') >= sum(1 for r in tonight if r["attempt"] >= 2)

    monkeypatch.chdir(tmp_path)
    empty = cli("report", "--night", "2001-01-01")
    assert (empty.code, empty.out) == (
        0,
        "wrote kbsync-night-2001-01-01.html (no job record started on 2001-01-01 (UTC))\n",
    )
    page = (tmp_path / "kbsync-night-2001-01-01.html").read_text(encoding="utf-8")
    assert card(page, "total-records") == "0" and f"{registered_only.kb} / {registered_only.ds}" in page
