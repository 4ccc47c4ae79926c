"""The kbsync operator CLI (console script `kbsync = kbsync.cli:main`).

Layers: `app` (argparse, exit codes) -> `service` (actions over boto3 clients) -> `views`/`render` (output).
It reaches AWS, or the local cloud through `--endpoint-url` / `AWS_ENDPOINT_URL`, and never imports the local cloud:
`kbsync local ...` comes from the local cloud's package, a plugin found through the `kbsync.cli` entry point.
"""

from __future__ import annotations

from kbsync.cli.app import main

__all__ = ["main"]
