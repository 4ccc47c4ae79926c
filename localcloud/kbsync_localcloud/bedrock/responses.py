"""The HTTP face of the emulator: methods added to moto's bedrock-agent response class, and the
fault-injection control route.

moto resolves a rest-json request to an operation name with botocore's own router and then calls the
response-class method of that name (``StartIngestionJob`` -> ``start_ingestion_job``). Adding the methods
to ``AgentsforBedrockResponse`` is therefore all the routing the API operations need, in both modes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from moto.core import DEFAULT_ACCOUNT_ID

from kbsync_localcloud.bedrock.errors import BedrockAgentError, ValidationException
from kbsync_localcloud.bedrock.shapes import success_status
from kbsync_localcloud.bedrock.state import SERVED_OPERATIONS, ingestion_state, state_for

CONTROL_PATH = "/kbsync-local/bedrock/faults"
DEFAULT_REGION = "us-east-1"

_JSON = "application/json"


def _request_params(response: Any) -> dict[str, Any]:
    """JSON body members plus the URI members botocore's router matched (knowledgeBaseId, ...)."""
    body = response.body
    params: dict[str, Any] = {}
    if body:
        try:
            decoded = json.loads(body)
        except ValueError as error:
            raise ValidationException("The request body is not valid JSON.") from error
        if not isinstance(decoded, dict):
            raise ValidationException("The request body must be a JSON object.")
        params.update(decoded)
    for name, value in (response.uri_match or {}).items():
        params[name] = unquote(value) if isinstance(value, str) else value
    return params


def _operation_method(operation: str) -> Any:
    def handle(self: Any) -> tuple[str, dict[str, Any]]:
        state = ingestion_state(self.bedrockagent_backend)
        result = state.call(operation, _request_params(self))
        return json.dumps(result), {"status": success_status(operation), "Content-Type": _JSON}

    handle.__name__ = _snake(operation)
    handle.__doc__ = f"bedrock-agent {operation}, served by kbsync's ingestion emulator."
    return handle


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def operation_methods() -> dict[str, Any]:
    """{method name: function} to set on moto's AgentsforBedrockResponse."""
    return {_snake(operation): _operation_method(operation) for operation in SERVED_OPERATIONS}


# -- fault-injection control route --------------------------------------------------------------------

#: JSON actions of POST /kbsync-local/bedrock/faults -> Faults method (arguments: the other body members).
CONTROL_ACTIONS = {
    "throttle_next_starts": "throttle_next_starts",
    "fail_next_calls": "fail_next_calls",
    "deny_knowledge_base": "deny_knowledge_base",
    "hang_next_jobs": "hang_next_jobs",
    "force_job_duration": "force_job_duration",
    "fail_next_jobs": "fail_next_jobs",
    "report_conflicts_as_validation": "report_conflicts_as_validation",
    "set_start_rate_limit": "set_start_rate_limit",
    "drop_terminal_log_events": "drop_terminal_log_events",
    "duplicate_terminal_log_events": "duplicate_terminal_log_events",
    "reorder_log_events": "reorder_log_events",
    "delay_log_events": "delay_log_events",
    "log_document_burst": "log_document_burst",
    "reset": "reset",
}


def control_route(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """``GET`` describes the switches, ``DELETE`` resets them, ``POST {"action": ..., ...}`` sets one.

    The account and region are the body's/query's ``accountId``/``region`` (defaults: moto's default
    account, us-east-1) or moto's ``x-moto-account-id`` header.
    """
    try:
        body = _control_body(request)
        query = parse_qs(urlparse(full_url).query)
        account = str(body.pop("accountId", None) or _first(query, "accountId") or _header_account(headers))
        region = str(body.pop("region", None) or _first(query, "region") or DEFAULT_REGION)
        faults = state_for(account, region).faults
        if request.method == "DELETE":
            faults.reset()
        elif request.method == "POST":
            _apply(faults, body)
        return 200, {"Content-Type": _JSON}, json.dumps({"accountId": account, "region": region, **faults.describe()})
    except (ValueError, TypeError, BedrockAgentError) as error:
        return 400, {"Content-Type": _JSON}, json.dumps({"message": str(error)})


def _apply(faults: Any, body: dict[str, Any]) -> None:
    action = body.pop("action", None)
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(CONTROL_ACTIONS)}")
    getattr(faults, CONTROL_ACTIONS[action])(**body)


def _control_body(request: Any) -> dict[str, Any]:
    """The JSON body, whatever Content-Type the client sent (``curl -d`` says form-urlencoded)."""
    raw = request.get_data(cache=True, parse_form_data=False)
    if not raw and len(request.form) == 1 and not next(iter(request.form.values())):
        raw = next(iter(request.form))  # already parsed as a form: the JSON text became the only key
    if not raw:
        return {}
    decoded = json.loads(raw)
    if not isinstance(decoded, dict):
        raise ValueError("the control body must be a JSON object")
    return decoded


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _header_account(headers: Any) -> str:
    for name in ("x-moto-account-id", "X-Moto-Account-Id"):
        if headers and headers.get(name):
            return str(headers.get(name))
    return DEFAULT_ACCOUNT_ID
