"""Fixtures for the CLI tests: one local cloud with the product template deployed, per module.

Each test gets its own knowledge base and data source (Bedrock allows one job per knowledge base), so tests never
wait on each other's jobs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.support import REPO, TIME_SCALE, Deployed, drain


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", {})
        yield Deployed(cloud, outputs)
        drain(cloud)
