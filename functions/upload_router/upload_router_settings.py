"""The upload router's settings (UploadRouterFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings: each default is the one README.md's configuration tables list)."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: TARGETS_TABLE: the TargetsTable: the registry (GSI byBucket) and the GATE items (always set by the template).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: SYNC_GATE_STATE_MACHINE_ARN: the sync gate, which each routed upload's sync goes through (always set).
    sync_gate_arn: str = field(default="", metadata=env("SYNC_GATE_STATE_MACHINE_ARN"))
    #: SETTLE_SECONDS (parameter SettleSeconds): an upload-triggered sync waits this long so a bulk upload finishes
    #: first (uploads during the wait join that sync).
    settle_seconds: int = field(default=60, metadata=env("SETTLE_SECONDS"))
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): the lease of a gate this router takes for a new sync.
    gate_lease_seconds: int = field(default=172800, metadata=env("GATE_LEASE_SECONDS"))
