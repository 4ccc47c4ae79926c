"""The nightly plan function's settings (NightlyPlanFunction's environment in template.yaml), read once at cold
start (kbsync_handlers.Settings: each default is the one README.md's configuration tables list)."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: TARGETS_TABLE: the TargetsTable: the registry the night reads, and where its plan is kept (always set).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: JOBS_TABLE: the job records, for the previous job's duration ("" = order by Bedrock's own history only).
    jobs_table: str = field(default="", metadata=env("JOBS_TABLE"))
    #: JOB_SLOTS: Bedrock's 5 concurrent ingestion jobs per account (the pacer's slots): the night keeps two targets
    #: of one knowledge base this many places apart when it can.
    job_slots: int = field(default=5, metadata=env("JOB_SLOTS"))
    #: BEDROCK_HISTORY_SECONDS: real seconds the plan may spend asking Bedrock for the job history of targets kbsync
    #: never synced.
    bedrock_history_seconds: float = field(default=10.0, metadata=env("BEDROCK_HISTORY_SECONDS"))
    #: LANE_TARGETS_PER_EXECUTION: targets one lane execution of the fan-out syncs before handing its lane to a fresh
    #: execution: ~13 history events per target, so a lane execution stays near 1,300 events whatever the number of
    #: targets (docs/scale.md).
    lane_targets_per_execution: int = field(default=100, metadata=env("LANE_TARGETS_PER_EXECUTION"))
