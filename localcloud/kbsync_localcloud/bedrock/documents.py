"""What an ingestion job finds in its S3 data source, judged by Bedrock's document rules.

A job scans every object under the data source's inclusion prefix in moto's own S3 backend (in-process,
same account), classifies each one (supported extension, size limit, metadata sidecar) and compares it
with the index left by the previous COMPLETE job to produce Bedrock's eight statistics.

Counting rules (documented in docs/local-cloud-bedrock.md):

- a *source document* is any object except ``<file>.metadata.json`` sidecars and folder markers (keys
  ending in ``/``); every one is scanned (``numberOfDocumentsScanned``) and every sidecar is scanned
  (``numberOfMetadataDocumentsScanned``);
- a document *fails* (``numberOfDocumentsFailed`` + one failureReasons string) when its extension is not
  supported, it is over 50 MB, or its sidecar is over 10 KB, not JSON, or not ``{"metadataAttributes": {...}}``;
- an empty (0-byte) supported document has no text: it is *skipped* (``numberOfDocumentsSkipped``);
- otherwise it is *new* (not in the previous index), *modified* (ETag or LastModified changed) or unchanged
  (counted as scanned only); a changed, added or removed sidecar of an already indexed document counts in
  ``numberOfMetadataDocumentsModified``;
- a document in the previous index that is no longer in S3 is *deleted*;
- a failed or skipped document keeps its previous indexed version, as Bedrock leaves the old vectors.

Each scan also records what it did to every source document (``ScanResult.documents``: INDEXED, FAILED with the
failureReasons entry, IGNORED for a skipped one): ListKnowledgeBaseDocuments reports the documents from these
outcomes once the job is COMPLETE (state.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".txt", ".md", ".html", ".doc", ".docx", ".csv", ".xls", ".xlsx", ".pdf")
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_METADATA_BYTES = 10 * 1024
METADATA_SUFFIX = ".metadata.json"
#: Bedrock caps failureReasons at 2048 strings of 2048 characters each.
MAX_FAILURE_REASONS = 2048
MAX_FAILURE_REASON_CHARS = 2048

STATISTIC_NAMES: tuple[str, ...] = (
    "numberOfDocumentsScanned",
    "numberOfMetadataDocumentsScanned",
    "numberOfNewDocumentsIndexed",
    "numberOfModifiedDocumentsIndexed",
    "numberOfMetadataDocumentsModified",
    "numberOfDocumentsDeleted",
    "numberOfDocumentsFailed",
    "numberOfDocumentsSkipped",
)

_METADATA_VALUE_TYPES = {
    "STRING": "stringValue",
    "NUMBER": "numberValue",
    "BOOLEAN": "booleanValue",
    "STRING_LIST": "stringListValue",
}


@dataclass(frozen=True)
class S3Object:
    """One current (non-deleted) object version, as the scan sees it."""

    key: str
    size: int
    etag: str
    last_modified: float
    read: Callable[[], bytes] = field(compare=False, repr=False)

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.etag, self.last_modified)


@dataclass(frozen=True)
class Fingerprint:
    """What makes a document 'modified': Bedrock compares ETag and LastModified."""

    etag: str
    last_modified: float


@dataclass(frozen=True)
class IndexedDocument:
    content: Fingerprint
    metadata: Fingerprint | None


#: The index a COMPLETE job leaves behind: S3 key -> indexed version.
Snapshot = Mapping[str, IndexedDocument]


@dataclass(frozen=True)
class DocumentOutcome:
    """What one job did to one source document, as ListKnowledgeBaseDocuments reports it.

    status: INDEXED, FAILED (reason: the job's failureReasons entry for it) or IGNORED (a skipped, empty document);
    changed: the job (re)indexed or (re)tried it; False for an INDEXED document the job found unchanged, which
    keeps the date it was last indexed.
    """

    status: str
    reason: str | None = None
    changed: bool = True


@dataclass
class ScanResult:
    statistics: dict[str, int]
    failure_reasons: list[str]
    snapshot: dict[str, IndexedDocument]
    documents: dict[str, DocumentOutcome] = field(default_factory=dict)  # S3 key -> outcome, every source document

    @property
    def work_units(self) -> int:
        """What the job's duration is proportional to: every scanned file, sidecars included."""
        return self.statistics["numberOfDocumentsScanned"] + self.statistics["numberOfMetadataDocumentsScanned"]


def empty_statistics() -> dict[str, int]:
    return dict.fromkeys(STATISTIC_NAMES, 0)


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def ignored(reason: str, uri: str) -> str:
    """One failureReasons entry in Bedrock's wording ("Ignored 1 files as ..."), capped at 2048 chars."""
    return cap_reason(f"Ignored 1 files as {reason}. [Files: {uri}]")


def cap_reason(reason: str) -> str:
    return reason if len(reason) <= MAX_FAILURE_REASON_CHARS else reason[: MAX_FAILURE_REASON_CHARS - 3] + "..."


def cap_reasons(reasons: Iterable[str]) -> list[str]:
    return [cap_reason(reason) for reason in list(reasons)[:MAX_FAILURE_REASONS]]


#: The reasons a fault-injected burst of failed documents is spread over (Faults.log_document_burst): three of
#: Bedrock's "Ignored" reasons (documents refused before embedding) and one embedding failure.
_BURST_KINDS: tuple[tuple[str, str], ...] = (
    (".exe", "Ignored 1 files as their file format was not supported. [Files: {uri}]"),
    (".pdf", "Ignored 1 files as their file size exceeded the maximum supported size of 50 MB. [Files: {uri}]"),
    (".md", "Ignored 1 files as their metadata file was invalid: not valid JSON. [Files: {uri}.metadata.json]"),
    (
        ".docx",
        "Encountered error: The embedding model could not process the document: the input text is too long "
        "for the model. [Files: {uri}]",
    ),
)


def burst_documents(bucket: str, prefix: str, count: int) -> dict[str, DocumentOutcome]:
    """`count` failed documents under ``<prefix>burst/``, their reasons spread over _BURST_KINDS in turn."""
    outcomes: dict[str, DocumentOutcome] = {}
    for index in range(count):
        extension, template = _BURST_KINDS[index % len(_BURST_KINDS)]
        key = f"{prefix}burst/document-{index:06d}{extension}"
        outcomes[key] = DocumentOutcome("FAILED", cap_reason(template.format(uri=s3_uri(bucket, key))))
    return outcomes


def with_burst(result: ScanResult, burst: Mapping[str, DocumentOutcome]) -> ScanResult:
    """The scan plus a burst of failed documents, counted as scanned and failed like any refused document."""
    if not burst:
        return result
    statistics = dict(result.statistics)
    statistics["numberOfDocumentsScanned"] += len(burst)
    statistics["numberOfDocumentsFailed"] += len(burst)
    reasons = cap_reasons([*result.failure_reasons, *(outcome.reason or "" for outcome in burst.values())])
    return ScanResult(statistics, reasons, result.snapshot, {**result.documents, **burst})


def scan(bucket: str, objects: Iterable[S3Object], previous: Snapshot) -> ScanResult:
    """Classify the data source's objects against the previous index (see the module docstring)."""
    documents: dict[str, S3Object] = {}
    sidecars: dict[str, S3Object] = {}
    for obj in objects:
        if obj.key.endswith("/"):
            continue
        if obj.key.endswith(METADATA_SUFFIX):
            sidecars[obj.key] = obj
        else:
            documents[obj.key] = obj
    stats = empty_statistics()
    stats["numberOfDocumentsScanned"] = len(documents)
    stats["numberOfMetadataDocumentsScanned"] = len(sidecars)
    reasons: list[str] = []
    snapshot: dict[str, IndexedDocument] = {}
    outcomes: dict[str, DocumentOutcome] = {}
    for key in sorted(documents):
        document, sidecar = documents[key], sidecars.get(key + METADATA_SUFFIX)
        before = previous.get(key)
        _classify(bucket, document, sidecar, before, stats, reasons, snapshot)
        outcomes[key] = _outcome(bucket, document, sidecar, before, snapshot.get(key))
    stats["numberOfDocumentsDeleted"] = sum(1 for key in previous if key not in documents)
    return ScanResult(stats, cap_reasons(reasons), snapshot, outcomes)


def _outcome(
    bucket: str,
    document: S3Object,
    sidecar: S3Object | None,
    before: IndexedDocument | None,
    after: IndexedDocument | None,
) -> DocumentOutcome:
    """The per-document status of one classified document (the same rules as _classify)."""
    problem = document_problem(bucket, document, sidecar)
    if problem is not None:
        return DocumentOutcome("FAILED", cap_reason(problem))
    if document.size == 0:
        return DocumentOutcome("IGNORED", ignored("they had no text content to index", s3_uri(bucket, document.key)))
    return DocumentOutcome("INDEXED", changed=after != before)


def _classify(
    bucket: str,
    document: S3Object,
    sidecar: S3Object | None,
    before: IndexedDocument | None,
    stats: dict[str, int],
    reasons: list[str],
    snapshot: dict[str, IndexedDocument],
) -> None:
    problem = document_problem(bucket, document, sidecar)
    if problem is not None or document.size == 0:
        if problem is not None:
            stats["numberOfDocumentsFailed"] += 1
            reasons.append(problem)
        else:
            stats["numberOfDocumentsSkipped"] += 1
        if before is not None:
            snapshot[document.key] = before
        return
    now = IndexedDocument(document.fingerprint, sidecar.fingerprint if sidecar else None)
    snapshot[document.key] = now
    if before is None:
        stats["numberOfNewDocumentsIndexed"] += 1
        return
    if now.content != before.content:
        stats["numberOfModifiedDocumentsIndexed"] += 1
    if now.metadata != before.metadata:
        stats["numberOfMetadataDocumentsModified"] += 1


def document_problem(bucket: str, document: S3Object, sidecar: S3Object | None) -> str | None:
    """The failureReasons entry for a document Bedrock would refuse, or None if it is ingestible."""
    uri = s3_uri(bucket, document.key)
    if not document.key.lower().endswith(SUPPORTED_EXTENSIONS):
        return ignored("their file format was not supported", uri)
    if document.size > MAX_DOCUMENT_BYTES:
        return ignored("their file size exceeded the maximum supported size of 50 MB", uri)
    if sidecar is None:
        return None
    sidecar_uri = s3_uri(bucket, sidecar.key)
    if sidecar.size > MAX_METADATA_BYTES:
        return ignored("their metadata file exceeded the maximum supported size of 10 KB", sidecar_uri)
    detail = metadata_problem(sidecar.read())
    if detail is not None:
        return ignored(f"their metadata file was invalid: {detail}", sidecar_uri)
    return None


def metadata_problem(raw: bytes) -> str | None:
    """Why a sidecar is not ``{"metadataAttributes": {name: value}}`` in Bedrock's accepted forms."""
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"not valid JSON ({error})"
    if not isinstance(document, dict) or not isinstance(document.get("metadataAttributes"), dict):
        return "expected a JSON object with a 'metadataAttributes' object"
    for name, value in document["metadataAttributes"].items():
        problem = _attribute_problem(value)
        if not name or problem is not None:
            return f"attribute '{name}': {problem or 'empty name'}"
    return None


def _attribute_problem(value: Any) -> str | None:
    if isinstance(value, str | int | float | bool):
        return None
    if isinstance(value, list):
        return None if all(isinstance(item, str) for item in value) else "lists may only hold strings"
    if isinstance(value, dict):
        return _typed_attribute_problem(value)
    return "unsupported value type"


def _typed_attribute_problem(value: Mapping[str, Any]) -> str | None:
    typed = value.get("value")
    if not isinstance(typed, dict) or typed.get("type") not in _METADATA_VALUE_TYPES:
        return f"expected 'value' with a 'type' in {sorted(_METADATA_VALUE_TYPES)}"
    if _METADATA_VALUE_TYPES[typed["type"]] not in typed:
        return f"missing '{_METADATA_VALUE_TYPES[typed['type']]}'"
    include = value.get("includeForEmbedding", False)
    return None if isinstance(include, bool) else "'includeForEmbedding' must be a boolean"
