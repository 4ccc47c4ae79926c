"""Ids and execution names, as fixed across kbsync (see /tmp names: `<trigger>-<kb>-<ds>-<UTC>-<4 random>`).

The execution name carries the knowledge base and data source, so "is something running for this data source?"
is answered from ListExecutions alone, without describing every execution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEDROCK_ID = re.compile(r"[0-9a-zA-Z]{10}")
EXECUTION_ARN = re.compile(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:\s]+:[^:\s]+")
_NAME = re.compile(
    r"(?P<trigger>schedule|s3|manual)-(?P<kb>[0-9a-zA-Z]{10})-(?P<ds>[0-9a-zA-Z]{10})-"
    r"(?P<stamp>\d{8}T\d{6})-(?P<suffix>[a-z0-9]{4})"
)


def is_bedrock_id(value: str) -> bool:
    return bool(BEDROCK_ID.fullmatch(value))  # fullmatch: '$' would accept a trailing newline


def is_execution_arn(value: str) -> bool:
    return bool(EXECUTION_ARN.fullmatch(value))


@dataclass(frozen=True)
class ParsedName:
    trigger: str
    knowledge_base_id: str
    data_source_id: str


def parse_execution_name(name: str) -> ParsedName | None:
    """The trigger and ids an execution name encodes, or None if it does not follow the convention."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    return ParsedName(match["trigger"], match["kb"], match["ds"])


def execution_name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]
