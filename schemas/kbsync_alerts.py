"""The alert catalogue: every kind of kbsync alert, its severity, headline and runbook, what raises it and when.

The one definition is the data file ``alert-catalogue.json`` beside this module (checked against
``alert-catalogue.schema.json`` when first read). The functions get both from the Contracts layer (template.yaml,
ContentUri: schemas/), the CLI from the installed package; neither keeps a copy, and ``docs/alerts.md`` and
``runbooks/README.md`` are checked against it (tests/static/test_alert_catalogue.py).

Besides the catalogue, the parts of an alert every sender writes the same way: the subject, the runbook link and the
message attributes (schemas/alert.schema.json).

Imports only the standard library and kbsync_contracts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

import kbsync_contracts

CATALOGUE_FILE = Path(__file__).resolve().parent / "alert-catalogue.json"
#: Who raises an alert kind (the catalogue's ``raisedBy``): the workflow's SendAlert task, the catch-all, the
#: reconciler. The workflow's kinds are named after the job record's final status.
WORKFLOW = "ingestion-sync"


@dataclass(frozen=True)
class AlertKind:
    """One entry of the catalogue."""

    kind: str
    severity: str
    headline: str
    runbook: str
    raised_by: str
    condition: str


@cache
def catalogue() -> Mapping[str, AlertKind]:
    """Every alert kind, in the catalogue's order (read and validated once per process)."""
    document = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    kbsync_contracts.validate("alert-catalogue", document)
    return MappingProxyType(
        {
            kind: AlertKind(
                kind=kind,
                severity=entry["severity"],
                headline=entry["headline"],
                runbook=entry["runbook"],
                raised_by=entry["raisedBy"],
                condition=entry["condition"],
            )
            for kind, entry in document["alerts"].items()
        }
    )


def alert_kind(kind: str) -> AlertKind:
    """The catalogue's entry for `kind` (KeyError naming the known kinds for any other)."""
    found = catalogue().get(kind)
    if found is None:
        raise KeyError(f"unknown alert kind {kind!r}; the catalogue has {', '.join(catalogue())}")
    return found


def kinds_raised_by(source: str) -> tuple[str, ...]:
    """The kinds one sender raises (``ingestion-sync``, ``catch-all``, ``reconciler``)."""
    return tuple(kind for kind, entry in catalogue().items() if entry.raised_by == source)


def subject(kind: str, knowledge_base_id: str, data_source_id: str) -> str:
    """'[CRITICAL] kbsync FAILED: kb <id> / ds <id>': at most 100 characters, one line (SNS's rules)."""
    return f"[{alert_kind(kind).severity}] kbsync {kind}: kb {knowledge_base_id} / ds {data_source_id}"[:100]


def runbook_url(base_url: str, kind: str) -> str:
    """The runbook of `kind` below the stack's RunbookBaseUrl."""
    return f"{base_url.rstrip('/')}/{alert_kind(kind).runbook}"


def message_attributes(
    kind: str, knowledge_base_id: str, data_source_id: str, ingestion_job_id: str | None = None
) -> dict[str, dict[str, str]]:
    """SNS message attributes subscribers filter on: severity, alertType, knowledgeBaseId, dataSourceId and, when
    known, ingestionJobId."""
    attributes = {
        "severity": alert_kind(kind).severity,
        "alertType": kind,
        "knowledgeBaseId": knowledge_base_id,
        "dataSourceId": data_source_id,
    }
    if ingestion_job_id:
        attributes["ingestionJobId"] = ingestion_job_id
    return {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
