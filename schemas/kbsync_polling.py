"""The poll schedule, written once: how long to wait before the next look at a running ingestion job, and which
statuses end the looking.

The state machine's poll loop (functions/get_job_status plans its Wait state) and the job watch's sweep
(functions/job_watch plans the next GetIngestionJob of a job waiting on a task token) follow the same schedule:
the first wait is PollIntervalSeconds, each next one WAIT_GROWTH times the previous (rounded up), never above
MaxPollIntervalSeconds. Sharing it is what makes the push path never slower than polling: with the logs off or lost,
the sweep looks at the job when the poll loop would have.

Standard library only: it ships in the Contracts layer (``schemas/``).
"""

from __future__ import annotations

import math

#: Each wait is this much longer than the previous one, up to the maximum.
WAIT_GROWTH = 1.5
#: The ingestion job statuses that end a job (Bedrock's IngestionJobStatus: the rest, STARTING, IN_PROGRESS and
#: STOPPING, go on): what ends the poll loop (functions/get_job_status), the sweep's check (functions/job_watch) and a
#: log event's wait (functions/job_events). The job-wake contract's status enum is the same set (tests pin it).
TERMINAL_STATUSES = frozenset({"COMPLETE", "FAILED", "STOPPED"})
#: No wait is shorter than this (a Wait state of 0 seconds, or a sweep due at once again, would spin).
MIN_WAIT_SECONDS = 1


def next_wait(current: int, maximum: int) -> int:
    """The wait after one of `current` seconds: `current` x WAIT_GROWTH rounded up, at least MIN_WAIT_SECONDS, at most
    `maximum`."""
    return min(int(maximum), max(MIN_WAIT_SECONDS, math.ceil(int(current) * WAIT_GROWTH)))
