"""Sample data for ``kbsync local up``: a document bucket with a few documents, a knowledge base over it and
an S3 data source — everything a first ``kbsync sync`` needs.

Everything goes through the standard boto3 APIs (s3, bedrock-agent), so it works in-process (inside a
LocalCloud) and against a server (``endpoint_url``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from kbsync_localcloud.bedrock.seed import seed_sync_target

REGION = "us-east-1"
SAMPLE_BUCKET = "kbsync-sample-docs"
SAMPLE_PREFIX = "docs/"

#: (key under the prefix, body): supported types, plus a metadata sidecar as Bedrock expects it.
SAMPLE_DOCUMENTS: tuple[tuple[str, bytes], ...] = (
    ("getting-started.md", b"# Getting started\n\nkbsync keeps a Bedrock knowledge base in sync with S3.\n"),
    ("faq.txt", b"Q: When does a sync run?\nA: Nightly, after uploads, and on demand.\n"),
    ("runbook.html", b"<html><body><h1>On call</h1><p>Open the runbook linked in the alert.</p></body></html>"),
    ("quotas.csv", b"quota,value\nconcurrent jobs per account,5\nStartIngestionJob per second,0.1\n"),
    (
        "getting-started.md.metadata.json",
        json.dumps({"metadataAttributes": {"team": "platform", "audience": "operators"}}).encode(),
    ),
)


@dataclass(frozen=True)
class SeededData:
    bucket: str
    prefix: str
    knowledge_base_id: str
    data_source_id: str
    documents: tuple[str, ...]

    def as_parameters(self) -> dict[str, str]:
        """Values for template parameters of these names, if a template declares them."""
        return {
            "KnowledgeBaseId": self.knowledge_base_id,
            "DataSourceId": self.data_source_id,
            "DocumentBucketName": self.bucket,
            "DocumentsBucketName": self.bucket,
            "DocumentBucket": self.bucket,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "documents": list(self.documents),
        }


def seed_local_cloud(
    endpoint_url: str | None = None, region: str = REGION, bucket: str = SAMPLE_BUCKET, prefix: str = SAMPLE_PREFIX
) -> SeededData:
    """Create the sample bucket + documents, a knowledge base and its S3 data source; return their ids."""
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    s3 = boto3.client("s3", **kwargs)
    agent = boto3.client("bedrock-agent", **kwargs)
    source = seed_sync_target(bucket=bucket, prefix=prefix, agent_client=agent, s3_client=s3, region=region)
    keys = []
    for name, body in SAMPLE_DOCUMENTS:
        key = prefix + name
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        keys.append(key)
    return SeededData(bucket, prefix, source.knowledge_base_id, source.data_source_id, tuple(keys))
