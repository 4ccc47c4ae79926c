"""`kbsync show JOB_ID`: the failed documents the knowledge base's logs named, every stored key under its reason.

The job records are written as the function reading the logs writes them (documentFailures: reason id -> {reason,
status, count, keys}, documentFailuresTotal; docs/push-completion.md "Job record") into the jobs table of a stack
reduced to what `show` reads (tests/cli/minimal_stack.py), and read back by the CLI through DynamoDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import kbsync_documents
import pytest
from boto3.dynamodb.types import TypeSerializer

from kbsync.cli.errors import ExitCode
from tests.cli.minimal_stack import JOBS_TABLE, MinimalStack, minimal_stack
from tests.cli.support import cli

KB, DS = "KB12345678", "DS12345678"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-KB12345678-DS12345678-x"
TOO_LARGE = {
    "reason": "file too large (max 50 MB)",
    "status": "RESOURCE_IGNORED",
    "count": 37,
    "keys": [f"scans/big-{i}.pdf" for i in range(10)],
}
UNSUPPORTED = {"reason": "unsupported file format", "status": "RESOURCE_IGNORED", "count": 2,
               "keys": ["tools/setup.exe", "tools/run.bin"]}  # fmt: skip
OTHER = {"reason": "other reasons", "status": "EMBEDDING_FAILED", "count": 4, "keys": []}
FAILURES = {"r0123456789ab": TOO_LARGE, "rba9876543210": UNSUPPORTED, "other": OTHER}


@pytest.fixture(scope="module")
def stack() -> Iterator[MinimalStack]:
    with minimal_stack() as deployed:
        yield deployed


def put_record(stack: MinimalStack, job_id: str, failed: int, **extra: Any) -> None:
    """A PARTIAL job record (schemas/job-record.schema.json's attributes `show` reads), plus `extra`."""
    record = {
        "pk": f"DS#{KB}#{DS}",
        "sk": f"JOB#2026-12-06T03:00:00Z#{job_id}",
        "knowledgeBaseId": KB,
        "dataSourceId": DS,
        "ingestionJobId": job_id,
        "status": "PARTIAL",
        "trigger": "schedule",
        "attempt": 1,
        "executionArn": EXECUTION,
        "startedAt": "2026-12-06T03:00:00Z",
        "updatedAt": "2026-12-06T03:20:00Z",
        "statistics": {"numberOfDocumentsScanned": 60, "numberOfDocumentsFailed": failed},
        "failureReasons": ["Ignored 39 files."],
        "alertSent": True,
        **extra,
    }
    item = {name: TypeSerializer().serialize(value) for name, value in record.items()}
    stack.client("dynamodb").put_item(TableName=JOBS_TABLE, Item=item)


def show(*argv: str) -> str:
    result = cli("show", *argv)
    assert result.code == ExitCode.OK, result.err
    return result.out


def section(text: str) -> list[str]:
    """The lines of the "Failed documents" section (its title to the blank line after it)."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Failed documents"))
    return lines[start : lines.index("", start)]


def test_show_lists_every_stored_key_under_its_reason_with_the_counts(stack: MinimalStack) -> None:
    put_record(stack, "JOBSHOW001", failed=45, documentFailures=FAILURES, documentFailuresTotal=43)
    lines = section(show("JOBSHOW001"))
    assert lines[0] == "Failed documents (43 named by the knowledge base's logs; Bedrock counts 45 failed)"
    assert lines[1:] == [f"  {line}" for line in kbsync_documents.all_lines(FAILURES)]
    body = "\n".join(lines)
    for key in [*TOO_LARGE["keys"], *UNSUPPORTED["keys"]]:  # every stored key, not the alert's first three
        assert f"\n    {key}" in body
    assert body.index("file too large") < body.index("unsupported file format") < body.index("other reasons")
    assert "37 files: file too large (max 50 MB)" in body and "and 27 more not stored" in body


def test_show_json_has_the_document_failures_as_stored(stack: MinimalStack) -> None:
    put_record(stack, "JOBSHOW002", failed=45, documentFailures=FAILURES, documentFailuresTotal=43)
    document = json.loads(show("JOBSHOW002", "--kb", KB, "--ds", DS, "--json"))
    assert document["record"]["documentFailures"] == FAILURES
    assert document["record"]["documentFailuresTotal"] == 43


def test_failed_documents_without_names_point_to_the_logs_status(stack: MinimalStack) -> None:
    put_record(stack, "JOBSHOW003", failed=2)
    assert section(show("JOBSHOW003")) == [
        "Failed documents (none named: the knowledge base's logs are off or not delivered)",
        f"  see `kbsync logs status --knowledge-base-id {KB}`",
    ]


def test_a_job_without_failed_documents_has_no_such_section(stack: MinimalStack) -> None:
    put_record(stack, "JOBSHOW004", failed=0, status="COMPLETE")
    text = show("JOBSHOW004")
    assert "Failed documents" not in text
    assert "Failure reasons (1)" in text  # the rest of `show` as before


# --------------------------------------------------------------------------- the same names in `kbsync alerts`


def test_kbsync_alerts_reads_the_failed_documents_of_the_alert_text() -> None:
    """The text send_alert publishes, in the SNS envelope the alert inbox receives: `kbsync alerts` keeps the
    "Failed documents" block apart from Bedrock's failure reasons, and prints it."""
    from datetime import UTC, datetime

    from kbsync.cli import alerts
    from kbsync.cli.render import PLAIN
    from tests.helpers.functions import load_function

    fn = load_function("send_alert")
    facts = fn.AlertFacts(
        alert_type="PARTIAL",
        knowledge_base_id=KB,
        data_source_id=DS,
        execution_arn=EXECUTION,
        ingestion_job_id="JOBSHOW005",
        status="COMPLETE",
        statistics={"numberOfDocumentsFailed": 45},
        failure_reasons=["Ignored 39 files."],
        document_failures=fn.shown_failures(FAILURES),
        document_failures_total=43,
    )
    alert = fn.build_alert(facts, "https://example.com/runbooks", datetime(2026, 12, 6, tzinfo=UTC))
    envelope = {
        "Type": "Notification",
        "MessageId": "m-1",
        "Subject": alert["subject"],
        "Message": alert["message"],
        "MessageAttributes": {k: {"Type": "String", "Value": v["StringValue"]}
                              for k, v in alert["messageAttributes"].items()},
    }  # fmt: skip
    parsed = alerts.parse(json.dumps(envelope))
    assert parsed.documents_summary == "named by the knowledge base's logs: 43 so far; Bedrock counts 45 failed"
    assert parsed.documents == kbsync_documents.summary_lines(FAILURES, keys_shown=3)
    assert parsed.reasons == ["Ignored 39 files."]
    shown = alerts.text(parsed, PLAIN).splitlines()
    start = shown.index(f"  documents  ({parsed.documents_summary})")
    assert shown[start + 1] == f"             - {parsed.documents[0]}"
    assert parsed.to_dict()["documents"] == parsed.documents
