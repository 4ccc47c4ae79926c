"""Waking an execution that waits for its ingestion job to end, and keeping its wait alive: written once for the two
functions that do it (functions/job_events on the logs' terminal event, functions/job_watch on its sweep).

The ingestion-sync state WaitForJobEnd is a ``lambda:invoke.waitForTaskToken`` task: it stays open until someone
calls SendTaskSuccess with its token (the output, at most 262,144 bytes, becomes the task's result), or until its
HeartbeatSeconds pass without a SendTaskHeartbeat, or its TimeoutSeconds
(https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token). A token whose task
has closed is refused with ``TaskTimedOut`` ("the task token has either expired or the task associated with the token
has already been closed"), ``InvalidToken`` or ``TaskDoesNotExist``
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html, and the same three for
https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskHeartbeat.html). For kbsync that means the
wait already ended (woken by the other path, a duplicated log event, or the heartbeat timeout that sent the execution
back to polling): ``wake`` and ``heartbeat`` answer False, never raise. Any other error (throttling, access denied) is
raised: the caller counts it and goes on.

Each wake that reached a waiting task is counted (metric ``Wakes``, dimension ``Source``: logs or sweep), and
``mark_woken`` records it on the job record (wokenAt, wokenBy) so that neither path wakes that wait again.

Imports the standard library and the Contracts layer's modules only (the client is the caller's boto3 client).
"""

from __future__ import annotations

import json
from typing import Any

import kbsync_contracts
import kbsync_metrics
import kbsync_values

#: The wake's contract: the WaitForJobEnd task's output (the state's $.wake).
CONTRACT = "job-wake"
#: Step Functions' answers to a token whose task is no longer open.
SPENT_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
#: The two wake sources (schemas/job-wake.schema.json): the knowledge base's logs, the job watch's sweep.
LOGS, SWEEP = "logs", "sweep"
#: Wakes that reached a waiting execution, by what woke it.
WAKES = kbsync_metrics.WAKES


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for any other exception)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def error_message(error: BaseException) -> str:
    """The AWS error message of a botocore ClientError (the exception's text otherwise), one short line."""
    response = getattr(error, "response", None)
    message = response.get("Error", {}).get("Message", "") if isinstance(response, dict) else ""
    return kbsync_contracts.normalize_text(str(message or error), 300)


def wake_message(source: str, ingestion_job_id: str, status: str, now: float) -> dict[str, Any]:
    """The wake (job-wake): who woke the execution, for which job and terminal status, and when."""
    return {
        "source": source,
        "ingestionJobId": ingestion_job_id,
        "status": status,
        "wokenAt": kbsync_values.utc_seconds(now),
    }


def wake(stepfunctions: Any, token: str, message: dict[str, Any]) -> bool:
    """SendTaskSuccess(token, message as JSON): True when the waiting task took it, False when the token is spent.

    The message is checked against job-wake first (ContractError names the field): the state machine reads it."""
    kbsync_contracts.validate(CONTRACT, message)
    try:
        stepfunctions.send_task_success(taskToken=token, output=json.dumps(message, separators=(",", ":")))
    except Exception as error:
        if error_code(error) in SPENT_TOKEN_ERRORS:
            return False
        raise
    kbsync_metrics.emit(WAKES, 1, Source=str(message["source"]))
    return True


def heartbeat(stepfunctions: Any, token: str) -> bool:
    """SendTaskHeartbeat(token): True when the task is still waiting (its heartbeat clock reset), False when the token
    is spent."""
    try:
        stepfunctions.send_task_heartbeat(taskToken=token)
    except Exception as error:
        if error_code(error) in SPENT_TOKEN_ERRORS:
            return False
        raise
    return True


def mark_woken(jobs: Any, key: dict[str, Any], token: str, source: str, now: float) -> bool:
    """Record on the job record (a DynamoDB Table resource) that its current wait was woken: SET wokenAt, wokenBy,
    only while the record still holds `token` and no wake (a newer wait has a new token; the other path may have
    marked it first). True if this call marked it; False when the condition did not hold (nothing to do)."""
    try:
        jobs.update_item(
            Key=key,
            UpdateExpression="SET wokenAt = :at, wokenBy = :by",
            ConditionExpression="waitToken = :token AND attribute_not_exists(wokenAt)",
            ExpressionAttributeValues={":at": kbsync_values.utc_seconds(now), ":by": source, ":token": token},
        )
    except Exception as error:
        if kbsync_values.is_condition_failure(error):
            return False
        raise
    return True
