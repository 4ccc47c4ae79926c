"""Unit tests of the emulator's pure parts: document rules, job timing, model validation, faults.

No moto, no network, no threads: documents are S3Object values and time is an explicit number.
"""

from __future__ import annotations

import json

import pytest
from kbsync_localcloud.bedrock import documents, jobs, shapes
from kbsync_localcloud.bedrock.documents import IndexedDocument, S3Object, scan
from kbsync_localcloud.bedrock.errors import ThrottlingException
from kbsync_localcloud.bedrock.faults import Faults, TokenBucket


def obj(
    key: str, body: bytes = b"text", etag: str | None = None, modified: float = 1.0, size: int | None = None
) -> S3Object:
    return S3Object(key, len(body) if size is None else size, etag or f'"{hash(body)}"', modified, lambda: body)


def test_size_limits_are_inclusive() -> None:
    at_limit = obj("docs/a.pdf", size=documents.MAX_DOCUMENT_BYTES)
    over = obj("docs/b.pdf", size=documents.MAX_DOCUMENT_BYTES + 1)
    assert documents.document_problem("b", at_limit, None) is None
    assert "50 MB" in str(documents.document_problem("b", over, None))
    sidecar_ok = obj("docs/a.txt.metadata.json", b'{"metadataAttributes": {}}', size=documents.MAX_METADATA_BYTES)
    sidecar_big = obj("docs/a.txt.metadata.json", size=documents.MAX_METADATA_BYTES + 1)
    assert documents.document_problem("b", obj("docs/a.txt"), sidecar_ok) is None
    assert "10 KB" in str(documents.document_problem("b", obj("docs/a.txt"), sidecar_big))


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        (b'{"metadataAttributes": {"s": "x", "n": 1.5, "b": true, "l": ["a", "b"]}}', True),
        (
            b'{"metadataAttributes": {"t": {"value": {"type": "STRING", "stringValue": "x"}, '
            b'"includeForEmbedding": true}}}',
            True,
        ),
        (b'{"metadataAttributes": {"t": {"value": {"type": "DATE", "stringValue": "x"}}}}', False),
        (b'{"metadataAttributes": {"t": {"value": {"type": "NUMBER"}}}}', False),
        (b'{"metadataAttributes": {"l": [1, 2]}}', False),
        (b'{"metadataAttributes": []}', False),
        (b"[]", False),
        (b"\xff\xfe", False),
    ],
)
def test_metadata_shapes(raw: bytes, accepted: bool) -> None:
    assert (documents.metadata_problem(raw) is None) is accepted


def test_folder_markers_orphan_sidecars_and_prefix_content() -> None:
    result = scan("b", [obj("docs/"), obj("docs/x.txt.metadata.json", b'{"metadataAttributes": {}}')], {})
    assert result.statistics["numberOfDocumentsScanned"] == 0
    assert result.statistics["numberOfMetadataDocumentsScanned"] == 1
    assert result.snapshot == {}


def test_failed_document_keeps_its_previous_index_entry() -> None:
    first = scan("b", [obj("docs/a.txt", etag='"1"')], {})
    broken = obj("docs/a.txt", etag='"2"', size=documents.MAX_DOCUMENT_BYTES + 1)
    second = scan("b", [broken], first.snapshot)
    assert second.statistics["numberOfDocumentsFailed"] == 1
    assert second.snapshot == first.snapshot
    fixed = scan("b", [obj("docs/a.txt", etag='"3"')], second.snapshot)
    assert fixed.statistics["numberOfModifiedDocumentsIndexed"] == 1


def test_modified_by_last_modified_alone() -> None:
    before = {"docs/a.txt": IndexedDocument(documents.Fingerprint('"1"', 1.0), None)}
    result = scan("b", [obj("docs/a.txt", etag='"1"', modified=2.0)], before)
    assert result.statistics["numberOfModifiedDocumentsIndexed"] == 1


def test_removed_sidecar_counts_as_metadata_modified() -> None:
    sidecar = obj("docs/a.txt.metadata.json", b'{"metadataAttributes": {}}', etag='"m"')
    first = scan("b", [obj("docs/a.txt", etag='"1"'), sidecar], {})
    second = scan("b", [obj("docs/a.txt", etag='"1"')], first.snapshot)
    assert second.statistics["numberOfMetadataDocumentsModified"] == 1
    assert second.statistics["numberOfModifiedDocumentsIndexed"] == 0


def test_failure_reasons_are_capped_like_bedrock() -> None:
    many = [obj(f"docs/{index:05}.bin") for index in range(documents.MAX_FAILURE_REASONS + 5)]
    result = scan("b" * 3000, many, {})
    assert result.statistics["numberOfDocumentsFailed"] == documents.MAX_FAILURE_REASONS + 5
    assert len(result.failure_reasons) == documents.MAX_FAILURE_REASONS
    assert max(len(reason) for reason in result.failure_reasons) == documents.MAX_FAILURE_REASON_CHARS


