"""The nightly plan function's settings, typed, read once at cold start (app.py) from the environment template.yaml
gives NightlyPlanFunction. Each default is the one README.md's configuration tables list
(tests/static/test_configuration_table.py); a field's default and its variable's default are the same number."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kbsync_handlers import env, read_settings


@dataclass(frozen=True)
class Settings:
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of the environment given (default: the process's, as it is when called: at cold start)."""
        return read_settings(cls, environ)
