"""A job someone started outside kbsync (console, script: StartIngestionJob with no kbsync record or description) on a
registered data source, through the real `kbsync` binary against `kbsync local up`: `status` lists it marked
"outside kbsync" with what kbsync does about it, `show <its id>` works, `sync` is refused naming it, `stop` stops
it; a job kbsync starts itself is never marked so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbsync.cli.errors import ExitCode
from tests.cli.local_up_support import DataSource, fresh_home, kbsync, new_data_source, serve, user_env
from tests.localcloud.local_up import LocalUp, poll

pytestmark = pytest.mark.e2e

#: 300 documents: the emulator's job lasts 15 + 0.5 x 300 virtual seconds, 16.5 s at time scale 0.1 — long enough
#: to look at it with a few commands (docs/local-cloud-bedrock.md has the duration formula).
DOCUMENTS = {f"d{i:03}.md": b"# doc\n" for i in range(300)}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("foreign"), time_scale="0.1")


@pytest.fixture()
def env(up: LocalUp, tmp_path: Path) -> dict[str, str]:
    return user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint)


def start_outside(up: LocalUp, source: DataSource) -> str:
    """StartIngestionJob as a script or the console does it."""
    agent = up.client("bedrock-agent")
    job = agent.start_ingestion_job(knowledgeBaseId=source.kb, dataSourceId=source.ds)["ingestionJob"]
    return str(job["ingestionJobId"])


def status_rows(env: dict[str, str], *argv: str) -> list[dict[str, object]]:
    ran = kbsync(env, "status", "--json", *argv)
    assert ran.code == 0, ran.err
    rows: list[dict[str, object]] = json.loads(ran.out)
    return rows


def test_a_job_started_outside_kbsync_is_listed_shown_refused_and_stopped(up: LocalUp, env: dict[str, str]) -> None:
    source = new_data_source(up, DOCUMENTS, register=True)
    ids = f"--kb {source.kb} --ds {source.ds}"
    job = start_outside(up, source)

    listed = kbsync(env, "status")  # everything running: the registered data sources are looked at
    assert listed.code == 0, listed.err
    [row] = [line for line in listed.out.splitlines() if job in line and not line.startswith("note")]
    assert row.split()[:3] == [source.kb, source.ds, job]
    assert "outside kbsync" in row
    assert (
        f"note: job {job} on {source.kb}/{source.ds} was started outside kbsync (console or script); kbsync waits for "
        "it: uploads and nightly syncs start once it ends, `kbsync sync` is refused until then"
    ) in listed.out.splitlines()
    [one] = status_rows(env, "--kb", source.kb, "--ds", source.ds)
    assert (one["job_id"], one["started_outside"], one["trigger"], one["execution_arn"]) == (
        job,
        True,
        "outside kbsync",
        None,
    )
    assert one["status"] in {"STARTING", "IN_PROGRESS"}

    shown = kbsync(env, "show", job)  # no --kb/--ds: found on the registered data sources
    assert shown.code == 0, shown.err
    assert shown.out.startswith(f"Job {job}\n")
    assert "  trigger         outside kbsync\n" in shown.out
    assert f"  stop it with `kbsync stop {ids}`" in shown.out
    assert kbsync(env, "show", job, "--json").out.count('"record": null') == 1

    refused = kbsync(env, "sync", "--kb", source.kb, "--ds", source.ds)
    assert refused.code == ExitCode.JOB_RUNNING, refused
    assert refused.err.startswith(f"kbsync: already running: ingestion job {job}, started outside kbsync (")
    assert refused.err.endswith(
        f"kbsync starts no job on this data source until it ends: wait for it (`kbsync status {ids}`) or stop it "
        f"(`kbsync stop {ids}`)\n"
    )

    stopped = kbsync(env, "stop", "--kb", source.kb, "--ds", source.ds)
    assert stopped.code == 0, stopped.err
    assert stopped.out == (
        f"stop requested for job {job} (knowledge base {source.kb} / data source {source.ds})\n"
        "  that job was started outside kbsync: no job record, no alert; kbsync's next sync can start once Bedrock "
        "reports it STOPPED\n"
    )
    poll(lambda: status_rows(env, "--kb", source.kb, "--ds", source.ds) == [], "the outside job to stop", 60)
    ended = kbsync(env, "show", job, "--kb", source.kb, "--ds", source.ds)
    assert ended.code == 0 and "  status          STOPPED (Bedrock)\n" in ended.out, ended
    assert "  started outside kbsync (console or script): no job record, no execution, no alert" in ended.out


def test_a_job_kbsync_started_is_not_marked_outside(up: LocalUp, env: dict[str, str]) -> None:
    source = new_data_source(up, DOCUMENTS, register=True)
    assert kbsync(env, "sync", "--kb", source.kb, "--ds", source.ds).code == 0
    rows = poll(
        lambda: [r for r in status_rows(env, "--kb", source.kb, "--ds", source.ds) if r["job_id"]],
        "kbsync's own job to show in status",
        60,
    )
    assert [(r["started_outside"], r["trigger"]) for r in rows] == [(False, "manual")]
    everything = status_rows(env)
    assert not [r for r in everything if r["knowledge_base_id"] == source.kb and r["started_outside"]]
    shown = kbsync(env, "show", str(rows[0]["job_id"]))
    assert shown.code == 0 and "outside kbsync" not in shown.out, shown
    assert kbsync(env, "stop", "--kb", source.kb, "--ds", source.ds, "--no-wait").code == 0
