"""EventBridge rule targets of type state machine (and Lambda, SQS), delivered as EventBridge does.

moto 5.2.5's ``Rule.send_to_targets`` raises NotImplementedError for ``arn:aws:states:...`` and
``arn:aws:lambda:...`` targets, delivers to DISABLED rules, lets a schedule-only rule (no pattern) match every
event, and has its own take on InputTransformer (its default template drops ``account``, even for SQS). This
adapter wraps it: state machine, Lambda and SQS targets are handled here, every other target type (log groups,
archives, other buses, API destinations) is left to moto (called with just that target).

For each matching ENABLED rule and each of our targets:

- the target input is built like EventBridge does: ``Input`` (verbatim JSON), ``InputPath`` (JSONPath into the
  event) or ``InputTransformer`` (``InputPathsMap`` + ``InputTemplate`` with ``<var>`` placeholders, quoted or
  bare, plus the predefined ``aws.events.*`` variables), else the whole event (``time`` as ISO-8601);
- a state machine target gets ``StartExecution`` with a unique ``name`` (moto leaves ``$$.Execution.Name``
  null otherwise); a Lambda target an asynchronous invoke; an SQS target the payload as message body
  (``SqsParameters.MessageGroupId`` for FIFO queues);
- when the invocation fails (bad input, missing target), and the target has ``DeadLetterConfig``, the event
  goes to that SQS queue with EventBridge's DLQ message attributes (RULE_ARN, TARGET_ARN, ERROR_CODE,
  ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS). ``RetryPolicy`` is accepted; the local failures
  are all of the kinds EventBridge does not retry.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from moto.events import models as events_models

from kbsync_localcloud.adapters import MotoInternalsChanged

LOG = logging.getLogger(__name__)

Rule = events_models.Rule
_INSTALLED_MARK = "_kbsync_eventbridge_targets"
_HANDLED_SERVICES = ("states", "lambda", "sqs")
_MOTO_ONLY_KEYS = ("ingestion-time",)


class TargetInvocationError(RuntimeError):
    """A target could not be invoked; ``code`` is EventBridge's DLQ ERROR_CODE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- the event as EventBridge delivers it ------------------------------------------------------------------


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        moment = datetime.fromtimestamp(float(value), tz=UTC)
    else:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def delivered_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as a target receives it: moto's bookkeeping keys dropped, ``time`` as ISO-8601 UTC."""
    delivered = {key: copy.deepcopy(value) for key, value in event.items() if key not in _MOTO_ONLY_KEYS}
    if "time" in delivered:
        delivered["time"] = _iso(delivered["time"])
    return delivered


# --- Input / InputPath / InputTransformer -------------------------------------------------------------------


def _json_path(path: str, document: Any) -> tuple[bool, Any]:
    """(found, value) for an EventBridge JSONPath; wildcard paths give the list of matches."""
    from jsonpath_ng.ext import parse

    matches = parse(path).find(document)
    if not matches:
        return False, None
    if "*" in path:
        return True, [match.value for match in matches]
    return True, matches[0].value


def _predefined_variables(rule: Any, event: Mapping[str, Any], ingestion_time: Any) -> dict[str, Any]:
    without_detail = {key: value for key, value in event.items() if key != "detail"}
    return {
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": _iso(ingestion_time),
        "aws.events.event": without_detail,
        "aws.events.event.json": dict(event),
    }


def render_input_template(template: str, values: Mapping[str, tuple[bool, Any]]) -> str:
    """Fill ``<name>`` placeholders the way EventBridge does.

    In a JSON template, a placeholder inside a JSON string is replaced by the value's text (escaped for the
    string); a bare placeholder by the value as JSON (strings quoted), or ``null`` when its path matched
    nothing. In a plain-text template values are inserted as text. Unknown ``<...>`` text is left alone.
    """
    is_json = template.lstrip().startswith(("{", "["))
    out: list[str] = []
    in_string = escaped = False
    index = 0
    while index < len(template):
        char = template[index]
        if char == "<":
            end = template.find(">", index + 1)
            name = template[index + 1 : end] if end > index else ""
            if name in values:
                out.append(_placeholder_text(values[name], quoted=in_string, json_template=is_json))
                index = end + 1
                continue
        if is_json:
            in_string, escaped = _track_string(char, in_string, escaped)
        out.append(char)
        index += 1
    return "".join(out)


