"""EventBridge Scheduler on the local cloud: deployable from CloudFormation, and fired on demand.

moto 5.2.5 has a scheduler backend (create/get/list/update/delete schedules) but no CloudFormation support for
``AWS::Scheduler::Schedule``, and schedules never fire. This module:

- registers a CloudFormation model for ``AWS::Scheduler::Schedule`` that creates the schedule in moto's own
  scheduler backend (so ``scheduler.get_schedule`` sees it; Ref = name, GetAtt Arn), with update and delete;
- ``fire_schedule(name, group)`` does what the schedule's target would do at its next due time: StartExecution
  of a state machine target (templated target, or the universal ``aws-sdk:sfn:startExecution`` target) with the
  target's Input, a Lambda invoke, an SQS send or an SNS publish. A DISABLED schedule is refused unless forced.

Remote use (``kbsync local fire-schedule``): the server exposes ``POST /_kbsync/schedules/<group>/<name>/fire``
(server.py); ``fire_schedule_remote`` calls it.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.core.common_models import CloudFormationModel
from moto.scheduler.models import EventBridgeSchedulerBackend, Schedule, scheduler_backends

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.clock import CLOCK

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
FIRE_ROUTE = "/_kbsync/schedules/{group}/{name}/fire"


class ScheduleDisabled(RuntimeError):
    """The schedule's State is DISABLED: AWS would never fire it."""


class UnsupportedScheduleTarget(RuntimeError):
    """The schedule's target type is not one the local cloud can invoke."""


@dataclass(frozen=True)
class FireResult:
    schedule_arn: str
    target_arn: str
    #: ExecutionArn for a state machine target, MessageId for SQS/SNS, StatusCode for Lambda.
    result: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"ScheduleArn": self.schedule_arn, "TargetArn": self.target_arn, **self.result}


def _backend(account_id: str, region: str) -> EventBridgeSchedulerBackend:
    return scheduler_backends[account_id][region]


def _as_stack_error(name: str, error: Exception) -> Exception:
    """A resource error as CloudFormation reports it (moto would return a non-XML body to create_stack)."""
    from moto.cloudformation.exceptions import ValidationError

    message = getattr(error, "message", None) or str(error)
    return ValidationError(message=f"AWS::Scheduler::Schedule {name}: {message}")


class CfnSchedule(CloudFormationModel):
    """``AWS::Scheduler::Schedule`` for moto's CloudFormation, stored in moto's scheduler backend."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    @property
    def physical_resource_id(self) -> str:
        return str(self.schedule.name)

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.schedule.arn
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _arguments(properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": properties.get("Description"),
            "end_date": properties.get("EndDate"),
            "flexible_time_window": properties.get("FlexibleTimeWindow", {"Mode": "OFF"}),
            "kms_key_arn": properties.get("KmsKeyArn"),
            "schedule_expression": properties["ScheduleExpression"],
            "schedule_expression_timezone": properties.get("ScheduleExpressionTimezone"),
            "start_date": properties.get("StartDate"),
            "state": properties.get("State", "ENABLED"),
            "target": dict(properties["Target"]),
        }

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CfnSchedule:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("Name", resource_name)
        try:
            schedule = _backend(account_id, region_name).create_schedule(
                name=name,
                group_name=properties.get("GroupName", "default"),
                action_after_completion=properties.get("ActionAfterCompletion"),
                **cls._arguments(properties),
            )
        except Exception as error:
            raise _as_stack_error(name, error) from error
        return cls(schedule)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> CfnSchedule:
        properties = cloudformation_json.get("Properties", {})
        original: Schedule = original_resource.schedule
        name = properties.get("Name", original.name)
        group = properties.get("GroupName", original.group_name)
        if (name, group) != (original.name, original.group_name):
            created = cls.create_from_cloudformation_json(name, cloudformation_json, account_id, region_name)
            _backend(account_id, region_name).delete_schedule(original.group_name, original.name)
            return created
        schedule = _backend(account_id, region_name).update_schedule(
            name=name, group_name=group, **cls._arguments(properties)
        )
        return cls(schedule)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> None:
        group = cloudformation_json.get("Properties", {}).get("GroupName", "default")
        backend = _backend(account_id, region_name)
        if resource_name in backend.get_schedule_group(group).schedules:
            backend.delete_schedule(group, resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        group = backend.get_schedule_group(self.schedule.group_name)
        if self.schedule.name in group.schedules:
            backend.delete_schedule(self.schedule.group_name, self.schedule.name)


def install() -> None:
    """Make moto's CloudFormation see ``CfnSchedule`` (its model map is cached at first use)."""
    if cfn_parsing.get_model_map().get("AWS::Scheduler::Schedule") is CfnSchedule:
        return
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()


