"""Ids and execution names, as fixed across kbsync (kbsync_names: `<trigger>-<kb>-<ds>-<UTC>-<4 random>`).

The execution name carries the knowledge base and data source, so "is something running for this data source?"
is answered from ListExecutions alone, without describing every execution.
"""

from __future__ import annotations

import re

import kbsync_names
from kbsync_names import ParsedName as ParsedName

BEDROCK_ID = re.compile(r"[0-9a-zA-Z]{10}")
EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+")


#: The description kbsync gives every ingestion job it starts (statemachines/ingestion-sync.asl.json, PrepareJobRecord):
#: how a job Bedrock reports is told apart from one started outside kbsync (console, script), record or not.
_JOB_DESCRIPTION = re.compile(r"kbsync (?:schedule|s3|manual) sync, attempt \d+, execution (?P<name>\S+)")


def is_bedrock_id(value: str) -> bool:
    return bool(BEDROCK_ID.fullmatch(value))  # fullmatch: '$' would accept a trailing newline


def is_execution_arn(value: str) -> bool:
    return bool(EXECUTION_ARN.fullmatch(value))


def parse_execution_name(name: str) -> ParsedName | None:
    """The trigger and ids an execution name encodes, or None if it does not follow the convention (kbsync_names)."""
    return kbsync_names.parse_execution_name(name)


def execution_name_of(arn: str) -> str:
    return kbsync_names.name_of(arn)


def kbsync_execution_of_job(job: dict[str, object]) -> str | None:
    """The name of the kbsync execution that started an ingestion job (from its description), None for a job started
    outside kbsync."""
    match = _JOB_DESCRIPTION.fullmatch(str(job.get("description") or ""))
    return match["name"] if match else None
