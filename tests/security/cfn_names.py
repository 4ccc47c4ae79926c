"""The names CloudFormation gives kbsync's resources, for a given stack, and AWS's limits on them.

``Resolver`` evaluates the intrinsic functions that appear in the template's name properties, ARNs and conditions
(Ref, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition, a few
Fn::GetAtt attributes) the way CloudFormation does for one stack name and one stack id. A resource without an
explicit name gets the name CloudFormation generates, ``<stack>-<logical id>-<random>`` truncated to the service's
limit (the longest it can be). Anything else raises ``Unresolvable``: a name the checker cannot compute is a failure,
never a pass.

``NAME_LIMITS`` lists, as data, every property that names the resource it creates, with the service's length and
character limits and the AWS page that states them. ``name_violations`` checks every such property of a template.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class Unresolvable(ValueError):
    """An intrinsic or a reference this resolver does not know how to evaluate (extend it, do not skip it)."""


#: Stand-in for ``Ref: AWS::NoValue`` while resolving (the property is dropped, as CloudFormation does).
NO_VALUE = object()


# ------------------------------------------------------------------------------------------------ AWS's limits


@dataclass(frozen=True)
class NameLimit:
    """One property that names the resource it creates, and what the service accepts there."""

    resource_type: str
    prop: str  # "Name", or "Policies[].PolicyName" for the names of a list's items
    min_length: int
    max_length: int
    pattern: str  # the whole value must match
    url: str
    #: (service, operation, member) of the botocore model that states the same limit, when it does.
    botocore: tuple[str, str, str] | None = None


#: CloudFormation's own rule for stack names (the input of every name below): 1-128, a letter first.
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html
STACK_NAME_MAX = 128
STACK_NAME_PATTERN = r"[A-Za-z][A-Za-z0-9-]*"

NAME_LIMITS: tuple[NameLimit, ...] = (
    # "name ... 1-80"; for CloudWatch Logs and metrics it should only contain 0-9, A-Z, a-z, - and _.
    NameLimit(
        "AWS::StepFunctions::StateMachine",
        "StateMachineName",
        1,
        80,
        r"[0-9A-Za-z_-]+",
        "https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html",
        ("stepfunctions", "CreateStateMachine", "name"),
    ),
    NameLimit(
        "AWS::Scheduler::Schedule",
        "Name",
        1,
        64,
        r"[0-9a-zA-Z_.-]+",
        "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html",
        ("scheduler", "CreateSchedule", "Name"),
    ),
    NameLimit(
        "AWS::Scheduler::ScheduleGroup",
        "Name",
        1,
        64,
        r"[0-9a-zA-Z_.-]+",
        "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateScheduleGroup.html",
        ("scheduler", "CreateScheduleGroup", "Name"),
    ),
    NameLimit(
        "AWS::Events::Rule",
        "Name",
        1,
        64,
        r"[.\-_A-Za-z0-9]+",
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
        ("events", "PutRule", "Name"),
    ),
    # The API takes a name or an ARN (140); the function name alone is 1-64 characters.
    NameLimit(
        "AWS::Lambda::Function",
        "FunctionName",
        1,
        64,
        r"[a-zA-Z0-9_-]+",
        "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
        ("lambda", "CreateFunction", "FunctionName"),
    ),
    NameLimit(
        "AWS::Lambda::LayerVersion",
        "LayerName",
        1,
        140,
        r"[a-zA-Z0-9_-]+",
        "https://docs.aws.amazon.com/lambda/latest/api/API_PublishLayerVersion.html",
        ("lambda", "PublishLayerVersion", "LayerName"),
    ),
    NameLimit(
        "AWS::SQS::Queue",
        "QueueName",
        1,
        80,
        r"[A-Za-z0-9_-]+(\.fifo)?",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
    ),
    NameLimit(
        "AWS::SNS::Topic",
        "TopicName",
        1,
        256,
        r"[A-Za-z0-9_-]+(\.fifo)?",
        "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html",
    ),
    NameLimit(
        "AWS::DynamoDB::Table",
        "TableName",
        3,
        255,
        r"[a-zA-Z0-9_.-]+",
        "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html",
        ("dynamodb", "CreateTable", "TableName"),
    ),
    NameLimit(
        "AWS::IAM::Role",
        "RoleName",
        1,
        64,
        r"[\w+=,.@-]+",
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
        ("iam", "CreateRole", "RoleName"),
    ),
    NameLimit(
        "AWS::IAM::Role",
        "Policies[].PolicyName",
        1,
        128,
        r"[\w+=,.@-]+",
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
        ("iam", "PutRolePolicy", "PolicyName"),
    ),
    NameLimit(
        "AWS::IAM::ManagedPolicy",
        "ManagedPolicyName",
        1,
        128,
        r"[\w+=,.@-]+",
        "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html",
        ("iam", "CreatePolicy", "PolicyName"),
    ),
    # "1-256 characters ... alphanumeric characters, forward slashes (/), underscores (_), and dashes (-) ...
    # cannot begin with alias/aws/".
    NameLimit(
        "AWS::KMS::Alias",
        "AliasName",
        1,
        256,
        r"alias/(?!aws/)[a-zA-Z0-9/_-]+",
        "https://docs.aws.amazon.com/kms/latest/developerguide/alias-create.html",
        ("kms", "CreateAlias", "AliasName"),
    ),
    NameLimit(
        "AWS::Logs::LogGroup",
        "LogGroupName",
        1,
        512,
        r"[.\-_/#A-Za-z0-9]+",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
        ("logs", "CreateLogGroup", "logGroupName"),
    ),
    # "name ... 1-60 ... [\w-]*" (the knowledge bases' delivery destination, KnowledgeBaseLogs=on).
    NameLimit(
        "AWS::Logs::DeliveryDestination",
        "Name",
        1,
        60,
        r"[\w-]+",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutDeliveryDestination.html",
        ("logs", "PutDeliveryDestination", "name"),
    ),
    # The API states no limit for policyName; CloudFormation's resource schema for AWS::Logs::ResourcePolicy does:
    # 1-255, no ':' or '*', '/' only between parts.
    NameLimit(
        "AWS::Logs::ResourcePolicy",
        "PolicyName",
        1,
        255,
        r"([^:*/]+/?)*[^:*/]+",
        "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-logs-resourcepolicy.html",
    ),
    NameLimit(
        "AWS::CloudWatch::Alarm",
        "AlarmName",
        1,
        255,
        r"[^\x00-\x1f\x7f]+",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
        ("cloudwatch", "PutMetricAlarm", "AlarmName"),
    ),
    NameLimit(
        "AWS::S3::Bucket",
        "BucketName",
        3,
        63,
        r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
    ),
)

#: Properties whose key ends in "Name" but that do not name the resource they belong to (a reference to another
#: resource, or a label): not checked here, and not "unknown name properties" either.
NOT_RESOURCE_NAMES = {
    ("AWS::Lambda::Permission", "FunctionName"),
    ("AWS::Lambda::EventInvokeConfig", "FunctionName"),
    ("AWS::Lambda::EventSourceMapping", "FunctionName"),
    ("AWS::SNS::Topic", "DisplayName"),
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::Logs::SubscriptionFilter", "LogGroupName"),
}

#: What ``Ref`` returns, per resource type: "name", or a format of the ARN / URL built from the name.
_REF_RETURNS = {
    "AWS::Lambda::Function": "{name}",
    "AWS::DynamoDB::Table": "{name}",
    "AWS::Logs::LogGroup": "{name}",
    "AWS::Scheduler::Schedule": "{name}",
    "AWS::Events::Rule": "{name}",
    "AWS::IAM::Role": "{name}",
    "AWS::CloudWatch::Alarm": "{name}",
    "AWS::StepFunctions::StateMachine": "arn:{partition}:states:{region}:{account}:stateMachine:{name}",
    "AWS::SNS::Topic": "arn:{partition}:sns:{region}:{account}:{name}",
    "AWS::SQS::Queue": "https://sqs.{region}.amazonaws.com/{account}/{name}",
}
#: ``Fn::GetAtt`` attributes this resolver knows, per resource type.
_GET_ATT = {
    ("AWS::StepFunctions::StateMachine", "Name"): "{name}",
    ("AWS::StepFunctions::StateMachine", "Arn"): "arn:{partition}:states:{region}:{account}:stateMachine:{name}",
    ("AWS::Lambda::Function", "Arn"): "arn:{partition}:lambda:{region}:{account}:function:{name}",
    ("AWS::SQS::Queue", "Arn"): "arn:{partition}:sqs:{region}:{account}:{name}",
    ("AWS::SQS::Queue", "QueueName"): "{name}",
    ("AWS::DynamoDB::Table", "Arn"): "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    ("AWS::Logs::LogGroup", "Arn"): "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    ("AWS::Events::Rule", "Arn"): "arn:{partition}:events:{region}:{account}:rule/{name}",
    ("AWS::IAM::Role", "Arn"): "arn:{partition}:iam::{account}:role/{name}",
    ("AWS::CloudWatch::Alarm", "Arn"): "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    ("AWS::Scheduler::Schedule", "Arn"): "arn:{partition}:scheduler:{region}:{account}:schedule/default/{name}",
}
#: Length of the random part CloudFormation appends to a generated name (12-13 characters; the longest is assumed).
_GENERATED_SUFFIX_LENGTH = 13


def limit_of(resource_type: str, prop: str) -> NameLimit | None:
    return next((n for n in NAME_LIMITS if n.resource_type == resource_type and n.prop == prop), None)


def name_property_of(resource_type: str) -> str | None:
    """The top-level property that names a resource of this type (None: the type is not in NAME_LIMITS)."""
    return next((n.prop for n in NAME_LIMITS if n.resource_type == resource_type and "[]" not in n.prop), None)


# ------------------------------------------------------------------------------------------------ the resolver


@dataclass(frozen=True)
class Stack:
    """Where the template is deployed: what the pseudo parameters return."""

    name: str
    uuid: str  # the last part of the stack id, e.g. 51af3dc0-da77-11e4-872e-1234567db123
    region: str = "us-east-1"
    account: str = "123456789012"
    partition: str = "aws"
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stack_id(self) -> str:
        """AWS::StackId: arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>."""
        return f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/{self.name}/{self.uuid}"


class Resolver:
    """Evaluates a template's intrinsics for one stack (see the module docstring for what is supported)."""

    def __init__(self, template: Mapping[str, Any], stack: Stack) -> None:
        self.template = template
        self.stack = stack
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self._conditions: dict[str, bool] = {}
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()

    # ---- values

    def parameter(self, name: str) -> Any:
        declared = self.template.get("Parameters", {}).get(name)
        if declared is None:
            raise Unresolvable(f"Ref to undeclared parameter {name}")
        value = self.stack.parameters.get(name, declared.get("Default"))
        if value is None:
            raise Unresolvable(f"parameter {name} has no value and no default")
        if declared.get("Type") == "CommaDelimitedList":
            return [part.strip() for part in str(value).split(",")]
        return str(value)

    def pseudo(self, name: str) -> Any:
        stack = self.stack
        values: dict[str, Any] = {
            "AWS::StackName": stack.name,
            "AWS::StackId": stack.stack_id,
            "AWS::Region": stack.region,
            "AWS::AccountId": stack.account,
            "AWS::Partition": stack.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise Unresolvable(f"pseudo parameter {name}")
        return values[name]

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self.template.get("Conditions", {}).get(name)
            if declared is None:
                raise Unresolvable(f"undeclared condition {name}")
            self._conditions[name] = bool(self._condition_value(declared))
        return self._conditions[name]

    def _condition_value(self, expression: Any) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            (key, value), *_ = expression.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in value)
                return _as_text(left) == _as_text(right)
            if key == "Fn::Not":
                return not self._condition_value(value[0])
            if key == "Fn::And":
                return all(self._condition_value(v) for v in value)
            if key == "Fn::Or":
                return any(self._condition_value(v) for v in value)
            if key == "Condition":
                return self.condition(value)
        raise Unresolvable(f"condition expression {expression!r}")

    def resolve(self, expression: Any) -> Any:
        """The value CloudFormation computes for ``expression`` (``NO_VALUE`` for AWS::NoValue)."""
        if isinstance(expression, list):
            return [v for v in (self.resolve(item) for item in expression) if v is not NO_VALUE]
        if not isinstance(expression, dict):
            return expression
        if len(expression) == 1:
            (key, value), *_ = expression.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::Join":
                separator, items = value
                return str(separator).join(_as_text(v) for v in self.resolve(items))
            if key == "Fn::Split":
                separator, source = value
                return _as_text(self.resolve(source)).split(separator)
            if key == "Fn::Select":
                index, items = value
                resolved = self.resolve(items)
                position = int(_as_text(self.resolve(index)))
                if not 0 <= position < len(resolved):
                    raise Unresolvable(f"Fn::Select index {position} out of {resolved!r}")
                return resolved[position]
            if key == "Fn::If":
                name, when_true, when_false = value
                return self.resolve(when_true if self.condition(name) else when_false)
            if key.startswith("Fn::") or key == "Condition":
                raise Unresolvable(f"intrinsic {key}")
        resolved_dict = {k: self.resolve(v) for k, v in expression.items()}
        return {k: v for k, v in resolved_dict.items() if v is not NO_VALUE}

    def _sub(self, value: Any) -> str:
        if isinstance(value, list):
            text, variables = value
            local = {k: _as_text(self.resolve(v)) for k, v in variables.items()}
        else:
            text, local = value, {}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in local:
                return local[inner]
            if "." in inner and not inner.startswith("AWS::"):
                logical_id, attribute = inner.split(".", 1)
                return _as_text(self.get_att(logical_id, attribute))
            return _as_text(self.ref(inner))

        return re.sub(r"\$\{([^}]*)\}", replace, str(text))

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        resource = self.resources.get(name)
        if resource is None:
            raise Unresolvable(f"Ref to unknown {name}")
        returns = _REF_RETURNS.get(resource.get("Type"))
        if returns is None:
            raise Unresolvable(f"Ref to a {resource.get('Type')} ({name})")
        return self._format(returns, name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise Unresolvable(f"GetAtt of unknown resource {logical_id}")
        returns = _GET_ATT.get((resource.get("Type"), attribute))
        if returns is None:
            raise Unresolvable(f"GetAtt {logical_id}.{attribute} ({resource.get('Type')})")
        return self._format(returns, logical_id)

    def _format(self, pattern: str, logical_id: str) -> str:
        stack = self.stack
        return pattern.format(
            name=self.physical_name(logical_id), partition=stack.partition, region=stack.region, account=stack.account
        )

    # ---- names

    def explicit_name(self, logical_id: str) -> str | None:
        """The resolved name property of a resource, None when CloudFormation generates its name."""
        resource = self.resources[logical_id]
        prop = name_property_of(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if prop is None or prop not in properties:
            return None
        value = self.resolve(properties[prop])
        if value is NO_VALUE:
            return None
        if not isinstance(value, str):
            raise Unresolvable(f"{logical_id}.{prop} is not a string: {value!r}")
        return value

    def physical_name(self, logical_id: str) -> str:
        """The resource's name: its explicit name, else the longest name CloudFormation could generate for it."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise Unresolvable(f"{logical_id}'s name depends on itself")
        self._naming.add(logical_id)
        try:
            name = self.explicit_name(logical_id)
            if name is None:
                name = self.generated_name(logical_id)
        finally:
            self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name

    def generated_name(self, logical_id: str) -> str:
        """``<stack>-<logical id>-<random>``, the stack/logical part truncated so the whole fits the limit."""
        resource_type = self.resources[logical_id].get("Type")
        prop = name_property_of(resource_type)
        limit = limit_of(resource_type, prop) if prop else None
        if limit is None:
            raise Unresolvable(f"no name limit known for {resource_type} ({logical_id})")
        # Random per stack and resource (modelled by a digest of both, so it is deterministic here).
        digest = hashlib.sha256(f"{self.stack.stack_id}/{logical_id}".encode()).hexdigest().upper()
        prefix = f"{self.stack.name}-{logical_id}"[: limit.max_length - _GENERATED_SUFFIX_LENGTH - 1]
        return f"{prefix}-{digest[:_GENERATED_SUFFIX_LENGTH]}"


def _as_text(value: Any) -> str:
    if value is NO_VALUE:
        raise Unresolvable("AWS::NoValue used as a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        raise Unresolvable(f"a list or object used as a string: {value!r}")
    return str(value)


# ------------------------------------------------------------------------------------------------ the checks


@dataclass(frozen=True)
class ExplicitName:
    logical_id: str
    limit: NameLimit
    value: str


def explicit_names(template: Mapping[str, Any], stack: Stack) -> Iterator[ExplicitName]:
    """Every name the template sets explicitly (NAME_LIMITS properties), resolved for ``stack``."""
    resolver = Resolver(template, stack)
    for logical_id, resource in template.get("Resources", {}).items():
        resource_type = resource.get("Type")
        properties = resource.get("Properties") or {}
        for limit in NAME_LIMITS:
            if limit.resource_type != resource_type:
                continue
            if "[]." in limit.prop:
                list_prop, item_prop = limit.prop.split("[].", 1)
                for item in properties.get(list_prop, []):
                    while isinstance(item, dict) and set(item) == {"Fn::If"}:  # a conditional item: its branch
                        condition, when_true, when_false = item["Fn::If"]
                        item = when_true if resolver.condition(condition) else when_false
                    if isinstance(item, dict) and item_prop in item:
                        yield ExplicitName(logical_id, limit, _as_text(resolver.resolve(item[item_prop])))
            elif limit.prop in properties:
                value = resolver.resolve(properties[limit.prop])
                if value is not NO_VALUE:
                    yield ExplicitName(logical_id, limit, _as_text(value))


def name_violations(template: Mapping[str, Any], stack: Stack) -> list[str]:
    """Every explicit name that is too short, too long or has a character its service refuses."""
    found = []
    for name in explicit_names(template, stack):
        limit, value = name.limit, name.value
        where = f"{name.logical_id}.{limit.prop} = {value!r} ({len(value)} chars)"
        if not limit.min_length <= len(value) <= limit.max_length:
            found.append(f"{where}: length must be {limit.min_length}-{limit.max_length} ({limit.url})")
        if not re.fullmatch(limit.pattern, value):
            found.append(f"{where}: must match {limit.pattern} ({limit.url})")
    return found


def unknown_name_properties(template: Mapping[str, Any]) -> list[str]:
    """Top-level properties ending in "Name" that NAME_LIMITS does not cover (their limit would go unchecked)."""
    known = {(n.resource_type, n.prop) for n in NAME_LIMITS} | NOT_RESOURCE_NAMES
    return [
        f"{logical_id}: {resource.get('Type')}.{prop}"
        for logical_id, resource in template.get("Resources", {}).items()
        for prop in (resource.get("Properties") or {})
        if prop.endswith("Name") and (resource.get("Type"), prop) not in known
    ]
