"""`kbsync local up` as users run it: a separate process serving the local cloud; the CLI in this process talks to it
over HTTP (`--endpoint-url`), then SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kbsync.cli.errors import ExitCode
from tests.cli.support import REPO, cli

KBSYNC = Path(sys.executable).parent / "kbsync"
READY = re.compile(r"ready at (http://\S+)")


def _read_until_ready(process: subprocess.Popen[bytes], deadline_s: float) -> tuple[str, list[str]]:
    """What the server printed once it says it is ready (its endpoint and the lines with the seeded ids)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        readable, _, _ = select.select([fd], [], [], 0.2)
        if readable:
            chunk = os.read(fd, 65536)
            buffer += chunk
            text = buffer.decode("utf-8", "replace")
            if "Press Ctrl-C to stop." in text:
                match = READY.search(text)
                assert match, text
                return match[1], text.splitlines()
            if not chunk and process.poll() is not None:
                pytest.fail(f"kbsync local up exited {process.returncode}:\n{text}")
    process.kill()
    pytest.fail(f"kbsync local up not ready after {deadline_s}s:\n{buffer.decode('utf-8', 'replace')}")


def test_local_up_serves_the_cli_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "AWS_MAX_ATTEMPTS": "2"}
    env.pop("AWS_ENDPOINT_URL", None)
    log = (tmp_path / "stderr.log").open("w")  # a file, not a pipe: moto's request log must never block the server
    process = subprocess.Popen(
        [str(KBSYNC), "local", "up", "--port", "0", "--time-scale", "0.01", "--template", str(REPO / "template.yaml")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        endpoint, lines = _read_until_ready(process, deadline_s=120)
        ids = {key: value for line in lines if (m := re.match(r"\s+(knowledge base|data source):\s+(\S+)", line))
               for key, value in [(m[1], m[2])]}  # fmt: skip
        kb, ds = ids["knowledge base"], ids["data source"]
        status = cli("--endpoint-url", endpoint, "status")
        assert (status.code, status.out) == (0, "nothing running\n"), status.err
        history = cli("history", "--kb", kb, "--ds", ds, "--endpoint-url", endpoint)
        assert (history.code, history.out) == (0, "no job records\n"), history.err
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        log.close()


def test_local_up_without_a_template_says_where_to_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("local", "up", "--port", "0")
    assert result.code == ExitCode.USAGE
    assert result.err == "kbsync: template template.yaml not found: run from the kbsync checkout or pass --template\n"