def verify_moto_internals() -> None:
    for name in ("get_model_list", "get_model_map", "get_name_type_map"):
        if not hasattr(getattr(cfn_parsing, name, None), "cache_clear"):
            raise MotoInternalsChanged(f"moto.cloudformation.parsing.{name} is no longer an lru_cache")
    for method in ("create_schedule", "update_schedule", "delete_schedule", "get_schedule", "get_schedule_group"):
        if not callable(getattr(EventBridgeSchedulerBackend, method, None)):
            raise MotoInternalsChanged(f"moto EventBridgeSchedulerBackend.{method} is gone")
    probe = Schedule.__init__.__code__.co_varnames
    for attribute in ("target", "state", "group_name"):
        if attribute not in probe:
            raise MotoInternalsChanged(f"moto scheduler Schedule no longer takes {attribute!r}")


# --- firing -----------------------------------------------------------------------------------------------


def _context_input(text: str, schedule: Schedule, execution_id: str) -> str:
    """Replace Scheduler's context attributes (<aws.scheduler.*>) in the target Input, as Scheduler does."""
    scheduled_time = CLOCK.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")  # a date: the wall clock (clock.py)
    values = {
        "<aws.scheduler.schedule-arn>": schedule.arn,
        "<aws.scheduler.scheduled-time>": scheduled_time,
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": "1",
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def _start_execution(state_machine_arn: str, execution_input: str, name: str) -> dict[str, Any]:
    from moto.stepfunctions.responses import get_backend

    json.loads(execution_input)  # Step Functions rejects non-JSON input; so do we, before starting.
    account, region = _account_region(state_machine_arn)
    execution = get_backend(account, region).start_execution(state_machine_arn, name, execution_input)
    return {"ExecutionArn": execution.execution_arn}


def _account_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4] or ACCOUNT_ID, parts[3] or REGION


def _invoke_target(target: dict[str, Any], payload: str, execution_id: str) -> dict[str, Any]:
    arn: str = target["Arn"]
    service = arn.split(":")[2]
    if service == "states":
        return _start_execution(arn, payload, execution_id)
    if arn.endswith(":aws-sdk:sfn:startExecution"):
        request = json.loads(payload)
        name = request.get("Name", execution_id)
        return _start_execution(request["StateMachineArn"], request.get("Input", "{}"), name)
    if service == "sqs":
        from moto.sqs.models import sqs_backends

        account, region = _account_region(arn)
        group = target.get("SqsParameters", {}).get("MessageGroupId")
        message = sqs_backends[account][region].send_message(arn.split(":")[-1], payload, group_id=group)
        return {"MessageId": message.id}
    if service == "sns":
        from moto.sns.models import sns_backends

        account, region = _account_region(arn)
        message_id = sns_backends[account][region].publish(payload, arn=arn)
        return {"MessageId": message_id}
    if service == "lambda":
        # moto's own chooser: with use_docker=False functions live in lambda_simple_backends.
        from moto.awslambda.utils import get_backend as lambda_backend

        account, region = _account_region(arn)
        lambda_backend(account, region).invoke(arn, None, payload.encode(), {"x-amz-invocation-type": "Event"}, {})
        return {"StatusCode": 202}
    raise UnsupportedScheduleTarget(f"target {arn} is not supported locally (state machine, sqs, sns, lambda)")


def fire_schedule(
    name: str,
    group: str = "default",
    *,
    force: bool = False,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> FireResult:
    """Invoke the schedule's target now, as Scheduler would at its next due time.

    Raises ``ScheduleDisabled`` for a DISABLED schedule unless ``force``; moto's ``ResourceNotFoundException``
    (a ``JsonRESTError``) for an unknown schedule or group.
    """
    schedule = _backend(account_id, region).get_schedule(group, name)
    if schedule.state == "DISABLED" and not force:
        raise ScheduleDisabled(
            f"schedule {group}/{name} is DISABLED: AWS would not fire it; pass force=True (--force) to fire anyway"
        )
    execution_id = str(uuid.uuid4())
    target = dict(schedule.target)
    payload = _context_input(str(target.get("Input", "{}")), schedule, execution_id)
    return FireResult(schedule.arn, target["Arn"], _invoke_target(target, payload, execution_id))


def fire_schedule_remote(endpoint_url: str, name: str, group: str = "default", force: bool = False) -> dict[str, Any]:
    """Fire a schedule on a running ``kbsync local up`` server (its ``/_kbsync`` route); the result as a dict.

    Raises ``RuntimeError`` carrying the server's message on any non-2xx answer.
    """
    path = FIRE_ROUTE.format(group=urllib.parse.quote(group, safe=""), name=urllib.parse.quote(name, safe=""))
    url = endpoint_url.rstrip("/") + path + ("?force=true" if force else "")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"endpoint must be http(s): {endpoint_url}")
    request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - scheme checked above
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(body).get("message", body)
        except ValueError:
            message = body
        raise RuntimeError(f"fire-schedule {group}/{name} failed ({error.code}): {message}") from error
