"""Server mode: give a moto HTTP server the same Step Functions/Lambda config and adapters as LocalCloud.

Decorator mode gets its config from ``mock_aws(config=...)``. A moto server reads the same
``default_user_config``, set either in its own process (``prepare_in_process_server``, for
ThreadedMotoServer / ``kbsync local up``) or over HTTP (``post_config``, ``POST /moto-api/config``, for a
server in another process, which must also have run ``install_all()`` itself).

In server mode moto's Step Functions tasks, the aws-sdk adapter and in-process Lambda handlers reach the
server at ``http://localhost:$MOTO_PORT`` (moto's own convention), so the port must be known in-process.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from kbsync_localcloud.adapters import install_all

#: The parts of kbsync's moto config that moto's /moto-api/config accepts.
SERVER_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


def prepare_in_process_server(port: int) -> None:
    """Configure this process's moto for a server on `port`: executing Step Functions, no-Docker Lambda, adapters."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_config(SERVER_CONFIG)
    os.environ["MOTO_PORT"] = str(port)
    install_all()


def post_config(endpoint_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """POST SERVER_CONFIG to a running moto server's /moto-api/config; returns the config it reports."""
    url = endpoint_url.rstrip("/") + "/moto-api/config"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"endpoint must be http(s): {endpoint_url}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=json.dumps(SERVER_CONFIG).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
        result: dict[str, Any] = json.loads(response.read())
    return result
