"""The upload router's settings, typed, read once at cold start (app.py) from the environment template.yaml gives
UploadRouterFunction. Each default is the one README.md's configuration tables list
(tests/static/test_configuration_table.py); a field's default and its variable's default are the same number."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    #: TARGETS_TABLE: the TargetsTable: the registry (GSI byBucket) and the GATE items (always set by the template).
    targets_table: str = ""
    #: SYNC_GATE_STATE_MACHINE_ARN: the sync gate, which each routed upload's sync goes through (always set).
    sync_gate_arn: str = ""
    #: SETTLE_SECONDS (parameter SettleSeconds): an upload-triggered sync waits this long so a bulk upload finishes
    #: first (uploads during the wait join that sync).
    settle_seconds: int = 60
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): the lease of a gate this router takes for a new sync.
    gate_lease_seconds: int = 172800

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings in `env` (default: the process environment, as it is when called: at cold start)."""
        env = os.environ if env is None else env
        return cls(
            targets_table=env.get("TARGETS_TABLE", ""),
            sync_gate_arn=env.get("SYNC_GATE_STATE_MACHINE_ARN", ""),
            settle_seconds=int(env.get("SETTLE_SECONDS", "60")),
            gate_lease_seconds=int(env.get("GATE_LEASE_SECONDS", "172800")),
        )
