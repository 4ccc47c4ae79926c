"""Security properties of the template as deployed, each a function returning its violations (empty = holds).

Kept apart from the tests so that the same checker runs on the product template (must hold) and on deliberately
broken copies (must be caught): a property check that cannot fail is a defect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from kbsync_localcloud.sam import transform_template

_SUB_VARIABLE = re.compile(r"\$\{[^}]*\}")
REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"

#: Actions on data and secrets: never granted on every resource.
GUARDED_SERVICES = ("bedrock", "dynamodb", "sns", "kms")
#: AWS managed policies the stack may attach (what SAM adds for Tracing / basic execution); none touches data.
ALLOWED_MANAGED_POLICIES = {
    "AWSXrayWriteOnlyAccess",
    "AWSLambdaBasicExecutionRole",
    "AWSLambdaBasicExecutionRolePolicy",
}
#: Resource-policy holders whose "*" means "this resource" (a KMS key policy's Resource is always "*").
SELF_SCOPED_POLICY_TYPES = {"AWS::KMS::Key"}
#: Resources holding one policy document (identity policies and resource policies).
POLICY_DOCUMENT_TYPES = {
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
}


@cache
def _deployed_json() -> str:
    return json.dumps(transform_template(TEMPLATE))


def deployed() -> dict[str, Any]:
    """A fresh copy of the product template after `sam package` (placeholders) + the SAM transform."""
    loaded: dict[str, Any] = json.loads(_deployed_json())
    return loaded


def resources(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if not types or v.get("Type") in types}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ IAM


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement granted by the template: (where, statement). KMS key policies excepted (self-scoped)."""
    for logical_id, resource in resources(template).items():
        kind = resource.get("Type")
        props = resource.get("Properties", {}) or {}
        documents: list[tuple[str, Any]] = []
        if kind == "AWS::IAM::Role":
            documents += [
                (f"{logical_id}/{p.get('PolicyName')}", p.get("PolicyDocument")) for p in props.get("Policies", [])
            ]
        elif kind in POLICY_DOCUMENT_TYPES:
            documents.append((logical_id, props.get("PolicyDocument")))
        for where, document in documents:
            for index, statement in enumerate(_as_list((document or {}).get("Statement", []))):
                yield f"{where}[{index}]", statement


def _literal_strings(expression: Any) -> Iterator[str]:
    """Every string a resource expression can evaluate to, as far as literals tell (both Fn::If branches)."""
    if isinstance(expression, str):
        yield expression
    elif isinstance(expression, list):
        for item in expression:
            yield from _literal_strings(item)
    elif isinstance(expression, dict):
        if "Fn::If" in expression:
            yield from _literal_strings(expression["Fn::If"][1:])
        elif "Fn::Sub" in expression:
            sub = expression["Fn::Sub"]
            yield sub if isinstance(sub, str) else sub[0]
        elif "Fn::Join" in expression:
            separator, parts = expression["Fn::Join"]
            if all(isinstance(part, str) for part in parts):
                yield separator.join(parts)
        # Ref / GetAtt / ImportValue name one resource or a parameter: not a wildcard literal.


def is_wildcard_resource(arn: str) -> bool:
    """'*', or an ARN whose whole resource part is a wildcard (arn:aws:sns:r:a:*). 'knowledge-base/*' is scoped."""
    if arn.strip() == "*":
        return True
    parts = _SUB_VARIABLE.sub("X", arn).split(":", 5)  # ${AWS::Region} holds colons of its own
    return len(parts) == 6 and parts[5].strip() in ("*", "*/*")


def _services(actions: Any) -> set[str]:
    found = set()
    for action in _as_list(actions):
        if isinstance(action, str):
            found.add("*" if action == "*" else action.split(":", 1)[0].lower())
    return found


def wildcard_grants(template: dict[str, Any]) -> list[str]:
    """Allow statements granting a guarded service's actions on every resource (or using NotResource/NotAction)."""
    found = []
    for where, statement in policy_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        if "NotResource" in statement or "NotAction" in statement:
            found.append(f"{where}: NotResource/NotAction grants everything else")
            continue
        services = _services(statement.get("Action", []))
        guarded = services & {*GUARDED_SERVICES, "*"}
        wild = [s for s in _literal_strings(statement.get("Resource")) if is_wildcard_resource(s)]
        if guarded and wild:
            found.append(f"{where}: {sorted(guarded)} actions on {wild}")
    return found


