"""The upload router's settings, typed, read once at cold start (app.py) from the environment template.yaml gives
UploadRouterFunction. Each default is the one README.md's configuration tables list
(tests/static/test_configuration_table.py); a field's default and its variable's default are the same number."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kbsync_handlers import env, read_settings


@dataclass(frozen=True)
class Settings:
    #: TARGETS_TABLE: the TargetsTable: the registry (GSI byBucket) and the GATE items (always set by the template).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: SYNC_GATE_STATE_MACHINE_ARN: the sync gate, which each routed upload's sync goes through (always set).
    sync_gate_arn: str = field(default="", metadata=env("SYNC_GATE_STATE_MACHINE_ARN"))
    #: SETTLE_SECONDS (parameter SettleSeconds): an upload-triggered sync waits this long so a bulk upload finishes
    #: first (uploads during the wait join that sync).
    settle_seconds: int = field(default=60, metadata=env("SETTLE_SECONDS"))
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): the lease of a gate this router takes for a new sync.
    gate_lease_seconds: int = field(default=172800, metadata=env("GATE_LEASE_SECONDS"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of the environment given (default: the process's, as it is when called: at cold start)."""
        return read_settings(cls, environ)
