"""Nothing in any log line carries failure-reason text or document content.

A sync fails on the local cloud with failureReasons carrying a unique marker, over documents whose content carries
another. Every line any logging handler writes in this process during the run (the handlers' Powertools JSON logs,
the local cloud's, boto's) is captured at the handler level — whatever stream the handler was bound to when the
function module was loaded — and must contain neither marker. The alert and the job record DO carry the reasons
(that is their job): asserting that proves the markers really flowed through the workflow.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud.workflow import AlertInbox, WorkflowRig

REPO = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.002
PARAMETERS = {"PollIntervalSeconds": "5", "MaxPollIntervalSeconds": "30", "PollBudget": "6", "MaxStartAttempts": "2"}
REASON_MARKER = f"REASONMARKER{secrets.token_hex(6)}"
CONTENT_MARKER = f"CONTENTMARKER{secrets.token_hex(6)}"


class LogCapture:
    """Every formatted line every logging.StreamHandler emits (Powertools' Logger uses one, bound to stdout)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = logging.StreamHandler.emit
        capture = self

        def emit(handler: logging.StreamHandler[Any], record: logging.LogRecord) -> None:
            try:
                capture.lines.append(handler.format(record))
            except Exception:  # formatting errors are the handler's business, not ours
                capture.lines.append(repr(record.__dict__))
            original(handler, record)

        monkeypatch.setattr(logging.StreamHandler, "emit", emit)


@pytest.fixture
def captured_logs(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Iterator[LogCapture]:
    capture = LogCapture()
    capture.install(monkeypatch)
    yield capture
    out, err = capfd.readouterr()  # anything printed straight to the process's stdout/stderr too
    capture.lines += out.splitlines() + err.splitlines()


def test_failure_reasons_and_document_content_never_reach_a_log_line(captured_logs: LogCapture) -> None:
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", PARAMETERS)
        clients = {n: cloud.client(n) for n in ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent")}
        rig = WorkflowRig(
            clients=clients,
            outputs=outputs,
            inbox=AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"]),
            timeout=120.0,  # a deadline for a loaded 2-core machine, not a sleep
        )
        source = rig.new_source({"docs/secret.md": f"# Board minutes\n{CONTENT_MARKER}\n".encode()})
        injected = faults()
        injected.reset()
        try:
            injected.fail_next_jobs([f"Embedding failed for s3://{source.bucket}/docs/secret.md: {REASON_MARKER}"], 2)
            description = rig.wait(rig.start(rig.request(source)))
        finally:
            injected.reset()
        records = rig.records(source)
        alerts = rig.inbox.alerts_for(source.knowledge_base_id)

    assert (description["status"], description.get("error")) == ("FAILED", "KbSync.JobFailed")
    assert any(REASON_MARKER in reason for r in records for reason in r.get("failureReasons", []))
    assert len(alerts) == 1 and REASON_MARKER in alerts[0]["message"]
    handler_lines = [line for line in captured_logs.lines if '"polled ingestion job"' in line]
    assert handler_lines, "the handlers' log lines were not captured: this test would prove nothing"
    leaks = [line for line in captured_logs.lines if REASON_MARKER in line or CONTENT_MARKER in line]
    assert leaks == []
