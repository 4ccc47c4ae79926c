"""Ingestion jobs whose status is a pure function of the scaled clock.

Nothing runs in the background: every read computes the status from CLOCK.now(), so jobs progress
identically in decorator mode, server mode and under any time scale, and tests need no threads.
Progress is in virtual seconds; the dates a response shows (startedAt, updatedAt) are those instants on the wall
clock (``to_dict(now, date)`` with ``date = state.job_date``, ISO 8601 as Bedrock sends them): scaled time changes
durations, not dates (clock.py).

Duration formula (virtual seconds, documented in docs/local-cloud-bedrock.md)::

    duration = STARTING_SECONDS + BASE_SECONDS + PER_FILE_SECONDS * (documents + metadata files scanned)

The job is STARTING for min(STARTING_SECONDS, duration / 3), then IN_PROGRESS until `duration` has
passed, then COMPLETE or FAILED. StopIngestionJob makes it STOPPING for STOPPING_SECONDS, then STOPPED.
A fault-injected duration replaces the formula; a "never finishes" job stays IN_PROGRESS until stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kbsync_localcloud.bedrock.documents import DocumentOutcome, IndexedDocument, empty_statistics

STARTING_SECONDS = 5.0
BASE_SECONDS = 10.0
PER_FILE_SECONDS = 0.5
STOPPING_SECONDS = 3.0

RUNNING_STATUSES = frozenset({"STARTING", "IN_PROGRESS", "STOPPING"})
TERMINAL_STATUSES = frozenset({"COMPLETE", "FAILED", "STOPPED"})


def planned_duration(work_units: int) -> float:
    return STARTING_SECONDS + BASE_SECONDS + PER_FILE_SECONDS * work_units


@dataclass
class IngestionJob:
    job_id: str
    knowledge_base_id: str
    data_source_id: str
    started_at: float
    duration: float
    outcome: str  # COMPLETE or FAILED, reached when `duration` has passed
    statistics: dict[str, int]
    failure_reasons: list[str]
    snapshot: dict[str, IndexedDocument] | None  # the index once COMPLETE (None when FAILED)
    description: str | None = None
    never_finishes: bool = False
    stop_requested_at: float | None = None
    sequence: int = 0
    #: What the job did to each source document (S3 key -> outcome), reported once COMPLETE (None when FAILED).
    documents: dict[str, DocumentOutcome] | None = None
    #: S3 keys of the previous index the job removes (numberOfDocumentsDeleted), for the application logs.
    deleted: tuple[str, ...] = ()

    @property
    def starting_seconds(self) -> float:
        return min(STARTING_SECONDS, self.duration / 3)

    def status_at(self, now: float) -> str:
        if self.stop_requested_at is not None:
            return "STOPPED" if now >= self.stop_requested_at + STOPPING_SECONDS else "STOPPING"
        if now < self.started_at + self.starting_seconds:
            return "STARTING"
        if self.never_finishes or now < self.started_at + self.duration:
            return "IN_PROGRESS"
        return self.outcome

    def updated_at(self, now: float) -> float:
        """When the job last changed; for a stopped job, when it was stopped (as the API documents)."""
        status = self.status_at(now)
        if status == "STOPPING":
            return self.stop_requested_at  # type: ignore[return-value]
        if status == "STOPPED":
            return self.stop_requested_at + STOPPING_SECONDS  # type: ignore[operator]
        if status == "STARTING":
            return self.started_at
        if status == "IN_PROGRESS":
            return max(self.started_at + self.starting_seconds, min(now, self.started_at + self.duration))
        return self.started_at + self.duration

    def progress_at(self, now: float) -> float:
        """Fraction of the work done, 0 while STARTING, 1 once COMPLETE/FAILED; frozen when stopped."""
        moment = now if self.stop_requested_at is None else min(now, self.stop_requested_at)
        running = self.duration - self.starting_seconds
        done = moment - self.started_at - self.starting_seconds
        if done <= 0 or running <= 0:
            return 0.0 if done <= 0 else 1.0
        fraction = min(1.0, done / running)
        if self.never_finishes or self.stop_requested_at is not None:
            fraction = min(fraction, 0.99)
        return fraction

    def statistics_at(self, now: float) -> dict[str, int]:
        status = self.status_at(now)
        if status in ("COMPLETE", "FAILED"):
            return dict(self.statistics)
        fraction = self.progress_at(now)
        if fraction <= 0:
            return empty_statistics()
        return {name: math.floor(value * fraction) for name, value in self.statistics.items()}

    def is_running(self, now: float) -> bool:
        return self.status_at(now) in RUNNING_STATUSES

    def to_dict(self, now: float, date: Callable[[float], Any]) -> dict[str, Any]:
        """The IngestionJob shape at virtual instant `now`; `date` maps a virtual instant to the date shown (on the
        wall clock, as the wire carries it). failureReasons appears only on a finished job that has some."""
        status = self.status_at(now)
        body: dict[str, Any] = {
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "ingestionJobId": self.job_id,
            "status": status,
            "statistics": self.statistics_at(now),
            "startedAt": date(self.started_at),
            "updatedAt": date(self.updated_at(now)),
        }
        if self.description:
            body["description"] = self.description
        if status in ("COMPLETE", "FAILED") and self.failure_reasons:
            body["failureReasons"] = list(self.failure_reasons)
        return body

    def summary(self, now: float, date: Callable[[float], Any]) -> dict[str, Any]:
        """The IngestionJobSummary shape (no failureReasons)."""
        body = self.to_dict(now, date)
        body.pop("failureReasons", None)
        return body
