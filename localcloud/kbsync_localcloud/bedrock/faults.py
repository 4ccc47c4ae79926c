"""Fault injection for what has no natural cause in a local cloud.

Realistic faults come from realistic causes (an unsupported file, a missing bucket, a second job on a
busy data source). What cannot happen naturally here — throttling storms, internal errors, a denied
knowledge base, a job that never ends, application log events lost, duplicated, out of order or late — is
switched on through this control, one per moto account/region backend, so moto's reset (``mock_aws`` start,
``POST /moto-api/reset``) clears it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kbsync_localcloud.bedrock.errors import ERRORS_BY_CODE, ThrottlingException
from kbsync_localcloud.bedrock.shapes import error_codes

#: StartIngestionJob quota: 0.1 requests per second per account (AWS, not adjustable).
DEFAULT_START_RATE_PER_SECOND = 0.1
DEFAULT_START_BURST = 1


@dataclass
class _InjectedError:
    code: str
    message: str
    remaining: int


@dataclass
class TokenBucket:
    """Rate limit measured on the virtual clock: `rate` tokens per second, at most `burst` saved."""

    rate: float
    burst: int
    tokens: float = -1.0
    last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is None:
            self.tokens, self.last = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class JobPlan:
    """What fault injection decides for the next started job."""

    duration: float | None = None
    never_finishes: bool = False
    failure_reasons: list[str] | None = None
    #: Extra failed documents the job reports (statistics, failureReasons, application logs): a log burst.
    burst_documents: int = 0


@dataclass(frozen=True)
class TerminalLogPlan:
    """What fault injection does to one job's terminal application log event (bedrock/app_logs.py)."""

    drop: bool = False  # never written
    duplicate: bool = False  # written twice
    reorder: bool = False  # written before the job's resource events


