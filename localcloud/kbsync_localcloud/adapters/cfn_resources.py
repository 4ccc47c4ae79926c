"""CloudFormation resource types moto 5.2.5 skips ("No Moto CloudFormation support for ..."), recorded as AWS does.

kbsync's template declares five types moto's CloudFormation has no model for; moto logged a warning and created
nothing, so a deployed stack had no topic or queue policy, no dead-letter-queue alarm, no asynchronous-invocation
configuration (its failures were dropped instead of reaching the dead-letter queue) and no subscription of the alert
inbox. Each type here is a small ``CloudFormationModel`` that makes the API call CloudFormation makes, in the
backend that API uses:

- ``AWS::SNS::TopicPolicy``: SetTopicAttributes ``Policy`` on each of ``Topics`` (delete: the default policy again);
- ``AWS::SQS::QueuePolicy``: SetQueueAttributes ``Policy`` on each queue URL of ``Queues`` (delete: no policy);
- ``AWS::CloudWatch::Alarm``: PutMetricAlarm (Ref = the alarm name, GetAtt Arn), so DescribeAlarms shows it with
  its ``AlarmActions``; alarms are not evaluated locally (no metrics are computed);
- ``AWS::Lambda::EventInvokeConfig``: PutFunctionEventInvokeConfig (``MaximumRetryAttempts``,
  ``MaximumEventAgeInSeconds``, ``DestinationConfig``); the in-process Lambda (inprocess_lambda.py) applies it to
  asynchronous invocations: retries, then the invocation record to the ``OnFailure``/``OnSuccess`` destination;
- ``AWS::SNS::Subscription``: Subscribe, then SetSubscriptionAttributes for each attribute property (Ref = the
  subscription ARN; delete: Unsubscribe), so the alert inbox receives the JSON envelope (Subject, Message,
  MessageAttributes) SNS delivers to SQS
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-subscription.html);
- CloudWatch Logs vended log delivery, in moto's logs backend (so DescribeDeliveries, GetDeliveryDestination, ...
  answer, and the Bedrock emulator's application logs follow them: bedrock/app_logs.py):
  ``AWS::Logs::DeliveryDestination`` (PutDeliveryDestination: ``Name``, ``DestinationResourceArn``,
  ``OutputFormat``, ``DeliveryDestinationPolicy``; Ref = the name, GetAtt ``Arn``, ``DeliveryDestinationType``),
  ``AWS::Logs::DeliverySource`` (PutDeliverySource: ``Name``, ``ResourceArn``, ``LogType``; Ref = the name, GetAtt
  ``Arn``, ``ResourceArns``, ``Service``), ``AWS::Logs::Delivery`` (CreateDelivery: ``DeliverySourceName``,
  ``DeliveryDestinationArn``, ``RecordFields``, ``FieldDelimiter``; Ref = the delivery id, GetAtt ``Arn``,
  ``DeliveryId``, ``DeliveryDestinationType``)
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-delivery.html and its
  DeliverySource / DeliveryDestination siblings);
- ``AWS::Logs::SubscriptionFilter``: PutSubscriptionFilter (``LogGroupName``, ``FilterName`` or a generated one,
  ``FilterPattern``, ``DestinationArn``, ``RoleArn``; Ref = the filter name); its deliveries to Lambda are
  adapters/log_subscriptions.py's. ``AWS::Logs::ResourcePolicy`` is moto's own model (PutResourcePolicy).

Policies are stored, not enforced (moto enforces no IAM/resource policy in this configuration).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any, ClassVar, Self

from moto.cloudformation import parsing as cfn_parsing
from moto.core.common_models import CloudFormationModel

from kbsync_localcloud.adapters import MotoInternalsChanged

HANDLED_TYPES = (
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::SNS::Subscription",
    "AWS::Logs::DeliveryDestination",
    "AWS::Logs::DeliverySource",
    "AWS::Logs::Delivery",
    "AWS::Logs::SubscriptionFilter",
)


def _as_stack_error(resource_type: str, name: str, error: Exception) -> Exception:
    """A resource error as CloudFormation reports it (moto would return a non-XML body to CreateStack)."""
    from moto.cloudformation.exceptions import ValidationError

    message = getattr(error, "message", None) or str(error)
    return ValidationError(message=f"{resource_type} {name}: {message}")


def _policy_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document, separators=(",", ":"))


class _Recorded:
    """Shared plumbing (a mixin: moto lists *direct* subclasses of CloudFormationModel as its models): the physical
    id (Ref) and the properties the resource was created with."""

    def __init__(self, physical_id: str, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        self._physical_id = physical_id
        self.properties = properties
        self.account_id = account_id
        self.region_name = region_name
        self.arn = ""

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        create: Any = getattr(cls, "create_from_cloudformation_json")  # noqa: B009 - defined by each model
        return create(original_resource.physical_resource_id, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        cls(resource_name, cloudformation_json.get("Properties", {}), account_id, region_name).delete(
            account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError


# --- SNS topic policy ----------------------------------------------------------------------------------------


def _sns(account_id: str, region_name: str) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[account_id][region_name]


class CfnTopicPolicy(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnTopicPolicy:
        properties = cloudformation_json.get("Properties", {})
        policy = _policy_text(properties["PolicyDocument"])
        backend = _sns(account_id, region_name)
        try:
            for topic_arn in properties.get("Topics", []):
                backend.set_topic_attribute(str(topic_arn), "policy", policy)
        except Exception as error:
            raise _as_stack_error(cls.cloudformation_type(), resource_name, error) from error
        return cls(resource_name, properties, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _sns(account_id, region_name)
        for topic_arn in self.properties.get("Topics", []):
            topic = backend.topics.get(str(topic_arn))
            if topic is not None:  # AWS puts the topic's default policy back
                topic._policy_json = topic._create_default_topic_policy(region_name, account_id, topic.name)


# --- SNS subscription ---------------------------------------------------------------------------------------

#: The resource's attribute properties, set with SetSubscriptionAttributes after Subscribe (JSON ones as text).
_SUBSCRIPTION_ATTRIBUTES = (
    "FilterPolicyScope",
    "FilterPolicy",
    "RawMessageDelivery",
    "RedrivePolicy",
    "DeliveryPolicy",
)


def _subscription_attribute(name: str, value: Any) -> Any:
    if name == "RawMessageDelivery":  # moto's API layer makes the text a bool (ensure_boolean); do the same
        return str(value).lower() == "true"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class CfnSnsSubscription(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnSnsSubscription:
        properties = cloudformation_json.get("Properties", {})
        backend = _sns(account_id, region_name)
        try:
            subscription = backend.subscribe(
                str(properties["TopicArn"]), str(properties.get("Endpoint", "")), str(properties["Protocol"])
            )
            for name in _SUBSCRIPTION_ATTRIBUTES:
                if name in properties:
                    backend.set_subscription_attributes(
                        subscription.arn, name, _subscription_attribute(name, properties[name])
                    )
        except Exception as error:
            raise _as_stack_error(cls.cloudformation_type(), resource_name, error) from error
        return cls(str(subscription.arn), properties, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _sns(account_id, region_name).unsubscribe(self.physical_resource_id)


# --- SQS queue policy ----------------------------------------------------------------------------------------


def _sqs(account_id: str, region_name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends[account_id][region_name]


def _queue_name(queue_url: Any) -> str:
    return str(queue_url).rstrip("/").rsplit("/", 1)[-1]


class CfnQueuePolicy(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SQS::QueuePolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnQueuePolicy:
        properties = cloudformation_json.get("Properties", {})
        policy = _policy_text(properties["PolicyDocument"])
        backend = _sqs(account_id, region_name)
        try:
            for queue_url in properties.get("Queues", []):
                backend.set_queue_attributes(_queue_name(queue_url), {"Policy": policy})
        except Exception as error:
            raise _as_stack_error(cls.cloudformation_type(), resource_name, error) from error
        return cls(resource_name, properties, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _sqs(account_id, region_name)
        for queue_url in self.properties.get("Queues", []):
            name = _queue_name(queue_url)
            if name in backend.queues:
                backend.queues[name].policy = None


# --- CloudWatch alarm ----------------------------------------------------------------------------------------


def _cloudwatch(account_id: str, region_name: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region_name]


class CfnAlarm(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnAlarm:
        properties = cloudformation_json.get("Properties", {})
        name = str(properties.get("AlarmName") or resource_name)
        try:
            alarm = _cloudwatch(account_id, region_name).put_metric_alarm(
                name=name,
                namespace=properties.get("Namespace"),
                metric_name=properties.get("MetricName"),
                comparison_operator=properties["ComparisonOperator"],
                evaluation_periods=int(properties["EvaluationPeriods"]),
                period=int(properties["Period"]) if properties.get("Period") is not None else None,
                threshold=float(properties["Threshold"]) if properties.get("Threshold") is not None else None,
                statistic=properties.get("Statistic"),
                description=properties.get("AlarmDescription"),
                dimensions=[{"Name": d["Name"], "Value": str(d["Value"])} for d in properties.get("Dimensions", [])],
                alarm_actions=[str(a) for a in properties.get("AlarmActions", [])],
                datapoints_to_alarm=properties.get("DatapointsToAlarm"),
                extended_statistic=properties.get("ExtendedStatistic"),
                ok_actions=[str(a) for a in properties.get("OKActions", [])],
                insufficient_data_actions=[str(a) for a in properties.get("InsufficientDataActions", [])],
                unit=properties.get("Unit"),
                actions_enabled=str(properties.get("ActionsEnabled", True)).lower() != "false",
                treat_missing_data=properties.get("TreatMissingData"),
                evaluate_low_sample_count_percentile=properties.get("EvaluateLowSampleCountPercentile"),
                threshold_metric_id=properties.get("ThresholdMetricId"),
            )
        except Exception as error:
            raise _as_stack_error(cls.cloudformation_type(), name, error) from error
        created = cls(name, properties, account_id, region_name)
        created.arn = str(alarm.alarm_arn)
        return created

    def delete(self, account_id: str, region_name: str) -> None:
        _cloudwatch(account_id, region_name).delete_alarms([self.physical_resource_id])


# --- Lambda asynchronous invocation configuration ------------------------------------------------------------

_INVOKE_CONFIG_KEYS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


def _lambda(account_id: str, region_name: str) -> Any:
    from moto.awslambda.utils import get_backend

    return get_backend(account_id, region_name)


class CfnEventInvokeConfig(_Recorded, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnEventInvokeConfig:
        from moto.awslambda.models import EventInvokeConfig

        properties = cloudformation_json.get("Properties", {})
        config = {key: properties[key] for key in _INVOKE_CONFIG_KEYS if key in properties}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in config:
                config[key] = int(config[key])
        try:
            fn = _lambda(account_id, region_name).get_function(str(properties["FunctionName"]))
            # PutFunctionEventInvokeConfig replaces the configuration (moto's own put appends a second one)
            fn.event_invoke_config = [EventInvokeConfig(fn.function_arn, fn.last_modified, config)]
        except Exception as error:
            raise _as_stack_error(cls.cloudformation_type(), resource_name, error) from error
        return cls(resource_name, properties, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            fn = _lambda(account_id, region_name).get_function(str(self.properties["FunctionName"]))
        except Exception:  # the function went first
            return
        fn.event_invoke_config = []


# --- CloudWatch Logs: vended log delivery and subscription filters -------------------------------------------


def _logs(account_id: str, region_name: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[account_id][region_name]


def _tags(properties: dict[str, Any]) -> dict[str, str] | None:
    tags = {str(tag["Key"]): str(tag["Value"]) for tag in properties.get("Tags") or []}
    return tags or None


#: What a Logs resource's ``_put`` returns: (physical id, ARN or "", the GetAtt attributes besides ``Arn``).
_Created = tuple[str, str, dict[str, Any]]


class _LogsResource(_Recorded):
    """A CloudWatch Logs resource: one backend call creates it, and each type differs only in data (its type, the
    property that names it, its GetAtt attributes) and in ``_put``. Delete is the API's Delete<Type> call
    (DeleteDeliveryDestination, DeleteDeliverySource, DeleteDelivery), on the physical id, when it is still there."""

    TYPE: ClassVar[str] = ""
    #: The property that names the resource; "" when AWS makes the id (Ref is then what ``_put`` returns).
    NAME_PROPERTY: ClassVar[str] = ""
    ATTRIBUTES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, physical_id: str, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        super().__init__(physical_id, properties, account_id, region_name)
        self.attributes: dict[str, Any] = {}

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        if attribute_name in self.attributes:
            return self.attributes[attribute_name]
        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _put(backend: Any, name: str, properties: dict[str, Any]) -> _Created:
        """Make the API call(s) that create the resource named `name` in the logs `backend`."""
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Self:
        properties = cloudformation_json.get("Properties", {})
        name = str(properties.get(cls.NAME_PROPERTY) or resource_name) if cls.NAME_PROPERTY else resource_name
        try:
            physical_id, arn, attributes = cls._put(_logs(account_id, region_name), name, properties)
        except Exception as error:
            raise _as_stack_error(cls.TYPE, name, error) from error
        created = cls(physical_id, properties, account_id, region_name)
        created.arn = arn
        created.attributes = {"Arn": arn, **attributes} if arn else attributes
        return created

    @classmethod
    def _delete_method(cls) -> str:
        """The backend method of the type's Delete<Type> API (AWS::Logs::DeliverySource: delete_delivery_source)."""
        return "delete" + re.sub(r"([A-Z])", r"_\1", cls.TYPE.rsplit("::", 1)[1]).lower()

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.logs.exceptions import ResourceNotFoundException

        with contextlib.suppress(ResourceNotFoundException):  # already gone
            getattr(_logs(account_id, region_name), self._delete_method())(self.physical_resource_id)


