"""Data sources and ingestion jobs of one moto account/region, stored on moto's own backend.

The state lives as an attribute of moto's ``AgentsforBedrockBackend`` instance, next to moto's knowledge
bases: decorator mode, server mode and direct boto3 calls all reach the same object, and moto's reset
(which wipes each backend's ``__dict__``) clears it together with everything else.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.bedrockagent.models import AgentsforBedrockBackend, bedrockagent_backends
from moto.moto_api._internal import mock_random

from kbsync_localcloud.bedrock import app_logs
from kbsync_localcloud.bedrock.documents import (
    IndexedDocument,
    ScanResult,
    burst_documents,
    empty_statistics,
    s3_uri,
    scan,
    with_burst,
)
from kbsync_localcloud.bedrock.errors import (
    AccessDeniedException,
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from kbsync_localcloud.bedrock.faults import Faults, JobPlan
from kbsync_localcloud.bedrock.jobs import IngestionJob, planned_duration
from kbsync_localcloud.bedrock.s3source import BucketMissing, bucket_name_from_arn, list_current_objects
from kbsync_localcloud.bedrock.shapes import input_violations
from kbsync_localcloud.clock import CLOCK

_STATE_ATTRIBUTE = "_kbsync_ingestion_state"
_STATE_LOCK = threading.Lock()

#: AWS quotas (June 2025, not adjustable).
MAX_CONCURRENT_JOBS_PER_ACCOUNT = 5
MAX_DATA_SOURCES_PER_KNOWLEDGE_BASE = 5
DEFAULT_MAX_RESULTS = 1000


def ingestion_state(backend: AgentsforBedrockBackend) -> IngestionState:
    """The emulator state of one moto bedrock-agent backend, created on first use."""
    state = backend.__dict__.get(_STATE_ATTRIBUTE)
    if state is None:
        with _STATE_LOCK:
            state = backend.__dict__.get(_STATE_ATTRIBUTE)
            if state is None:
                state = IngestionState(backend)
                backend.__dict__[_STATE_ATTRIBUTE] = state
    return state


def state_for(account_id: str, region: str) -> IngestionState:
    return ingestion_state(bedrockagent_backends[account_id][region])


def wire_date(epoch_seconds: float) -> str:
    """A date as Bedrock's rest-json wire carries it: ISO 8601 in UTC (botocore's bedrock-agent model gives its
    timestamps ``timestampFormat: iso8601``; the AWS CLI shows it as sent). E.g. GetIngestionJob's startedAt:
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_GetIngestionJob.html"""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job_date(virtual: float) -> str:
    """The date shown for a job's virtual instant: when it happened on the wall clock (one clock: clock.py)."""
    return wire_date(CLOCK.wall(virtual))


def new_id() -> str:
    """A Bedrock-style id: 10 upper-case letters and digits (pattern [0-9a-zA-Z]{10})."""
    return mock_random.get_random_string(length=10, include_digits=True).upper()


@dataclass
class DataSource:
    knowledge_base_id: str
    data_source_id: str
    name: str
    configuration: dict[str, Any]
    created_at: float
    description: str | None = None
    deletion_policy: str = "DELETE"
    vector_ingestion_configuration: dict[str, Any] | None = None
    server_side_encryption_configuration: dict[str, Any] | None = None
    status: str = "AVAILABLE"

    @property
    def bucket(self) -> str:
        return bucket_name_from_arn(self.configuration["s3Configuration"]["bucketArn"])

    @property
    def prefix(self) -> str:
        prefixes = self.configuration["s3Configuration"].get("inclusionPrefixes") or [""]
        return str(prefixes[0])

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "name": self.name,
            "status": self.status,
            "description": self.description,
            "dataSourceConfiguration": self.configuration,
            "dataDeletionPolicy": self.deletion_policy,
            "vectorIngestionConfiguration": self.vector_ingestion_configuration,
            "serverSideEncryptionConfiguration": self.server_side_encryption_configuration,
            "createdAt": wire_date(self.created_at),
            "updatedAt": wire_date(self.created_at),
        }
        return {key: value for key, value in body.items() if value is not None}

    def summary(self) -> dict[str, Any]:
        body = {key: self.to_dict()[key] for key in ("knowledgeBaseId", "dataSourceId", "name", "status", "updatedAt")}
        if self.description:
            body["description"] = self.description
        return body


