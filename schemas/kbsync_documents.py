"""The failed documents of one ingestion job, from the knowledge base's application logs: which events name a failed
file, how they are kept in the job record (bounded), and how they are shown (alerts, ``kbsync show``).

The resource level log event (``StartIngestionJob.ResourceStatusChanged``,
https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html) carries the document's S3 URI, its
status and ``status_reasons``. AWS documents the reasons on ``RESOURCE_IGNORED`` and on the stage failures
``EMBEDDING_FAILED``, ``INDEXING_FAILED``, ``DELETION_FAILED``, ``METADATA_UPDATE_FAILED``; the final ``FAILED`` is a
document's summary, and the page does not say whether a document that failed a stage logs it too. So only the stage
failures and ``RESOURCE_IGNORED`` name a file here (``FAILURE_STATUSES``), never the final ``FAILED``: a document is
not counted twice. How many documents failed is Bedrock's own ``numberOfDocumentsFailed``; these are the names.

The record keeps them bounded, whatever the number of failures (a million failed files must not reach DynamoDB's
400 KB item or SNS's 256 KB message): at most ``MAX_REASONS`` reasons, each with its count and the first
``MAX_KEYS_PER_REASON`` S3 keys (the bucket left out: the data source names it); failures of further reasons are
counted under ``OTHER_ID``. The map's key is a short, stable hash of the reason (``reason_id``): safe as a DynamoDB
map key, and the same reason from two invocations lands in the same entry. schemas/job-record.schema.json
(documentFailures) holds the same bounds.

Pure functions on plain values (no boto3): the functions and the CLI share it (the Contracts layer, ``schemas/``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kbsync_contracts

RESOURCE_EVENT = "StartIngestionJob.ResourceStatusChanged"
#: The document statuses that name a failed file, with its reasons in status_reasons.
FAILURE_STATUSES = frozenset(
    {"EMBEDDING_FAILED", "INDEXING_FAILED", "DELETION_FAILED", "METADATA_UPDATE_FAILED", "RESOURCE_IGNORED"}
)
#: At most this many reasons are kept; failures of any further reason are counted under OTHER_ID.
MAX_REASONS = 10
#: At most this many S3 keys are kept per reason (the first seen); the count goes on.
MAX_KEYS_PER_REASON = 10
#: A reason is cut to this many characters (with "..." when cut).
MAX_REASON_CHARS = 300
#: An S3 object key is at most 1,024 bytes (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html).
MAX_KEY_CHARS = 1024
#: The entry that counts the failures of the reasons past MAX_REASONS (it keeps no keys).
OTHER_ID = "other"
OTHER_REASON = "other reasons"
#: Hex digits of the reason's SHA-256 in its id ("r" + 12 hex digits: 48 bits, no collision among 10 reasons).
REASON_ID_DIGITS = 12


@dataclass(frozen=True)
class DocumentFailure:
    """One document the logs name as failed: its S3 object key (no bucket), the resource status and the reason."""

    key: str
    status: str
    reason: str


#: An S3 URI inside a reason, without the sentence's closing punctuation (send_alert blanks Bedrock's job-level
#: failureReasons with the same pattern).
S3_URI = re.compile(r"s3://[^\s,;\]\)\"']*[^\s,;\]\)\"'.:]")
#: What is left of a "[Files: s3://...]" list once its URIs are blanked (Bedrock's reasons name their files so).
_FILES_LIST = re.compile(r"\s*\[Files?:\s*(?:<file>[\s,]*)+\]")


def reason_text(raw: str) -> str:
    """The reason as stored and grouped: the file it names taken out (S3 URIs blanked, a "[Files: ...]" list
    dropped), since the key is listed beside it. Two documents refused for the same cause then share one reason:
    "Ignored 1 files as their file format was not supported. [Files: s3://b/a.exe]" and the same for b.bin become
    one entry with both keys."""
    blanked = _FILES_LIST.sub("", S3_URI.sub("<file>", raw)).strip()
    return blanked or raw.strip()


def reason_id(reason: str) -> str:
    """The map key of `reason`: 'r' and the first REASON_ID_DIGITS hex digits of its SHA-256 (stable across runs)."""
    return "r" + hashlib.sha256(reason.encode("utf-8")).hexdigest()[:REASON_ID_DIGITS]


def s3_key(uri: str) -> str:
    """The object key of `s3://bucket/key` (the bucket left out), made storable and at most MAX_KEY_CHARS long.

    AWS's example spells the URI ``s3:/<BucketName>/<ObjectKey>`` and its real events ``s3://bucket/key``: both are
    read. A URI without a key part is kept whole (still without its scheme), so the failure is never lost."""
    rest = uri
    for scheme in ("s3://", "s3:/"):
        if rest.startswith(scheme):
            rest = rest[len(scheme) :]
            break
    _bucket, slash, key = rest.partition("/")
    return kbsync_contracts.normalize_text(key if slash and key else rest, MAX_KEY_CHARS)


def failure_of(event: Mapping[str, Any]) -> DocumentFailure | None:
    """The document failure a parsed log event names (a resource level event with a status of FAILURE_STATUSES),
    else None. The reason is the first of status_reasons, trimmed to MAX_REASON_CHARS, or the status when AWS gave
    none. `event` is the whole log event ({"event_type", "event": {...}}), checked against kb-log-event before."""
    if event.get("event_type") != RESOURCE_EVENT:
        return None
    body = event.get("event") or {}
    status = str(body.get("status") or "")
    if status not in FAILURE_STATUSES:
        return None
    reasons = [str(r) for r in body.get("status_reasons") or [] if str(r).strip()]
    reason = kbsync_contracts.normalize_text(reason_text(reasons[0]) if reasons else status, MAX_REASON_CHARS)
    uri = str(((body.get("document_location") or {}).get("s3_location") or {}).get("uri") or "")
    return DocumentFailure(key=s3_key(uri), status=status, reason=reason)


def _entry(reason: str, status: str) -> dict[str, Any]:
    return {"reason": reason, "status": status, "count": 0, "keys": []}


def merge(existing: Mapping[str, Any] | None, failures: Iterable[DocumentFailure]) -> dict[str, Any]:
    """A new documentFailures map: `existing` (as read from the record; not changed) with `failures` added.

    A failure joins its reason's entry: its key is added while the entry holds fewer than MAX_KEYS_PER_REASON, and
    the count grows by one — except for a key the entry already holds (the same event delivered twice, or one
    document logged twice for one reason), which is neither added nor counted again. A reason beyond MAX_REASONS is
    counted under OTHER_ID. The status of an entry is the first one seen."""
    merged: dict[str, Any] = {
        name: {
            "reason": str(value["reason"]),
            "status": str(value["status"]),
            "count": int(value["count"]),
            "keys": [str(k) for k in value.get("keys") or []],
        }
        for name, value in (existing or {}).items()
    }
    for failure in failures:
        name = reason_id(failure.reason)
        if name not in merged:
            reasons = sum(1 for n in merged if n != OTHER_ID)
            if reasons >= MAX_REASONS:
                name = OTHER_ID
                merged.setdefault(OTHER_ID, _entry(OTHER_REASON, failure.status))
            else:
                merged[name] = _entry(failure.reason, failure.status)
        entry = merged[name]
        if name != OTHER_ID and failure.key in entry["keys"]:
            continue
        if name != OTHER_ID and len(entry["keys"]) < MAX_KEYS_PER_REASON:
            entry["keys"].append(failure.key)
        entry["count"] += 1
    return merged


def total(document_failures: Mapping[str, Any] | None) -> int:
    """Every failure counted in the map (documentFailuresTotal): the sum of its entries' counts."""
    return sum(int(value["count"]) for value in (document_failures or {}).values())


