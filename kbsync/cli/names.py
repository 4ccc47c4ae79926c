"""Ids and execution ARNs as the CLI's arguments take them, and the execution name shown for an ARN.

The CLI never reads facts out of an execution's name (which data source, which trigger): those are in the job
records, the sync gate's item and the execution's input (kbsync.cli.records, kbsync.cli.service).
"""

from __future__ import annotations

import re

import kbsync_names

BEDROCK_ID = re.compile(r"[0-9a-zA-Z]{10}")
EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+")


def is_bedrock_id(value: str) -> bool:
    return bool(BEDROCK_ID.fullmatch(value))  # fullmatch: '$' would accept a trailing newline


def is_execution_arn(value: str) -> bool:
    return bool(EXECUTION_ARN.fullmatch(value))


def execution_name_of(arn: str) -> str:
    return kbsync_names.name_of(arn)
