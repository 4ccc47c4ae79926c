"""Every DynamoDB key kbsync writes or reads: the one place each key format is written.

Two tables, both keyed ``pk`` (partition) / ``sk`` (sort):

JobsTable (schemas/job-record.schema.json):
- ``DS#<kb>#<ds> / JOB#<startedAt>#<execution name>-<attempt>``: one job record. The ingestion-sync state machine
  writes it with ``States.Format`` (ASL cannot call Python): tests/static/test_one_definition.py checks that its
  format strings are ``DS_PK_FORMAT`` and ``JOB_SK_FORMAT`` here.

TargetsTable:
- ``DS#<kb>#<ds> / TARGET``: a registered sync target (schemas/target-item.schema.json, written by kbsync/targets.py).
- ``DS#<kb>#<ds> / GATE``: the data source's sync gate while a gated sync waits or runs (kbsync_gate).
- ``PACER / ACCOUNT``: the account-wide pacer (schemas/pacer-item.schema.json, kbsync_pacer).
- ``PLAN#<plan id> / CURSOR`` and ``PLAN#<plan id> / PAGE#<n>``: a night's plan (functions/nightly_plan).
- ``ALERT#<execution ARN> / EXECUTION_DIED``: the once-per-execution alert marker (the catch-all and the reconciler).

Standard library only: it ships in the Contracts layer (``schemas/``) and is imported by the functions and the CLI.
"""

from __future__ import annotations

from typing import Any

#: The data source partition, as a ``str.format`` / ASL ``States.Format`` template: DS#<kb>#<ds>.
DS_PK_FORMAT = "DS#{}#{}"
#: A job record's sort key (ASL States.Format): JOB#<startedAt>#<execution name>-<attempt>.
JOB_SK_FORMAT = "JOB#{}#{}-{}"
#: Every job record's sort key starts with this (a Query for "the records of a data source" is `sk >= JOB#`).
JOB_SK_PREFIX = "JOB#"
TARGET_SK = "TARGET"
GATE_SK = "GATE"
PACER_KEY: dict[str, str] = {"pk": "PACER", "sk": "ACCOUNT"}
PLAN_PK_PREFIX = "PLAN#"
CURSOR_SK = "CURSOR"
ALERT_PK_PREFIX = "ALERT#"
#: The marker's sort key: named after the first alert kind that used it; the reconciler claims the same marker.
ALERT_MARKER_SK = "EXECUTION_DIED"


def ds_pk(knowledge_base_id: str, data_source_id: str) -> str:
    """``DS#<kb>#<ds>``: the partition of one data source, in both tables."""
    return DS_PK_FORMAT.format(knowledge_base_id, data_source_id)


def parse_ds_pk(pk: str) -> tuple[str, str] | None:
    """(knowledge base id, data source id) of a ``DS#<kb>#<ds>`` partition; None for any other partition."""
    parts = pk.split("#")
    if len(parts) != 3 or DS_PK_FORMAT.format(parts[1], parts[2]) != pk or not (parts[1] and parts[2]):
        return None
    return parts[1], parts[2]


def target_key(knowledge_base_id: str, data_source_id: str) -> dict[str, str]:
    return {"pk": ds_pk(knowledge_base_id, data_source_id), "sk": TARGET_SK}


def gate_key(knowledge_base_id: str, data_source_id: str) -> dict[str, str]:
    return {"pk": ds_pk(knowledge_base_id, data_source_id), "sk": GATE_SK}


def job_sk_since(started_at: str | None) -> str:
    """The lowest sort key of the job records started at or after `started_at` (ISO 8601, UTC; any prefix of one):
    ``JOB#<started_at>``, or ``JOB#`` (every record) when None."""
    return f"{JOB_SK_PREFIX}{started_at}" if started_at else JOB_SK_PREFIX


def plan_pk(plan_id: str) -> str:
    return f"{PLAN_PK_PREFIX}{plan_id}"


def cursor_key(plan_id: str) -> dict[str, str]:
    return {"pk": plan_pk(plan_id), "sk": CURSOR_SK}


def page_key(plan_id: str, page: int) -> dict[str, str]:
    return {"pk": plan_pk(plan_id), "sk": f"PAGE#{page:06d}"}


def alert_marker_key(execution_arn: str) -> dict[str, str]:
    """The once-per-execution alert marker of `execution_arn` (TargetsTable)."""
    return {"pk": f"{ALERT_PK_PREFIX}{execution_arn}", "sk": ALERT_MARKER_SK}


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    """The key of an item read from either table (to update or delete that very item)."""
    return {"pk": item["pk"], "sk": item["sk"]}


def client_key(key: dict[str, str]) -> dict[str, dict[str, str]]:
    """A key as the low-level DynamoDB client takes it ({"pk": {"S": ...}, ...}); the Table resource takes `key`."""
    return {name: {"S": value} for name, value in key.items()}
