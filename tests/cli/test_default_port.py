"""`kbsync local up` listens on 4566 by default (LocalStack's port, the local-AWS convention; moto's
5000 is often taken on macOS by AirPlay Receiver), and the help, the banner, the demo and the docs say the same."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kbsync.cli import app

REPO = Path(__file__).resolve().parents[2]
KBSYNC = Path(sys.executable).parent / "kbsync"
TINY = REPO / "tests" / "localcloud" / "tiny_app" / "template.yaml"
LOCAL_ENDPOINT = re.compile(r"(?:127\.0\.0\.1|localhost):(\d{2,5})")


def test_the_default_port_is_4566_in_the_parser_and_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert app.build_parser().parse_args(["local", "up"]).port == 4566
    assert app.main(["local", "up", "--help"]) == 0
    assert "default 4566" in " ".join(capsys.readouterr().out.split())


def _documents() -> list[Path]:
    found = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "runbooks").glob("*.md"))]
    return [*found, *sorted((REPO / "kbsync").rglob("*.py"))]


def test_docs_demo_and_code_name_the_same_local_port() -> None:
    ports = {
        f"{path.relative_to(REPO)}:{number}": match[1]
        for path in _documents()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in LOCAL_ENDPOINT.finditer(line)
    }
    assert ports, "no local endpoint mentioned anywhere"
    assert {where: port for where, port in ports.items() if port != "4566"} == {}
    readme = (REPO / "README.md").read_text()
    assert "127.0.0.1:4566" in readme and "export AWS_DEFAULT_REGION" in readme
    assert "127.0.0.1:4566" in (REPO / "kbsync" / "demo.py").read_text()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_local_up_without_a_port_serves_on_4566(tmp_path: Path) -> None:
    if not _port_free(4566):
        pytest.skip("port 4566 is in use on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"PYTHONUNBUFFERED": "1"}
    out_path = tmp_path / "out.txt"
    with out_path.open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
        process = subprocess.Popen(
            [str(KBSYNC), "local", "up", "--template", str(TINY), "--stack-name", "tiny"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 90
        while "Press Ctrl-C to stop." not in out_path.read_text():
            assert process.poll() is None, (tmp_path / "err.txt").read_text()[-2000:]
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.1)
        banner = out_path.read_text()
        assert "ready at http://127.0.0.1:4566 " in banner
        assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4566\n" in banner
    finally:
        process.terminate()
        process.wait(timeout=60)
