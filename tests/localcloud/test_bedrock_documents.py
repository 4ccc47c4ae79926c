"""ListKnowledgeBaseDocuments / GetKnowledgeBaseDocuments of the Bedrock emulator, through real boto3 calls.

The documents follow what the emulated ingestion jobs did: a file a COMPLETE job indexed is INDEXED, one it failed
is FAILED with the job's failureReasons entry as statusReason, an empty one is IGNORED, a file never synced is
absent, a file deleted from S3 stays INDEXED until the next job. Every response and error is validated on the wire
against botocore's model (the recorder fixture), as in test_bedrock_api.py.
API: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_ListKnowledgeBaseDocuments.html
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from kbsync_localcloud import bedrock
from kbsync_localcloud.bedrock.fidelity import WireRecorder
from kbsync_localcloud.bedrock.state import DOCUMENT_OPERATIONS, OPERATIONS, SERVED_OPERATIONS
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.cloud import LocalCloud

SCALE = 0.0005  # 1 virtual second = 0.5 ms
BUCKET = "kb-documents"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture(autouse=True)
def _restore_clock_scale() -> Iterator[None]:
    scale = CLOCK.scale
    yield
    CLOCK.set_scale(scale)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=SCALE) as local:
        bedrock.faults().set_start_rate_limit(None)
        yield local


@pytest.fixture
def recorder() -> WireRecorder:
    return WireRecorder(operations=frozenset(SERVED_OPERATIONS))


@pytest.fixture
def agent(cloud: LocalCloud, recorder: WireRecorder) -> Iterator[Any]:
    client = recorder.attach(SESSION.client("bedrock-agent", config=NO_RETRIES))
    yield client
    assert any(r.operation in DOCUMENT_OPERATIONS for r in recorder.responses), "no document call was made"
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


def put(s3: Any, key: str, body: bytes = b"text") -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def uri(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


def run_job(agent: Any, src: bedrock.SeededSource) -> dict[str, Any]:
    job = agent.start_ingestion_job(**ids(src))["ingestionJob"]
    return bedrock.wait_for_ingestion_job(
        src.knowledge_base_id, src.data_source_id, job["ingestionJobId"], agent, timeout=10
    )


def documents(agent: Any, src: bedrock.SeededSource) -> dict[str, dict[str, Any]]:
    """Every document (all pages), by S3 URI."""
    found: dict[str, dict[str, Any]] = {}
    for page in agent.get_paginator("list_knowledge_base_documents").paginate(**ids(src)):
        for detail in page["documentDetails"]:
            found[detail["identifier"]["s3"]["uri"]] = detail
    return found


def statuses(agent: Any, src: bedrock.SeededSource) -> dict[str, str]:
    return {location: detail["status"] for location, detail in documents(agent, src).items()}


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- what the jobs did ----------------------------------------------------------------------------------


def test_a_data_source_never_synced_lists_no_document(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.md")
    listed = agent.list_knowledge_base_documents(**ids(source))
    assert listed["documentDetails"] == [] and "nextToken" not in listed


def test_documents_follow_what_the_job_did(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.md", b"# a")
    put(s3, "docs/a.md.metadata.json", b'{"metadataAttributes": {"team": "x"}}')
    put(s3, "docs/setup.exe", b"MZ")
    put(s3, "docs/empty.txt", b"")
    put(s3, "docs/folder/")
    put(s3, "elsewhere/b.md")  # outside the data source's prefix
    job = run_job(agent, source)
    assert job["status"] == "COMPLETE"

    found = documents(agent, source)
    assert sorted(found) == [uri("docs/a.md"), uri("docs/empty.txt"), uri("docs/setup.exe")]  # no sidecar, no folder
    indexed, ignored, failed = found[uri("docs/a.md")], found[uri("docs/empty.txt")], found[uri("docs/setup.exe")]
    assert indexed["status"] == "INDEXED" and "statusReason" not in indexed
    assert failed["status"] == "FAILED"
    assert [failed["statusReason"]] == job["failureReasons"]  # the reason the job reports, word for word
    assert ignored["status"] == "IGNORED" and uri("docs/empty.txt") in ignored["statusReason"]
    for detail in found.values():
        assert (detail["knowledgeBaseId"], detail["dataSourceId"]) == (source.knowledge_base_id, source.data_source_id)
        assert detail["identifier"]["dataSourceType"] == "S3"
        assert isinstance(detail["updatedAt"], datetime) and detail["updatedAt"].tzinfo is not None
        assert detail["updatedAt"] == job["updatedAt"]  # when the job that indexed (or tried) it ended


def test_a_deleted_file_stays_indexed_until_the_next_job(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/keep.md")
    put(s3, "docs/gone.md")
    put(s3, "docs/edit.md", b"v1")
    first = run_job(agent, source)
    s3.delete_object(Bucket=BUCKET, Key="docs/gone.md")
    put(s3, "docs/edit.md", b"v2")
    put(s3, "docs/new.md")
    assert statuses(agent, source) == {
        uri("docs/edit.md"): "INDEXED",
        uri("docs/gone.md"): "INDEXED",  # deleted from S3, still in the index
        uri("docs/keep.md"): "INDEXED",
    }
    second = run_job(agent, source)
    assert second["statistics"]["numberOfDocumentsDeleted"] == 1
    found = documents(agent, source)
    assert sorted(found) == [uri("docs/edit.md"), uri("docs/keep.md"), uri("docs/new.md")]
    assert found[uri("docs/keep.md")]["updatedAt"] == first["updatedAt"]  # unchanged: not re-indexed
    assert found[uri("docs/edit.md")]["updatedAt"] == second["updatedAt"]  # modified: indexed again
    assert found[uri("docs/new.md")]["updatedAt"] == second["updatedAt"]


def test_a_document_that_fails_after_being_indexed_is_failed(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.md")
    run_job(agent, source)
    put(s3, "docs/a.md.metadata.json", b"{not json")
    job = run_job(agent, source)
    detail = documents(agent, source)[uri("docs/a.md")]
    assert detail["status"] == "FAILED" and [detail["statusReason"]] == job["failureReasons"]
    assert "metadata file was invalid" in detail["statusReason"]


def test_running_failed_and_stopped_jobs_leave_the_documents_alone(
    agent: Any, s3: Any, source: bedrock.SeededSource
) -> None:
    put(s3, "docs/a.md")
    run_job(agent, source)
    before = documents(agent, source)
    put(s3, "docs/b.md")

    bedrock.faults().hang_next_jobs(1)
    running = agent.start_ingestion_job(**ids(source))["ingestionJob"]
    assert documents(agent, source) == before  # no document changes while the job runs
    agent.stop_ingestion_job(**ids(source), ingestionJobId=running["ingestionJobId"])
    stopped = bedrock.wait_for_ingestion_job(
        source.knowledge_base_id, source.data_source_id, running["ingestionJobId"], agent, timeout=10
    )
    assert stopped["status"] == "STOPPED" and documents(agent, source) == before

    bedrock.faults().fail_next_jobs(["Encountered error: the embedding model is unavailable."])
    assert run_job(agent, source)["status"] == "FAILED"
    assert documents(agent, source) == before

    run_job(agent, source)
    assert statuses(agent, source) == {uri("docs/a.md"): "INDEXED", uri("docs/b.md"): "INDEXED"}


# -- pagination -----------------------------------------------------------------------------------------


def test_pages_cover_every_document_once_in_order(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    keys = [f"docs/{index:02}.md" for index in range(7)]
    for key in keys:
        put(s3, key)
    run_job(agent, source)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = agent.list_knowledge_base_documents(**ids(source), maxResults=3, **kwargs)
        pages += 1
        assert len(page["documentDetails"]) <= 3
        seen += [detail["identifier"]["s3"]["uri"] for detail in page["documentDetails"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == 3 and seen == [uri(key) for key in keys]
    assert len(agent.list_knowledge_base_documents(**ids(source), maxResults=1000)["documentDetails"]) == 7


def test_bad_max_results_and_tokens_are_validation_errors(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.md")
    put(s3, "docs/b.md")
    run_job(agent, source)
    code, message, status = error_of(agent.list_knowledge_base_documents, **ids(source), maxResults=1001)
    assert (code, status) == ("ValidationException", 400)
    assert "Value '1001' at 'maxResults' failed to satisfy constraint" in message
    unvalidated = SESSION.client(
        "bedrock-agent",
        config=Config(parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1}),
    )
    code, message, _ = error_of(unvalidated.list_knowledge_base_documents, **ids(source), maxResults=0)
    assert code == "ValidationException" and "greater than or equal to 1" in message
    other = bedrock.seed_data_source(source.knowledge_base_id, BUCKET, "other/", agent, name="other")
    token = agent.list_knowledge_base_documents(**ids(source), maxResults=1)["nextToken"]
    code, message, _ = error_of(
        agent.list_knowledge_base_documents,
        knowledgeBaseId=source.knowledge_base_id,
        dataSourceId=other,
        nextToken=token,
    )
    assert code == "ValidationException" and "pagination token" in message


# -- errors ---------------------------------------------------------------------------------------------


def test_unknown_ids_are_resource_not_found(agent: Any, source: bedrock.SeededSource) -> None:
    code, message, status = error_of(
        agent.list_knowledge_base_documents, knowledgeBaseId="ZZZZZZZZZZ", dataSourceId=source.data_source_id
    )
    assert (code, status) == ("ResourceNotFoundException", 404) and "ZZZZZZZZZZ" in message
    code, message, status = error_of(
        agent.list_knowledge_base_documents, knowledgeBaseId=source.knowledge_base_id, dataSourceId="YYYYYYYYYY"
    )
    assert (code, status) == ("ResourceNotFoundException", 404) and "YYYYYYYYYY" in message
    code, message, _ = error_of(
        agent.list_knowledge_base_documents, knowledgeBaseId="not-an-id", dataSourceId=source.data_source_id
    )
    assert code == "ValidationException" and "knowledgeBaseId" in message


def test_injected_faults_and_denied_access_reach_the_documents_api(agent: Any, source: bedrock.SeededSource) -> None:
    bedrock.faults().fail_next_calls("ListKnowledgeBaseDocuments", error="ThrottlingException")
    assert error_of(agent.list_knowledge_base_documents, **ids(source))[:1] == ("ThrottlingException",)
    bedrock.faults().deny_knowledge_base(source.knowledge_base_id)
    code, message, status = error_of(agent.list_knowledge_base_documents, **ids(source))
    assert (code, status) == ("AccessDeniedException", 403)
    assert "bedrock:ListKnowledgeBaseDocuments" in message


# -- GetKnowledgeBaseDocuments --------------------------------------------------------------------------


def test_get_documents_answers_in_the_order_asked(agent: Any, s3: Any, source: bedrock.SeededSource) -> None:
    put(s3, "docs/a.md")
    put(s3, "docs/bad.exe")
    run_job(agent, source)
    asked = [uri("docs/missing.md"), uri("docs/bad.exe"), uri("docs/a.md")]
    answer = agent.get_knowledge_base_documents(
        **ids(source), documentIdentifiers=[{"dataSourceType": "S3", "s3": {"uri": location}} for location in asked]
    )["documentDetails"]
    assert [(d["identifier"]["s3"]["uri"], d["status"]) for d in answer] == [
        (uri("docs/missing.md"), "NOT_FOUND"),
        (uri("docs/bad.exe"), "FAILED"),
        (uri("docs/a.md"), "INDEXED"),
    ]
    assert answer[1] == documents(agent, source)[uri("docs/bad.exe")]
    code, message, _ = error_of(
        agent.get_knowledge_base_documents,
        **ids(source),
        documentIdentifiers=[{"dataSourceType": "CUSTOM", "custom": {"id": "doc-1"}}],
    )
    assert code == "ValidationException" and "type S3" in message


def test_the_original_operations_are_unchanged() -> None:
    assert "ListKnowledgeBaseDocuments" not in OPERATIONS
    assert set(SERVED_OPERATIONS) == set(OPERATIONS) | {"ListKnowledgeBaseDocuments", "GetKnowledgeBaseDocuments"}


# -- server mode ----------------------------------------------------------------------------------------


def test_server_mode_serves_the_documents_api() -> None:
    from kbsync_localcloud.adapters import install_all
    from moto.server import ThreadedMotoServer

    install_all()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    scale = CLOCK.scale
    CLOCK.set_scale(SCALE)
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        recorder = WireRecorder(operations=frozenset(SERVED_OPERATIONS))
        agent = recorder.attach(SESSION.client("bedrock-agent", endpoint_url=endpoint, config=NO_RETRIES))
        s3 = SESSION.client("s3", endpoint_url=endpoint)
        target = bedrock.seed_sync_target(bucket="served-docs", agent_client=agent, s3_client=s3)
        bedrock.faults().set_start_rate_limit(None)
        s3.put_object(Bucket="served-docs", Key="docs/a.md", Body=b"# a")
        src = bedrock.SeededSource(target.knowledge_base_id, target.data_source_id, "served-docs", "docs/")
        run_job(agent, src)
        [detail] = agent.list_knowledge_base_documents(**ids(src))["documentDetails"]
        assert (detail["status"], detail["identifier"]["s3"]["uri"]) == ("INDEXED", "s3://served-docs/docs/a.md")
        assert recorder.problems() == []
    finally:
        CLOCK.set_scale(scale)
        server.stop()
