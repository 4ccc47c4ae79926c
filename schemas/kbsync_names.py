"""Execution names: the one builder of the names kbsync gives its Step Functions executions.

``<trigger>-<kb>-<ds>-<UTC yyyymmddTHHMMSS>-<4 random [a-z0-9]>`` (docs/resource-names.md): unique, sortable by time,
51 characters (StartExecution allows 80 of letters, digits, ``-`` and ``_``:
https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html). The name is chosen before
the start, so the gate can name its holder and its ARN (``execution_arn``) before StartExecution answers.

The rerun commands in alerts cannot know the time they will be run at: ``shell_execution_name`` gives the same
format with the time left to the shell (``$(date -u +...)``).

Nothing reads facts back out of a name (the data source, the trigger): they are in the execution's input, the job
records and the sync gate's item. The name carries them for people reading a console list.

Standard library only: it ships in the Contracts layer (``schemas/``) and is imported by the functions and the CLI.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

#: The name's time stamp (UTC), as strftime and date(1) both spell it.
STAMP_FORMAT = "%Y%m%dT%H%M%S"
SUFFIX_CHARS = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 4


def execution_name(trigger: str, knowledge_base_id: str, data_source_id: str, at: datetime | None = None) -> str:
    """A fresh name: `<trigger>-<kb>-<ds>-<UTC yyyymmddTHHMMSS>-<4 random [a-z0-9]>` (`at` defaults to now)."""
    stamp = (at or datetime.now(UTC)).strftime(STAMP_FORMAT)
    return f"{trigger}-{knowledge_base_id}-{data_source_id}-{stamp}-{random_suffix()}"


def random_suffix() -> str:
    """The name's last field: SUFFIX_LENGTH random [a-z0-9] (two names of the same second differ)."""
    return "".join(secrets.choice(SUFFIX_CHARS) for _ in range(SUFFIX_LENGTH))


def shell_execution_name(trigger: str, knowledge_base_id: str, data_source_id: str, suffix: str) -> str:
    """The same format for a shell command: the time is `$(date -u +...)`, taken when the command runs."""
    return f"{trigger}-{knowledge_base_id}-{data_source_id}-$(date -u +{STAMP_FORMAT})-{suffix}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN StartExecution will give `name` (known before starting, so the gate can name its holder)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def name_of(execution_arn: str) -> str:
    """The execution name at the end of an execution ARN (an execution ARN's last field)."""
    return execution_arn.rsplit(":", 1)[-1]


# --------------------------------------------------------------------------- log correlation

#: Where every function's Powertools Logger finds the invocation's correlation id (``correlation_id`` on every log
#: line), a JMESPath expression given to ``logger.inject_lambda_context(correlation_id_path=...)``
#: (https://docs.aws.amazon.com/powertools/python/latest/core/logger/#setting-a-correlation-id). The first that
#: is present wins:
#:
#: - ``executionArn``: the Step Functions execution ARN every state that invokes a function sends
#:   (``"executionArn.$": "$$.Execution.Id"`` in the Lambda Payload; validate_request, get_job_status, send_alert and
#:   the sync_gate, pacer and nightly_plan steps);
#: - ``detail.executionArn``: the execution a Step Functions status change event is about (the catch-all);
#: - ``id``: an EventBridge event's id, the upload router's (no execution exists yet; the executions it starts are
#:   named in its "upload routed" line), as Powertools' own ``correlation_paths.EVENT_BRIDGE``;
#: - ``scheduledTime``: the reconciler's EventBridge Scheduler invocation time.
LOG_CORRELATION_ID_PATH = "executionArn || detail.executionArn || id || scheduledTime"
