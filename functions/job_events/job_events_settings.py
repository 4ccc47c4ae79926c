"""The job events function's settings (JobEventsFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings). Set by the template: not a tunable of README.md's tables."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: JOBS_TABLE: the JobsTable, whose records take the logs' document failures and terminal status (always set by
    #: the template).
    jobs_table: str = field(default="", metadata=env("JOBS_TABLE"))
