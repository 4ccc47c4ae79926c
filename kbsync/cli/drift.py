"""`kbsync drift`: the files under a data source's S3 prefixes against the documents its knowledge base reports.

Three kinds of drift, each with what to do:
- missing from the index: a file in S3 the knowledge base does not report (or reports NOT_FOUND, or is deleting);
- in the index but deleted from S3: a document the knowledge base still reports whose file is gone (or is no longer
  under the data source's inclusion prefixes) — it stays searchable until the next sync removes it;
- failed: a file whose document is FAILED, METADATA_UPDATE_FAILED or PARTIALLY_INDEXED, with Bedrock's statusReason.

A data source whose knowledge base reports no document at all has never been synced (or no sync has indexed anything
yet): that is said as such, with the sync to run, and is not drift. Documents still being ingested (PENDING,
STARTING, IN_PROGRESS) and files Bedrock IGNORED are listed apart, not as drift.

The comparison (`compare`) is a pure function of the S3 keys and the document details; `check` makes the AWS calls:
bedrock-agent GetDataSource (bucket and inclusion prefixes), S3 ListObjectsV2 under each prefix and bedrock-agent
ListKnowledgeBaseDocuments, both paginated to the end. IAM for the operator: s3:ListBucket on the bucket,
bedrock:GetDataSource and bedrock:ListKnowledgeBaseDocuments. No object is read: document content is never printed.
API: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_ListKnowledgeBaseDocuments.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kbsync import targets
from kbsync.cli.aws import DEFAULT_RUNBOOK_BASE_URL, Client
from kbsync.cli.errors import CliError, ExitCode, error_code
from kbsync.cli.outcome import runbook_url
from kbsync.cli.registry import AwsCli, plain_aws_cli
from kbsync.cli.render import Style
from kbsync.cli.service import check_data_source

#: Bedrock's sidecar of a document (`<file>.metadata.json`): metadata, not a document of its own.
METADATA_SUFFIX = ".metadata.json"
#: Statuses of a document the index does not (or soon will not) hold.
ABSENT_STATUSES = frozenset({"NOT_FOUND", "DELETING", "DELETE_IN_PROGRESS"})
#: Statuses of a document Bedrock could not (fully) ingest.
FAILED_STATUSES = frozenset({"FAILED", "METADATA_UPDATE_FAILED", "PARTIALLY_INDEXED"})
#: Statuses of a document an ingestion is working on: not drift, look again once it ends.
IN_FLIGHT_STATUSES = frozenset({"PENDING", "STARTING", "IN_PROGRESS"})
#: The runbook section that says how to fix each common per-document failure reason (the PARTIAL alert's runbook).
FAILED_DOCUMENTS_ANCHOR = "#common-failure-reasons-and-their-fix"
#: A statusReason longer than this is cut in the text output (JSON keeps it whole).
TEXT_REASON_CHARS = 300


@dataclass(frozen=True)
class Document:
    """One entry of a drift section: the S3 key (the full URI for a document outside the bucket) and what the
    knowledge base says of it (status None: it reports nothing)."""

    key: str
    status: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"key": self.key}
        if self.status:
            shown["status"] = self.status
        if self.reason:
            shown["statusReason"] = self.reason
        return shown


@dataclass(frozen=True)
class Drift:
    """The comparison of one data source: every list sorted by key."""

    s3_files: int  # documents under the prefixes (sidecars and folder markers not counted)
    index_documents: int  # documents the knowledge base reports, whatever their status
    missing: tuple[Document, ...] = ()
    deleted: tuple[Document, ...] = ()
    failed: tuple[Document, ...] = ()
    in_flight: tuple[Document, ...] = ()
    ignored: tuple[Document, ...] = ()

    @property
    def never_synced(self) -> bool:
        return self.index_documents == 0

    @property
    def drifted(self) -> bool:
        return not self.never_synced and bool(self.missing or self.deleted or self.failed)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.drifted else ExitCode.OK


def is_document_key(key: str) -> bool:
    """An S3 object the data source ingests as a document: not a folder marker, not a metadata sidecar."""
    return bool(key) and not key.endswith("/") and not key.endswith(METADATA_SUFFIX)


def key_of(uri: str, bucket: str) -> str:
    """`s3://bucket/docs/a.md` -> `docs/a.md`; a URI in another bucket stays whole (it matches no key)."""
    prefix = f"s3://{bucket}/"
    return uri[len(prefix) :] if uri.startswith(prefix) else uri


def compare(bucket: str, s3_keys: Iterable[str], details: Iterable[Mapping[str, Any]]) -> Drift:
    """Classify every S3 file and every document detail (ListKnowledgeBaseDocuments' KnowledgeBaseDocumentDetail)."""
    in_s3 = {key for key in s3_keys if is_document_key(key)}
    reported: dict[str, Document] = {}
    for detail in details:
        location = ((detail.get("identifier") or {}).get("s3") or {}).get("uri")
        if not location:
            continue  # a custom data source's document: not an S3 file
        key = key_of(str(location), bucket)
        reported[key] = Document(key, str(detail.get("status", "")), detail.get("statusReason") or None)
    missing, deleted, failed, in_flight, ignored = [], [], [], [], []
    for key in sorted(in_s3 | set(reported)):
        document = reported.get(key)
        if key not in in_s3:
            if document is not None and document.status not in ABSENT_STATUSES:
                deleted.append(Document(key, document.status))
        elif document is None or document.status in ABSENT_STATUSES:
            missing.append(Document(key, document.status if document else None))
        elif document.status in FAILED_STATUSES:
            failed.append(document)
        elif document.status in IN_FLIGHT_STATUSES:
            in_flight.append(Document(key, document.status))
        elif document.status == "IGNORED":
            ignored.append(document)
    return Drift(
        len(in_s3), len(reported), tuple(missing), tuple(deleted), tuple(failed), tuple(in_flight), tuple(ignored)
    )


# --------------------------------------------------------------------------- the AWS side


@dataclass(frozen=True)
class Location:
    """What the data source reads: its bucket and inclusion prefixes (none: the whole bucket)."""

    knowledge_base_id: str
    data_source_id: str
    bucket: str
    prefixes: tuple[str, ...]
    bucket_owner: str | None = None

    def where(self) -> str:
        if not self.prefixes:
            return f"s3://{self.bucket}/ (whole bucket)"
        return ", ".join(f"s3://{self.bucket}/{prefix}" for prefix in self.prefixes)


def locate(bedrock: Client, kb_id: str, ds_id: str, aws_cli: AwsCli = plain_aws_cli) -> Location:
    """GetDataSource: the bucket and prefixes; an unknown id is the CLI's usual NOT_FOUND line naming which one."""
    source = check_data_source(bedrock, kb_id, ds_id, aws_cli)
    configuration = source.get("dataSourceConfiguration") or {}
    s3 = configuration.get("s3Configuration")
    if configuration.get("type") != "S3" or not isinstance(s3, Mapping):
        raise CliError(
            f"data source {kb_id}/{ds_id} is of type {configuration.get('type')!r}: kbsync drift compares S3 data "
            "sources only",
            ExitCode.USAGE,
        )
    try:
        bucket = targets.bucket_of(str(s3.get("bucketArn", "")))
    except targets.TargetError as exc:
        raise CliError(f"data source {kb_id}/{ds_id}: {exc}", ExitCode.USAGE) from exc
    prefixes = tuple(str(prefix) for prefix in s3.get("inclusionPrefixes") or ())
    return Location(kb_id, ds_id, bucket, prefixes, s3.get("bucketOwnerAccountId") or None)


def s3_keys(s3: Client, location: Location) -> set[str]:
    """Every key under the data source's prefixes (ListObjectsV2, every page)."""
    found: set[str] = set()
    options: dict[str, Any] = {"Bucket": location.bucket}
    if location.bucket_owner:
        options["ExpectedBucketOwner"] = location.bucket_owner
    try:
        for prefix in location.prefixes or ("",):
            for page in s3.get_paginator("list_objects_v2").paginate(**options, Prefix=prefix):
                found.update(str(item["Key"]) for item in page.get("Contents", []))
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
        raise CliError(
            f"the bucket {location.bucket} of data source {location.knowledge_base_id}/{location.data_source_id} "
            "does not exist: create it, or fix the data source's S3 configuration (every sync of it fails until then)",
            ExitCode.NOT_FOUND,
        ) from exc
    return found


def index_documents(bedrock: Client, kb_id: str, ds_id: str) -> list[dict[str, Any]]:
    """Every document the knowledge base reports for the data source (ListKnowledgeBaseDocuments, every page)."""
    details: list[dict[str, Any]] = []
    paginator = bedrock.get_paginator("list_knowledge_base_documents")
    for page in paginator.paginate(knowledgeBaseId=kb_id, dataSourceId=ds_id):
        details.extend(page.get("documentDetails", []))
    return details


def check(
    bedrock: Client, s3: Client, kb_id: str, ds_id: str, aws_cli: AwsCli = plain_aws_cli
) -> tuple[Location, Drift]:
    location = locate(bedrock, kb_id, ds_id, aws_cli)
    keys = s3_keys(s3, location)
    return location, compare(location.bucket, keys, index_documents(bedrock, kb_id, ds_id))


# --------------------------------------------------------------------------- what is shown


def sync_command(location: Location) -> str:
    return f'kbsync sync --kb {location.knowledge_base_id} --ds {location.data_source_id} --reason "drift"'


def failed_documents_runbook(base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> str:
    """The fixes of the common per-document failure reasons: the PARTIAL alert's runbook (the alert catalogue's)."""
    return runbook_url(base_url, "PARTIAL") + FAILED_DOCUMENTS_ANCHOR


def _section(documents: tuple[Document, ...], limit: int, action: str | None) -> dict[str, Any]:
    shown = [document.to_dict() for document in documents[:limit]]
    section: dict[str, Any] = {"count": len(documents), "documents": shown, "more": len(documents) - len(shown)}
    if documents and action:
        section["action"] = action
    return section


def report(location: Location, drift: Drift, limit: int) -> dict[str, Any]:
    """Everything `kbsync drift` says, as one JSON-ready document (the text output is rendered from it): each
    section's count, its first `limit` documents, how many more, and the suggested action."""
    sync = sync_command(location)
    document: dict[str, Any] = {
        "knowledgeBaseId": location.knowledge_base_id,
        "dataSourceId": location.data_source_id,
        "bucket": location.bucket,
        "inclusionPrefixes": list(location.prefixes),
        "s3Files": drift.s3_files,
        "indexDocuments": drift.index_documents,
        "neverSynced": drift.never_synced,
        "drift": drift.drifted,
        "exitCode": int(drift.exit_code),
    }
    if drift.never_synced:
        document["action"] = (
            f"sync it: {sync}" if drift.s3_files else f"upload documents under {location.where()}, then sync: {sync}"
        )
        return document
    runbook = failed_documents_runbook()
    document["missing"] = _section(drift.missing, limit, f"sync to index them: {sync}")
    document["deleted"] = _section(drift.deleted, limit, f"sync to remove them from the index: {sync}")
    document["failed"] = _section(
        drift.failed, limit, f"fix or remove each file (its reason says why), then sync: {sync}"
    )
    if drift.failed:
        document["failed"]["runbook"] = runbook
    again = f"kbsync drift --kb {location.knowledge_base_id} --ds {location.data_source_id}"
    document["inProgress"] = _section(drift.in_flight, limit, f"an ingestion is running: once it has ended, {again}")
    document["ignored"] = _section(drift.ignored, limit, None)
    return document


TITLES = (
    ("missing", "missing from the index"),
    ("deleted", "in the index but deleted from S3"),
    ("failed", "failed"),
)
#: Listed when not empty, never drift.
NOTES = (
    ("inProgress", "being ingested (not drift)"),
    ("ignored", "ignored by Bedrock (not drift)"),
)


def text(document: Mapping[str, Any], style: Style) -> str:
    """The report for a terminal or a log: a heading line, the three sections, notes, and the verdict."""
    kb, ds = document["knowledgeBaseId"], document["dataSourceId"]
    where = Location(kb, ds, document["bucket"], tuple(document["inclusionPrefixes"])).where()
    heading = f"knowledge base {kb} / data source {ds}: {where}: {document['s3Files']} file(s) in S3"
    if document["neverSynced"]:
        return "\n".join(
            [
                f"{heading}, no document in the index",
                style.bold("never synced") + ": the knowledge base reports no document of this data source",
                f"  action: {document['action']}",
            ]
        )
    lines = [f"{heading}, {document['indexDocuments']} document(s) in the index"]
    for name, title in TITLES:
        lines += _section_lines(style.bold(f"{title}: {document[name]['count']}"), document[name])
    for name, title in NOTES:
        if document[name]["count"]:
            lines += _section_lines(f"{title}: {document[name]['count']}", document[name])
    differing = sum(document[name]["count"] for name, _ in TITLES)
    if document["drift"]:
        lines.append(style.paint(f"drift: {differing} file(s) differ (exit code {document['exitCode']})", "33"))
    else:
        lines.append(style.paint("no drift: the index matches the files under the prefixes", "32"))
    return "\n".join(lines)


def _section_lines(title: str, section: Mapping[str, Any]) -> list[str]:
    lines = [title, *(f"  {_entry(entry)}" for entry in section["documents"])]
    if section["more"]:
        lines.append(f"  ... and {section['more']} more")
    if section.get("action"):
        lines.append(f"  action: {section['action']}")
    if section.get("runbook"):
        lines.append(f"  runbook: {section['runbook']}")
    return lines


def _entry(entry: Mapping[str, Any]) -> str:
    shown = str(entry["key"])
    status, reason = entry.get("status"), entry.get("statusReason")
    if status:
        shown += f" ({status})"
    if reason:
        cut = reason if len(reason) <= TEXT_REASON_CHARS else reason[: TEXT_REASON_CHARS - 1] + "…"
        shown += f": {cut}"
    return shown
