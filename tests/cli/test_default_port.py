"""`kbsync local up` listens on 4566 by default (LocalStack's port, the local-AWS convention; moto's
5000 is often taken on macOS by AirPlay Receiver), and the help, the banner, the demo and the docs say the same."""

from __future__ import annotations

import os
import re
import shutil
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
    assert "127.0.0.1:4566" in (REPO / "localcloud" / "kbsync_localcloud" / "demo.py").read_text()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _private_network() -> list[str] | None:
    """A command prefix that runs a process in a network namespace of its own (its loopback up, every port free), or
    None where that is not possible (not root, no util-linux `unshare`, no iproute2 `ip`)."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        return None
    probe = subprocess.run(
        [unshare, "--net", ip, "link", "set", "lo", "up"], capture_output=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        return None
    return [unshare, "--net", "sh", "-c", f'"{ip}" link set lo up && exec "$@"', "local-up"]


def test_local_up_passes_the_default_port_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, no socket: `kbsync local up` without --port asks the server for 4566, and the server's own
    default is the same number."""
    from kbsync_localcloud import cli as local_cli
    from kbsync_localcloud import server

    asked: list[int] = []

    def run_server(port: int, *args: object, **kwargs: object) -> int:
        asked.append(port)
        return 0

    monkeypatch.setattr(server, "run_server", run_server)
    assert app.main(["local", "up", "--template", str(TINY), "--stack-name", "tiny"]) == 0
    assert asked == [4566] == [server.DEFAULT_PORT] == [local_cli.LOCAL_PORT]


def test_local_up_without_a_port_serves_on_4566(tmp_path: Path) -> None:
    """The real command in a real process. It runs in a private network namespace when the machine allows one (so
    another local cloud on 4566 — a colleague's, a LocalStack — cannot interfere); otherwise on this machine's
    loopback, where 4566 must then be free: a taken port fails the test with the reason, never skips it."""
    prefix = _private_network()
    if prefix is None:
        assert _port_free(4566), (
            "port 4566 is in use on this machine and no private network namespace is available (root + unshare + ip):"
            " stop what listens on 4566 (`ss -ltnp 'sport = :4566'`) and run this test again"
        )
        prefix = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"PYTHONUNBUFFERED": "1"}
    out_path = tmp_path / "out.txt"
    with out_path.open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
        process = subprocess.Popen(
            [*prefix, str(KBSYNC), "local", "up", "--template", str(TINY), "--stack-name", "tiny"],
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
