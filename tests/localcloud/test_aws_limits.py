"""AWS's hard limits on the local cloud: each one accepted at the limit and refused just over it, with AWS's error.

The adapter is localcloud/kbsync_localcloud/adapters/aws_limits.py; the table of limits, errors and sources is
docs/local-cloud-limits.md. Every call here is a real boto3 call against the local cloud.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.adapters import aws_limits
from kbsync_localcloud.adapters.aws_limits import (
    DYNAMODB_ITEM_MAX_BYTES,
    EVENTBRIDGE_RULE_NAME_MAX,
    IAM_ROLE_NAME_MAX,
    LAMBDA_FUNCTION_NAME_MAX,
    LAMBDA_SYNC_REQUEST_MAX_BYTES,
    LAMBDA_SYNC_RESPONSE_MAX_BYTES,
    SCHEDULER_SCHEDULE_NAME_MAX,
    SFN_EXECUTION_NAME_MAX,
    SFN_HISTORY_MAX_EVENTS,
    SFN_PAYLOAD_MAX_BYTES,
    SFN_STATE_MACHINE_NAME_MAX,
    SNS_MESSAGE_MAX_BYTES,
    SQS_QUEUE_NAME_MAX,
)
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.inline_lambda import create_inline_function
from tests.localcloud.lambda_fixtures.sfn_helpers import ROLE_ARN, create_state_machine, wait_for_end

PASS_MACHINE = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def _error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def _run(cloud: LocalCloud, definition: dict[str, Any], payload: Any = None) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=create_state_machine(sfn, definition),
        name=f"ex-{uuid.uuid4().hex[:10]}",
        input=json.dumps(payload if payload is not None else {}),
    )["executionArn"]
    return wait_for_end(sfn, arn, deadline_s=30)


def _padded(size: int, key: str = "x") -> dict[str, str]:
    """A JSON object whose compact UTF-8 text is exactly `size` bytes: {"x":"aaa..."}."""
    return {key: "a" * (size - len(json.dumps({key: ""}, separators=(",", ":"))))}


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


# --------------------------------------------------------------------------- Step Functions payloads


@pytest.mark.parametrize(
    ("size", "status"), [(SFN_PAYLOAD_MAX_BYTES, "SUCCEEDED"), (SFN_PAYLOAD_MAX_BYTES + 1, "FAILED")]
)
def test_state_output_is_limited_to_256_kib(cloud: LocalCloud, size: int, status: str) -> None:
    result = _padded(size)
    assert _compact_size(result) == size
    described = _run(cloud, {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": True}}})
    assert described["status"] == status
    if status == "FAILED":
        assert described["error"] == "States.DataLimitExceeded"


def test_multibyte_state_output_is_measured_in_utf8_bytes(cloud: LocalCloud) -> None:
    within = {"x": "é" * ((SFN_PAYLOAD_MAX_BYTES - 8) // 2)}  # 2 bytes each: 262,136 + 8 = 262,144
    assert _compact_size(within) == SFN_PAYLOAD_MAX_BYTES
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": within, "End": True}}}
    assert _run(cloud, definition)["status"] == "SUCCEEDED"
    over = {"x": within["x"] + "a"}
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": over, "End": True}}}
    assert _run(cloud, definition)["error"] == "States.DataLimitExceeded"


def test_start_execution_input_is_limited_to_262144_bytes(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    arn = create_state_machine(sfn, PASS_MACHINE)
    at_limit = json.dumps(_padded(SFN_PAYLOAD_MAX_BYTES), separators=(",", ":"))
    execution = sfn.start_execution(stateMachineArn=arn, name="input-at-limit", input=at_limit)["executionArn"]
    assert wait_for_end(sfn, execution)["status"] == "SUCCEEDED"
    over = json.dumps(_padded(SFN_PAYLOAD_MAX_BYTES + 1), separators=(",", ":"))
    assert _error_code(lambda: sfn.start_execution(stateMachineArn=arn, name="input-over", input=over)) == (
        "ValidationException"
    )


@pytest.mark.parametrize(
    ("size", "status"), [(SFN_PAYLOAD_MAX_BYTES, "SUCCEEDED"), (SFN_PAYLOAD_MAX_BYTES + 1, "FAILED")]
)
def test_map_item_is_limited_to_256_kib(cloud: LocalCloud, size: int, status: str) -> None:
    pad = "a" * (size - len('{"v":1,"pad":""}'))
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"v.$": "$$.Map.Item.Value", "pad": pad},
                "ItemProcessor": {"StartAt": "Len", "States": {"Len": {"Type": "Pass", "Result": 1, "End": True}}},
                "End": True,
            }
        },
    }
    described = _run(cloud, definition, {"items": [1]})
    assert described["status"] == status
    if status == "FAILED":
        assert described["error"] == "States.DataLimitExceeded"


# --- task results, and who may catch States.DataLimitExceeded


BIG_RESULT_HANDLER = """
def lambda_handler(event, context):
    return "a" * event["n"]
