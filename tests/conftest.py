"""Shared pytest configuration: the repository root on sys.path so tests can import ``tests.helpers``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Powertools outside Lambda: no X-Ray daemon, no metrics namespace surprises.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "kbsync")
