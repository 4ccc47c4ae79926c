"""Bedrock's ingestion job of a job record that has no job id yet, shared by the catch-all and the reconciler.

The workflow writes a job record before StartIngestionJob (never a job without a record) and adds the job id after
the start answers. An execution that ends between the two (stopped, timed out, crashed) leaves a record whose job
may exist in Bedrock. The record's ``description`` is what the workflow passed as the start's Description (it names
the execution and the attempt), and ListIngestionJobs returns each job's description
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_IngestionJobSummary.html), so the job is found
among the data source's newest jobs.

Imports only the standard library; the caller passes its bedrock-agent client and handles its errors.
"""

from __future__ import annotations

from typing import Any

#: How many of the data source's newest jobs are searched (one ListIngestionJobs page): a record's job started
#: moments before its execution ended, and one data source runs one job at a time.
ORPHAN_SEARCH_JOBS = 25


def needs_lookup(record: dict[str, Any]) -> bool:
    """True for a record written before its start that never got its job id (it has the start's description)."""
    return not record.get("ingestionJobId") and bool(record.get("description"))


def job_by_description(agent: Any, knowledge_base_id: str, data_source_id: str, description: str) -> dict[str, Any]:
    """The IngestionJobSummary of the data source's job started with `description`, or {} when none was (the start
    never reached Bedrock). Errors of the call are the caller's (ClientError, BotoCoreError)."""
    page = agent.list_ingestion_jobs(
        knowledgeBaseId=knowledge_base_id,
        dataSourceId=data_source_id,
        sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
        maxResults=ORPHAN_SEARCH_JOBS,
    )
    for summary in page.get("ingestionJobSummaries", []):
        if summary.get("description") == description:
            found: dict[str, Any] = summary
            return found
    return {}
