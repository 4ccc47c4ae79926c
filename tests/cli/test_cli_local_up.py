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


# --- it says what to do next, quietly; its time scale; a port in use ------------------------------------------

TINY = REPO / "tests" / "localcloud" / "tiny_app" / "template.yaml"


def test_the_help_documents_the_time_scale_default_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    from kbsync.cli import app

    assert app.main(["local", "up", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "real seconds per virtual second (default 0.01: 1 virtual second lasts 10 ms, 100x faster)" in text
    assert "never dates" in text and "--verbose log every request on stderr (quiet by default)" in text
    assert app.build_parser().parse_args(["local", "up"]).time_scale == 0.01


def test_the_banner_says_what_to_do_next() -> None:
    """The banner of a seeded, deployed server: exports, the time scale, two commands with the seeded ids, where
    alerts can be read. (That its lines work when pasted: tests/localcloud/test_one_clock_local_up.py.)"""
    from kbsync_localcloud.seed import SeededData
    from kbsync_localcloud.server import LocalServer, describe

    seeded = SeededData("docs-bucket", "docs/", "KB12345678", "DS12345678", ("docs/a.md", "docs/b.md"))
    banner = describe(LocalServer("http://127.0.0.1:4566", {}, seeded, "kbsync", time_scale=0.001)).splitlines()
    assert banner[0] == "kbsync local cloud ready at http://127.0.0.1:4566 (region us-east-1)"
    assert banner[1] == (
        "  time scale 0.001: 1 virtual second lasts 1 ms (1000x faster) for waits, retries and Bedrock jobs; "
        "dates stay real (--time-scale)"
    )
    exports = [line.strip() for line in banner if line.strip().startswith("export ")]
    assert exports == [
        "export AWS_ENDPOINT_URL=http://127.0.0.1:4566",
        "export AWS_DEFAULT_REGION=us-east-1",
        "export AWS_REGION=us-east-1",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
    ]
    assert banner[-7:] == [
        "  stack kbsync deployed; its outputs: aws cloudformation describe-stacks --stack-name kbsync "
        "--query 'Stacks[0].Outputs'",
        "  # then try:",
        "  kbsync sync --kb KB12345678 --ds DS12345678 --wait",
        "  kbsync history --kb KB12345678 --ds DS12345678",
        "  # alerts, as on-call receives them (the alerts topic's inbox queue):",
        "  kbsync alerts --follow",
        "Press Ctrl-C to stop.",
    ]


def test_a_banner_without_sample_data_still_suggests_commands() -> None:
    from kbsync_localcloud.server import LocalServer, describe

    banner = describe(LocalServer("http://127.0.0.1:4566", time_scale=1.0)).splitlines()
    assert "1 virtual second lasts 1 s (real time)" in banner[1]
    assert banner[-4:] == ["  # then try:", "  kbsync status", "  aws stepfunctions list-state-machines",
                           "Press Ctrl-C to stop."]  # fmt: skip


def _local_up(tmp_path: Path, *argv: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"PYTHONUNBUFFERED": "1"}
    with (tmp_path / "out.txt").open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
        return subprocess.Popen(
            [str(KBSYNC), "local", "up", "--template", str(TINY), "--stack-name", "tiny", *argv],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
        )


def test_a_port_in_use_names_the_port_and_what_to_do(tmp_path: Path) -> None:
    """The real command, a real listening socket on the port: one line, exit code 12, never "internal error"."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _local_up(tmp_path, "--port", str(port))
        assert process.wait(timeout=120) == ExitCode.PORT_IN_USE == 12
    assert (tmp_path / "out.txt").read_text() == ""
    assert (tmp_path / "err.txt").read_text() == (
        f"kbsync: port {port} on 127.0.0.1 is in use (another `kbsync local up`, a LocalStack?): pass --port N "
        f"(0 = any free port), or stop what listens on it (`ss -ltnp 'sport = :{port}'`)\n"
    )


def _serve_and_call(tmp_path: Path, *argv: str) -> str:
    """Start `kbsync local up` (tiny app), make two requests, stop it; its stderr."""
    import urllib.request

    process = _local_up(tmp_path, "--port", "0", "--time-scale", "0.001", *argv)
    out = tmp_path / "out.txt"
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C to stop." not in out.read_text():
            assert process.poll() is None, (tmp_path / "err.txt").read_text()[-2000:]
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        endpoint = READY.search(out.read_text())[1]  # type: ignore[index]
        for _ in range(2):
            with urllib.request.urlopen(endpoint + "/_kbsync/info", timeout=30) as response:  # noqa: S310 - local
                assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    return (tmp_path / "err.txt").read_text()


def test_local_up_is_quiet_and_logs_requests_with_verbose(tmp_path: Path) -> None:
    quiet, verbose = tmp_path / "quiet", tmp_path / "verbose"
    quiet.mkdir()
    verbose.mkdir()
    assert _serve_and_call(quiet) == ""
    logged = [line for line in _serve_and_call(verbose, "--verbose").splitlines() if "GET /_kbsync/info" in line]
    assert len(logged) == 2, logged


def test_the_readme_shows_the_banner_local_up_prints() -> None:
    """README "The local cloud": its `kbsync local up` block is describe()'s output for the ids it shows."""
    from kbsync_localcloud.seed import SeededData
    from kbsync_localcloud.server import DEFAULT_PORT, LocalServer, describe

    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("$ kbsync local up\n") :].split("\n", 1)[1].split("```", 1)[0].rstrip("\n")
    kb, ds = re.findall(r"knowledge base: (\S+)\n\s+data source:\s+(\S+)", block)[0]
    seeded = SeededData("kbsync-sample-docs", "docs/", kb, ds, tuple(f"docs/{n}.md" for n in range(5)))
    assert block == describe(LocalServer(f"http://127.0.0.1:{DEFAULT_PORT}", {}, seeded, "kbsync"))
