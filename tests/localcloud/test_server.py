"""``kbsync local up`` (server.run_server): a real server in a subprocess, plus the /_kbsync routes as WSGI."""

from __future__ import annotations

import io
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from kbsync_localcloud import server
from kbsync_localcloud.scheduler import fire_schedule_remote

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = Path(__file__).parent / "tiny_app" / "template.yaml"
READY_TIMEOUT_S = 60


# --- the routes, called as WSGI (no server, no network) ---------------------------------------------------


def _call(app: Any, method: str, path: str, query: str = "") -> tuple[str, dict[str, Any]]:
    captured: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        captured["status"] = status

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO()}
    body = b"".join(app(environ, start_response))
    return captured["status"], json.loads(body)


def _moto_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b'{"moto": true}']


def test_routes_pass_everything_else_to_moto() -> None:
    app = server.kbsync_routes(_moto_app, lambda: {"endpoint": "x"})
    assert _call(app, "GET", "/") == ("200 OK", {"moto": True})
    assert _call(app, "GET", "/_kbsync/info") == ("200 OK", {"endpoint": "x"})
    status, body = _call(app, "DELETE", "/_kbsync/info")
    assert status.startswith("404") and "no route" in body["message"]


def test_fire_route_maps_errors_to_http_statuses(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, bool]] = []

    def fake_fire(name: str, group: str, force: bool = False) -> Any:
        calls.append((name, group, force))
        if not force:
            raise server.scheduler.ScheduleDisabled("schedule g/n is DISABLED")
        raise server.scheduler.UnsupportedScheduleTarget("target x is not supported")

    monkeypatch.setattr(server.scheduler, "fire_schedule", fake_fire)
    app = server.kbsync_routes(_moto_app, dict)
    status, body = _call(app, "POST", "/_kbsync/schedules/my%20group/nightly/fire")
    assert status.startswith("409") and body["code"] == "ScheduleDisabled"
    status, body = _call(app, "POST", "/_kbsync/schedules/my%20group/nightly/fire", "force=true")
    assert status.startswith("400") and body["code"] == "UnsupportedTarget"
    assert calls == [("nightly", "my group", False), ("nightly", "my group", True)]


def test_verify_moto_internals_passes_on_the_pinned_moto() -> None:
    server.verify_moto_internals()


def test_a_taken_port_is_a_clear_error_not_a_hang() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind((server.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(OSError, match=f"cannot serve on 127.0.0.1:{port}"):
            server.start_server(port=port, template=None, seed=False)
        assert time.monotonic() - started < 10


# --- the real thing, in a subprocess --------------------------------------------------------------------------

_LAUNCH = (
    "import sys; from pathlib import Path; from kbsync_localcloud.server import run_server; "
    "sys.exit(run_server(0, 0.001, Path(sys.argv[1]), 'tiny', True))"
)


def _read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    """Lines of the child's stdout up to the one containing `marker`; fail after `timeout_s`."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {marker!r} after {timeout_s}s; got {lines}"
            if not selector.select(remaining):
                continue
            line = process.stdout.readline()
            assert line, f"server exited ({process.poll()}) before {marker!r}; got {lines}"
            lines.append(line.rstrip("\n"))
            if marker in line:
                return lines


@pytest.fixture
def running() -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(TEMPLATE)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = _read_until(process, "ready at", READY_TIMEOUT_S)
        endpoint = lines[-1].split("ready at ")[1].split()[0]
        yield process, endpoint
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _info(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint + "/_kbsync/info", timeout=10) as response:  # noqa: S310 - local http
        return dict(json.loads(response.read()))


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_server_serves_seeds_deploys_fires_and_stops_on_sigterm(running: tuple[subprocess.Popen[str], str]) -> None:
    process, endpoint = running
    assert endpoint.startswith("http://127.0.0.1:")
    info = _info(endpoint)
    seeded, outputs = info["seeded"], info["outputs"]
    assert len(seeded["knowledgeBaseId"]) == 10 and len(seeded["dataSourceId"]) == 10
    agent = _client("bedrock-agent", endpoint)
    source = agent.get_data_source(knowledgeBaseId=seeded["knowledgeBaseId"], dataSourceId=seeded["dataSourceId"])
    assert source["dataSource"]["status"] == "AVAILABLE"

    with pytest.raises(RuntimeError, match=r"409.*DISABLED"):
        fire_schedule_remote(endpoint, "TinyStateMachineNightly")
    with pytest.raises(RuntimeError, match="404"):
        fire_schedule_remote(endpoint, "no-such-schedule")
    fired = fire_schedule_remote(endpoint, "TinyStateMachineNightly", force=True)
    assert fired["TargetArn"] == outputs["StateMachineArn"]

    sfn = _client("stepfunctions", endpoint)
    deadline = time.monotonic() + 20
    while (status := sfn.describe_execution(executionArn=fired["ExecutionArn"])["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "execution still RUNNING after 20 s"
        time.sleep(0.05)
    assert status == "SUCCEEDED"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert process.stdout is not None
    assert "stopping" in process.stdout.read()
    with pytest.raises(urllib.error.URLError):
        _info(endpoint)
