"""The pacer function's settings (PacerFunction's environment in template.yaml), read once at cold start
(kbsync_handlers.Settings: each default is the one README.md's configuration tables list). Bedrock's quotas (June
2025, not adjustable: https://docs.aws.amazon.com/bedrock/latest/userguide/quotas.html) are the defaults of JOB_SLOTS
and START_SPACING_SECONDS.
"""

from __future__ import annotations

from dataclasses import field

import kbsync_handlers
from kbsync_handlers import env


class Settings(kbsync_handlers.Settings):
    #: TARGETS_TABLE: the TargetsTable, where the pacer item lives (always set by the template).
    targets_table: str = field(default="", metadata=env("TARGETS_TABLE"))
    #: GATE_LEASE_SECONDS (parameter GateLeaseSeconds): a job slot's lease, the gate's (a holder that vanished without
    #: the catch-all noticing loses it after this).
    gate_lease_seconds: int = field(default=172800, metadata=env("GATE_LEASE_SECONDS"))
    #: START_SPACING_SECONDS (parameter StartSpacingSeconds): Bedrock allows 0.1 StartIngestionJob requests per second
    #: per account, so one start per this many seconds.
    start_spacing_seconds: int = field(default=10, metadata=env("START_SPACING_SECONDS"))
    #: JOB_SLOTS: Bedrock allows 5 concurrent ingestion jobs per account.
    job_slots: int = field(default=5, metadata=env("JOB_SLOTS"))
    #: SLOT_POLL_SECONDS: how long the round that has waited longest waits before asking again for a job slot.
    slot_poll_seconds: int = field(default=10, metadata=env("SLOT_POLL_SECONDS"))
    #: QUEUE_POLL_SECONDS: how long the other waiting rounds wait: in a busy night a slot frees every few minutes, so
    #: only the head of the queue needs to ask often (each ask is a Lambda call and 3 state transitions).
    queue_poll_seconds: int = field(default=30, metadata=env("QUEUE_POLL_SECONDS"))
    #: WAITER_TTL_SECONDS: a queued round not seen for this long (its execution died and the catch-all missed it)
    #: leaves the queue.
    waiter_ttl_seconds: int = field(default=900, metadata=env("WAITER_TTL_SECONDS"))
    #: START_TOKEN_LEASE_SECONDS: the start token is held for the spacing by a live holder; after this it is
    #: considered abandoned.
    start_token_lease_seconds: int = field(default=900, metadata=env("START_TOKEN_LEASE_SECONDS"))