"""


def _function(cloud: LocalCloud, name: str, source: str) -> str:
    lam = cloud.client("lambda")
    try:
        return str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])
    except ClientError:
        pass
    return create_inline_function(lam, cloud.client("iam"), name, source, MemorySize=256)


def _task_machine(function_arn: str, catch: list[str] | None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "End": True,
    }
    if catch is not None:
        task["Catch"] = [{"ErrorEquals": catch, "Next": "Caught"}]
        task["Retry"] = [{"ErrorEquals": catch, "MaxAttempts": 2, "IntervalSeconds": 1}]
    return {"StartAt": "Big", "States": {"Big": task, "Caught": {"Type": "Pass", "Result": "caught", "End": True}}}


def test_a_lambda_task_result_within_the_limit_is_accepted(cloud: LocalCloud) -> None:
    arn = _function(cloud, "big-result", BIG_RESULT_HANDLER)
    described = _run(cloud, _task_machine(arn, ["States.ALL"]), {"n": SFN_PAYLOAD_MAX_BYTES - 1024})
    assert described["status"] == "SUCCEEDED"
    assert described["output"].strip('"') == "a" * (SFN_PAYLOAD_MAX_BYTES - 1024)


def test_states_all_does_not_catch_or_retry_a_task_result_over_the_limit(cloud: LocalCloud) -> None:
    arn = _function(cloud, "big-result", BIG_RESULT_HANDLER)
    sfn = cloud.client("stepfunctions")
    described = _run(cloud, _task_machine(arn, ["States.ALL"]), {"n": SFN_PAYLOAD_MAX_BYTES + 1})
    assert (described["status"], described["error"]) == ("FAILED", "States.DataLimitExceeded")
    events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    assert [e["type"] for e in events].count("TaskScheduled") == 1  # no retry either


def test_an_explicit_data_limit_catcher_catches_it(cloud: LocalCloud) -> None:
    arn = _function(cloud, "big-result", BIG_RESULT_HANDLER)
    described = _run(cloud, _task_machine(arn, ["States.DataLimitExceeded"]), {"n": SFN_PAYLOAD_MAX_BYTES + 1})
    assert described["status"] == "SUCCEEDED"
    assert described["output"].strip('"') == "caught"


# --------------------------------------------------------------------------- execution history


def _counting_loop(iterations: int) -> dict[str, Any]:
    """4 events per iteration (Inc + Check entered/exited) + ExecutionStarted + Done (2) + the end event."""
    return {
        "StartAt": "Inc",
        "States": {
            "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericLessThan": iterations, "Next": "Inc"}],
                "Default": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }


def _history(execution_arn: str) -> list[dict[str, Any]]:
    """The execution's history as moto records it. GetExecutionHistory would give the same events, but moto 5.2.5
    needs ~12 s per call on a 25,000-event history (it rebuilds the whole list for every page)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    execution = next(e for e in backend._get_executions() if e.execution_arn == execution_arn)
    return list(execution.exec_worker.env.event_manager._history_event_list)


def test_an_execution_whose_event_25000_is_execution_succeeded_succeeds(cloud: LocalCloud) -> None:
    iterations = (SFN_HISTORY_MAX_EVENTS - 4) // 4
    described = _run(cloud, _counting_loop(iterations), {"i": 0})
    assert described["status"] == "SUCCEEDED"
    events = _history(described["executionArn"])
    assert len(events) == SFN_HISTORY_MAX_EVENTS
    assert events[-1]["type"] == "ExecutionSucceeded"


