"""The in-process local cloud: moto's mock with kbsync's adapters, for pytest and scripts.

    with LocalCloud(time_scale=0.01) as cloud:
        sfn = cloud.client("stepfunctions")

Server mode (``kbsync local up``) uses the same adapters behind moto's HTTP server (see server.py).
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws

from kbsync.localcloud.adapters import install_all
from kbsync.localcloud.clock import CLOCK

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "core": {"passthrough": {"urls": [], "services": []}, "reset_boto3_session": True},
}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class LocalCloud:
    """moto's embedded AWS plus kbsync's adapters, in this process."""

    def __init__(self, time_scale: float = 0.01, region: str = REGION) -> None:
        self.time_scale = time_scale
        self.region = region
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> LocalCloud:
        for key, value in _FAKE_CREDENTIALS.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self._saved_env["AWS_ENDPOINT_URL"] = os.environ.pop("AWS_ENDPOINT_URL", None)
        CLOCK.set_scale(self.time_scale)
        install_all()
        self._mock = mock_aws(config=MOTO_CONFIG)  # type: ignore[call-overload]
        self._mock.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def client(self, service: str) -> Any:
        session: Any = boto3
        return session.client(service, region_name=self.region)
