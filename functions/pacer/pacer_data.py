"""The pacer function's data access besides the pacer item (TargetsTable ``PACER / ACCOUNT``, read and written only
through kbsync_pacer, the shared core, shared with the catch-all): what Bedrock runs now."""

from __future__ import annotations

from typing import Any

#: The ingestion job statuses of a job that holds its data source (Bedrock: STARTING, IN_PROGRESS, STOPPING).
RUNNING_STATUSES = ["STARTING", "IN_PROGRESS", "STOPPING"]


def job_running(bedrock: Any, kb: str, ds: str) -> bool:
    """Whether Bedrock runs a job of this data source now (ListIngestionJobs filtered on the running statuses)."""
    page = bedrock.list_ingestion_jobs(
        knowledgeBaseId=kb,
        dataSourceId=ds,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": RUNNING_STATUSES}],
        maxResults=1,
    )
    return bool(page.get("ingestionJobSummaries"))
