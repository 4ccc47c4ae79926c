"""The sync gate function's settings (SyncGateFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings: each default is the one README.md's configuration tables list)."""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: TARGETS_TABLE: the TargetsTable, where the GATE items live (always set by the template).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): how long a gate survives a holder that vanished without the
    #: catch-all noticing. Must exceed the longest gated round: settle delay + slot wait + the ingestion-sync timeout.
    gate_lease_seconds: int = field(default=172800, metadata=env("GATE_LEASE_SECONDS"))
