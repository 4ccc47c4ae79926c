"""Small value rules every handler needs, written once: DynamoDB numbers as plain Python, UTC time stamps, a
conditional write that lost, and which S3 keys a target's inclusion prefixes cover.

Standard library only: it ships in the Contracts layer (``schemas/``) and is imported by the functions and the CLI.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: A UTC time to the second, as job records, alerts and target items write it (ISO 8601, 'Z').
UTC_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


# --------------------------------------------------------------------------- DynamoDB values


def plain(value: Any) -> Any:
    """DynamoDB resource values as JSON-friendly Python: a Decimal as int (whole) or float, sets and tuples as lists,
    nested maps and lists alike."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    return value


def is_condition_failure(error: Exception) -> bool:
    """Whether a botocore ClientError is DynamoDB's ConditionalCheckFailedException (the conditional write lost)."""
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# --------------------------------------------------------------------------- time


def now_epoch() -> int:
    """Now, in whole epoch seconds (leases, TTLs, queue ages)."""
    return int(time.time())


def utc_seconds(epoch_seconds: float) -> str:
    """`epoch_seconds` as '2026-11-22T05:04:05Z'."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime(UTC_SECONDS_FORMAT)


def utc_now() -> str:
    """Now as '2026-11-22T05:04:05Z'."""
    return datetime.now(UTC).strftime(UTC_SECONDS_FORMAT)


def utc_from_millis(millis: Any) -> str | None:
    """Epoch milliseconds (Step Functions events' startDate/stopDate) as '2026-11-22T05:04:05Z'; None for anything
    that is not a number."""
    if isinstance(millis, int | float) and not isinstance(millis, bool):
        return utc_seconds(millis / 1000)
    return None


# --------------------------------------------------------------------------- prefix routing


def prefix_matches(key: str, prefixes: Iterable[str]) -> bool:
    """Whether a target with these inclusion prefixes reads S3 object `key`.

    Bedrock's S3 data source reads the whole bucket when it has no inclusion prefixes. S3 URL-encodes keys in its
    classic notifications ("red flower.jpg" -> "red+flower.jpg":
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html); whether an
    EventBridge event's key is encoded or not, the decoded form is tried too: a false match costs one extra sync, a
    missed one a stale knowledge base.
    """
    wanted = list(prefixes)
    if not wanted:
        return True
    candidates = {key, urllib.parse.unquote_plus(key)}
    return any(candidate.startswith(p) for candidate in candidates for p in wanted)
