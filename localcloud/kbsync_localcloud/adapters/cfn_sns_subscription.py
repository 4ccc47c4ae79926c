"""``AWS::SNS::Subscription`` in moto 5.2.5's CloudFormation, which has no model for it.

moto logged "No Moto CloudFormation support for AWS::SNS::Subscription" and created nothing, so the template's alert
inbox (an SQS queue subscribed to the alerts topic) received no alert on the local cloud. This model makes the calls
CloudFormation makes (Subscribe, then SetSubscriptionAttributes for each attribute property), in moto's SNS backend,
so the queue receives the same JSON envelope (Subject, Message, MessageAttributes) SNS delivers to SQS.
Ref = the subscription ARN; delete = Unsubscribe.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-subscription.html
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.core.common_models import CloudFormationModel

from kbsync_localcloud.adapters import MotoInternalsChanged

#: The resource's attribute properties, set with SetSubscriptionAttributes after Subscribe (JSON ones as text).
_ATTRIBUTES = ("FilterPolicyScope", "FilterPolicy", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy")


def _sns(account_id: str, region_name: str) -> Any:
    from moto.sns.models import sns_backends

    return sns_backends[account_id][region_name]


def _attribute_value(name: str, value: Any) -> Any:
    if name == "RawMessageDelivery":  # moto's API layer makes the text a bool (ensure_boolean); do the same
        return str(value).lower() == "true"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class CfnSnsSubscription(CloudFormationModel):
    def __init__(self, arn: str, properties: dict[str, Any]) -> None:
        self.arn = arn
        self.properties = properties

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnSnsSubscription:
        from moto.cloudformation.exceptions import ValidationError

        properties = cloudformation_json.get("Properties", {})
        backend = _sns(account_id, region_name)
        try:
            subscription = backend.subscribe(
                str(properties["TopicArn"]), str(properties.get("Endpoint", "")), str(properties["Protocol"])
            )
            for name in _ATTRIBUTES:
                if name in properties:
                    backend.set_subscription_attributes(
                        subscription.arn, name, _attribute_value(name, properties[name])
                    )
        except Exception as error:  # as CloudFormation reports it (moto would answer CreateStack with a non-XML body)
            message = getattr(error, "message", None) or str(error)
            raise ValidationError(message=f"AWS::SNS::Subscription {resource_name}: {message}") from error
        return cls(str(subscription.arn), properties)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> CfnSnsSubscription:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        _sns(account_id, region_name).unsubscribe(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _sns(account_id, region_name).unsubscribe(self.arn)


def install() -> None:
    """Make moto's CloudFormation see the model (its model map is cached at first use)."""
    if cfn_parsing.get_model_map().get(CfnSnsSubscription.cloudformation_type()) is CfnSnsSubscription:
        return
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()


def verify_moto_internals() -> None:
    """The moto 5.2.5 pieces the model relies on (and that moto still lacks a model of its own)."""
    for name in ("get_model_list", "get_model_map", "get_name_type_map"):
        if not hasattr(getattr(cfn_parsing, name, None), "cache_clear"):
            raise MotoInternalsChanged(f"moto.cloudformation.parsing.{name} is no longer an lru_cache")
    from moto.sns.models import SNSBackend

    others = [
        model
        for model in CloudFormationModel.__subclasses__()
        if model is not CfnSnsSubscription and model.cloudformation_type() == "AWS::SNS::Subscription"
    ]
    if others:
        raise MotoInternalsChanged(f"moto now models AWS::SNS::Subscription itself ({others[0].__name__}): drop this")
    for method in ("subscribe", "set_subscription_attributes", "unsubscribe"):
        if not callable(getattr(SNSBackend, method, None)):
            raise MotoInternalsChanged(f"moto SNSBackend.{method} is gone")
    if SNSBackend.subscribe.__code__.co_varnames[1:4] != ("topic_arn", "endpoint", "protocol"):
        raise MotoInternalsChanged("moto SNSBackend.subscribe(topic_arn, endpoint, protocol) changed")