class CfnDeliveryDestination(_LogsResource, CloudFormationModel):
    TYPE = "AWS::Logs::DeliveryDestination"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn", "DeliveryDestinationType")

    @staticmethod
    def _put(backend: Any, name: str, properties: dict[str, Any]) -> _Created:
        destination = backend.put_delivery_destination(
            name=name,
            output_format=properties.get("OutputFormat"),
            delivery_destination_configuration={"destinationResourceArn": str(properties["DestinationResourceArn"])},
            tags=_tags(properties),
        )
        if properties.get("DeliveryDestinationPolicy"):
            backend.put_delivery_destination_policy(name, _policy_text(properties["DeliveryDestinationPolicy"]))
        return name, str(destination.arn), {"DeliveryDestinationType": destination.delivery_destination_type}


class CfnDeliverySource(_LogsResource, CloudFormationModel):
    TYPE = "AWS::Logs::DeliverySource"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn", "ResourceArns", "Service")

    @staticmethod
    def _put(backend: Any, name: str, properties: dict[str, Any]) -> _Created:
        source = backend.put_delivery_source(
            name=name,
            resource_arn=str(properties["ResourceArn"]),
            log_type=str(properties["LogType"]),
            tags=_tags(properties),
        )
        return name, str(source.arn), {"ResourceArns": list(source.resource_arns), "Service": source.service}


