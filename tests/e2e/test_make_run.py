"""`make run` smoke test: the demo runs end to end on the local cloud and shows what on-call would see."""

from __future__ import annotations

import io
import re

import pytest
from kbsync_localcloud import demo

pytestmark = pytest.mark.e2e


def test_make_run_shows_history_table_and_alerts() -> None:
    out = io.StringIO()
    assert demo.run(out=out) == 0
    text = out.getvalue()
    # The job history table, with the on-upload sync (PARTIAL: one unsupported + one oversized file)...
    assert re.search(r"STARTED\s+JOB\s+STATUS\s+TRIGGER", text), text[-3000:]
    assert re.search(r"\bPARTIAL\s+s3\b", text), text[-3000:]
    # ...the nightly run that completed after the fix, and the failed manual sync.
    assert re.search(r"\bCOMPLETE\s+schedule\b", text), text[-3000:]
    assert re.search(r"\bFAILED\s+manual\b", text), text[-3000:]
    # The uploads coalesced into at most two ingestion syncs.
    uploads = re.search(r"(\d+) uploads started (\d+) ingestion sync", text)
    assert uploads and int(uploads.group(2)) <= 2, text[-3000:]
    # Alerts as received: subject, runbook link and the rerun command, one per failed/partial job.
    assert "Subject: [WARNING] kbsync PARTIAL" in text
    assert "Subject: [CRITICAL] kbsync FAILED" in text
    assert "runbooks/sync-failed.md" in text and "kbsync rerun " in text
    assert (
        "Ignored 1 files as their file format was not supported. [Files: s3://acme-docs/product/launch-video.mp4]"
        in text
    )
