"""The freshness check's settings (FreshnessFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings: each default is the one README.md's configuration tables list)."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: TARGETS_TABLE: the registry (TARGET items: the verdict, the pending changes) (always set by the template).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: JOBS_TABLE: the job records, newest first per data source (always set by the template).
    jobs_table: str = field(default="", metadata=env("JOBS_TABLE"))
    #: ALERTS_TOPIC_ARN: where the freshness alerts are published (always set by the template).
    topic_arn: str = field(default="", metadata=env("ALERTS_TOPIC_ARN"))
    #: RUNBOOK_BASE_URL (parameter RunbookBaseUrl): the alerts link <base>/<runbook>.
    runbook_base_url: str = field(
        default="https://github.com/kbsync/kbsync/blob/main/runbooks", metadata=env("RUNBOOK_BASE_URL")
    )
    #: SYNC_GATE_STATE_MACHINE_ARN: the sync gate the alert's AWS CLI sync command starts (always set).
    sync_gate_arn: str = field(default="<SyncGateStateMachineArn>", metadata=env("SYNC_GATE_STATE_MACHINE_ARN"))
    #: FRESHNESS_MAX_AGE_HOURS (parameter FreshnessMaxAgeHours): a target without a successful sync for longer than
    #: this is stale, unless its item says otherwise (maxAgeHours, `kbsync targets add --max-age-hours N`).
    max_age_hours: int = field(default=26, metadata=env("FRESHNESS_MAX_AGE_HOURS"))
    #: FRESHNESS_LAG_MINUTES (parameter FreshnessLagMinutes): an S3 change no successful sync covers, older than
    #: this, makes the target lagging.
    lag_minutes: int = field(default=120, metadata=env("FRESHNESS_LAG_MINUTES"))
    #: FRESHNESS_MAX_RECORDS: at most this many job records are read per target to find its last successful sync
    #: (a target with none among them counts its age from the oldest one read).
    max_records: int = field(default=500, metadata=env("FRESHNESS_MAX_RECORDS"))