@dataclass
class _TokenUse:
    operation: str
    request: tuple[Any, ...]
    resource_id: str


@dataclass
class IngestionState:
    """Everything the emulator adds to one account/region. All public methods take request params."""

    backend: AgentsforBedrockBackend
    faults: Faults = field(default_factory=Faults)
    data_sources: dict[str, DataSource] = field(default_factory=dict)
    jobs: dict[str, IngestionJob] = field(default_factory=dict)
    _tokens: dict[str, _TokenUse] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _sequence: int = 0
    #: Jobs whose end the application logs already wrote (app_logs.py), so a second timer writes nothing.
    logged_ends: set[str] = field(default_factory=set)

    @property
    def account_id(self) -> str:
        return str(self.backend.account_id)

    @property
    def region(self) -> str:
        return str(self.backend.region_name)

    def is_current(self) -> bool:
        """Whether this is still the backend's state (moto's reset replaces it: pending timers then do nothing)."""
        return self.backend.__dict__.get(_STATE_ATTRIBUTE) is self

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The state's lock, for readers outside an API call (the application log timers)."""
        with self._lock:
            yield

    # -- dispatch ---------------------------------------------------------------------------------------

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run one API operation: injected faults, model validation, then the operation itself."""
        handler: Callable[[Mapping[str, Any]], dict[str, Any]] = getattr(self, _HANDLERS[operation])
        self.faults.raise_injected(operation)
        violations = input_violations(operation, params)
        if violations:
            raise ValidationException.from_violations(violations)
        with self._lock:
            return handler(params)

    # -- lookups ----------------------------------------------------------------------------------------

    def _knowledge_base(self, knowledge_base_id: str, operation: str) -> None:
        if knowledge_base_id not in self.backend.knowledge_bases:
            raise ResourceNotFoundException(f"Knowledge base with id {knowledge_base_id} does not exist")
        if self.faults.is_denied(knowledge_base_id):
            arn = self.backend.knowledge_bases[knowledge_base_id].knowledge_base_arn
            raise AccessDeniedException(
                f"User: arn:aws:sts::{self.account_id}:assumed-role/kbsync/local is not authorized to perform: "
                f"bedrock:{operation} on resource: {arn} because no identity-based policy allows the "
                f"bedrock:{operation} action"
            )

    def _data_source(self, params: Mapping[str, Any], operation: str) -> DataSource:
        self._knowledge_base(params["knowledgeBaseId"], operation)
        source = self.data_sources.get(params["dataSourceId"])
        if source is None or source.knowledge_base_id != params["knowledgeBaseId"]:
            raise ResourceNotFoundException(
                f"Data source with id {params['dataSourceId']} does not exist in knowledge base "
                f"{params['knowledgeBaseId']}"
            )
        return source

    def _job(self, params: Mapping[str, Any], operation: str) -> IngestionJob:
        source = self._data_source(params, operation)
        job = self.jobs.get(params["ingestionJobId"])
        if job is None or job.data_source_id != source.data_source_id:
            raise ResourceNotFoundException(
                f"Ingestion job with id {params['ingestionJobId']} does not exist for data source "
                f"{source.data_source_id}"
            )
        return job

    def _replayed(self, token: str | None, operation: str, request: tuple[Any, ...]) -> str | None:
        """The resource a repeated clientToken already created, or None for a first use."""
        if token is None:
            return None
        used = self._tokens.get(token)
        if used is None:
            return None
        if used.operation != operation or used.request != request:
            raise ConflictException(
                f"The clientToken {token} was already used with different parameters. "
                "Use a new clientToken for a different request."
            )
        return used.resource_id

    # -- data sources -----------------------------------------------------------------------------------

    def create_data_source(self, params: Mapping[str, Any]) -> dict[str, Any]:
        kb_id = params["knowledgeBaseId"]
        self._knowledge_base(kb_id, "CreateDataSource")
        request = (kb_id, params["name"], json.dumps(params["dataSourceConfiguration"], sort_keys=True))
        replayed = self._replayed(params.get("clientToken"), "CreateDataSource", request)
        if replayed is not None and replayed in self.data_sources:
            return {"dataSource": self.data_sources[replayed].to_dict()}
        _check_s3_configuration(params["dataSourceConfiguration"])
        siblings = [s for s in self.data_sources.values() if s.knowledge_base_id == kb_id]
        if any(s.name == params["name"] for s in siblings):
            raise ConflictException(
                f"A data source with name {params['name']} already exists in knowledge base {kb_id}"
            )
        if len(siblings) >= MAX_DATA_SOURCES_PER_KNOWLEDGE_BASE:
            raise ServiceQuotaExceededException(
                f"Knowledge base {kb_id} already has {MAX_DATA_SOURCES_PER_KNOWLEDGE_BASE} data sources, "
                "the maximum number of data sources per knowledge base."
            )
        source = DataSource(
            knowledge_base_id=kb_id,
            data_source_id=new_id(),
            name=params["name"],
            configuration=dict(params["dataSourceConfiguration"]),
            created_at=CLOCK.wall_now(),  # a date (createdAt/updatedAt), not a virtual instant
            description=params.get("description"),
            deletion_policy=params.get("dataDeletionPolicy") or "DELETE",
            vector_ingestion_configuration=params.get("vectorIngestionConfiguration"),
            server_side_encryption_configuration=params.get("serverSideEncryptionConfiguration"),
        )
        self.data_sources[source.data_source_id] = source
        if params.get("clientToken"):
            self._tokens[params["clientToken"]] = _TokenUse("CreateDataSource", request, source.data_source_id)
        return {"dataSource": source.to_dict()}

    def get_data_source(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"dataSource": self._data_source(params, "GetDataSource").to_dict()}

    def list_data_sources(self, params: Mapping[str, Any]) -> dict[str, Any]:
        kb_id = params["knowledgeBaseId"]
        self._knowledge_base(kb_id, "ListDataSources")
        sources = sorted(
            (s for s in self.data_sources.values() if s.knowledge_base_id == kb_id),
            key=lambda s: (s.created_at, s.data_source_id),
        )
        page, token = _paginate([s.summary() for s in sources], params, f"ds:{kb_id}")
        return _with_token({"dataSourceSummaries": page}, token)

    def delete_data_source(self, params: Mapping[str, Any]) -> dict[str, Any]:
        source = self._data_source(params, "DeleteDataSource")
        now = CLOCK.now()
        running = [j for j in self.jobs.values() if j.data_source_id == source.data_source_id and j.is_running(now)]
        if running:
            raise ConflictException(
                f"Data source {source.data_source_id} has an ongoing ingestion job {running[0].job_id}. "
                "Stop the ingestion job or wait for it to finish before deleting the data source."
            )
        del self.data_sources[source.data_source_id]
        return {
            "knowledgeBaseId": source.knowledge_base_id,
            "dataSourceId": source.data_source_id,
            "status": "DELETING",
        }

    # -- ingestion jobs ---------------------------------------------------------------------------------

    def start_ingestion_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        source = self._data_source(params, "StartIngestionJob")
        now = CLOCK.now()
        token = params.get("clientToken")
        request = (source.knowledge_base_id, source.data_source_id, params.get("description"))
        replayed = self._replayed(token, "StartIngestionJob", request)
        if replayed is not None:
            return {"ingestionJob": self.jobs[replayed].to_dict(now, job_date)}
        self.faults.admit_start(now)
        self._check_concurrency(source, now)
        job = self._new_job(source, params.get("description"), now)
        if token:
            self._tokens[token] = _TokenUse("StartIngestionJob", request, job.job_id)
        app_logs.job_started(self, job)
        return {"ingestionJob": job.to_dict(now, job_date)}

    def _check_concurrency(self, source: DataSource, now: float) -> None:
        running = [job for job in self.jobs.values() if job.is_running(now)]
        busy = [job for job in running if job.data_source_id == source.data_source_id] or [
            job for job in running if job.knowledge_base_id == source.knowledge_base_id
        ]
        if busy:
            self._raise_busy(source, busy[0])
        if len(running) >= MAX_CONCURRENT_JOBS_PER_ACCOUNT:
            raise ServiceQuotaExceededException(
                f"The number of concurrent ingestion jobs in this account has reached the limit of "
                f"{MAX_CONCURRENT_JOBS_PER_ACCOUNT}. Wait for an ongoing ingestion job to finish and try again."
            )

    def _raise_busy(self, source: DataSource, busy: IngestionJob) -> None:
        if busy.data_source_id == source.data_source_id:
            scope = f"data source {source.data_source_id}"
        else:
            scope = f"knowledge base {source.knowledge_base_id}"
        if self.faults.conflict_as_validation:
            raise ValidationException(
                f"There is already an ongoing ingestion job ({busy.job_id}) for {scope}. "
                "Wait for the ongoing ingestion job to complete before starting a new one."
            )
        raise ConflictException(
            f"Unable to start ingestion job because {scope} already has an ongoing ingestion job "
            f"{busy.job_id}. Only one ingestion job can run at a time per data source and per knowledge base."
        )

    def _new_job(self, source: DataSource, description: str | None, now: float) -> IngestionJob:
        plan = self.faults.plan_job()
        baseline = self._baseline(source)
        result, outcome = self._scan(source, plan, baseline)
        duration = plan.duration if plan.duration is not None else planned_duration(result.work_units)
        if outcome == "COMPLETE" and plan.burst_documents:
            result = with_burst(result, burst_documents(source.bucket, source.prefix, plan.burst_documents))
        self._sequence += 1
        job = IngestionJob(
            job_id=new_id(),
            knowledge_base_id=source.knowledge_base_id,
            data_source_id=source.data_source_id,
            started_at=now,
            duration=duration,
            outcome=outcome,
            statistics=result.statistics,
            failure_reasons=result.failure_reasons,
            snapshot=result.snapshot if outcome == "COMPLETE" else None,
            documents=result.documents if outcome == "COMPLETE" else None,
            description=description,
            never_finishes=plan.never_finishes,
            sequence=self._sequence,
            deleted=tuple(sorted(key for key in baseline if key not in result.documents))
            if outcome == "COMPLETE"
            else (),
        )
        self.jobs[job.job_id] = job
        return job

    def _scan(self, source: DataSource, plan: JobPlan, baseline: dict[str, IndexedDocument]) -> tuple[ScanResult, str]:
        try:
            objects = list_current_objects(self.account_id, self.region, source.bucket, source.prefix)
        except BucketMissing:
            reason = (
                f"Encountered error: Unable to access the data source bucket {source.bucket}: The specified "
                "bucket does not exist (Service: S3, Status Code: 404, Error Code: NoSuchBucket). Check that "
                "the bucket exists and that the knowledge base role can read it."
            )
            return ScanResult(empty_statistics(), [reason], {}), "FAILED"
        result = scan(source.bucket, objects, baseline)
        if plan.failure_reasons is not None:
            partial = empty_statistics()
            partial["numberOfDocumentsScanned"] = result.statistics["numberOfDocumentsScanned"]
            partial["numberOfMetadataDocumentsScanned"] = result.statistics["numberOfMetadataDocumentsScanned"]
            return ScanResult(partial, list(plan.failure_reasons), {}), "FAILED"
        return result, "COMPLETE"

    def _baseline(self, source: DataSource) -> dict[str, IndexedDocument]:
        """The index left by the data source's latest COMPLETE job (empty before the first one)."""
        now = CLOCK.now()
        finished = [
            job
            for job in self.jobs.values()
            if job.data_source_id == source.data_source_id and job.status_at(now) == "COMPLETE"
        ]
        if not finished:
            return {}
        latest = max(finished, key=lambda job: job.sequence)
        return dict(latest.snapshot or {})

    def get_ingestion_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"ingestionJob": self._job(params, "GetIngestionJob").to_dict(CLOCK.now(), job_date)}

    def stop_ingestion_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        job = self._job(params, "StopIngestionJob")
        now = CLOCK.now()
        status = job.status_at(now)
        if status not in ("STARTING", "IN_PROGRESS"):
            raise ConflictException(
                f"Ingestion job {job.job_id} cannot be stopped because its status is {status}. "
                "Only STARTING or IN_PROGRESS ingestion jobs can be stopped."
            )
        job.stop_requested_at = now
        app_logs.stop_requested(self, job)
        return {"ingestionJob": job.to_dict(now, job_date)}

    def list_ingestion_jobs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        source = self._data_source(params, "ListIngestionJobs")
        now = CLOCK.now()
        jobs = [job for job in self.jobs.values() if job.data_source_id == source.data_source_id]
        wanted = _status_filter(params.get("filters"))
        listed = [(job, job.summary(now, job_date)) for job in jobs]
        if wanted is not None:
            listed = [(job, summary) for job, summary in listed if summary["status"] in wanted]
        summaries = [summary for _, summary in _sorted_jobs(listed, params.get("sortBy"))]
        query = json.dumps([source.data_source_id, params.get("filters"), params.get("sortBy")], sort_keys=True)
        page, token = _paginate(summaries, params, query)
        return _with_token({"ingestionJobSummaries": page}, token)

    # -- documents --------------------------------------------------------------------------------------
    # https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_ListKnowledgeBaseDocuments.html
    # https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_GetKnowledgeBaseDocuments.html
    # https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent_KnowledgeBaseDocumentDetail.html

    def list_knowledge_base_documents(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every document the data source's ingestion jobs left in the index, ordered by S3 URI (stable pages)."""
        source = self._data_source(params, "ListKnowledgeBaseDocuments")
        index = self._document_index(source)
        details = [index[key].detail(source, key) for key in sorted(index)]
        page, token = _paginate(details, params, f"documents:{source.data_source_id}")
        return _with_token({"documentDetails": page}, token)

    def get_knowledge_base_documents(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The named documents, in the order asked; one the index does not hold is NOT_FOUND."""
        source = self._data_source(params, "GetKnowledgeBaseDocuments")
        index = self._document_index(source)
        details = []
        for position, identifier in enumerate(params["documentIdentifiers"], start=1):
            kind = identifier.get("dataSourceType")
            if kind != "S3" or not isinstance(identifier.get("s3"), Mapping):
                raise ValidationException(
                    f"documentIdentifiers.{position}: the data source {source.data_source_id} is of type S3; "
                    f"identify its documents with dataSourceType S3 and s3.uri (got dataSourceType {kind})."
                )
            uri = str(identifier["s3"]["uri"])
            prefix = s3_uri(source.bucket, "")
            state = index.get(uri[len(prefix) :]) if uri.startswith(prefix) else None
            if state is None:
                details.append(_document_detail(source, uri, "NOT_FOUND"))
            else:
                details.append(state.detail(source, uri[len(prefix) :]))
        return {"documentDetails": details}

    def _document_index(self, source: DataSource) -> dict[str, _DocumentState]:
        """S3 key -> document state, replaying the data source's COMPLETE jobs in start order.

        A document is in the index once a COMPLETE job scanned it (INDEXED, FAILED or IGNORED, as that job found
        it) and leaves it when a later COMPLETE job no longer finds it in S3: a file deleted from S3 stays INDEXED
        until the next job. A FAILED or STOPPED job changes nothing, nor does a running one (the emulator has no
        per-document in-flight states). updatedAt is the end of the job that last indexed or tried the document.
        """
        now = CLOCK.now()
        finished = sorted(
            (
                job
                for job in self.jobs.values()
                if job.data_source_id == source.data_source_id
                and job.documents is not None
                and job.status_at(now) == "COMPLETE"
            ),
            key=lambda job: job.sequence,
        )
        index: dict[str, _DocumentState] = {}
        for job in finished:
            ended = job.updated_at(now)
            following: dict[str, _DocumentState] = {}
            for key, outcome in (job.documents or {}).items():
                earlier = index.get(key)
                if earlier is not None and not outcome.changed and earlier.status == outcome.status:
                    following[key] = earlier
                else:
                    following[key] = _DocumentState(outcome.status, outcome.reason, ended)
            index = following
        return index


@dataclass(frozen=True)
class _DocumentState:
    """One document of the index: its status, the reason for it (FAILED, IGNORED) and when it last changed."""

    status: str
    reason: str | None
    updated_at: float  # a virtual instant (shown as its wall-clock date)

    def detail(self, source: DataSource, key: str) -> dict[str, Any]:
        return _document_detail(source, s3_uri(source.bucket, key), self.status, self.reason, self.updated_at)


def _document_detail(
    source: DataSource, uri: str, status: str, reason: str | None = None, updated_at: float | None = None
) -> dict[str, Any]:
    """The KnowledgeBaseDocumentDetail shape (statusReason and updatedAt only when there is one)."""
    detail: dict[str, Any] = {
        "knowledgeBaseId": source.knowledge_base_id,
        "dataSourceId": source.data_source_id,
        "status": status,
        "identifier": {"dataSourceType": "S3", "s3": {"uri": uri}},
    }
    if reason:
        detail["statusReason"] = reason
    if updated_at is not None:
        detail["updatedAt"] = job_date(updated_at)
    return detail


_HANDLERS = {
    "CreateDataSource": "create_data_source",
    "GetDataSource": "get_data_source",
    "ListDataSources": "list_data_sources",
    "DeleteDataSource": "delete_data_source",
    "StartIngestionJob": "start_ingestion_job",
    "GetIngestionJob": "get_ingestion_job",
    "ListIngestionJobs": "list_ingestion_jobs",
    "StopIngestionJob": "stop_ingestion_job",
}
#: The data source and ingestion job operations (the emulator's original eight).
OPERATIONS: tuple[str, ...] = tuple(_HANDLERS)
_DOCUMENT_HANDLERS = {
    "ListKnowledgeBaseDocuments": "list_knowledge_base_documents",
    "GetKnowledgeBaseDocuments": "get_knowledge_base_documents",
}
#: The per-document view of what the ingestion jobs did (read-only: no direct ingestion).
DOCUMENT_OPERATIONS: tuple[str, ...] = tuple(_DOCUMENT_HANDLERS)
#: Every operation the emulator serves (what the adapter adds to moto's bedrock-agent).
SERVED_OPERATIONS: tuple[str, ...] = OPERATIONS + DOCUMENT_OPERATIONS
_HANDLERS.update(_DOCUMENT_HANDLERS)


def _check_s3_configuration(configuration: Mapping[str, Any]) -> None:
    if configuration.get("type") != "S3":
        raise ValidationException(
            f"The local Bedrock emulator supports data sources of type S3 only, got {configuration.get('type')}."
        )
    if not isinstance(configuration.get("s3Configuration"), Mapping):
        raise ValidationException.from_violations(
            [
                "Value null at 'dataSourceConfiguration.s3Configuration' failed to satisfy constraint: "
                "Member must not be null for a data source of type S3"
            ]
        )


def _status_filter(filters: list[Mapping[str, Any]] | None) -> set[str] | None:
    if not filters:
        return None
    wanted: set[str] = set()
    for entry in filters:
        values = set(entry.get("values") or [])
        unknown = values - _JOB_STATUSES
        if unknown:
            raise ValidationException.from_violations(
                [
                    f"Value '{sorted(unknown)[0]}' at 'filters.1.member.values' failed to satisfy constraint: "
                    f"Member must satisfy enum value set: [{', '.join(sorted(_JOB_STATUSES))}]"
                ]
            )
        wanted |= values
    return wanted


_JOB_STATUSES = frozenset({"STARTING", "IN_PROGRESS", "COMPLETE", "FAILED", "STOPPING", "STOPPED"})


def _sorted_jobs(
    listed: list[tuple[IngestionJob, dict[str, Any]]], sort_by: Mapping[str, Any] | None
) -> list[tuple[IngestionJob, dict[str, Any]]]:
    """Default order: newest first (STARTED_AT DESCENDING, by the exact start, not its printed date); ties broken by
    job id for stable pages."""
    attribute = (sort_by or {}).get("attribute", "STARTED_AT")
    descending = (sort_by or {}).get("order", "DESCENDING") == "DESCENDING"
    if attribute == "STATUS":
        ordered = sorted(listed, key=lambda pair: (pair[1]["status"], pair[0].started_at, pair[0].job_id))
        return list(reversed(ordered)) if descending else ordered
    ordered = sorted(listed, key=lambda pair: (pair[0].started_at, pair[0].job_id))
    return list(reversed(ordered)) if descending else ordered


def _paginate(
    items: list[dict[str, Any]], params: Mapping[str, Any], query: str
) -> tuple[list[dict[str, Any]], str | None]:
    limit = int(params.get("maxResults") or DEFAULT_MAX_RESULTS)
    offset = _decode_token(params.get("nextToken"), query)
    page = items[offset : offset + limit]
    following = offset + limit
    return page, _encode_token(following, query) if following < len(items) else None


def _encode_token(offset: int, query: str) -> str:
    raw = json.dumps({"offset": offset, "query": query}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None, query: str) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if decoded["query"] != query or int(decoded["offset"]) < 0:
            raise ValueError("token belongs to another request")
        return int(decoded["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise ValidationException("Invalid pagination token. Use the nextToken of the previous response.") from error


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["nextToken"] = token
    return body
