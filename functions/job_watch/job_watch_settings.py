"""The job watch's settings (JobWatchFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings). Both are set by the template: neither is a tunable of README.md's tables."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: JOBS_TABLE: the JobsTable, where each waiting job's record holds its task token (always set by the template).
    jobs_table: str = field(default="", metadata=env("JOBS_TABLE"))
    #: MAX_POLL_INTERVAL_SECONDS (parameter MaxPollIntervalSeconds): the sweep's checks of a job grow like the poll
    #: loop's waits, up to this.
    max_poll_interval_seconds: int = field(default=300, metadata=env("MAX_POLL_INTERVAL_SECONDS"))
