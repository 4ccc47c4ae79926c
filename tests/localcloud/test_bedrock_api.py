"""The Bedrock ingestion emulator through boto3, in-process (decorator mode via LocalCloud).

Every test's bedrock-agent client records the raw responses; the fixture fails the test if any response
or error does not validate against botocore's model (status, error code, shape).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from kbsync_localcloud import bedrock
from kbsync_localcloud.bedrock.fidelity import WireRecorder
from kbsync_localcloud.bedrock.jobs import IngestionJob
from kbsync_localcloud.bedrock.state import OPERATIONS
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.cloud import ACCOUNT_ID, LocalCloud
from moto.s3.models import s3_backends

SCALE = 0.0005  # 1 virtual second = 0.5 ms: a default 15 s job takes ~8 ms
BUCKET = "kb-docs"
TOKEN = "a" * 40


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=SCALE) as local:
        bedrock.faults().set_start_rate_limit(None)  # most tests start jobs back to back
        yield local


@pytest.fixture
def recorder() -> WireRecorder:
    return WireRecorder(operations=frozenset(OPERATIONS))


#: Errors must reach the test as the service sent them: botocore would otherwise retry throttling and 5xx.
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


#: One session for the module: clients share its loaded service models (a fresh session costs ~0.5 s).
SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture(autouse=True)
def _restore_clock_scale() -> Iterator[None]:
    scale = CLOCK.scale
    yield
    CLOCK.set_scale(scale)


@pytest.fixture
def agent(cloud: LocalCloud, recorder: WireRecorder) -> Iterator[Any]:
    client = recorder.attach(SESSION.client("bedrock-agent", config=NO_RETRIES))
    yield client
    assert recorder.responses, "the test made no emulator call"
    assert recorder.problems() == []


@pytest.fixture
def s3(cloud: LocalCloud) -> Any:
    client = SESSION.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def source(agent: Any, s3: Any) -> bedrock.SeededSource:
    kb = bedrock.seed_knowledge_base(agent)
    ds = bedrock.seed_data_source(kb, BUCKET, "docs/", agent)
    return bedrock.SeededSource(kb, ds, BUCKET, "docs/")


def ids(src: bedrock.SeededSource) -> dict[str, str]:
    return {"knowledgeBaseId": src.knowledge_base_id, "dataSourceId": src.data_source_id}


def start(agent: Any, src: bedrock.SeededSource, **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = agent.start_ingestion_job(**ids(src), **extra)["ingestionJob"]
    return job


def run_job(agent: Any, src: bedrock.SeededSource) -> dict[str, Any]:
    job = start(agent, src)
    return bedrock.wait_for_ingestion_job(
        src.knowledge_base_id, src.data_source_id, job["ingestionJobId"], agent, timeout=10
    )


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def put(s3: Any, key: str, body: bytes = b"text") -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


# -- data sources -------------------------------------------------------------------------------------


def test_data_source_lifecycle(agent: Any, source: bedrock.SeededSource) -> None:
    got = agent.get_data_source(**ids(source))["dataSource"]
    assert got["status"] == "AVAILABLE"
    assert got["dataSourceConfiguration"]["s3Configuration"]["inclusionPrefixes"] == ["docs/"]
    listed = agent.list_data_sources(knowledgeBaseId=source.knowledge_base_id)["dataSourceSummaries"]
    assert [s["dataSourceId"] for s in listed] == [source.data_source_id]
    deleted = agent.delete_data_source(**ids(source))
    assert deleted["status"] == "DELETING"
    assert error_of(agent.get_data_source, **ids(source))[0] == "ResourceNotFoundException"


def test_data_source_name_conflict_and_quota(agent: Any, source: bedrock.SeededSource) -> None:
    code, _ = error_of(
        bedrock.seed_data_source, knowledge_base_id=source.knowledge_base_id, bucket=BUCKET, client=agent
    )
    assert code == "ConflictException"
    for index in range(4):
        bedrock.seed_data_source(source.knowledge_base_id, BUCKET, f"p{index}/", agent, name=f"extra{index}")
    code, message = error_of(
        bedrock.seed_data_source, knowledge_base_id=source.knowledge_base_id, bucket=BUCKET, client=agent, name="six"
    )
    assert code == "ServiceQuotaExceededException"
    assert "5 data sources" in message


def test_knowledge_base_ids_look_like_bedrock(agent: Any, source: bedrock.SeededSource) -> None:
    kb = agent.get_knowledge_base(knowledgeBaseId=source.knowledge_base_id)["knowledgeBase"]
    assert len(kb["knowledgeBaseId"]) == 10 and kb["knowledgeBaseId"].isalnum()
    assert kb["status"] == "ACTIVE"
    agent.get_data_source(**ids(source))


def test_unknown_and_malformed_ids(agent: Any, source: bedrock.SeededSource) -> None:
    unknown = {"knowledgeBaseId": "ZZZZZZZZZZ", "dataSourceId": source.data_source_id}
    assert error_of(agent.get_data_source, **unknown)[0] == "ResourceNotFoundException"
    assert error_of(agent.start_ingestion_job, **unknown)[0] == "ResourceNotFoundException"
    other_ds = {**ids(source), "dataSourceId": "ZZZZZZZZZZ"}
    assert error_of(agent.list_ingestion_jobs, **other_ds)[0] == "ResourceNotFoundException"
    job = {**ids(source), "ingestionJobId": "ZZZZZZZZZZ"}
    assert error_of(agent.get_ingestion_job, **job)[0] == "ResourceNotFoundException"
    code, message = error_of(agent.start_ingestion_job, knowledgeBaseId="kb-1", dataSourceId=source.data_source_id)
    assert code == "ValidationException"
    assert "Value 'kb-1' at 'knowledgeBaseId' failed to satisfy constraint" in message


# -- documents ----------------------------------------------------------------------------------------


def test_new_documents_and_sidecars_are_indexed(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    for name in ("a.txt", "b.md", "c.html", "d.doc", "e.docx", "f.csv", "g.xls", "h.xlsx", "i.PDF"):
        put(s3, f"docs/{name}")
    put(s3, "docs/a.txt.metadata.json", json.dumps({"metadataAttributes": {"team": "x", "year": 2024}}).encode())
    put(s3, "outside/z.txt")
    job = run_job(agent, source)
    assert job["status"] == "COMPLETE"
    stats = job["statistics"]
    assert stats["numberOfDocumentsScanned"] == 9
    assert stats["numberOfMetadataDocumentsScanned"] == 1
    assert stats["numberOfNewDocumentsIndexed"] == 9
    assert stats["numberOfDocumentsFailed"] == 0
    assert "failureReasons" not in job


@pytest.mark.parametrize(
    ("key", "body", "sidecar", "reason"),
    [
        ("docs/notes.json", b"{}", None, "Ignored 1 files as their file format was not supported. [Files: s3://"),
        ("docs/a.txt", b"x", b"{" + b" " * 10 * 1024 + b"}", "metadata file exceeded the maximum supported size"),
        ("docs/a.txt", b"x", b"{not json", "metadata file was invalid: not valid JSON"),
        ("docs/a.txt", b"x", b'{"attributes": {}}', "metadata file was invalid: expected a JSON object"),
        ("docs/a.txt", b"x", b'{"metadataAttributes": {"k": {"v": 1}}}', "metadata file was invalid: attribute 'k'"),
    ],
    ids=["unsupported-extension", "sidecar-over-10KB", "sidecar-not-json", "sidecar-wrong-shape", "bad-attribute"],
)
def test_document_failure_reasons(
    agent: Any, s3: Any, source: bedrock.SeededSource, key: str, body: bytes, sidecar: bytes | None, reason: str
) -> None:
    put(s3, key, body)
    if sidecar is not None:
        put(s3, key + ".metadata.json", sidecar)
    put(s3, "docs/good.txt")
    job = run_job(agent, source)
    assert job["status"] == "COMPLETE"  # a failed document makes the job partial, not FAILED
    assert job["statistics"]["numberOfDocumentsFailed"] == 1
    assert job["statistics"]["numberOfNewDocumentsIndexed"] == 1
    assert len(job["failureReasons"]) == 1
    assert reason in job["failureReasons"][0]


def test_document_over_50_mb_fails(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    # Written through moto's S3 backend: the same object an upload makes, without pushing 50 MB through HTTP.
    s3_backends[ACCOUNT_ID]["aws"].put_object(BUCKET, "docs/big.pdf", b"\0" * (bedrock.MAX_DOCUMENT_BYTES + 1))
    put(s3, "docs/small.pdf")
    job = run_job(agent, source)
    assert job["status"] == "COMPLETE"
    assert job["statistics"]["numberOfDocumentsFailed"] == 1
    assert job["statistics"]["numberOfNewDocumentsIndexed"] == 1
    assert (
        "exceeded the maximum supported size of 50 MB. [Files: s3://kb-docs/docs/big.pdf]" in job["failureReasons"][0]
    )


def test_missing_bucket_fails_the_job(agent: Any, cloud: LocalCloud) -> None:
    kb = bedrock.seed_knowledge_base(agent)
    ds = bedrock.seed_data_source(kb, "no-such-bucket", "docs/", agent)
    job = run_job(agent, bedrock.SeededSource(kb, ds, "no-such-bucket", "docs/"))
    assert job["status"] == "FAILED"
    assert "no-such-bucket" in job["failureReasons"][0]
    assert "NoSuchBucket" in job["failureReasons"][0]


def test_incremental_counts_across_jobs(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    for name in ("keep.txt", "change.txt", "gone.txt", "meta.txt"):
        put(s3, f"docs/{name}", name.encode())
    put(s3, "docs/empty.txt", b"")
    first = run_job(agent, source)["statistics"]
    assert (first["numberOfNewDocumentsIndexed"], first["numberOfDocumentsSkipped"]) == (4, 1)

    put(s3, "docs/change.txt", b"changed")
    s3.delete_object(Bucket=BUCKET, Key="docs/gone.txt")
    put(s3, "docs/meta.txt.metadata.json", b'{"metadataAttributes": {"tier": "gold"}}')
    put(s3, "docs/added.txt")
    second = run_job(agent, source)["statistics"]
    assert second == {
        "numberOfDocumentsScanned": 5,  # keep, change, meta, added, empty
        "numberOfMetadataDocumentsScanned": 1,
        "numberOfNewDocumentsIndexed": 1,
        "numberOfModifiedDocumentsIndexed": 1,
        "numberOfMetadataDocumentsModified": 1,
        "numberOfDocumentsDeleted": 1,
        "numberOfDocumentsFailed": 0,
        "numberOfDocumentsSkipped": 1,
    }
    third = run_job(agent, source)["statistics"]
    assert third["numberOfNewDocumentsIndexed"] + third["numberOfModifiedDocumentsIndexed"] == 0
    assert third["numberOfDocumentsDeleted"] == 0


def test_stopped_job_is_not_the_baseline(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.txt")
    bedrock.faults().hang_next_jobs()
    hung = start(agent, source)
    agent.stop_ingestion_job(**ids(source), ingestionJobId=hung["ingestionJobId"])
    bedrock.wait_for_ingestion_job(source.knowledge_base_id, source.data_source_id, hung["ingestionJobId"], agent)
    assert run_job(agent, source)["statistics"]["numberOfNewDocumentsIndexed"] == 1


# -- progression and stop -----------------------------------------------------------------------------


def test_status_progresses_over_scaled_time(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.txt")
    CLOCK.set_scale(0.005)  # IN_PROGRESS lasts 55 virtual s = 0.275 s: wide enough for polls on a busy machine
    bedrock.faults().force_job_duration(60, count=1)
    job = start(agent, source)
    assert job["status"] == "STARTING"
    seen = {job["status"]}
    deadline = time.monotonic() + 5
    while job["status"] not in ("COMPLETE", "FAILED"):
        assert time.monotonic() < deadline, f"job stuck in {job['status']}"
        time.sleep(0.002)
        job = agent.get_ingestion_job(**ids(source), ingestionJobId=job["ingestionJobId"])["ingestionJob"]
        seen.add(job["status"])
    assert seen == {"STARTING", "IN_PROGRESS", "COMPLETE"}
    # dates on the wall clock (one clock): the 60 virtual seconds between them last 60 * scale real seconds
    assert (job["updatedAt"] - job["startedAt"]).total_seconds() == pytest.approx(60 * CLOCK.scale, abs=0.001)


def test_stop_flow(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.txt")
    bedrock.faults().hang_next_jobs()
    job = start(agent, source)
    stopped = agent.stop_ingestion_job(**ids(source), ingestionJobId=job["ingestionJobId"])
    assert stopped["ingestionJob"]["status"] == "STOPPING"
    assert stopped["ResponseMetadata"]["HTTPStatusCode"] == 202
    final = bedrock.wait_for_ingestion_job(
        source.knowledge_base_id, source.data_source_id, job["ingestionJobId"], agent
    )
    assert final["status"] == "STOPPED"
    code, _ = error_of(agent.stop_ingestion_job, **ids(source), ingestionJobId=job["ingestionJobId"])
    assert code == "ConflictException"


# -- quotas -------------------------------------------------------------------------------------------


def test_one_job_per_data_source(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().hang_next_jobs()
    running = start(agent, source)
    code, message = error_of(agent.start_ingestion_job, **ids(source))
    assert code == "ConflictException"
    assert running["ingestionJobId"] in message and source.data_source_id in message


def test_one_job_per_knowledge_base(agent: Any, source: bedrock.SeededSource) -> None:
    sibling = bedrock.seed_data_source(source.knowledge_base_id, BUCKET, "more/", agent, name="sibling")
    bedrock.faults().hang_next_jobs()
    start(agent, source)
    code, message = error_of(agent.start_ingestion_job, knowledgeBaseId=source.knowledge_base_id, dataSourceId=sibling)
    assert code == "ConflictException"
    assert f"knowledge base {source.knowledge_base_id}" in message


def test_conflict_reported_as_validation_variant(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().hang_next_jobs()
    bedrock.faults().report_conflicts_as_validation()
    start(agent, source)
    code, message = error_of(agent.start_ingestion_job, **ids(source))
    assert code == "ValidationException"
    assert "ongoing ingestion job" in message


def test_five_concurrent_jobs_per_account(agent: Any, s3: Any) -> None:
    bedrock.faults().hang_next_jobs(6)
    sources = []
    for index in range(6):
        kb = bedrock.seed_knowledge_base(agent, name=f"kb{index}")
        sources.append(bedrock.SeededSource(kb, bedrock.seed_data_source(kb, BUCKET, "docs/", agent), BUCKET, "docs/"))
    for src in sources[:5]:
        start(agent, src)
    code, message = error_of(agent.start_ingestion_job, **ids(sources[5]))
    assert code == "ServiceQuotaExceededException"
    assert "limit of 5" in message


def test_start_rate_is_limited_in_virtual_time(agent: Any, source: bedrock.SeededSource) -> None:
    CLOCK.set_scale(0.05)  # 10 virtual seconds = 0.5 s: calls made back to back stay well inside one window
    bedrock.faults().set_start_rate_limit()  # AWS default: 0.1 per second
    bedrock.faults().hang_next_jobs()
    first = start(agent, source)
    code, message = error_of(agent.start_ingestion_job, **ids(source))
    assert (code, message) == ("ThrottlingException", "Rate exceeded")
    agent.stop_ingestion_job(**ids(source), ingestionJobId=first["ingestionJobId"])
    time.sleep(CLOCK.to_real(bedrock.STOPPING_SECONDS + 10) * 1.2)  # a token is back after 10 virtual seconds
    start(agent, source)


# -- clientToken --------------------------------------------------------------------------------------


def test_client_token_makes_start_idempotent(agent: Any, source: bedrock.SeededSource, cloud: LocalCloud) -> None:
    bedrock.faults().hang_next_jobs()
    bedrock.faults().set_start_rate_limit()  # a replay is not charged against the rate either
    first = start(agent, source, clientToken=TOKEN)
    again = start(agent, source, clientToken=TOKEN)
    assert again["ingestionJobId"] == first["ingestionJobId"]
    jobs = agent.list_ingestion_jobs(**ids(source))["ingestionJobSummaries"]
    assert [j["ingestionJobId"] for j in jobs] == [first["ingestionJobId"]]


@pytest.mark.parametrize("token", ["short-token", "x" * 257, "_" + "a" * 40, "a--" + "b" * 40 + "-"])
def test_invalid_client_token(
    cloud: LocalCloud, recorder: WireRecorder, source: bedrock.SeededSource, token: str
) -> None:
    config = NO_RETRIES.merge(Config(parameter_validation=False))
    raw = recorder.attach(SESSION.client("bedrock-agent", config=config))
    code, message = error_of(raw.start_ingestion_job, **ids(source), clientToken=token)
    assert code == "ValidationException"
    assert "at 'clientToken' failed to satisfy constraint" in message


# -- ListIngestionJobs --------------------------------------------------------------------------------


def _jobs_with_statuses(agent: Any, s3: Any, source: bedrock.SeededSource) -> list[str]:
    """Five finished jobs (COMPLETE, FAILED, COMPLETE, STOPPED, COMPLETE) plus one IN_PROGRESS, oldest first."""
    put(s3, "docs/a.txt")
    created = []
    for kind in ("ok", "fail", "ok", "stop", "ok"):
        if kind == "fail":
            bedrock.faults().fail_next_jobs(["Embedding model throttled"])
        if kind == "stop":
            bedrock.faults().hang_next_jobs()
            job = start(agent, source)
            agent.stop_ingestion_job(**ids(source), ingestionJobId=job["ingestionJobId"])
            bedrock.wait_for_ingestion_job(
                source.knowledge_base_id, source.data_source_id, job["ingestionJobId"], agent
            )
        else:
            job = run_job(agent, source)
        created.append(job["ingestionJobId"])
    bedrock.faults().hang_next_jobs()
    created.append(start(agent, source)["ingestionJobId"])
    return created


def test_list_ingestion_jobs_sort_filter_paginate(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    created = _jobs_with_statuses(agent, s3, source)
    default = agent.list_ingestion_jobs(**ids(source))["ingestionJobSummaries"]
    assert [j["ingestionJobId"] for j in default] == created[::-1]  # newest first
    oldest_first = agent.list_ingestion_jobs(**ids(source), sortBy={"attribute": "STARTED_AT", "order": "ASCENDING"})
    assert [j["ingestionJobId"] for j in oldest_first["ingestionJobSummaries"]] == created
    by_status = agent.list_ingestion_jobs(**ids(source), sortBy={"attribute": "STATUS", "order": "ASCENDING"})
    statuses = [j["status"] for j in by_status["ingestionJobSummaries"]]
    assert statuses == sorted(statuses)

    status_filter = [{"attribute": "STATUS", "operator": "EQ", "values": ["COMPLETE", "STOPPED"]}]
    filtered = agent.list_ingestion_jobs(**ids(source), filters=status_filter)["ingestionJobSummaries"]
    assert {j["ingestionJobId"] for j in filtered} == {created[0], created[2], created[3], created[4]}

    pages, token = [], None
    for _ in range(10):
        kwargs = {"nextToken": token} if token else {}
        page = agent.list_ingestion_jobs(**ids(source), maxResults=4, **kwargs)
        pages.append([j["ingestionJobId"] for j in page["ingestionJobSummaries"]])
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == [created[::-1][:4], created[::-1][4:]]


def test_list_ingestion_jobs_rejects_bad_input(agent: Any, source: bedrock.SeededSource) -> None:
    bad_filter = [{"attribute": "STATUS", "operator": "EQ", "values": ["RUNNING"]}]
    assert error_of(agent.list_ingestion_jobs, **ids(source), filters=bad_filter)[0] == "ValidationException"
    assert error_of(agent.list_ingestion_jobs, **ids(source), nextToken="garbage")[0] == "ValidationException"


# -- fault injection ----------------------------------------------------------------------------------


def test_injected_throttling_storm(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().throttle_next_starts(2)
    for _ in range(2):
        assert error_of(agent.start_ingestion_job, **ids(source))[0] == "ThrottlingException"
    start(agent, source)


def test_injected_internal_error(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().fail_next_calls("GetDataSource", count=1)
    assert error_of(agent.get_data_source, **ids(source))[0] == "InternalServerException"
    agent.get_data_source(**ids(source))
    with pytest.raises(ValueError, match="cannot return"):
        bedrock.faults().fail_next_calls("GetIngestionJob", error="ConflictException")


def test_injected_access_denied(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().deny_knowledge_base(source.knowledge_base_id)
    code, message = error_of(agent.start_ingestion_job, **ids(source))
    assert code == "AccessDeniedException"
    assert "bedrock:StartIngestionJob" in message
    bedrock.faults().deny_knowledge_base(source.knowledge_base_id, denied=False)
    start(agent, source)


def test_injected_failed_job(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.txt")
    bedrock.faults().fail_next_jobs(["The embedding model is not available."])
    job = run_job(agent, source)
    assert job["status"] == "FAILED"
    assert job["failureReasons"] == ["The embedding model is not available."]
    assert run_job(agent, source)["statistics"]["numberOfNewDocumentsIndexed"] == 1  # FAILED is no baseline


def test_never_finishing_job_stays_in_progress(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().hang_next_jobs()
    job = start(agent, source)
    time.sleep(bedrock.planned_duration(0) * SCALE * 3)
    got = agent.get_ingestion_job(**ids(source), ingestionJobId=job["ingestionJobId"])["ingestionJob"]
    assert got["status"] == "IN_PROGRESS"


def test_moto_reset_clears_faults_and_jobs(source: bedrock.SeededSource, agent: Any) -> None:
    bedrock.faults().throttle_next_starts(5)
    requests.post("http://motoapi.amazonaws.com/moto-api/reset", timeout=5)
    assert bedrock.faults().describe()["throttleNextStarts"] == 0
    assert error_of(agent.get_data_source, **ids(source))[0] == "ResourceNotFoundException"


def test_control_route_in_decorator_mode(agent: Any, source: bedrock.SeededSource) -> None:
    url = f"https://bedrock-agent.us-east-1.amazonaws.com{bedrock.CONTROL_PATH}"
    answer = requests.post(url, json={"action": "throttle_next_starts", "count": 1}, timeout=5).json()
    assert answer["throttleNextStarts"] == 1
    assert error_of(agent.start_ingestion_job, **ids(source))[0] == "ThrottlingException"


def test_fidelity_covers_every_operation_and_every_error(
    agent: Any, s3: Any, source: bedrock.SeededSource, recorder: WireRecorder
) -> None:
    """Every operation succeeds once and every error code is produced once; the fixture validates them all."""
    put(s3, "docs/a.txt")
    put(s3, "docs/a.txt.metadata.json", b'{"metadataAttributes": {"k": "v"}}')
    put(s3, "docs/b.zip")
    agent.get_data_source(**ids(source))
    agent.list_data_sources(knowledgeBaseId=source.knowledge_base_id, maxResults=1)
    finished = run_job(agent, source)
    assert finished["failureReasons"]
    bedrock.faults().hang_next_jobs()
    running = start(agent, source, description="nightly sync")
    agent.list_ingestion_jobs(**ids(source), maxResults=1)
    errors = [
        (agent.start_ingestion_job, ids(source)),  # ConflictException
        (agent.get_ingestion_job, {**ids(source), "ingestionJobId": "nope"}),  # ValidationException
        (agent.get_ingestion_job, {**ids(source), "ingestionJobId": "ZZZZZZZZZZ"}),  # ResourceNotFoundException
    ]
    for call, kwargs in errors:
        error_of(call, **kwargs)
    agent.stop_ingestion_job(**ids(source), ingestionJobId=running["ingestionJobId"])
    bedrock.faults().fail_next_calls("ListIngestionJobs", error="ThrottlingException")
    bedrock.faults().fail_next_calls("GetDataSource", error="InternalServerException")
    error_of(agent.list_ingestion_jobs, **ids(source))
    error_of(agent.get_data_source, **ids(source))
    bedrock.faults().deny_knowledge_base(source.knowledge_base_id)
    error_of(agent.list_data_sources, knowledgeBaseId=source.knowledge_base_id)
    bedrock.faults().deny_knowledge_base(source.knowledge_base_id, denied=False)
    for index in range(4):
        bedrock.seed_data_source(source.knowledge_base_id, BUCKET, f"p{index}/", agent, name=f"more{index}")
    error_of(
        bedrock.seed_data_source, knowledge_base_id=source.knowledge_base_id, bucket=BUCKET, client=agent, name="x"
    )
    newest = agent.list_data_sources(knowledgeBaseId=source.knowledge_base_id)["dataSourceSummaries"][-1]
    agent.delete_data_source(knowledgeBaseId=source.knowledge_base_id, dataSourceId=newest["dataSourceId"])

    succeeded = {r.operation for r in recorder.responses if r.status < 300}
    failed = {r.error_code for r in recorder.responses if r.status >= 300}
    assert succeeded == set(OPERATIONS)
    assert failed == {
        "ConflictException",
        "ValidationException",
        "ResourceNotFoundException",
        "ThrottlingException",
        "InternalServerException",
        "AccessDeniedException",
        "ServiceQuotaExceededException",
    }


def test_fidelity_check_catches_an_unfaithful_response(
    cloud: LocalCloud, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder is not a rubber stamp: a status the API never returns and an invented member are caught."""
    recorder = WireRecorder(operations=frozenset(OPERATIONS))
    client = recorder.attach(SESSION.client("bedrock-agent", config=NO_RETRIES))
    kb = bedrock.seed_knowledge_base(client)
    ds = bedrock.seed_data_source(kb, BUCKET, "docs/", client)
    original = IngestionJob.to_dict

    def unfaithful(self: IngestionJob, now: float, date: Callable[[float], float]) -> dict[str, Any]:
        return {**original(self, now, date), "status": "RUNNING", "failureReason": "x"}

    monkeypatch.setattr(IngestionJob, "to_dict", unfaithful)
    client.start_ingestion_job(knowledgeBaseId=kb, dataSourceId=ds)
    problems = recorder.problems()
    assert any("'RUNNING' is not one of" in problem for problem in problems)
    assert any("failureReason: not a member" in problem for problem in problems)
