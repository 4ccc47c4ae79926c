"""Helpers that create a knowledge base, a document bucket and an S3 data source through the API.

They go through boto3 clients, so they work in-process (inside LocalCloud / mock_aws) and against a
running local cloud (clients with endpoint_url, or AWS_ENDPOINT_URL set) alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import boto3

from kbsync_localcloud.bedrock.jobs import TERMINAL_STATUSES

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
EMBEDDING_MODEL_ARN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"


@dataclass(frozen=True)
class SeededSource:
    knowledge_base_id: str
    data_source_id: str
    bucket: str
    prefix: str


def _client(service: str, client: Any | None, region: str) -> Any:
    if client is not None:
        return client
    session: Any = boto3.session.Session(region_name=region)
    return session.client(service)


def seed_knowledge_base(
    client: Any | None = None, *, name: str = "kbsync-local-kb", region: str = DEFAULT_REGION
) -> str:
    """Create a vector knowledge base (OpenSearch Serverless storage) and return its 10-character id."""
    agent = _client("bedrock-agent", client, region)
    account = DEFAULT_ACCOUNT_ID
    response = agent.create_knowledge_base(
        name=name,
        roleArn=f"arn:aws:iam::{account}:role/kbsync-local-kb-role",
        knowledgeBaseConfiguration={
            "type": "VECTOR",
            "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": EMBEDDING_MODEL_ARN},
        },
        storageConfiguration={
            "type": "OPENSEARCH_SERVERLESS",
            "opensearchServerlessConfiguration": {
                "collectionArn": f"arn:aws:aoss:{region}:{account}:collection/kbsynclocal",
                "vectorIndexName": "kbsync-index",
                "fieldMapping": {"vectorField": "vector", "textField": "text", "metadataField": "metadata"},
            },
        },
    )
    return str(response["knowledgeBase"]["knowledgeBaseId"])


def seed_data_source(
    knowledge_base_id: str,
    bucket: str,
    prefix: str | None = "docs/",
    client: Any | None = None,
    *,
    name: str = "kbsync-local-docs",
    region: str = DEFAULT_REGION,
) -> str:
    """Create an S3 data source over s3://bucket/prefix and return its id (the bucket need not exist)."""
    agent = _client("bedrock-agent", client, region)
    s3_configuration: dict[str, Any] = {"bucketArn": f"arn:aws:s3:::{bucket}"}
    if prefix:
        s3_configuration["inclusionPrefixes"] = [prefix]
    response = agent.create_data_source(
        knowledgeBaseId=knowledge_base_id,
        name=name,
        dataSourceConfiguration={"type": "S3", "s3Configuration": s3_configuration},
    )
    return str(response["dataSource"]["dataSourceId"])


def seed_sync_target(
    *,
    bucket: str = "kbsync-local-docs",
    prefix: str = "docs/",
    kb_name: str = "kbsync-local-kb",
    ds_name: str = "kbsync-local-docs",
    agent_client: Any | None = None,
    s3_client: Any | None = None,
    region: str = DEFAULT_REGION,
) -> SeededSource:
    """Bucket + knowledge base + S3 data source in one call: what a sync needs."""
    s3 = _client("s3", s3_client, region)
    s3.create_bucket(Bucket=bucket)
    kb_id = seed_knowledge_base(agent_client, name=kb_name, region=region)
    ds_id = seed_data_source(kb_id, bucket, prefix, agent_client, name=ds_name, region=region)
    return SeededSource(kb_id, ds_id, bucket, prefix)


def wait_for_ingestion_job(
    knowledge_base_id: str,
    data_source_id: str,
    ingestion_job_id: str,
    client: Any | None = None,
    *,
    timeout: float = 30.0,
    poll_interval: float = 0.01,
    region: str = DEFAULT_REGION,
) -> dict[str, Any]:
    """Poll GetIngestionJob until a terminal status; raise TimeoutError after `timeout` real seconds."""
    agent = _client("bedrock-agent", client, region)
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = agent.get_ingestion_job(
            knowledgeBaseId=knowledge_base_id, dataSourceId=data_source_id, ingestionJobId=ingestion_job_id
        )["ingestionJob"]
        if job["status"] in TERMINAL_STATUSES:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"ingestion job {ingestion_job_id} still {job['status']} after {timeout}s")
        time.sleep(poll_interval)
