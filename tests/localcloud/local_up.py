"""`kbsync local up` as users run it, for the local-cloud tests: a subprocess on a free port, its banner, its stderr
in a file (never a pipe: nothing the server writes may block it), the AWS CLI and kbsync run against it as commands."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KBSYNC = BIN / "kbsync"
AWS = BIN / "aws"
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LocalUp:
    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path
    banner: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self, deadline_s: float = READY_TIMEOUT_S, while_waiting: Callable[[], None] | None = None) -> None:
        end = time.monotonic() + deadline_s
        while "Press Ctrl-C to stop." not in self.stdout():
            if self.process.poll() is not None:
                raise AssertionError(f"kbsync local up exited {self.process.returncode}:\n{self.stderr()[-3000:]}")
            if time.monotonic() > end:
                raise AssertionError(f"kbsync local up not ready after {deadline_s}s:\n{self.stderr()[-3000:]}")
            if while_waiting is not None:
                while_waiting()
            time.sleep(0.05)
        text = self.stdout()
        self.banner = text[: text.index("Press Ctrl-C to stop.")].splitlines()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def outputs(self) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName="kbsync")["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def seeded(self, label: str) -> str:
        for line in self.banner:
            match = re.match(rf"\s+{label}:\s+(\S+)", line)
            if match:
                return match[1]
        raise AssertionError(f"no {label!r} in the banner: {self.banner}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def start_local_up(tmp: Path, port: int | None = None, time_scale: str = "0.01") -> LocalUp:
    """`kbsync local up --port PORT` in `tmp` (its own cwd), with no AWS variables inherited."""
    port = port or free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    stdout_path, stderr_path = tmp / "local-up.out", tmp / "local-up.err"
    argv = [str(KBSYNC), "local", "up", "--port", str(port), "--time-scale", time_scale]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [*argv, "--template", str(REPO / "template.yaml")], cwd=tmp, env=env, stdout=out, stderr=err
        )
    return LocalUp(process, port, stdout_path, stderr_path)


def serve(tmp: Path, time_scale: str = "0.01") -> Iterator[LocalUp]:
    """A fixture's body: `kbsync local up` on a free port, ready, until the fixture is done; then stopped."""
    server = start_local_up(tmp, time_scale=time_scale)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def clean_env(home: Path) -> dict[str, str]:
    """What a fresh shell of a user with no AWS configuration has: PATH (with the venv's aws and kbsync) and HOME."""
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def shell(script: str, env: dict[str, str], timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def aws_json(up: LocalUp, *argv: str) -> Any:
    """`aws --endpoint-url ENDPOINT argv... --output json` (the AWS CLI v1 pinned in the venv), parsed."""
    env = {
        **clean_env(Path(os.environ.get("TMPDIR", "/tmp"))),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [str(AWS), "--endpoint-url", up.endpoint, *argv, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"aws {' '.join(argv)} -> {done.returncode}: {done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def poll(condition: Callable[[], Any], what: str, deadline_s: float = 60.0) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline_s}s")
        time.sleep(0.1)
