"""The nightly plan function's settings, typed, read once at cold start (app.py) from the environment template.yaml
gives NightlyPlanFunction. Each default is the one README.md's configuration tables list
(tests/static/test_configuration_table.py); a field's default and its variable's default are the same number."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    #: TARGETS_TABLE: the TargetsTable: the registry the night reads, and where its plan is kept (always set).
    targets_table: str = ""
    #: JOBS_TABLE: the job records, for the previous job's duration ("" = order by Bedrock's own history only).
    jobs_table: str = ""
    #: JOB_SLOTS: Bedrock's 5 concurrent ingestion jobs per account (the pacer's slots): the night keeps two targets
    #: of one knowledge base this many places apart when it can.
    job_slots: int = 5
    #: BEDROCK_HISTORY_SECONDS: real seconds the plan may spend asking Bedrock for the job history of targets kbsync
    #: never synced.
    bedrock_history_seconds: float = 10.0
    #: LANE_TARGETS_PER_EXECUTION: targets one lane execution of the fan-out syncs before handing its lane to a fresh
    #: execution: ~13 history events per target, so a lane execution stays near 1,300 events whatever the number of
    #: targets (docs/scale.md).
    lane_targets_per_execution: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in `env` (default: the process environment, as it is when called: at cold start)."""
        env = os.environ if env is None else env
        return cls(
            targets_table=env.get("TARGETS_TABLE", ""),
            jobs_table=env.get("JOBS_TABLE", ""),
            job_slots=int(env.get("JOB_SLOTS", "5")),
            bedrock_history_seconds=float(env.get("BEDROCK_HISTORY_SECONDS", "10")),
            lane_targets_per_execution=int(env.get("LANE_TARGETS_PER_EXECUTION", "100")),
        )