class CfnDelivery(_LogsResource, CloudFormationModel):
    TYPE = "AWS::Logs::Delivery"
    ATTRIBUTES = ("Arn", "DeliveryId", "DeliveryDestinationType")

    @staticmethod
    def _put(backend: Any, name: str, properties: dict[str, Any]) -> _Created:
        delivery = backend.create_delivery(
            delivery_source_name=str(properties["DeliverySourceName"]),
            delivery_destination_arn=str(properties["DeliveryDestinationArn"]),
            record_fields=properties.get("RecordFields"),
            field_delimiter=properties.get("FieldDelimiter"),
            s3_delivery_configuration=None,
            tags=_tags(properties),
        )
        attributes = {"DeliveryId": str(delivery.id), "DeliveryDestinationType": delivery.destination_type}
        return str(delivery.id), str(delivery.arn), attributes


class CfnSubscriptionFilter(_LogsResource, CloudFormationModel):
    """No GetAtt attributes; the filter lives in its log group, not in a backend dict."""

    TYPE = "AWS::Logs::SubscriptionFilter"
    NAME_PROPERTY = "FilterName"

    @staticmethod
    def _put(backend: Any, name: str, properties: dict[str, Any]) -> _Created:
        backend.put_subscription_filter(
            log_group_name=str(properties["LogGroupName"]),
            filter_name=name,
            filter_pattern=str(properties.get("FilterPattern", "")),
            destination_arn=str(properties["DestinationArn"]),
            role_arn=str(properties.get("RoleArn") or ""),
        )
        return name, "", {}

    def delete(self, account_id: str, region_name: str) -> None:
        group = _logs(account_id, region_name).groups.get(str(self.properties.get("LogGroupName")))
        if group is not None and self.physical_resource_id in group.subscription_filters:
            group.delete_subscription_filter(self.physical_resource_id)


