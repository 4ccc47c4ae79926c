"""Validate a sync request before anything starts.

Why a Lambda: the sync request is a JSON Schema contract (schemas/sync-request.schema.json) and the only faithful
check is the schema itself, shared with the CLI through the Contracts layer. The function never raises for a bad
request: it returns ``valid: false`` with a message naming every bad field, and the state machine ends in
``KbSync.InvalidRequest`` with that message as the Cause — so no job starts, no record is written, no alert is sent.
"""

from __future__ import annotations

from typing import Any

import kbsync_contracts
import kbsync_handlers
import kbsync_names
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

logger, tracer, metrics = kbsync_handlers.powertools()

#: Optional request fields that the job record always carries (empty when absent), so the state machine's
#: DynamoDB PutItem can name them unconditionally.
OPTIONAL_TEXT_FIELDS = ("reason", "requestedBy")


def normalized(
    request: dict[str, Any], execution_arn: str | None = None, started_at: str | None = None
) -> dict[str, Any]:
    """The valid request with every optional text field present (empty string when the caller gave none) and, when
    the execution is known, its `gate` facts: a request the sync gate did not send is its own round 1, entered when
    its execution started (the job record names them unconditionally; the CLI follows a sync through them)."""
    result = dict(request)
    for field in OPTIONAL_TEXT_FIELDS:
        result.setdefault(field, "")
    if "gate" not in result and execution_arn and started_at:
        result["gate"] = {"executionArn": execution_arn, "round": 1, "enteredAt": started_at}
    return result


def refusal(found: list[str]) -> dict[str, Any]:
    """The verdict for problems found: the message is the Fail state's Cause, every bad field as a JSON pointer with
    the rule it breaks, e.g. "/reason: text: contains a lone surrogate U+D800 at index 4"."""
    return {
        "valid": False,
        "problems": found[: kbsync_contracts.MAX_LISTED],
        "message": "invalid sync request: " + kbsync_contracts.listing(found),
    }


def check_request(request: Any, execution_arn: str | None = None, started_at: str | None = None) -> dict[str, Any]:
    """The validation verdict for the state machine: valid + normalized request, or the problems, field by field
    (pointers into the execution's input, the sync request)."""
    found = kbsync_contracts.problems("sync-request", request)
    return refusal(found) if found else {"valid": True, "request": normalized(request, execution_arn, started_at)}


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The envelope the state ValidateRequest sends (schemas/validate-request-input.schema.json); the request inside
    # is what this function checks, naming every bad field. A broken envelope is a refusal too, never an exception.
    envelope = kbsync_contracts.problems("validate-request-input", event)
    verdict = (
        refusal(envelope)
        if envelope
        else check_request(event["request"], event.get("executionArn"), event.get("executionStartedAt"))
    )
    metrics.add_metric(name="SyncRequests", unit=MetricUnit.Count, value=1)
    if not verdict["valid"]:
        logger.warning("sync request rejected", extra={"problems": verdict["problems"]})
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
    return verdict
