"""AWS's hard limits, enforced by the local cloud with AWS's own errors, where AWS raises them.

moto 5.2.5 enforces some of AWS's limits (SQS queue names, DynamoDB item size, state machine names, a part of the
Step Functions payload quota) and misses or mis-sizes the others. This adapter adds the missing ones; every limit
is a named constant below, with the AWS page that states it. The table in docs/local-cloud-limits.md lists each
limit, its error, where it is enforced and the test that proves it (tests/localcloud/test_aws_limits.py).

What is patched (moto internals, fingerprinted in ``EXPECTED_SOURCES``):

- Step Functions payloads (256 KiB = 262,144 bytes of UTF-8): moto's ``is_within_size_quota`` refused a payload of
  exactly 262,144 bytes (``<``); the replacement accepts it (AWS: "maximum length of 262144"). The effective input
  after ``Parameters``/``ItemSelector`` (a Task's request, a Map item) is checked too, as AWS documents.
  ``States.ALL`` (in a Catch or a Retry) no longer matches ``States.DataLimitExceeded``: only a catcher naming it does.
- StartExecution: the input is at most 262,144 bytes (``ValidationException``), the name at most 80 characters
  (``ValidationException``) without whitespace, brackets, wildcards, special or control characters (``InvalidName``).
- Execution history: a Standard execution whose event number 25,000 is not ``ExecutionSucceeded`` fails: event
  25,000 is ``ExecutionFailed`` with ``States.Runtime`` / "The execution reached the maximum number of history
  events (25000)." and the execution stops.
- Names at create (API and CloudFormation): state machine 80, EventBridge rule 64, Scheduler schedule 64, Lambda
  function 64, SQS queue 80, IAM role 64. Through CloudFormation the resource ends ``CREATE_FAILED`` and the stack
  ``ROLLBACK_COMPLETE``, as on AWS (moto would raise out of CreateStack). Names CloudFormation generates are
  truncated to fit, as CloudFormation does (moto would generate ``{stack}-{logicalId}-{suffix}`` of any length).
- Lambda Invoke (synchronous): a request over 6,291,456 bytes is ``RequestEntityTooLargeException`` (413); a
  response over 6,291,556 bytes becomes the function error ``Function.ResponseSizeTooLarge`` (moto's own check
  measured ``sys.getsizeof`` against 6,000,000 and refused responses AWS accepts).
- DynamoDB: an item over 400 KB (409,600 bytes) is ``ValidationException`` "Item size has exceeded the maximum
  allowed size" (moto refused from 405,000 bytes).
- SNS Publish: message plus message attributes (name, type, value) over 262,144 bytes of UTF-8 is
  ``InvalidParameter`` (moto counted characters of the body only).
- EventBridge PutEvents (the public API): an entry whose ``Source`` begins with ``aws.`` fails with
  ``NotAuthorizedForSourceException``. AWS services' own events (the local cloud's S3 and Step Functions events)
  go through the events backend directly: ``inject_service_event`` is that path, for tests that need such an event.

Not enforced here: asynchronous Invoke payloads, Lambda package sizes and reserved concurrency (deploy-time checks
elsewhere), CloudFormation *updates* of names.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

LOG = logging.getLogger(__name__)

# --------------------------------------------------------------------------- the limits (AWS's values)

#: Step Functions: max input or output of a task, state or execution; StartExecution ``input`` max length.
#: https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (256 KiB, UTF-8) and
#: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html ("Maximum length of 262144")
SFN_PAYLOAD_MAX_BYTES = 262_144
#: Execution history of a Standard execution; event 25,000 must be ExecutionSucceeded or the execution fails.
#: https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html
SFN_HISTORY_MAX_EVENTS = 25_000
#: Error and cause AWS records for it (not in the docs; as AWS reports it, e.g. github.com/loads/ardere/issues/86).
SFN_HISTORY_ERROR = "States.Runtime"
SFN_HISTORY_CAUSE = "The execution reached the maximum number of history events ({limit})."
#: Catchers: "States.ALL ... can't catch the States.DataLimitExceeded terminal error".
#: https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
SFN_DATA_LIMIT_ERROR = "States.DataLimitExceeded"
#: https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html (name 1-80)
SFN_STATE_MACHINE_NAME_MAX = 80
#: https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html (name 1-80, no
#: whitespace, brackets, wildcards, special characters " # % \\ ^ | ~ ` $ & , ; : / or control characters)
SFN_EXECUTION_NAME_MAX = 80
#: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html (Name 1-64)
EVENTBRIDGE_RULE_NAME_MAX = 64
#: https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html (Name 1-64)
SCHEDULER_SCHEDULE_NAME_MAX = 64
#: https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html (a function name alone: 1-64)
LAMBDA_FUNCTION_NAME_MAX = 64
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html (1-80, incl. .fifo)
SQS_QUEUE_NAME_MAX = 80
#: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html (RoleName 1-64)
IAM_ROLE_NAME_MAX = 64
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 6 MB request and response
#: (synchronous). AWS answers "Request must be smaller than 6291456 bytes for the InvokeFunction operation" and
#: "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
LAMBDA_SYNC_REQUEST_MAX_BYTES = 6_291_456
LAMBDA_SYNC_RESPONSE_MAX_BYTES = 6_291_556
#: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: "at most 256 KB in size (262,144 bytes, not
#: 262,144 characters)"; message attributes count toward it:
#: https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html
SNS_MESSAGE_MAX_BYTES = 262_144
#: DynamoDB item: 400 KB including attribute names (UTF-8) and values. moto refuses above 405,000 bytes ("between
#: 409 and 410KB" by its own comment); the replacement uses AWS's 409,600.
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
DYNAMODB_ITEM_MAX_BYTES = 400 * 1024
#: PutEvents ErrorCode NotAuthorizedForSourceException: "You do not have permissions to publish events with this
#: source onto this event bus." https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
EVENTBRIDGE_RESERVED_SOURCE_PREFIX = "aws."
EVENTBRIDGE_SOURCE_ERROR = "NotAuthorizedForSourceException"
EVENTBRIDGE_SOURCE_MESSAGE = "Not authorized for the source."

#: CloudFormation resource type -> the name limit its generated physical name must fit.
GENERATED_NAME_LIMITS: dict[str, int] = {
    "AWS::StepFunctions::StateMachine": SFN_STATE_MACHINE_NAME_MAX,
    "AWS::Events::Rule": EVENTBRIDGE_RULE_NAME_MAX,
    "AWS::Scheduler::Schedule": SCHEDULER_SCHEDULE_NAME_MAX,
    "AWS::Lambda::Function": LAMBDA_FUNCTION_NAME_MAX,
    "AWS::SQS::Queue": SQS_QUEUE_NAME_MAX,
    "AWS::IAM::Role": IAM_ROLE_NAME_MAX,
}

#: sha256[:16] of the moto 5.2.5 sources this adapter wraps or replaces (scaled_time.source_fingerprint).
EXPECTED_SOURCES: dict[str, str] = {
    "ErrorEqualsDecl._eval_body": "aeda14a0cc01747d",
    "Parargs._eval_body": "2e2f6740092cbc44",
    "ItemSelector._eval_body": "f80dce0cfac49a43",
    "EventManager.add_event": "cb430fa2e3fed3e8",
    "Program._eval_body": "0735481f6d027e47",
    "StepFunctionsParserBackend.start_execution": "0f8d9dd57baf0c28",
    "LambdaResponse.invoke": "8f68f0bf023a3eb4",
    "SNSBackend.publish": "6356a2b5b79eb3de",
    "EventsHandler.put_events": "df08b985300c967c",
    "ResourceMap.create": "0163ac783f5c8635",
    "LimitedSizeDict.__setitem__": "d979580fdbe14f79",
    "parsing.parse_and_create_resource": "ea3c10d68d2c03e6",
    "parsing.generate_resource_name": "071e34cb73820599",
    "StepFunctionsParserBackend.create_state_machine": "dc56ec54216f7b97",
    "EventsBackend.put_rule": "28bf0ac76b1b1a3e",
    "EventBridgeSchedulerBackend.create_schedule": "513099380dbd4563",
    "LambdaBackend.create_function": "dea879c1b1bc6a09",
    "SQSBackend.create_queue": "a7c0bbae0c426c46",
    "IAMBackend.create_role": "0c617708d3159744",
}

_INSTALL_LOCK = threading.Lock()
_HISTORY_LOCK = threading.Lock()
_installed = False


class AwsLimitError(Exception):
    """Marker mixed into the moto error raised for an AWS limit (CloudFormation turns it into CREATE_FAILED)."""


def _limit_error(base: type[Exception]) -> type[Exception]:
    return type(f"Limit{base.__name__}", (base, AwsLimitError), {})


def _too_long(value: str, member: str, limit: int) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {limit}"
    )


def utf8_size(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


# --------------------------------------------------------------------------- Step Functions payloads


def is_within_size_quota(value: Any) -> bool:
    """Replacement for moto's quotas.is_within_size_quota: up to and including 262,144 bytes is within, measured on
    the compact UTF-8 JSON text (moto measured ``json.dumps`` with spaces and ``\\uXXXX`` escapes, and refused
    exactly 262,144 bytes)."""
    from moto.stepfunctions.parser.asl.utils.encoding import _DateTimeEncoder

    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, cls=_DateTimeEncoder, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8")) <= SFN_PAYLOAD_MAX_BYTES


def _quota_modules() -> dict[str, Any]:
    from moto.stepfunctions.parser import quotas
    from moto.stepfunctions.parser.asl.component.state import state
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service

    return {
        "quotas": quotas,
        "state": state,
        "state_task_lambda": state_task_lambda,
        "state_task_service": state_task_service,
    }


def _data_limit_failure(env: Any, what: str) -> Exception:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    typ = StatesErrorNameType.StatesStatesDataLimitExceeded
    cause = f"The {what} has a size exceeding the maximum number of bytes service limit."
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=typ),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict: one key of many
                executionFailedEventDetails=ExecutionFailedEventDetails(error=typ.to_name(), cause=cause)
            ),
        )
    )


def _check_effective_input(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Parameters / ItemSelector: the payload they build is the state's effective input (or a Map item)."""

    def _eval_body(self: Any, env: Any) -> None:
        original(self, env)
        if env.stack and not is_within_size_quota(env.stack[-1]):
            raise _data_limit_failure(env, what)

    return mark_patch(_eval_body, original)


