"""The sync gate function's settings, typed, read once at cold start (app.py) from the environment template.yaml
gives SyncGateFunction. Each default is the one README.md's configuration tables list
(tests/static/test_configuration_table.py); a field's default and its variable's default are the same number."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    #: TARGETS_TABLE: the TargetsTable, where the GATE items live (always set by the template).
    targets_table: str = ""
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): how long a gate survives a holder that vanished without the
    #: catch-all noticing. Must exceed the longest gated round: settle delay + slot wait + the ingestion-sync timeout.
    gate_lease_seconds: int = 172800

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in `env` (default: the process environment, as it is when called: at cold start)."""
        env = os.environ if env is None else env
        return cls(
            targets_table=env.get("TARGETS_TABLE", ""),
            gate_lease_seconds=int(env.get("GATE_LEASE_SECONDS", "172800")),
        )