def _ordered(document_failures: Mapping[str, Any] | None) -> list[tuple[str, Mapping[str, Any]]]:
    """Entries by count, largest first (then by reason, for a stable order); OTHER_ID last."""
    return sorted(
        (document_failures or {}).items(),
        key=lambda item: (item[0] == OTHER_ID, -int(item[1]["count"]), str(item[1]["reason"])),
    )


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def summary_lines(document_failures: Mapping[str, Any] | None, keys_shown: int = 3) -> list[str]:
    """One line per reason, largest count first: "37 files: file too large (max 50 MB) - a.pdf, b.pdf, c.pdf and 34
    more" (at most `keys_shown` keys each; the other reasons' line names none)."""
    lines = []
    for name, value in _ordered(document_failures):
        count = int(value["count"])
        shown = [str(k) for k in value.get("keys") or []][: max(0, keys_shown)] if name != OTHER_ID else []
        line = f"{_files(count)}: {value['reason']}"
        if shown:
            line += " - " + ", ".join(shown)
            if count > len(shown):
                line += f" and {count - len(shown)} more"
        lines.append(line)
    return lines


def all_lines(document_failures: Mapping[str, Any] | None) -> list[str]:
    """Every stored key under its reason (``kbsync show``): a heading per reason with its count and status, the keys
    indented, then how many failures of that reason have no stored key."""
    lines = []
    for name, value in _ordered(document_failures):
        count = int(value["count"])
        keys = [] if name == OTHER_ID else [str(k) for k in value.get("keys") or []]
        lines.append(f"{_files(count)}: {value['reason']} ({value['status']})")
        lines.extend(f"  {key}" for key in keys)
        if count > len(keys):
            lines.append(f"  ... and {count - len(keys)} more not stored")
    return lines