_MODELS: tuple[type[CloudFormationModel], ...] = (
    CfnTopicPolicy,
    CfnQueuePolicy,
    CfnAlarm,
    CfnEventInvokeConfig,
    CfnSnsSubscription,
    CfnDeliveryDestination,
    CfnDeliverySource,
    CfnDelivery,
    CfnSubscriptionFilter,
)


def install() -> None:
    """Make moto's CloudFormation see the models above (its model map is cached at first use)."""
    if all(cfn_parsing.get_model_map().get(model.cloudformation_type()) is model for model in _MODELS):
        return
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()


def verify_moto_internals() -> None:
    """The moto 5.2.5 pieces the models above rely on."""
    for name in ("get_model_list", "get_model_map", "get_name_type_map"):
        if not hasattr(getattr(cfn_parsing, name, None), "cache_clear"):
            raise MotoInternalsChanged(f"moto.cloudformation.parsing.{name} is no longer an lru_cache")
    if {_Recorded, _LogsResource} & set(CloudFormationModel.__subclasses__()):
        raise MotoInternalsChanged("cfn_resources: the shared base must not be a CloudFormation model itself")
    from moto.awslambda.models import EventInvokeConfig, LambdaFunction
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.logs.models import LogsBackend
    from moto.sns.models import SNSBackend, Topic
    from moto.sqs.models import SQSBackend

    if "event_invoke_config" not in LambdaFunction.__init__.__code__.co_names:
        raise MotoInternalsChanged("moto LambdaFunction.event_invoke_config is gone")
    if EventInvokeConfig.__init__.__code__.co_varnames[1:4] != ("arn", "last_modified", "config"):
        raise MotoInternalsChanged("moto EventInvokeConfig(arn, last_modified, config) changed")
    if not callable(getattr(Topic, "_create_default_topic_policy", None)):
        raise MotoInternalsChanged("moto sns Topic._create_default_topic_policy is gone")
    others = [
        model
        for model in CloudFormationModel.__subclasses__()
        if model not in _MODELS and model.cloudformation_type() in HANDLED_TYPES
    ]
    if others:
        raise MotoInternalsChanged(f"moto now models {others[0].cloudformation_type()} itself: drop ours")
    if SNSBackend.subscribe.__code__.co_varnames[1:4] != ("topic_arn", "endpoint", "protocol"):
        raise MotoInternalsChanged("moto SNSBackend.subscribe(topic_arn, endpoint, protocol) changed")
    for owner, method in (
        (SNSBackend, "subscribe"),
        (SNSBackend, "set_subscription_attributes"),
        (SNSBackend, "unsubscribe"),
        (SNSBackend, "set_topic_attribute"),
        (SQSBackend, "set_queue_attributes"),
        (CloudWatchBackend, "put_metric_alarm"),
        (CloudWatchBackend, "delete_alarms"),
        (LogsBackend, "put_delivery_destination"),
        (LogsBackend, "put_delivery_destination_policy"),
        (LogsBackend, "delete_delivery_destination"),
        (LogsBackend, "put_delivery_source"),
        (LogsBackend, "delete_delivery_source"),
        (LogsBackend, "create_delivery"),
        (LogsBackend, "delete_delivery"),
        (LogsBackend, "put_subscription_filter"),
    ):
        if not callable(getattr(owner, method, None)):
            raise MotoInternalsChanged(f"moto {owner.__name__}.{method} is gone")