def _error_equals_eval_body(original: Callable[..., Any]) -> Callable[..., Any]:
    """States.ALL matches every error but States.DataLimitExceeded (AWS: a terminal error it cannot catch)."""

    def _eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if getattr(error_name, "error_name", None) == SFN_DATA_LIMIT_ERROR and not any(
            getattr(name, "error_name", None) == SFN_DATA_LIMIT_ERROR for name in self.error_names
        ):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    return mark_patch(_eval_body, original)


# --------------------------------------------------------------------------- execution history


def _add_event(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    def add_event(
        self: Any,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        with _HISTORY_LOCK:
            cut = getattr(self, "_kbsync_history_cut", None)
            if cut is not None:  # the execution already failed on the history limit: nothing more is recorded
                return int(cut)
            env = getattr(self, "_kbsync_root_env", None)
            next_id = self._event_id_gen._next_id
            if (
                next_id < SFN_HISTORY_MAX_EVENTS
                or event_type == HistoryEventType.ExecutionSucceeded
                or env is None
                or _execution_type(env) != "STANDARD"
            ):
                return int(original(self, context, event_type, event_details, timestamp, update_source_event_id))
            details = ExecutionFailedEventDetails(
                error=SFN_HISTORY_ERROR, cause=SFN_HISTORY_CAUSE.format(limit=SFN_HISTORY_MAX_EVENTS)
            )
            event_id = int(
                original(
                    self,
                    context,
                    HistoryEventType.ExecutionFailed,
                    EventDetails(executionFailedEventDetails=details),  # type: ignore[typeddict-item]
                    timestamp,
                    update_source_event_id,
                )
            )
            self._kbsync_history_cut = event_id
            self._kbsync_history_failure = details
        _fail_program(env, details)
        return event_id

    return mark_patch(add_event, original)


def _execution_type(env: Any) -> str:
    declared = getattr(env, "execution_type", "STANDARD")
    return str(getattr(declared, "value", declared))


def _fail_program(env: Any, details: Any) -> None:
    """Stop the interpreter: the program is in error, whatever the running state does next."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramError

    with env._state_mutex:
        env._program_state = ProgramError(error=details)
        env.program_state_event.set()


def _program_eval_body(original: Callable[..., Any]) -> Callable[..., Any]:
    """Links the execution's event manager to its root environment (to stop it at the history limit); after the
    cut, later errors of the interrupted state never replace the history failure."""

    def _eval_body(self: Any, env: Any) -> None:
        if not env.is_frame():
            env.event_manager._kbsync_root_env = env  # frames share the root's manager: the execution's history
        original(self, env)
        details = getattr(env.event_manager, "_kbsync_history_failure", None)
        if details is not None and not env.is_frame():
            _fail_program(env, details)

    return mark_patch(_eval_body, original)


# --------------------------------------------------------------------------- names and inputs at create / start


def _bound(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return dict(inspect.signature(original).bind_partial(*args, **kwargs).arguments)


def _name_guard(
    original: Callable[..., Any], extract: Callable[[dict[str, Any]], Any], check: Callable[[str], None]
) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        name = extract(_bound(original, args, kwargs))
        if isinstance(name, str):
            check(name)
        return original(*args, **kwargs)

    return mark_patch(guarded, original)


def _check_length(error: type[Exception], member: str, limit: int, **extra: Any) -> Callable[[str], None]:
    def check(name: str) -> None:
        if len(name) > limit:
            raise error(_too_long(name, member, limit), **extra)

    return check


def _sfn_errors() -> tuple[type[Exception], type[Exception]]:
    from moto.stepfunctions.exceptions import InvalidName, ValidationException

    return _limit_error(ValidationException), _limit_error(InvalidName)


def _check_state_machine_name(name: str) -> None:
    validation, _ = _sfn_errors()
    if len(name) > SFN_STATE_MACHINE_NAME_MAX:
        raise validation(_too_long(name, "name", SFN_STATE_MACHINE_NAME_MAX))


def _start_execution(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = _bound(original, (self, *args), kwargs)
        name, execution_input = bound.get("name"), bound.get("execution_input")
        validation, _ = _sfn_errors()
        if isinstance(name, str) and name:
            if len(name) > SFN_EXECUTION_NAME_MAX:
                raise validation(_too_long(name, "name", SFN_EXECUTION_NAME_MAX))
            self._validate_name(name)  # moto's AWS character rules: InvalidName
        if isinstance(execution_input, str) and utf8_size(execution_input) > SFN_PAYLOAD_MAX_BYTES:
            raise validation(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {SFN_PAYLOAD_MAX_BYTES}"
            )
        if not name:
            # AWS: "If you don't provide a name for the execution, Step Functions automatically generates a
            # universally unique identifier (UUID) as the execution name" (StartExecution, API reference); moto
            # 5.2.5's parser backend names it None, so a second unnamed start would be ExecutionAlreadyExists.
            bound["name"] = str(uuid.uuid4())
            return original(**bound)
        return original(self, *args, **kwargs)

    return mark_patch(start_execution, original)


def _check_sqs_name(name: str) -> None:
    from moto.sqs.exceptions import InvalidParameterValue

    if len(name) > SQS_QUEUE_NAME_MAX:  # moto's own message (its pattern check follows) as AWS's
        raise _limit_error(InvalidParameterValue)(
            f"Can only include alphanumeric characters, hyphens, or underscores. 1 to {SQS_QUEUE_NAME_MAX} in length"
        )


def _name_targets() -> dict[str, tuple[Any, str, Callable[[dict[str, Any]], Any], Callable[[str], None]]]:
    """name -> (owner class, attribute, name extractor, check) for every create-time name guard."""
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend
    from moto.events.exceptions import ValidationException as EventsValidation
    from moto.events.models import EventsBackend
    from moto.iam.exceptions import ValidationError as IamValidation
    from moto.iam.models import IAMBackend
    from moto.scheduler.exceptions import ValidationException as SchedulerValidation
    from moto.scheduler.models import EventBridgeSchedulerBackend
    from moto.sqs.models import SQSBackend
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return {
        "StepFunctionsParserBackend.create_state_machine": (
            StepFunctionsParserBackend,
            "create_state_machine",
            lambda b: b.get("name"),
            _check_state_machine_name,
        ),
        "EventsBackend.put_rule": (
            EventsBackend,
            "put_rule",
            lambda b: b.get("name"),
            _check_length(_limit_error(EventsValidation), "name", EVENTBRIDGE_RULE_NAME_MAX),
        ),
        "EventBridgeSchedulerBackend.create_schedule": (
            EventBridgeSchedulerBackend,
            "create_schedule",
            lambda b: b.get("name"),
            _check_length(_limit_error(SchedulerValidation), "name", SCHEDULER_SCHEDULE_NAME_MAX),
        ),
        "LambdaBackend.create_function": (
            LambdaBackend,
            "create_function",
            lambda b: (b.get("spec") or {}).get("FunctionName"),
            _check_length(_limit_error(InvalidParameterValueException), "functionName", LAMBDA_FUNCTION_NAME_MAX),
        ),
        "SQSBackend.create_queue": (SQSBackend, "create_queue", lambda b: b.get("name"), _check_sqs_name),
        "IAMBackend.create_role": (
            IAMBackend,
            "create_role",
            lambda b: b.get("role_name"),
            _check_length(_limit_error(IamValidation), "roleName", IAM_ROLE_NAME_MAX),
        ),
    }


# --------------------------------------------------------------------------- CloudFormation


class ResourceCreateFailed(Exception):
    """A resource of a stack could not be created because of an AWS limit."""

    def __init__(self, logical_id: str, resource_type: str, message: str) -> None:
        super().__init__(message)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.message = message


def _limit_cause(error: BaseException | None) -> BaseException | None:
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, AwsLimitError):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def _error_message(error: BaseException) -> str:
    message = getattr(error, "message", None)
    if not message:
        description = getattr(error, "description", None)
        try:
            message = json.loads(description)["message"] if description else None
        except (ValueError, KeyError, TypeError):
            message = None
    return str(message or error)


def _parse_and_create_resource(original: Callable[..., Any]) -> Callable[..., Any]:
    def parse_and_create_resource(logical_id: str, resource_json: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(logical_id, resource_json, *args, **kwargs)
        except Exception as error:
            limit = _limit_cause(error)
            if limit is None:
                raise
            raise ResourceCreateFailed(logical_id, str(resource_json.get("Type")), _error_message(limit)) from error

    return mark_patch(parse_and_create_resource, original)


def _resource_map_create(original: Callable[..., Any]) -> Callable[..., Any]:
    """ResourceMap.create (what Stack.create_resources calls): a limit failure rolls the stack back instead of
    escaping CreateStack. Returning False keeps Stack.create_resources from marking the stack CREATE_COMPLETE."""

    def create(self: Any, template: dict[str, Any]) -> bool:
        try:
            return bool(original(self, template))
        except ResourceCreateFailed as failure:
            from moto.cloudformation.models import cloudformation_backends

            stack = cloudformation_backends[self._account_id][self._region_name].stacks[self.stack_id]
            _roll_back(stack, failure)
            return False

    return mark_patch(create, original)


def _roll_back(stack: Any, failure: ResourceCreateFailed) -> None:
    """What CloudFormation does: the resource CREATE_FAILED, the stack rolled back (ROLLBACK_COMPLETE)."""
    from moto.cloudformation.models import Event

    reason = f'Resource handler returned message: "{failure.message}" (HandlerErrorCode: InvalidRequest)'
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=failure.logical_id,
            physical_resource_id="",
            resource_type=failure.resource_type,
            resource_status="CREATE_FAILED",
            resource_status_reason=reason,
            resource_properties=None,
        )
    )
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to create: [{failure.logical_id}]. "
        "Rollback requested by user.",
    )
    try:
        stack.resource_map.delete()
    except Exception:  # best effort, as a rollback that cannot delete something still completes here
        LOG.exception("rollback of stack %s could not delete every resource", stack.name)
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


def _generate_resource_name(original: Callable[..., Any]) -> Callable[..., Any]:
    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = str(original(resource_type, stack_name, logical_id))
        limit = GENERATED_NAME_LIMITS.get(resource_type)
        if limit is None or len(name) <= limit:
            return name
        suffix = name.rsplit("-", 1)[-1]
        prefix = f"{stack_name}-{logical_id}"[: max(1, limit - len(suffix) - 1)].rstrip("-")
        return f"{prefix}-{suffix}"

    return mark_patch(generate_resource_name, original)


# --------------------------------------------------------------------------- Lambda Invoke


def _lambda_errors() -> type[Exception]:
    from moto.core.exceptions import JsonRESTError

    class RequestEntityTooLargeException(JsonRESTError, AwsLimitError):
        code = 413

        def __init__(self, message: str) -> None:
            super().__init__("RequestEntityTooLargeException", message)

    return RequestEntityTooLargeException


def _lambda_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    """LambdaResponse.invoke with AWS's exact synchronous request and response limits (otherwise moto's logic)."""
    from urllib.parse import unquote

    from moto.utilities.aws_headers import amz_crc32

    too_large = _lambda_errors()

    @amz_crc32
    def invoke(self: Any) -> tuple[int, dict[str, str], str | bytes]:
        invocation_type = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        body = self.body or b""
        size = len(body.encode("utf-8") if isinstance(body, str) else body)
        if invocation_type == "RequestResponse" and size > LAMBDA_SYNC_REQUEST_MAX_BYTES:
            raise too_large(
                f"Request must be smaller than {LAMBDA_SYNC_REQUEST_MAX_BYTES} bytes for the InvokeFunction operation"
            )
        response_headers: dict[str, str] = {}
        function_name = unquote(self.path.rsplit("/", 2)[-2])
        qualifier = self._get_param("qualifier")
        payload = self.backend.invoke(function_name, qualifier, self.body, self.headers, response_headers)
        if payload is None:
            return 404, response_headers, "{}"
        if invocation_type == "RequestResponse":
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            if len(data) > LAMBDA_SYNC_RESPONSE_MAX_BYTES:
                payload = json.dumps(
                    {
                        "errorMessage": "Response payload size exceeded maximum allowed payload size "
                        f"({LAMBDA_SYNC_RESPONSE_MAX_BYTES} bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ).encode("utf-8")
                response_headers["x-amz-function-error"] = "Unhandled"
                response_headers["Content-Length"] = str(len(payload))
        response_headers["content-type"] = "application/json"
        if invocation_type == "Event":
            response_headers["status"] = "202"
            return 202, response_headers, payload
        if invocation_type == "DryRun":
            response_headers["status"] = "204"
            return 204, response_headers, payload
        if self.headers.get("X-Amz-Log-Type") != "Tail":
            response_headers.pop("x-amz-log-result", None)
        return 200, response_headers, payload

    return mark_patch(invoke, original)


# --------------------------------------------------------------------------- SNS Publish


def sns_message_size(message: str, message_attributes: Mapping[str, Any] | None) -> int:
    """Bytes SNS counts: the UTF-8 body plus each attribute's name, data type and value."""
    size = len(message.encode("utf-8"))
    for name, attribute in (message_attributes or {}).items():
        data_type = str(attribute.get("Type") or attribute.get("DataType") or "")
        value = attribute.get("Value", attribute.get("StringValue", attribute.get("BinaryValue", "")))
        if data_type.startswith("Binary") and isinstance(value, str):
            value_size = len(base64.b64decode(value))  # moto keeps binary values base64-encoded
        elif isinstance(value, bytes | bytearray):
            value_size = len(value)
        else:
            value_size = len(str(value).encode("utf-8"))
        size += len(name.encode("utf-8")) + len(data_type.encode("utf-8")) + value_size
    return size


def _sns_publish(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.sns.exceptions import InvalidParameterValue

    too_long = _limit_error(InvalidParameterValue)

    def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = _bound(original, (self, *args), kwargs)
        message = bound.get("message")
        if (
            not bound.get("phone_number")
            and isinstance(message, str)
            and sns_message_size(message, bound.get("message_attributes")) > SNS_MESSAGE_MAX_BYTES
        ):
            raise too_long("Invalid parameter: Message too long")
        return original(self, *args, **kwargs)

    return mark_patch(publish, original)


# --------------------------------------------------------------------------- DynamoDB item size


def _dynamodb_setitem(original: Callable[..., Any]) -> Callable[..., Any]:
    """LimitedSizeDict.__setitem__ (an item's attributes) with AWS's 400 KB instead of moto's 405,000 bytes."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    def size_of(value: Any) -> int:
        return int(value.size()) if type(value) is DynamoType else bytesize(str(value))

    def __setitem__(self: Any, key: str, value: Any) -> None:
        current = sum(bytesize(name) + size_of(item) for name, item in self.items() if name != key)
        if current + bytesize(key) + size_of(value) > DYNAMODB_ITEM_MAX_BYTES:
            raise ItemSizeTooLarge
        dict.__setitem__(self, key, value)

    return mark_patch(__setitem__, original)


# --------------------------------------------------------------------------- EventBridge PutEvents


def refused_entry(entry: Mapping[str, Any]) -> dict[str, str] | None:
    """The PutEvents result entry AWS gives an entry no customer may put (an AWS service's source)."""
    source = entry.get("Source")
    if isinstance(source, str) and source.startswith(EVENTBRIDGE_RESERVED_SOURCE_PREFIX):
        return {"ErrorCode": EVENTBRIDGE_SOURCE_ERROR, "ErrorMessage": EVENTBRIDGE_SOURCE_MESSAGE}
    return None


def _put_events(original: Callable[..., Any]) -> Callable[..., Any]:
    def put_events(self: Any) -> str:
        entries = self._get_param("Entries") or []
        refused = [refused_entry(entry) for entry in entries]
        if not any(refused) or len(entries) > 10:
            return str(original(self))  # moto validates the batch (size) itself
        allowed = [entry for entry, error in zip(entries, refused, strict=True) if error is None]
        accepted = iter(self.events_backend.put_events(allowed) if allowed else [])
        results = [error if error is not None else next(accepted) for error in refused]
        failed = len([result for result in results if "ErrorCode" in result])
        return json.dumps({"FailedEntryCount": failed, "Entries": results})

    return mark_patch(put_events, original)


def inject_service_event(
    entry: Mapping[str, Any], account_id: str = "123456789012", region: str = "us-east-1"
) -> list[dict[str, Any]]:
    """Put an AWS service's event (``Source`` ``aws.*``) on the events backend, the path the local cloud's own S3
    and Step Functions events take. The public PutEvents API refuses such sources, as AWS does; tests that need
    a (possibly malformed) AWS event use this instead of forging one through PutEvents."""
    from moto.events.models import events_backends

    return list(events_backends[account_id][region].put_events([{"EventBusName": "default", **entry}]))


# --------------------------------------------------------------------------- install / verify


def _sfn_targets() -> dict[str, tuple[Any, str]]:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_selector import ItemSelector
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    return {
        "ErrorEqualsDecl._eval_body": (ErrorEqualsDecl, "_eval_body"),
        "Parargs._eval_body": (Parargs, "_eval_body"),
        "ItemSelector._eval_body": (ItemSelector, "_eval_body"),
        "EventManager.add_event": (EventManager, "add_event"),
        "Program._eval_body": (Program, "_eval_body"),
        "StepFunctionsParserBackend.start_execution": (StepFunctionsParserBackend, "start_execution"),
    }


def _other_targets() -> dict[str, tuple[Any, str]]:
    from moto.awslambda.responses import LambdaResponse
    from moto.cloudformation import parsing
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.events.responses import EventsHandler
    from moto.sns.models import SNSBackend

    return {
        "LambdaResponse.invoke": (LambdaResponse, "invoke"),
        "SNSBackend.publish": (SNSBackend, "publish"),
        "EventsHandler.put_events": (EventsHandler, "put_events"),
        "ResourceMap.create": (parsing.ResourceMap, "create"),
        "parsing.parse_and_create_resource": (parsing, "parse_and_create_resource"),
        "parsing.generate_resource_name": (parsing, "generate_resource_name"),
        "LimitedSizeDict.__setitem__": (LimitedSizeDict, "__setitem__"),
    }


def _all_targets() -> dict[str, tuple[Any, str]]:
    targets = {**_sfn_targets(), **_other_targets()}
    for name, (owner, attribute, _, _) in _name_targets().items():
        targets[name] = (owner, attribute)
    return targets


def _current(owner: Any, attribute: str) -> Any:
    return owner.__dict__[attribute] if attribute in getattr(owner, "__dict__", {}) else getattr(owner, attribute)


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "ErrorEqualsDecl._eval_body": _error_equals_eval_body,
    "Parargs._eval_body": lambda original: _check_effective_input(original, "state input after Parameters"),
    "ItemSelector._eval_body": lambda original: _check_effective_input(original, "Map item after ItemSelector"),
    "EventManager.add_event": _add_event,
    "Program._eval_body": _program_eval_body,
    "StepFunctionsParserBackend.start_execution": _start_execution,
    "LambdaResponse.invoke": _lambda_invoke,
    "SNSBackend.publish": _sns_publish,
    "EventsHandler.put_events": _put_events,
    "ResourceMap.create": _resource_map_create,
    "parsing.parse_and_create_resource": _parse_and_create_resource,
    "parsing.generate_resource_name": _generate_resource_name,
    "LimitedSizeDict.__setitem__": _dynamodb_setitem,
}


def _unwrapped(func: Any) -> Any:
    return getattr(func, "__func__", func)


def install() -> None:
    """Enforce the limits (idempotent, process-wide: decorator and server mode)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        for name, (owner, attribute) in _all_targets().items():
            original = _unwrapped(_current(owner, attribute))
            if getattr(original, "__kbsync_aws_limits__", False):
                continue
            if name in _WRAPPERS:
                replacement = _WRAPPERS[name](original)
            else:
                _, _, extract, check = _name_targets()[name]
                replacement = _name_guard(original, extract, check)
            replacement.__kbsync_aws_limits__ = True  # type: ignore[attr-defined]
            setattr(owner, attribute, replacement)
        for module in _quota_modules().values():
            module.is_within_size_quota = is_within_size_quota
        _installed = True


def verify_moto_internals() -> None:
    targets = {name: _unwrapped(_current(owner, attribute)) for name, (owner, attribute) in _all_targets().items()}
    check_fingerprints("aws_limits", targets, EXPECTED_SOURCES)
    for name, module in _quota_modules().items():
        if not callable(getattr(module, "is_within_size_quota", None)):
            raise MotoInternalsChanged(f"aws_limits: moto's {name} no longer imports is_within_size_quota")
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    probe = EventManager()
    if not isinstance(getattr(getattr(probe, "_event_id_gen", None), "_next_id", None), int):
        raise MotoInternalsChanged("aws_limits: moto's EventManager no longer numbers events with _event_id_gen")
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service

    if "_verify_size_quota" not in state_task_service.StateTaskService._after_eval_execution.__code__.co_names:
        raise MotoInternalsChanged("aws_limits: moto's service tasks no longer check their result size")