def test_an_execution_reaching_25000_events_otherwise_fails_with_states_runtime(cloud: LocalCloud) -> None:
    iterations = (SFN_HISTORY_MAX_EVENTS - 4) // 4 + 1  # would need 25,004 events
    described = _run(cloud, _counting_loop(iterations), {"i": 0})
    cause = f"The execution reached the maximum number of history events ({SFN_HISTORY_MAX_EVENTS})."
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "States.Runtime", cause)
    events = _history(described["executionArn"])
    assert len(events) == SFN_HISTORY_MAX_EVENTS
    assert events[-1]["id"] == SFN_HISTORY_MAX_EVENTS
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"] == {"error": "States.Runtime", "cause": cause}


def test_a_runaway_loop_stops_at_the_history_limit(cloud: LocalCloud) -> None:
    loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
    described = _run(cloud, loop)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert len(_history(described["executionArn"])) == SFN_HISTORY_MAX_EVENTS


# --------------------------------------------------------------------------- names at create


def _name(length: int, prefix: str = "n") -> str:
    return (prefix + uuid.uuid4().hex * 4)[:length]


def _create_state_machine(cloud: LocalCloud, name: str) -> Any:
    sfn = cloud.client("stepfunctions")
    return sfn.create_state_machine(name=name, definition=json.dumps(PASS_MACHINE), roleArn=ROLE_ARN)


def _put_rule(cloud: LocalCloud, name: str) -> Any:
    return cloud.client("events").put_rule(Name=name, EventPattern=json.dumps({"source": ["kbsync.test"]}))


def _create_schedule(cloud: LocalCloud, name: str) -> Any:
    target = {"Arn": "arn:aws:sqs:us-east-1:123456789012:q", "RoleArn": ROLE_ARN}
    return cloud.client("scheduler").create_schedule(
        Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target
    )


def _create_function(cloud: LocalCloud, name: str) -> Any:
    return _function(cloud, name, BIG_RESULT_HANDLER)


def _create_queue(cloud: LocalCloud, name: str) -> Any:
    return cloud.client("sqs").create_queue(QueueName=name)


def _create_role(cloud: LocalCloud, name: str) -> Any:
    return cloud.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")


NAME_LIMITS = [
    pytest.param(_create_state_machine, SFN_STATE_MACHINE_NAME_MAX, "ValidationException", id="state-machine-80"),
    pytest.param(_put_rule, EVENTBRIDGE_RULE_NAME_MAX, "ValidationException", id="eventbridge-rule-64"),
    pytest.param(_create_schedule, SCHEDULER_SCHEDULE_NAME_MAX, "ValidationException", id="scheduler-schedule-64"),
    pytest.param(_create_function, LAMBDA_FUNCTION_NAME_MAX, "InvalidParameterValueException", id="lambda-64"),
    pytest.param(_create_queue, SQS_QUEUE_NAME_MAX, "InvalidParameterValue", id="sqs-queue-80"),
    pytest.param(_create_role, IAM_ROLE_NAME_MAX, "ValidationError", id="iam-role-64"),
]


@pytest.mark.parametrize(("create", "limit", "code"), NAME_LIMITS)
def test_names_are_limited_at_create(
    cloud: LocalCloud, create: Callable[[LocalCloud, str], Any], limit: int, code: str
) -> None:
    create(cloud, _name(limit))
    assert _error_code(lambda: create(cloud, _name(limit + 1))) == code


def test_execution_names_are_80_characters_without_forbidden_characters(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    arn = create_state_machine(sfn, PASS_MACHINE)
    sfn.start_execution(stateMachineArn=arn, name=_name(SFN_EXECUTION_NAME_MAX), input="{}")
    too_long = _name(SFN_EXECUTION_NAME_MAX + 1)
    assert _error_code(lambda: sfn.start_execution(stateMachineArn=arn, name=too_long, input="{}")) == (
        "ValidationException"
    )
    for bad in ("has space", "a/b", "a:b", "a*b", "tab\there"):

        def start(name: str = bad) -> Any:
            return sfn.start_execution(stateMachineArn=arn, name=name, input="{}")

        assert _error_code(start) == "InvalidName", bad


def test_an_execution_started_without_a_name_gets_a_uuid_as_aws_gives_it(cloud: LocalCloud) -> None:
    """StartExecution's name is optional: AWS names the execution with a UUID, so two unnamed starts are two
    executions (moto 5.2.5 named both None: the second was ExecutionAlreadyExists)."""
    sfn = cloud.client("stepfunctions")
    arn = create_state_machine(sfn, PASS_MACHINE)
    first, second = (sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"] for _ in range(2))
    assert first != second
    for execution in (first, second):
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", execution.rsplit(":", 1)[1]
        )


# --- through CloudFormation


def _stack(cloud: LocalCloud, name: str, resources: dict[str, Any]) -> dict[str, Any]:
    cfn = cloud.client("cloudformation")
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    return dict(cfn.describe_stacks(StackName=name)["Stacks"][0])


def _role(name: str | None = None, **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}}
    if name is not None:
        properties["RoleName"] = name
    return {"Type": "AWS::IAM::Role", "Properties": properties, **extra}


