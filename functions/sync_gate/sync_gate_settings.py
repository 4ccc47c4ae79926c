"""The sync gate function's settings, typed, read once at cold start (app.py) from the environment template.yaml
gives SyncGateFunction. Each default is the one README.md's configuration tables list
(tests/static/test_configuration_table.py); a field's default and its variable's default are the same number."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kbsync_handlers import env, read_settings


@dataclass(frozen=True)
class Settings:
    #: TARGETS_TABLE: the TargetsTable, where the GATE items live (always set by the template).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): how long a gate survives a holder that vanished without the
    #: catch-all noticing. Must exceed the longest gated round: settle delay + slot wait + the ingestion-sync timeout.
    gate_lease_seconds: int = field(default=172800, metadata=env("GATE_LEASE_SECONDS"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of the environment given (default: the process's, as it is when called: at cold start)."""
        return read_settings(cls, environ)