@dataclass
class Faults:
    """The fault-injection control of one account/region. Thread-safe; every method is documented API."""

    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _throttle_starts: int = 0
    _errors: dict[str, deque[_InjectedError]] = field(default_factory=dict)
    _denied: set[str] = field(default_factory=set)
    _hang_jobs: int = 0
    _duration: float | None = None
    _duration_jobs: int | None = None
    _failing_jobs: deque[list[str]] = field(default_factory=deque)
    _drop_terminal: int = 0
    _duplicate_terminal: int = 0
    _reorder_logs: int = 0
    _log_delay: float = 0.0
    _bursts: deque[int] = field(default_factory=deque)
    conflict_as_validation: bool = False
    _rate: TokenBucket | None = field(
        default_factory=lambda: TokenBucket(DEFAULT_START_RATE_PER_SECOND, DEFAULT_START_BURST)
    )

    # -- switches -------------------------------------------------------------------------------------

    def throttle_next_starts(self, count: int = 1) -> None:
        """The next `count` StartIngestionJob calls raise ThrottlingException (a throttling storm)."""
        with self._lock:
            self._throttle_starts = _count(count)

    def fail_next_calls(
        self, operation: str, count: int = 1, error: str = "InternalServerException", message: str | None = None
    ) -> None:
        """The next `count` calls of `operation` (e.g. "GetIngestionJob") raise `error`.

        `error` must be one the model lists for the operation (InternalServerException, ThrottlingException,
        AccessDeniedException, ...), so an injected fault is still one the real API can return.
        """
        if error not in error_codes(operation) or error not in ERRORS_BY_CODE:
            raise ValueError(f"{operation} cannot return {error}; it returns {sorted(error_codes(operation))}")
        text = message or _DEFAULT_MESSAGES.get(error, error)
        with self._lock:
            self._errors.setdefault(operation, deque()).append(_InjectedError(error, text, _count(count)))

    def deny_knowledge_base(self, knowledge_base_id: str, denied: bool = True) -> None:
        """Every call naming this knowledge base raises AccessDeniedException (a missing IAM grant)."""
        with self._lock:
            if denied:
                self._denied.add(knowledge_base_id)
            else:
                self._denied.discard(knowledge_base_id)

    def hang_next_jobs(self, count: int = 1) -> None:
        """The next `count` started jobs never finish: they stay IN_PROGRESS until stopped."""
        with self._lock:
            self._hang_jobs = _count(count)

    def force_job_duration(self, seconds: float, count: int | None = None) -> None:
        """The next `count` jobs (every job while None) take `seconds` virtual seconds, whatever the work."""
        if not seconds > 0:
            raise ValueError("a job duration must be > 0 virtual seconds")
        with self._lock:
            self._duration, self._duration_jobs = float(seconds), None if count is None else _count(count)

    def fail_next_jobs(self, reasons: list[str], count: int = 1) -> None:
        """The next `count` started jobs end FAILED with these failureReasons (e.g. an embedding-model error)."""
        if not reasons or not all(isinstance(reason, str) for reason in reasons):
            raise ValueError("reasons must be a non-empty list of strings")
        with self._lock:
            for _ in range(_count(count)):
                self._failing_jobs.append(list(reasons))

    # -- application logs (only where a log delivery exists for the knowledge base: bedrock/app_logs.py) -----

    def drop_terminal_log_events(self, count: int = 1) -> None:
        """The next `count` terminal job events (COMPLETE, FAILED, STOPPED) are lost: never written to the logs.

        Counted only for jobs whose knowledge base has a log delivery (nothing is lost where nothing is written).
        """
        with self._lock:
            self._drop_terminal = _count(count)

    def duplicate_terminal_log_events(self, count: int = 1) -> None:
        """The next `count` terminal job events are written twice (two PutLogEvents, two subscription deliveries)."""
        with self._lock:
            self._duplicate_terminal = _count(count)

    def reorder_log_events(self, count: int = 1) -> None:
        """For the next `count` ending jobs, the terminal job event is written before the job's resource events."""
        with self._lock:
            self._reorder_logs = _count(count)

    def delay_log_events(self, seconds: float) -> None:
        """Every application log event is written `seconds` virtual seconds late (0 restores prompt delivery).

        The events keep their true ``event_timestamp``: only their arrival (and the subscription's) is late.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError(f"a log delay must be >= 0 virtual seconds, got {seconds!r}")
        with self._lock:
            self._log_delay = float(seconds)

    def log_document_burst(self, documents: int) -> None:
        """The next started job also reports `documents` failed documents (a burst of resource events).

        They are spread over four reasons (documents.burst_documents) and counted everywhere a failed document
        is: numberOfDocumentsScanned/Failed, failureReasons (capped at 2,048), ListKnowledgeBaseDocuments and one
        RESOURCE_IGNORED/EMBEDDING_FAILED plus one FAILED application log event each. They add no job duration.
        """
        if isinstance(documents, bool) or not isinstance(documents, int) or documents < 1:
            raise ValueError(f"documents must be a positive integer, got {documents!r}")
        with self._lock:
            self._bursts.append(documents)

    def report_conflicts_as_validation(self, enabled: bool = True) -> None:
        """Report a busy data source/knowledge base as ValidationException (as some accounts see it)."""
        with self._lock:
            self.conflict_as_validation = bool(enabled)

    def set_start_rate_limit(
        self, per_second: float | None = DEFAULT_START_RATE_PER_SECOND, burst: int = DEFAULT_START_BURST
    ) -> None:
        """StartIngestionJob rate limit per account in virtual time; None disables it (default: AWS's 0.1/s)."""
        with self._lock:
            self._rate = None if per_second is None else TokenBucket(float(per_second), max(1, int(burst)))

    def reset(self) -> None:
        """Back to no faults and the AWS rate limit."""
        with self._lock:
            fresh = Faults()
            for name in ("_throttle_starts", "_errors", "_denied", "_hang_jobs", "_duration", "_duration_jobs"):
                setattr(self, name, getattr(fresh, name))
            self._failing_jobs = fresh._failing_jobs
            for name in ("_drop_terminal", "_duplicate_terminal", "_reorder_logs", "_log_delay", "_bursts"):
                setattr(self, name, getattr(fresh, name))
            self.conflict_as_validation = False
            self._rate = fresh._rate

    def describe(self) -> dict[str, Any]:
        """The current switches, JSON-ready (the server route's GET answer)."""
        with self._lock:
            return {
                "throttleNextStarts": self._throttle_starts,
                "failNextCalls": {
                    op: [{"error": e.code, "remaining": e.remaining} for e in queue if e.remaining]
                    for op, queue in self._errors.items()
                },
                "deniedKnowledgeBases": sorted(self._denied),
                "hangNextJobs": self._hang_jobs,
                "forcedJobDuration": self._duration,
                "forcedJobDurationJobs": self._duration_jobs,
                "failNextJobs": len(self._failing_jobs),
                "dropTerminalLogEvents": self._drop_terminal,
                "duplicateTerminalLogEvents": self._duplicate_terminal,
                "reorderLogEvents": self._reorder_logs,
                "logEventDelaySeconds": self._log_delay,
                "logDocumentBursts": list(self._bursts),
                "conflictAsValidation": self.conflict_as_validation,
                "startRateLimit": None
                if self._rate is None
                else {"perSecond": self._rate.rate, "burst": self._rate.burst},
            }

    # -- consumed by the emulator ---------------------------------------------------------------------

    def raise_injected(self, operation: str) -> None:
        with self._lock:
            queue = self._errors.get(operation)
            while queue and queue[0].remaining <= 0:
                queue.popleft()
            if not queue:
                return
            injected = queue[0]
            injected.remaining -= 1
            raise ERRORS_BY_CODE[injected.code](injected.message)

    def is_denied(self, knowledge_base_id: str) -> bool:
        with self._lock:
            return knowledge_base_id in self._denied

    def admit_start(self, now: float) -> None:
        """Throttle a StartIngestionJob call (injected storm first, then the rate limit)."""
        with self._lock:
            if self._throttle_starts > 0:
                self._throttle_starts -= 1
                raise ThrottlingException(_DEFAULT_MESSAGES["ThrottlingException"])
            if self._rate is not None and not self._rate.take(now):
                raise ThrottlingException(_DEFAULT_MESSAGES["ThrottlingException"])

    def plan_job(self) -> JobPlan:
        with self._lock:
            plan = JobPlan()
            if self._duration is not None:
                plan.duration = self._duration
                if self._duration_jobs is not None:
                    self._duration_jobs -= 1
                    if self._duration_jobs <= 0:
                        self._duration, self._duration_jobs = None, None
            if self._hang_jobs > 0:
                self._hang_jobs -= 1
                plan.never_finishes = True
            if self._failing_jobs:
                plan.failure_reasons = self._failing_jobs.popleft()
            if self._bursts:
                plan.burst_documents = self._bursts.popleft()
            return plan

    def plan_terminal_log(self) -> TerminalLogPlan:
        """Consume the terminal-event switches for one ending job that has a log delivery."""
        with self._lock:
            drop, self._drop_terminal = self._drop_terminal > 0, max(0, self._drop_terminal - 1)
            duplicate, self._duplicate_terminal = self._duplicate_terminal > 0, max(0, self._duplicate_terminal - 1)
            reorder, self._reorder_logs = self._reorder_logs > 0, max(0, self._reorder_logs - 1)
            return TerminalLogPlan(drop=drop, duplicate=duplicate, reorder=reorder)

    def log_delay(self) -> float:
        with self._lock:
            return self._log_delay


_DEFAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "InternalServerException": "The server encountered an internal error while processing the request.",
    "AccessDeniedException": "You do not have sufficient access to perform this action.",
    "ServiceQuotaExceededException": "The request exceeds a service quota.",
    "ValidationException": "Input validation failed. Check your request parameters and retry the request.",
    "ConflictException": "There was a conflict performing an operation.",
    "ResourceNotFoundException": "The specified resource was not found.",
}


def _count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    return count