def admin_actions(template: dict[str, Any]) -> list[str]:
    """Statements allowing '*' or '<service>:*' (every action of a service)."""
    return [
        f"{where}: {action}"
        for where, statement in policy_statements(template)
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement.get("Action", []))
        if isinstance(action, str) and (action == "*" or action.endswith(":*"))
    ]


def unexpected_managed_policies(template: dict[str, Any]) -> list[str]:
    found = []
    for logical_id, role in resources(template, "AWS::IAM::Role").items():
        for arn in _as_list(role.get("Properties", {}).get("ManagedPolicyArns", [])):
            for literal in _literal_strings(arn):
                if literal.rsplit("/", 1)[-1] not in ALLOWED_MANAGED_POLICIES:
                    found.append(f"{logical_id}: managed policy {literal}")
    return found


# ------------------------------------------------------------------ data at rest


def _referenced_id(expression: Any) -> str | None:
    if isinstance(expression, dict):
        if "Ref" in expression:
            return str(expression["Ref"])
        if "Fn::GetAtt" in expression:
            target = expression["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def topics_without_customer_managed_key(template: dict[str, Any]) -> list[str]:
    """Every SNS topic encrypted with a KMS key of this template (not alias/aws/sns), the key rotated."""
    found = []
    keys = resources(template, "AWS::KMS::Key")
    aliases = resources(template, "AWS::KMS::Alias")
    for logical_id, topic in resources(template, "AWS::SNS::Topic").items():
        key_ref = _referenced_id(topic.get("Properties", {}).get("KmsMasterKeyId"))
        if key_ref in aliases:
            key_ref = _referenced_id(aliases[key_ref]["Properties"].get("TargetKeyId"))
        if key_ref not in keys:
            found.append(f"{logical_id}: KmsMasterKeyId is not a customer-managed key of this stack")
        elif keys[key_ref].get("Properties", {}).get("EnableKeyRotation") is not True:
            found.append(f"{logical_id}: key {key_ref} has no automatic rotation")
    return found


def unprotected_tables(template: dict[str, Any]) -> list[str]:
    """Tables without point-in-time recovery, deletion protection or a Retain deletion policy."""
    found = []
    for logical_id, table in resources(template, "AWS::DynamoDB::Table").items():
        props = table.get("Properties", {})
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is not True:
            found.append(f"{logical_id}: no point-in-time recovery")
        if props.get("DeletionProtectionEnabled") is not True:
            found.append(f"{logical_id}: no deletion protection")
        if table.get("DeletionPolicy") != "Retain":
            found.append(f"{logical_id}: DeletionPolicy is not Retain (a stack delete would drop the records)")
    return found


# ------------------------------------------------------------------ logs


def log_groups_without_retention(template: dict[str, Any]) -> list[str]:
    return [
        f"{logical_id}: no RetentionInDays"
        for logical_id, group in resources(template, "AWS::Logs::LogGroup").items()
        if group.get("Properties", {}).get("RetentionInDays") in (None, "")
    ]


def functions_without_log_group(template: dict[str, Any]) -> list[str]:
    """Every Lambda function has an explicit log group /aws/lambda/${Function} (else Lambda creates one forever)."""
    named: set[str] = set()
    for group in resources(template, "AWS::Logs::LogGroup").values():
        name = group.get("Properties", {}).get("LogGroupName")
        for literal in _literal_strings(name):
            if literal.startswith("/aws/lambda/${") and literal.endswith("}"):
                named.add(literal[len("/aws/lambda/${") : -1])
    functions = resources(template, "AWS::Lambda::Function")
    return [
        f"{logical_id}: no log group /aws/lambda/${{{logical_id}}}"
        for logical_id in functions
        if logical_id not in named
    ]


def state_machines_logging_problems(template: dict[str, Any]) -> list[str]:
    """Every state machine logs (ERROR or ALL) to a log group of this stack, WITHOUT execution data."""
    found = []
    groups = resources(template, "AWS::Logs::LogGroup")
    for logical_id, machine in resources(template, "AWS::StepFunctions::StateMachine").items():
        logging = machine.get("Properties", {}).get("LoggingConfiguration")
        if not logging:
            found.append(f"{logical_id}: no LoggingConfiguration")
            continue
        if logging.get("IncludeExecutionData") is not False:
            found.append(f"{logical_id}: IncludeExecutionData must be false (inputs carry failure reasons)")
        if logging.get("Level") not in ("ERROR", "ALL", "FATAL"):
            found.append(f"{logical_id}: logging Level {logging.get('Level')!r}")
        destinations = [
            _referenced_id(d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn"))
            for d in logging.get("Destinations", [])
        ]
        if not destinations or any(d not in groups for d in destinations):
            found.append(f"{logical_id}: logs must go to a log group of this stack (with retention)")
    return found


# ------------------------------------------------------------------ event delivery


def targets_without_retry_or_dlq(template: dict[str, Any]) -> list[str]:
    """Every EventBridge rule target and Scheduler schedule target: RetryPolicy + DeadLetterConfig.Arn."""
    found = []
    for logical_id, rule in resources(template, "AWS::Events::Rule").items():
        for target in rule.get("Properties", {}).get("Targets", []):
            where = f"{logical_id}/{target.get('Id')}"
            if not target.get("RetryPolicy"):
                found.append(f"{where}: no RetryPolicy")
            if not (target.get("DeadLetterConfig") or {}).get("Arn"):
                found.append(f"{where}: no DeadLetterConfig.Arn")
    for logical_id, schedule in resources(template, "AWS::Scheduler::Schedule").items():
        target = schedule.get("Properties", {}).get("Target", {})
        if not target.get("RetryPolicy"):
            found.append(f"{logical_id}: no RetryPolicy")
        if not (target.get("DeadLetterConfig") or {}).get("Arn"):
            found.append(f"{logical_id}: no DeadLetterConfig.Arn")
    return found


def event_targets(template: dict[str, Any]) -> list[str]:
    """Names of every rule target and schedule (to know the delivery property is not vacuous)."""
    rules = [
        f"{logical_id}/{t.get('Id')}"
        for logical_id, rule in resources(template, "AWS::Events::Rule").items()
        for t in rule.get("Properties", {}).get("Targets", [])
    ]
    return rules + list(resources(template, "AWS::Scheduler::Schedule"))


# ------------------------------------------------------------------ traces


def functions_tracing_responses(template: dict[str, Any]) -> list[str]:
    """Traced functions must not copy their responses into X-Ray (Powertools' Tracer does unless told not to):
    the poll function returns failure reasons, the validator returns the request's free text."""
    found = []
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        props = function.get("Properties", {})
        if (props.get("TracingConfig") or {}).get("Mode") != "Active":
            continue
        variables = (props.get("Environment") or {}).get("Variables") or {}
        if str(variables.get("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "true")).lower() != "false":
            found.append(f"{logical_id}: POWERTOOLS_TRACER_CAPTURE_RESPONSE is not 'false'")
    return found


# ------------------------------------------------------------------ parameters that widen IAM


def widening_parameter_problems(template: dict[str, Any]) -> list[str]:
    """KnowledgeBaseArns flows into IAM Resource: its AllowedPattern (CloudFormation applies it to each list value)
    must refuse '*' and other wildcards while accepting a knowledge-base ARN (and '' for the default)."""
    parameter = template.get("Parameters", {}).get("KnowledgeBaseArns")
    if parameter is None:
        return ["no KnowledgeBaseArns parameter"]
    pattern = parameter.get("AllowedPattern")
    if not pattern:
        return ["KnowledgeBaseArns has no AllowedPattern: '*' would grant every resource"]
    found = []
    for value in ("*", "arn:aws:bedrock:us-east-1:123456789012:*", "arn:aws:bedrock:*:*:knowledge-base/*"):
        if re.fullmatch(pattern, value):
            found.append(f"KnowledgeBaseArns AllowedPattern accepts {value!r}")
    for value in ("arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678", ""):
        if not re.fullmatch(pattern, value):
            found.append(f"KnowledgeBaseArns AllowedPattern refuses {value!r}")
    return found