def make_job(duration: float = 30.0, **extra: object) -> jobs.IngestionJob:
    stats = {name: 10 for name in documents.STATISTIC_NAMES}
    return jobs.IngestionJob(
        "J000000001", "K000000001", "D000000001", 1000.0, duration, "COMPLETE", stats, ["r"], {}, **extra
    )  # type: ignore[arg-type]


def test_job_timeline() -> None:
    job = make_job(30.0)
    assert [job.status_at(1000.0 + t) for t in (0, 4.9, 5, 29.9, 30)] == [
        "STARTING",
        "STARTING",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "COMPLETE",
    ]
    assert job.statistics_at(1002)["numberOfDocumentsScanned"] == 0
    assert job.statistics_at(1017.5)["numberOfDocumentsScanned"] == 5  # half way through IN_PROGRESS
    assert job.updated_at(5000) == 1030.0
    assert "failureReasons" not in job.to_dict(1010, float) and job.to_dict(1030, float)["failureReasons"] == ["r"]
    shown = job.to_dict(5000, lambda virtual: 100 + (virtual - 1000) / 10)  # dates through the given mapping
    assert (shown["startedAt"], shown["updatedAt"]) == (100.0, 103.0)


def test_duration_formula() -> None:
    assert jobs.planned_duration(0) == jobs.STARTING_SECONDS + jobs.BASE_SECONDS
    assert jobs.planned_duration(100) == jobs.STARTING_SECONDS + jobs.BASE_SECONDS + 100 * jobs.PER_FILE_SECONDS
    assert make_job(3.0).starting_seconds == 1.0  # a short forced duration still shows STARTING first


def test_stopped_job_timeline() -> None:
    job = make_job(30.0, never_finishes=True)
    assert job.status_at(10_000) == "IN_PROGRESS"
    job.stop_requested_at = 10_000.0
    assert job.status_at(10_000 + jobs.STOPPING_SECONDS - 0.1) == "STOPPING"
    assert job.status_at(10_000 + jobs.STOPPING_SECONDS) == "STOPPED"
    assert job.updated_at(20_000) == 10_000 + jobs.STOPPING_SECONDS
    assert job.statistics_at(20_000)["numberOfDocumentsScanned"] == 9  # frozen below the final count


def test_token_bucket_refills_in_virtual_time() -> None:
    bucket = TokenBucket(rate=0.1, burst=1)
    assert bucket.take(0.0) and not bucket.take(9.9) and bucket.take(10.0)


def test_fault_counters_are_consumed() -> None:
    faults = Faults()
    faults.set_start_rate_limit(None)
    faults.throttle_next_starts(1)
    with pytest.raises(ThrottlingException):
        faults.admit_start(0.0)
    faults.admit_start(0.0)
    faults.force_job_duration(7, count=1)
    faults.hang_next_jobs(1)
    plan = faults.plan_job()
    assert (plan.duration, plan.never_finishes) == (7.0, True)
    assert faults.plan_job() == type(plan)()
    faults.reset()
    assert faults.describe()["startRateLimit"] == {"perSecond": 0.1, "burst": 1}


def test_input_violations_use_aws_wording() -> None:
    found = shapes.input_violations("StartIngestionJob", {"knowledgeBaseId": "short", "clientToken": "x"})
    assert "Value null at 'dataSourceId' failed to satisfy constraint: Member must not be null" in found
    assert any(
        "'clientToken' failed to satisfy constraint: Member must have length greater than or equal to 33" in f
        for f in found
    )
    assert shapes.validation_message(found).startswith(f"{len(found)} validation errors detected: ")


def test_shape_validator_catches_what_the_parser_tolerates() -> None:
    body = {
        "ingestionJob": {
            "knowledgeBaseId": "K000000001",
            "dataSourceId": "D000000001",
            "ingestionJobId": "J000000001",
            "status": "RUNNING",
            "startedAt": "yesterday",
            "updatedAt": 1.0,
            "failureReason": "x",
        }
    }
    problems = shapes.output_problems("GetIngestionJob", body)
    assert any("'RUNNING' is not one of" in p for p in problems)
    assert any(
        "startedAt: expected an ISO 8601 timestamp (timestampFormat iso8601), got 'yesterday'" in p for p in problems
    )
    assert any("updatedAt: expected an ISO 8601 timestamp" in p for p in problems)  # an epoch number is not either
    assert any("failureReason: not a member" in p for p in problems)
    assert shapes.error_status("ServiceQuotaExceededException") == 402
    assert shapes.success_status("StartIngestionJob") == 202
    assert (
        json.dumps(shapes.error_problems("ConflictException", {"message": "m", "__type": "ConflictException"})) == "[]"
    )
