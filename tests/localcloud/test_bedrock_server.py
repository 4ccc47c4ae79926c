"""The emulator behind moto's HTTP server (server mode), reached by boto3 with endpoint_url.

This is the one Bedrock test that starts a thread: moto's ThreadedMotoServer on 127.0.0.1, a free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from kbsync_localcloud import bedrock
from kbsync_localcloud.adapters import install_all
from kbsync_localcloud.bedrock.fidelity import WireRecorder
from kbsync_localcloud.bedrock.state import OPERATIONS
from kbsync_localcloud.clock import CLOCK
from moto.server import ThreadedMotoServer

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    install_all()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def fresh(endpoint: str) -> Iterator[str]:
    scale = CLOCK.scale
    CLOCK.set_scale(0.0005)
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    yield endpoint
    CLOCK.set_scale(scale)


def control(endpoint: str, **body: Any) -> dict[str, Any]:
    response = requests.post(f"{endpoint}{bedrock.CONTROL_PATH}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_server_mode_end_to_end(fresh: str) -> None:
    recorder = WireRecorder(operations=frozenset(OPERATIONS))
    agent = recorder.attach(boto3.client("bedrock-agent", endpoint_url=fresh, config=NO_RETRIES, **CREDENTIALS))
    s3 = boto3.client("s3", endpoint_url=fresh, **CREDENTIALS)
    target = bedrock.seed_sync_target(bucket="server-docs", agent_client=agent, s3_client=s3)
    s3.put_object(Bucket="server-docs", Key="docs/a.md", Body=b"# a")
    s3.put_object(Bucket="server-docs", Key="docs/b.exe", Body=b"MZ")
    described = control(fresh, action="set_start_rate_limit", per_second=None)
    assert described["startRateLimit"] is None
    assert bedrock.faults().describe()["startRateLimit"] is None  # one state: the server's backends are this process's

    ids = {"knowledgeBaseId": target.knowledge_base_id, "dataSourceId": target.data_source_id}
    job = agent.start_ingestion_job(**ids)["ingestionJob"]
    final = _wait(agent, ids, job)
    assert final["status"] == "COMPLETE"
    assert final["statistics"]["numberOfNewDocumentsIndexed"] == 1
    assert final["statistics"]["numberOfDocumentsFailed"] == 1
    assert agent.list_ingestion_jobs(**ids)["ingestionJobSummaries"][0]["ingestionJobId"] == job["ingestionJobId"]

    control(fresh, action="hang_next_jobs", count=1)
    running = agent.start_ingestion_job(**ids)["ingestionJob"]
    with pytest.raises(ClientError) as conflict:
        agent.start_ingestion_job(**ids)
    assert conflict.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    agent.stop_ingestion_job(**ids, ingestionJobId=running["ingestionJobId"])
    assert _wait(agent, ids, running)["status"] == "STOPPED"

    control(fresh, action="fail_next_calls", operation="GetDataSource", error="InternalServerException")
    with pytest.raises(ClientError) as internal:
        agent.get_data_source(**ids)
    assert internal.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert requests.delete(f"{fresh}{bedrock.CONTROL_PATH}", timeout=10).json()["startRateLimit"] == {
        "perSecond": 0.1,
        "burst": 1,
    }
    assert recorder.problems() == []
    assert {r.operation for r in recorder.responses} >= {"CreateDataSource", "StartIngestionJob", "GetIngestionJob"}


def test_control_route_rejects_unknown_actions(fresh: str) -> None:
    response = requests.post(f"{fresh}{bedrock.CONTROL_PATH}", json={"action": "explode"}, timeout=10)
    assert response.status_code == 400
    assert "unknown action" in response.json()["message"]


def _wait(agent: Any, ids: dict[str, str], job: dict[str, Any]) -> dict[str, Any]:
    return bedrock.wait_for_ingestion_job(
        ids["knowledgeBaseId"], ids["dataSourceId"], job["ingestionJobId"], agent, timeout=10
    )


def test_control_route_accepts_curl_style_bodies(fresh: str) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # what `curl -d '{...}'` sends
    body = '{"action": "hang_next_jobs", "count": 2, "region": "eu-west-1"}'
    response = requests.post(f"{fresh}{bedrock.CONTROL_PATH}", data=body, headers=form, timeout=10)
    assert response.status_code == 200, response.text
    assert (response.json()["region"], response.json()["hangNextJobs"]) == ("eu-west-1", 2)
    assert bedrock.faults(region="eu-west-1").describe()["hangNextJobs"] == 2
