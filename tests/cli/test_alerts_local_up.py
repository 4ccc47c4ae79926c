"""`kbsync alerts --follow` as a user runs it: commands in a temporary HOME with no AWS configuration, against a real
`kbsync local up` subprocess (SNS -> the stack's alert inbox over HTTP, SQS long polling in the server)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.local_up import KBSYNC, LocalUp, clean_env, poll, serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("local-up"))


def user_env(up: LocalUp, home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return {
        **clean_env(home),
        "AWS_ENDPOINT_URL": up.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def kbsync(env: dict[str, str], *argv: str, timeout_s: float = 180.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KBSYNC), *argv], env=env, capture_output=True, text=True, timeout=timeout_s, check=False)


def test_follow_prints_the_alert_of_a_sync_that_fails_after_it_started(up: LocalUp, tmp_path: Path) -> None:
    from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

    env = user_env(up, tmp_path / "home")
    first = kbsync(env, "alerts")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("no alert waiting in the inbox "), first.stdout

    out_path, err_path = tmp_path / "follow.out", tmp_path / "follow.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        follow = subprocess.Popen(
            [str(KBSYNC), "alerts", "--follow", "--max", "1", "--timeout", "150"], env=env, stdout=out, stderr=err
        )
    try:
        poll(lambda: "following the alert inbox" in err_path.read_text(), "kbsync alerts --follow started", 60)
        agent = up.client("bedrock-agent")
        kb = seed_knowledge_base(agent, name="alerts-follow-kb")
        ds = seed_data_source(kb, "kbsync-alerts-no-such-bucket", "docs/", agent, name="alerts-follow-ds")
        synced = kbsync(env, "sync", "--kb", kb, "--ds", ds, "--wait", "--interval", "0.2", "--timeout", "150")
        assert synced.returncode == 4, synced.stdout + synced.stderr  # FAILED: the bucket does not exist
        assert follow.wait(timeout=60) == 0, err_path.read_text()
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait(timeout=30)

    lines = out_path.read_text().splitlines()
    assert lines[0] == f"[CRITICAL] kbsync FAILED: kb {kb} / ds {ds}", lines
    assert "  severity   CRITICAL" in lines
    assert any("bucket does not exist" in line for line in lines if line.startswith("             - ")), lines
    assert "  runbook    https://github.com/kbsync/kbsync/blob/main/runbooks/sync-failed.md" in lines
    assert any(line.startswith("  rerun      kbsync rerun ") for line in lines), lines
    assert lines[-1].endswith("(--max 1)"), lines
    assert "Traceback" not in err_path.read_text()

    after = kbsync(env, "alerts", "--json")  # --follow removed what it printed
    assert (after.returncode, json.loads(after.stdout)) == (0, []), after.stderr