def test_a_stack_with_a_name_over_the_limit_fails_and_rolls_back(cloud: LocalCloud) -> None:
    cfn = cloud.client("cloudformation")
    queue_name = _name(20, "q")
    too_long = _name(IAM_ROLE_NAME_MAX + 1, "r")
    resources = {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue_name}},
        "Role": _role(too_long, DependsOn="Queue"),
    }
    assert _stack(cloud, "limits-too-long", resources)["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="limits-too-long")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [(e["LogicalResourceId"], e["ResourceType"]) for e in failed] == [("Role", "AWS::IAM::Role")]
    assert "Member must have length less than or equal to 64" in failed[0]["ResourceStatusReason"]
    queues = cloud.client("sqs").list_queues(QueueNamePrefix=queue_name).get("QueueUrls", [])
    assert queues == []  # rolled back


def test_a_stack_with_names_at_the_limit_is_created(cloud: LocalCloud) -> None:
    resources = {"Role": _role(_name(IAM_ROLE_NAME_MAX, "r"))}
    assert _stack(cloud, "limits-at-limit", resources)["StackStatus"] == "CREATE_COMPLETE"


def test_names_cloudformation_generates_fit_the_limits(cloud: LocalCloud) -> None:
    stack_name = "s" * 100
    resources = {
        "AVeryLongLogicalIdForTheRoleResource": _role(),
        "QueueWithALongLogicalId": {"Type": "AWS::SQS::Queue"},
    }
    assert _stack(cloud, stack_name, resources)["StackStatus"] == "CREATE_COMPLETE"
    described = cloud.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in described}
    assert len(physical["AVeryLongLogicalIdForTheRoleResource"]) <= IAM_ROLE_NAME_MAX
    assert len(physical["QueueWithALongLogicalId"].rsplit("/", 1)[-1]) <= SQS_QUEUE_NAME_MAX


# --------------------------------------------------------------------------- Lambda Invoke


COUNT_HANDLER = """
def lambda_handler(event, context):
    return {"received": len(event["x"])}
"""


def test_a_sync_invoke_request_is_limited_to_6_mb(cloud: LocalCloud) -> None:
    _function(cloud, "count-request", COUNT_HANDLER)
    lam = cloud.client("lambda")
    at_limit = json.dumps(_padded(LAMBDA_SYNC_REQUEST_MAX_BYTES), separators=(",", ":"))
    response = lam.invoke(FunctionName="count-request", Payload=at_limit)
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"received": LAMBDA_SYNC_REQUEST_MAX_BYTES - 8}
    over = json.dumps(_padded(LAMBDA_SYNC_REQUEST_MAX_BYTES + 1), separators=(",", ":"))
    assert _error_code(lambda: lam.invoke(FunctionName="count-request", Payload=over)) == (
        "RequestEntityTooLargeException"
    )


def test_a_sync_invoke_response_over_6_mb_is_a_function_error(cloud: LocalCloud) -> None:
    _function(cloud, "big-result", BIG_RESULT_HANDLER)
    lam = cloud.client("lambda")
    at_limit = LAMBDA_SYNC_RESPONSE_MAX_BYTES - 2  # the JSON string's quotes
    response = lam.invoke(FunctionName="big-result", Payload=json.dumps({"n": at_limit}))
    assert "FunctionError" not in response
    assert len(response["Payload"].read()) == LAMBDA_SYNC_RESPONSE_MAX_BYTES
    response = lam.invoke(FunctionName="big-result", Payload=json.dumps({"n": at_limit + 1}))
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