def _track_string(char: str, in_string: bool, escaped: bool) -> tuple[bool, bool]:
    if escaped:
        return in_string, False
    if char == "\\" and in_string:
        return in_string, True
    if char == '"':
        return not in_string, False
    return in_string, False


def _placeholder_text(found_value: tuple[bool, Any], quoted: bool, json_template: bool) -> str:
    found, value = found_value
    if not json_template:
        return "" if not found else value if isinstance(value, str) else json.dumps(value)
    if quoted:
        text = "" if not found else value if isinstance(value, str) else json.dumps(value)
        return json.dumps(text)[1:-1]
    return json.dumps(value) if found else "null"


def target_input(rule: Any, target: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """The payload text EventBridge sends to ``target`` for ``event`` (already in delivered form)."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        found, value = _json_path(target["InputPath"], event)
        return json.dumps(value if found else None)
    transformer = target.get("InputTransformer")
    if transformer:
        values: dict[str, tuple[bool, Any]] = {
            name: (True, value) for name, value in _predefined_variables(rule, event, event.get("time")).items()
        }
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            values[name] = _json_path(path, event)
        return render_input_template(str(transformer["InputTemplate"]), values)
    return json.dumps(event)


# --- invoking targets ---------------------------------------------------------------------------------------


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(service, region, account) of an ARN."""
    parts = arn.split(":")
    return parts[2], parts[3], parts[4]


def execution_name(rule: Any, target: Mapping[str, Any]) -> str:
    """A unique execution name (Step Functions names are 1-80 chars); EventBridge uses a UUID too."""
    return str(uuid.uuid4())


def _start_execution(arn: str, payload: str, name: str) -> str:
    from moto.stepfunctions.responses import get_backend

    try:
        json.loads(payload)
    except ValueError as error:
        raise TargetInvocationError("SDK_CLIENT_ERROR", f"Invalid State Machine Execution Input: {error}") from error
    _, region, account = _arn_parts(arn)
    try:
        execution = get_backend(account, region).start_execution(arn, name, payload)
    except Exception as error:  # moto raises its own JsonRESTError subclasses
        code = "RESOURCE_NOT_FOUND" if "Does Not Exist" in str(error) else "SDK_CLIENT_ERROR"
        raise TargetInvocationError(code, str(error)) from error
    return str(execution.execution_arn)


def _invoke_lambda(arn: str, payload: str) -> None:
    # moto's own chooser: LocalCloud runs Lambda with use_docker=False, i.e. in lambda_simple_backends.
    from moto.awslambda.utils import get_backend as lambda_backend

    _, region, account = _arn_parts(arn)
    try:
        lambda_backend(account, region).invoke(arn, None, payload.encode(), {"x-amz-invocation-type": "Event"}, {})
    except Exception as error:
        code = "RESOURCE_NOT_FOUND" if "not found" in str(error).lower() else "SDK_CLIENT_ERROR"
        raise TargetInvocationError(code, str(error)) from error


def _send_to_queue(arn: str, payload: str, target: Mapping[str, Any]) -> None:
    from moto.sqs.models import sqs_backends

    _, region, account = _arn_parts(arn)
    group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
    try:
        sqs_backends[account][region].send_message(arn.split(":")[-1], payload, group_id=group_id)
    except Exception as error:
        code = "RESOURCE_NOT_FOUND" if "does not exist" in str(error).lower() else "SDK_CLIENT_ERROR"
        raise TargetInvocationError(code, str(error)) from error


def _send_to_dlq(rule: Any, target: Mapping[str, Any], event: Mapping[str, Any], error: TargetInvocationError) -> None:
    from moto.sqs.models import sqs_backends

    queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not queue_arn:
        LOG.warning("event %s dropped for target %s: %s", event.get("id"), target.get("Arn"), error)
        return
    _, region, account = _arn_parts(queue_arn)

    def attribute(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": value}

    attributes = {
        "RULE_ARN": attribute(rule.arn),
        "TARGET_ARN": attribute(str(target["Arn"])),
        "ERROR_CODE": attribute(error.code),
        "ERROR_MESSAGE": attribute(str(error)[:256]),
        "EXHAUSTED_RETRY_CONDITION": attribute("MaximumRetryAttempts"),
        "RETRY_ATTEMPTS": attribute("0"),
    }
    sqs_backends[account][region].send_message(
        queue_arn.split(":")[-1], json.dumps(event), message_attributes=attributes
    )


def deliver(rule: Any, target: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """Deliver ``event`` to one state machine or Lambda target; the execution ARN for a state machine.

    Failures go to the target's dead-letter queue (or are logged and dropped, as EventBridge drops them).
    """
    arn = str(target["Arn"])
    service = _arn_parts(arn)[0]
    try:
        payload = target_input(rule, target, event)
        if service == "states":
            return _start_execution(arn, payload, execution_name(rule, target))
        if service == "sqs":
            _send_to_queue(arn, payload, target)
        else:
            _invoke_lambda(arn, payload)
        return None
    except TargetInvocationError as error:
        _send_to_dlq(rule, target, event, error)
        return None


# --- the patch ----------------------------------------------------------------------------------------------

_original_send_to_targets = Rule.send_to_targets


def _rule_matches(rule: Any, event: Mapping[str, Any]) -> bool:
    if getattr(rule, "state", "ENABLED") != "ENABLED":
        return False
    if rule.scheduled_expression and not rule.event_pattern.dump():
        return False  # a schedule rule never matches events
    return bool(rule.event_pattern.matches_event(event))


def _send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    if not _rule_matches(self, original_event):
        return
    ours = [t for t in self.targets if _arn_parts(str(t["Arn"]))[0] in _HANDLED_SERVICES]
    theirs = [t for t in self.targets if t not in ours]
    if theirs:
        view = copy.copy(self)
        view.targets = theirs
        _original_send_to_targets(view, original_event, transform_input)
    if ours:
        event = delivered_event(original_event)
        for target in ours:
            deliver(self, target, event)


def install() -> None:
    """Idempotently wrap ``Rule.send_to_targets`` (process-wide: decorator and server mode)."""
    if getattr(Rule, _INSTALLED_MARK, False):
        return
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
    setattr(Rule, _INSTALLED_MARK, True)


def verify_moto_internals() -> None:
    """The moto 5.2.5 pieces this adapter relies on."""
    code = _original_send_to_targets.__code__
    if code.co_varnames[: code.co_argcount] != ("self", "original_event", "transform_input"):
        raise MotoInternalsChanged("moto events Rule.send_to_targets(self, original_event, transform_input) changed")
    init_args = Rule.__init__.__code__.co_varnames
    for attribute in ("targets", "state", "schedule_exp", "event_pattern"):
        if attribute not in init_args:
            raise MotoInternalsChanged(f"moto events Rule.__init__ no longer takes {attribute!r}")
    pattern = events_models.EventPattern.load(None)
    if not callable(getattr(pattern, "matches_event", None)) or not callable(getattr(pattern, "dump", None)):
        raise MotoInternalsChanged("moto events EventPattern.matches_event/dump changed")
    try:
        from jsonpath_ng.ext import parse  # noqa: F401
    except ImportError as error:
        raise MotoInternalsChanged("jsonpath_ng (a moto dependency) is no longer installed") from error
