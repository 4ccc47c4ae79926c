"""For the CLI tests that run the real `kbsync` binary against `kbsync local up` (a subprocess server), as a user
would from a fresh shell: a temporary HOME with no AWS configuration, only the variables a test sets.

tests/localcloud/local_up.py starts the server; this adds what these tests share: a data source of their own on it
(seeded through the server's Bedrock API, as a script would), and `kbsync`/`bash` runs in a controlled environment.
"""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.localcloud.local_up import BIN, KBSYNC, LocalUp
from tests.localcloud.local_up import serve as serve

_COUNTER = itertools.count(1)


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass(frozen=True)
class DataSource:
    kb: str
    ds: str
    bucket: str
    prefix: str


def fresh_home(tmp: Path) -> Path:
    home = tmp / f"home-{next(_COUNTER)}"
    home.mkdir()
    return home


def user_env(home: Path, **variables: str) -> dict[str, str]:
    """A fresh shell with no AWS configuration (no ~/.aws, no AWS_* variable) plus `variables`; the EC2 metadata
    service is not asked (this machine is not an EC2 instance: it would only add its timeouts)."""
    return {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_EC2_METADATA_DISABLED": "true",
        **variables,
    }


def kbsync(env: dict[str, str], *argv: str, timeout_s: float = 120.0) -> Ran:
    """The installed `kbsync` console script, as a command."""
    done = subprocess.run([str(KBSYNC), *argv], env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    return Ran(done.returncode, done.stdout, done.stderr)


def bash(env: dict[str, str], line: str, timeout_s: float = 120.0) -> Ran:
    """One line pasted into bash (what a user does with a hint or an alert's rerun command)."""
    done = subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    return Ran(done.returncode, done.stdout, done.stderr)


def new_data_source(up: LocalUp, documents: dict[str, bytes], register: bool = False) -> DataSource:
    """A bucket with `documents`, a knowledge base and an S3 data source on the server (its own: Bedrock runs one
    job per knowledge base), optionally registered as a kbsync target (`kbsync targets add`)."""
    from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

    n = next(_COUNTER)
    bucket, prefix = f"kbsync-lu-{n}-{up.port}", "docs/"
    s3: Any = up.client("s3")
    s3.create_bucket(Bucket=bucket)
    for key, body in documents.items():
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)
    agent = up.client("bedrock-agent")
    kb = seed_knowledge_base(agent, name=f"lu-kb-{n}")
    ds = seed_data_source(kb, bucket, prefix, agent, name=f"lu-ds-{n}")
    if register:
        added = kbsync(user_env(Path("/nonexistent"), AWS_ENDPOINT_URL=up.endpoint), "targets", "add", "--kb", kb,
                       "--ds", ds)  # fmt: skip
        assert added.code == 0, added.err
    return DataSource(kb, ds, bucket, prefix)