# --------------------------------------------------------------------------- SNS Publish


@pytest.fixture(scope="module")
def topic(cloud: LocalCloud) -> str:
    return str(cloud.client("sns").create_topic(Name="limits")["TopicArn"])


def test_an_sns_message_is_limited_to_262144_utf8_bytes(cloud: LocalCloud, topic: str) -> None:
    sns = cloud.client("sns")
    sns.publish(TopicArn=topic, Message="é" * (SNS_MESSAGE_MAX_BYTES // 2))  # 262,144 bytes, 131,072 characters
    over = "é" * (SNS_MESSAGE_MAX_BYTES // 2) + "a"
    assert _error_code(lambda: sns.publish(TopicArn=topic, Message=over)) == "InvalidParameter"


def test_sns_message_attributes_count_toward_the_limit(cloud: LocalCloud, topic: str) -> None:
    sns = cloud.client("sns")
    attributes = {"severity": {"DataType": "String", "StringValue": "HIGH"}}
    attribute_bytes = len("severity") + len("String") + len("HIGH")
    body = "m" * (SNS_MESSAGE_MAX_BYTES - attribute_bytes)
    sns.publish(TopicArn=topic, Message=body, MessageAttributes=attributes)
    assert _error_code(lambda: sns.publish(TopicArn=topic, Message=body + "m", MessageAttributes=attributes)) == (
        "InvalidParameter"
    )


# --------------------------------------------------------------------------- DynamoDB


def test_a_dynamodb_item_is_limited_to_400_kb(cloud: LocalCloud) -> None:
    ddb = cloud.client("dynamodb")
    ddb.create_table(
        TableName="limits",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    overhead = len("k") + len("a") + len("v")  # attribute names and the key's value count toward the item size
    ddb.put_item(TableName="limits", Item={"k": {"S": "a"}, "v": {"S": "x" * (DYNAMODB_ITEM_MAX_BYTES - overhead)}})
    over = {"k": {"S": "a"}, "v": {"S": "x" * (DYNAMODB_ITEM_MAX_BYTES - overhead + 1)}}
    with pytest.raises(ClientError) as raised:
        ddb.put_item(TableName="limits", Item=over)
    assert raised.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Item size has exceeded the maximum allowed size",
    }


# --------------------------------------------------------------------------- EventBridge PutEvents


def test_put_events_refuses_aws_sources_entry_by_entry(cloud: LocalCloud) -> None:
    entries = [
        {"Source": "kbsync.test", "DetailType": "Test", "Detail": "{}"},
        {"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"},
        {"Source": "aws.states", "DetailType": "Step Functions Execution Status Change", "Detail": "{}"},
        {"Source": "awsome.app", "DetailType": "Test", "Detail": "{}"},
    ]
    result = cloud.client("events").put_events(Entries=entries)
    assert result["FailedEntryCount"] == 2
    codes = [entry.get("ErrorCode") for entry in result["Entries"]]
    assert codes == [None, "NotAuthorizedForSourceException", "NotAuthorizedForSourceException", None]
    assert all("EventId" in result["Entries"][index] for index in (0, 3))


def test_aws_service_events_still_reach_rules_through_the_internal_path(cloud: LocalCloud) -> None:
    events, sqs = cloud.client("events"), cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName="service-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="s3-created", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="s3-created", Targets=[{"Id": "q", "Arn": queue_arn}])
    results = aws_limits.inject_service_event({"Source": "aws.s3", "DetailType": "Object Created", "Detail": "{}"})
    assert "ErrorCode" not in results[0]
    messages = sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    assert [json.loads(m["Body"])["source"] for m in messages] == ["aws.s3"]
    # and the local cloud's own S3 -> EventBridge notifications still arrive
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="limits-bucket")
    s3.put_bucket_notification_configuration(
        Bucket="limits-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    s3.put_object(Bucket="limits-bucket", Key="doc.txt", Body=b"x")
    messages = sqs.receive_message(QueueUrl=queue_url).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in messages] == ["doc.txt"]


def test_pinned_moto_internals_are_the_ones_the_adapter_patches() -> None:
    aws_limits.verify_moto_internals()
