"""The Bedrock ingestion emulator: data sources and ingestion jobs on moto's bedrock-agent.

Public API (see docs/local-cloud-bedrock.md):

- ``faults(account_id=..., region=...)`` -> the fault-injection control (:class:`Faults`) of one
  account/region; cleared by moto's reset;
- ``seed_knowledge_base``, ``seed_data_source``, ``seed_sync_target``, ``wait_for_ingestion_job``;
- the rules as constants: ``SUPPORTED_EXTENSIONS``, ``MAX_DOCUMENT_BYTES``, ``MAX_METADATA_BYTES``,
  the duration formula's ``STARTING_SECONDS``/``BASE_SECONDS``/``PER_FILE_SECONDS``/``STOPPING_SECONDS``;
- ``CONTROL_PATH``: the HTTP route of the fault control in server mode;
- the knowledge bases' APPLICATION_LOGS (app_logs.py): written into moto's CloudWatch Logs wherever a log delivery
  (PutDeliverySource / PutDeliveryDestination / CreateDelivery) names the knowledge base, the job's end pushed by a
  timer on the scaled clock (timers.py).

The adapter ``kbsync_localcloud.adapters.bedrock_ingestion`` installs it into moto.
"""

from __future__ import annotations

from kbsync_localcloud.bedrock.documents import (
    MAX_DOCUMENT_BYTES,
    MAX_METADATA_BYTES,
    METADATA_SUFFIX,
    STATISTIC_NAMES,
    SUPPORTED_EXTENSIONS,
)
from kbsync_localcloud.bedrock.faults import Faults
from kbsync_localcloud.bedrock.jobs import (
    BASE_SECONDS,
    PER_FILE_SECONDS,
    STARTING_SECONDS,
    STOPPING_SECONDS,
    planned_duration,
)
from kbsync_localcloud.bedrock.responses import CONTROL_PATH
from kbsync_localcloud.bedrock.seed import (
    SeededSource,
    seed_data_source,
    seed_knowledge_base,
    seed_sync_target,
    wait_for_ingestion_job,
)
from kbsync_localcloud.bedrock.state import IngestionState, state_for

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


def faults(account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> Faults:
    """The fault-injection control of one account/region (in-process: decorator mode or the server's process)."""
    return state_for(account_id, region).faults


def reset(account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> None:
    """Clear the injected faults and restore the AWS rate limit (moto's own reset clears everything)."""
    faults(account_id, region).reset()


__all__ = [
    "BASE_SECONDS",
    "CONTROL_PATH",
    "MAX_DOCUMENT_BYTES",
    "MAX_METADATA_BYTES",
    "METADATA_SUFFIX",
    "PER_FILE_SECONDS",
    "STARTING_SECONDS",
    "STATISTIC_NAMES",
    "STOPPING_SECONDS",
    "SUPPORTED_EXTENSIONS",
    "Faults",
    "IngestionState",
    "SeededSource",
    "faults",
    "planned_duration",
    "reset",
    "seed_data_source",
    "seed_knowledge_base",
    "seed_sync_target",
    "state_for",
    "wait_for_ingestion_job",
]
