"""Shared pytest configuration: the repository root on sys.path so tests can import ``tests.helpers``; every event
the local cloud delivers to a function checked against that function's input contract (tests/contracts)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Powertools outside Lambda: no X-Ray daemon, no metrics namespace surprises.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "kbsync")
# The alarms fire on patterns across the account (3 failed syncs in an hour...): a local cloud shared by many tests that
# each provoke failures, in time scaled 100x, would reach them and send ALARM_* notices into tests that count the
# alerts of their own target. Only tests/alarms (with a cloud of its own) evaluates them; `make run` does too.
os.environ.setdefault("KBSYNC_LOCAL_ALARMS", "off")


@pytest.fixture(autouse=True)
def _producers_keep_their_contracts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test during which a state, rule or schedule sent a function an event its contract refuses."""
    from tests.contracts import producers

    producers.install()
    forged = request.node.get_closest_marker("forged_events") is not None
    producers.taken()  # what earlier tests' leftover executions sent is not this test's doing
    if forged:
        producers.excuse(True)
    try:
        yield
    finally:
        if forged:
            producers.excuse(False)
        found = producers.taken()
    if found and not forged:
        pytest.fail("a producer broke a message contract (schemas/):\n" + "\n".join(found[:10]), pytrace=False)
