"""EventBridge rule targets: state machines (Input / InputPath / InputTransformer), SQS, DLQ, rule state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters import eventbridge_targets as eb
from kbsync_localcloud.cloud import LocalCloud

ROLE = "arn:aws:iam::123456789012:role/sfn"
PASS_MACHINE = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "time": "2026-01-02T03:04:05Z",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::docs"],
    "detail": {"bucket": {"name": "docs"}, "object": {"key": 'a "b".txt', "size": 5}, "tags": ["x", "y"]},
}


class _FakeRule:
    arn = "arn:aws:events:us-east-1:123456789012:rule/r"
    name = "r"


# --- pure: input rendering (no moto) ----------------------------------------------------------------------


def test_bare_placeholder_is_json_and_quoted_placeholder_is_text() -> None:
    values = {"key": (True, "docs/a.txt"), "size": (True, 5)}
    rendered = eb.render_input_template('{"k": <key>, "msg": "got <key> (<size> bytes)", "n": <size>}', values)
    assert json.loads(rendered) == {"k": "docs/a.txt", "msg": "got docs/a.txt (5 bytes)", "n": 5}


def test_quoted_placeholder_escapes_quotes_so_the_result_stays_json() -> None:
    rendered = eb.render_input_template('{"msg": "key=<key>"}', {"key": (True, 'a "b".txt')})
    assert json.loads(rendered) == {"msg": 'key=a "b".txt'}


def test_missing_path_gives_null_bare_and_empty_quoted() -> None:
    rendered = eb.render_input_template('{"a": <gone>, "b": "<gone>"}', {"gone": (False, None)})
    assert json.loads(rendered) == {"a": None, "b": ""}


def test_unknown_angle_text_is_left_alone_and_plain_templates_insert_text() -> None:
    assert eb.render_input_template("<key> is <unknown>", {"key": (True, "k")}) == "k is <unknown>"


def test_target_input_precedence_and_predefined_variables() -> None:
    rule = _FakeRule()
    assert eb.target_input(rule, {"Arn": "x", "Input": '{"fixed": 1}'}, EVENT) == '{"fixed": 1}'
    assert json.loads(eb.target_input(rule, {"Arn": "x", "InputPath": "$.detail.object"}, EVENT)) == {
        "key": 'a "b".txt',
        "size": 5,
    }
    transformer = {
        "InputPathsMap": {"key": "$.detail.object.key", "tags": "$.detail.tags[*]"},
        "InputTemplate": '{"key": <key>, "tags": <tags>, "rule": "<aws.events.rule-name>", '
        '"event": <aws.events.event.json>}',
    }
    rendered = json.loads(eb.target_input(rule, {"Arn": "x", "InputTransformer": transformer}, EVENT))
    assert rendered["key"] == 'a "b".txt'
    assert rendered["tags"] == ["x", "y"]
    assert rendered["rule"] == "r"
    assert rendered["event"] == EVENT
    assert json.loads(eb.target_input(rule, {"Arn": "x"}, EVENT)) == EVENT


def test_delivered_event_drops_moto_keys_and_formats_time() -> None:
    delivered = eb.delivered_event({**EVENT, "time": 1767323045.5, "ingestion-time": 1.0})
    assert "ingestion-time" not in delivered
    assert delivered["time"] == "2026-01-02T03:04:05Z"


# --- on the local cloud ----------------------------------------------------------------------------------


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def _machine(cloud: LocalCloud, name: str = "echo") -> str:
    sfn = cloud.client("stepfunctions")
    return str(sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE)["stateMachineArn"])


def _rule(cloud: LocalCloud, targets: list[dict[str, Any]], name: str = "r", state: str = "ENABLED") -> None:
    events = cloud.client("events")
    pattern = {"source": ["kbsync.test"]}
    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state)
    events.put_targets(Rule=name, Targets=targets)


def _put(cloud: LocalCloud, detail: dict[str, Any]) -> None:
    entries = [{"Source": "kbsync.test", "DetailType": "Test", "Detail": json.dumps(detail)}]
    result = cloud.client("events").put_events(Entries=entries)
    assert result["FailedEntryCount"] == 0


def _finished_executions(cloud: LocalCloud, arn: str, count: int) -> list[dict[str, Any]]:
    """Wait (deadline 10 s) until `count` executions ended; fail on anything but SUCCEEDED."""
    sfn = cloud.client("stepfunctions")
    deadline = time.monotonic() + 10
    while True:
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
            break
        assert time.monotonic() < deadline, f"executions not finished: {executions}"
        time.sleep(0.01)
    described = [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]
    assert [d["status"] for d in described] == ["SUCCEEDED"] * count
    return described


def test_state_machine_target_gets_the_whole_event_with_a_unique_name(cloud: LocalCloud) -> None:
    arn = _machine(cloud)
    _rule(cloud, [{"Id": "sm", "Arn": arn, "RoleArn": ROLE}])
    _put(cloud, {"n": 1})
    _put(cloud, {"n": 2})
    executions = _finished_executions(cloud, arn, 2)
    inputs = sorted((json.loads(e["input"]) for e in executions), key=lambda event: event["detail"]["n"])
    assert [event["detail"] for event in inputs] == [{"n": 1}, {"n": 2}]
    first = inputs[0]
    assert set(first) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert first["account"] == "123456789012"
    assert time.strptime(first["time"], "%Y-%m-%dT%H:%M:%SZ")
    names = {e["name"] for e in executions}
    assert len(names) == 2 and all(names)


def test_input_transformer_on_a_state_machine_target(cloud: LocalCloud) -> None:
    arn = _machine(cloud)
    transformer = {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": '{"number": <n>, "text": "n=<n>"}'}
    _rule(cloud, [{"Id": "sm", "Arn": arn, "RoleArn": ROLE, "InputTransformer": transformer}])
    _put(cloud, {"n": 7})
    (execution,) = _finished_executions(cloud, arn, 1)
    assert json.loads(execution["input"]) == {"number": 7, "text": "n=7"}


def test_disabled_rule_delivers_nothing(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName="sink")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _rule(cloud, [{"Id": "q", "Arn": queue_arn}], state="DISABLED")
    _put(cloud, {"n": 1})
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)


def test_sqs_target_gets_the_full_event_and_input_path(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName="sink")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _rule(cloud, [{"Id": "q", "Arn": queue_arn}, {"Id": "d", "Arn": queue_arn, "InputPath": "$.detail"}])
    _put(cloud, {"n": 3})
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted((json.loads(m["Body"]) for m in messages), key=len)
    assert bodies[0] == {"n": 3}
    assert bodies[1]["account"] == "123456789012" and bodies[1]["detail"] == {"n": 3}


def test_failed_invocation_goes_to_the_dead_letter_queue_with_eventbridge_attributes(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
    _rule(
        cloud,
        [
            {
                "Id": "sm",
                "Arn": missing,
                "RoleArn": ROLE,
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    _put(cloud, {"n": 1})
    (message,) = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"].endswith(":rule/r")
    assert attributes["TARGET_ARN"] == missing
    assert attributes["ERROR_CODE"] == "RESOURCE_NOT_FOUND"
    assert {"ERROR_MESSAGE", "EXHAUSTED_RETRY_CONDITION", "RETRY_ATTEMPTS"} <= set(attributes)
    assert json.loads(message["Body"])["detail"] == {"n": 1}


def test_invalid_json_input_for_a_state_machine_is_a_failed_invocation(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    arn = _machine(cloud)
    transformer = {"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": "n is <n>"}
    target = {"Id": "sm", "Arn": arn, "RoleArn": ROLE, "InputTransformer": transformer}
    _rule(cloud, [{**target, "DeadLetterConfig": {"Arn": dlq_arn}}])
    _put(cloud, {"n": 1})
    (message,) = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "SDK_CLIENT_ERROR"
    assert cloud.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"] == []


def test_schedule_rule_never_matches_events(cloud: LocalCloud) -> None:
    arn = _machine(cloud)
    events = cloud.client("events")
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "sm", "Arn": arn, "RoleArn": ROLE}])
    _put(cloud, {"n": 1})
    assert cloud.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"] == []


def test_verify_moto_internals_passes_on_the_pinned_moto() -> None:
    eb.verify_moto_internals()


def test_verify_moto_internals_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    def changed(self: Any, event: Any) -> None:
        return None

    monkeypatch.setattr(eb, "_original_send_to_targets", changed)
    with pytest.raises(eb.MotoInternalsChanged, match="send_to_targets"):
        eb.verify_moto_internals()


_RECORDING_HANDLER = """
import json

import boto3


def handler(event, context):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket="seen", Key=event["source"], Body=json.dumps(event))
"""


def _recording_function(cloud: LocalCloud) -> str:
    """A function (in-process Lambda) that stores each event it gets in s3://seen/<source>; its ARN."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", _RECORDING_HANDLER)
    cloud.client("s3").create_bucket(Bucket="seen")
    iam = cloud.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = cloud.client("lambda").create_function(
        FunctionName="recorder",
        Runtime="python3.11",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    return str(created["FunctionArn"])


def test_lambda_target_is_invoked_with_the_event(cloud: LocalCloud) -> None:
    arn = _recording_function(cloud)
    _rule(cloud, [{"Id": "fn", "Arn": arn}])
    _put(cloud, {"n": 5})
    s3 = cloud.client("s3")
    deadline = time.monotonic() + 10
    while not s3.list_objects_v2(Bucket="seen").get("Contents"):
        assert time.monotonic() < deadline, "the Lambda target was not invoked within 10 s"
        time.sleep(0.01)
    event = json.loads(s3.get_object(Bucket="seen", Key="kbsync.test")["Body"].read())
    assert event["detail"] == {"n": 5} and event["account"] == "123456789012"
