"""aws-sdk integrations behave like AWS Step Functions: service names, PascalCase, ISO timestamps, error names."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters import aws_sdk_tasks
from kbsync_localcloud.adapters.aws_sdk_tasks import (
    KNOWN_RENAMES,
    boto3_service_name,
    normalise_service_id,
    operation_model,
    sdk_service_class_name,
    service_model,
    sfn_error_name,
    to_boto_params,
    to_sfn_result,
)
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import event_types, output_of, run

# --------------------------------------------------------------------------- names and shapes (no network)


@pytest.mark.parametrize(
    ("sfn_name", "boto_name"),
    [
        ("bedrockagent", "bedrock-agent"),
        ("sfn", "stepfunctions"),
        ("eventbridge", "events"),
        ("cloudwatchlogs", "logs"),
        ("dynamodb", "dynamodb"),
        ("s3", "s3"),
        ("sns", "sns"),
        ("lambda", "lambda"),
        ("acmpca", "acm-pca"),
        ("bedrockagentruntime", "bedrock-agent-runtime"),
    ],
)
def test_service_names_map_to_boto3(sfn_name: str, boto_name: str) -> None:
    assert boto3_service_name(sfn_name) == boto_name


def test_known_renames_match_botocore_service_ids() -> None:
    for sfn_name, boto_name in KNOWN_RENAMES.items():
        assert normalise_service_id(service_model(boto_name).service_id) == sfn_name


def test_unknown_service_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # the last-resort scan of every botocore model takes seconds: an empty scan result stands in for it
    monkeypatch.setattr(aws_sdk_tasks, "_full_service_id_map", dict)
    with pytest.raises(ValueError, match="unknown service"):
        boto3_service_name("nosuchservicexyz")


@pytest.mark.parametrize(
    ("boto_name", "sdk_name"),
    [
        ("bedrock-agent", "BedrockAgent"),
        ("dynamodb", "DynamoDb"),
        ("stepfunctions", "Sfn"),
        ("s3", "S3"),
        ("sns", "Sns"),
        ("acm-pca", "AcmPca"),
        ("logs", "CloudWatchLogs"),
        ("events", "EventBridge"),
        ("lambda", "Lambda"),
    ],
)
def test_sdk_v2_service_names(boto_name: str, sdk_name: str) -> None:
    assert sdk_service_class_name(boto_name) == sdk_name


def test_error_names_as_step_functions_spells_them() -> None:
    assert sfn_error_name("bedrock-agent", "ConflictException") == "BedrockAgent.ConflictException"
    assert sfn_error_name("bedrock-agent", "ThrottlingException") == "BedrockAgent.ThrottlingException"
    assert sfn_error_name("dynamodb", "ConditionalCheckFailedException") == "DynamoDb.ConditionalCheckFailedException"
    assert sfn_error_name("s3", "NoSuchKey") == "S3.NoSuchKeyException"  # suffix added, as AWS documents
    assert sfn_error_name("bedrock-agent", "SomethingUnmodeled") == "BedrockAgent.BedrockAgentException"


def test_parameters_follow_the_input_shape_recursively() -> None:
    op = operation_model("bedrock-agent", "createDataSource")
    params = {
        "KnowledgeBaseId": "KB12345678",
        "Name": "docs",
        "DataSourceConfiguration": {
            "Type": "S3",
            "S3Configuration": {"BucketArn": "arn:aws:s3:::b", "InclusionPrefixes": ["docs/"]},
        },
    }
    assert to_boto_params(params, op.input_shape) == {
        "knowledgeBaseId": "KB12345678",
        "name": "docs",
        "dataSourceConfiguration": {
            "type": "S3",
            "s3Configuration": {"bucketArn": "arn:aws:s3:::b", "inclusionPrefixes": ["docs/"]},
        },
    }


def test_map_keys_are_data_and_keep_their_case() -> None:
    op = operation_model("dynamodb", "putItem")
    converted = to_boto_params({"TableName": "t", "Item": {"pk": {"S": "a"}, "Count": {"N": "1"}}}, op.input_shape)
    assert converted == {"TableName": "t", "Item": {"pk": {"S": "a"}, "Count": {"N": "1"}}}


def test_results_are_pascal_case_with_iso_timestamps_and_json_serializable() -> None:
    op = operation_model("bedrock-agent", "getIngestionJob")
    when = datetime.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
    response = {
        "ingestionJob": {
            "knowledgeBaseId": "KB12345678",
            "status": "COMPLETE",
            "statistics": {"numberOfDocumentsScanned": 3, "numberOfDocumentsFailed": 1},
            "failureReasons": ["doc.exe: unsupported"],
            "startedAt": when,
            "updatedAt": when,
        }
    }
    result = to_sfn_result(response, op.output_shape)
    assert result == {
        "IngestionJob": {
            "KnowledgeBaseId": "KB12345678",
            "Status": "COMPLETE",
            "Statistics": {"NumberOfDocumentsScanned": 3, "NumberOfDocumentsFailed": 1},
            "FailureReasons": ["doc.exe: unsupported"],
            "StartedAt": "2025-01-02T03:04:05.678Z",
            "UpdatedAt": "2025-01-02T03:04:05.678Z",
        }
    }
    json.dumps(result)


def test_operation_models_are_cached() -> None:
    assert operation_model("bedrock-agent", "startIngestionJob") is operation_model(
        "bedrock-agent", "startIngestionJob"
    )
    with pytest.raises(ValueError, match="no action"):
        operation_model("bedrock-agent", "noSuchAction")


# --------------------------------------------------------------------------- executions


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


@pytest.fixture(scope="module")
def sfn(cloud: LocalCloud) -> Any:
    return cloud.client("stepfunctions")


def _task(resource: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "Parameters": parameters, **extra}}}


def _catch_all(resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
    definition = _task(resource, parameters, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], End=True)
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    return definition


def test_s3_list_buckets_returns_pascal_case_and_iso_timestamps(cloud: LocalCloud, sfn: Any) -> None:
    cloud.client("s3").create_bucket(Bucket="sdk-bucket")
    described, _ = run(sfn, _task("arn:aws:states:::aws-sdk:s3:listBuckets", {}, End=True))
    buckets = output_of(described)["Buckets"]
    bucket = next(b for b in buckets if b["Name"] == "sdk-bucket")
    assert isinstance(bucket["CreationDate"], str)
    assert datetime.datetime.strptime(bucket["CreationDate"], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_sfn_service_name_reaches_step_functions(sfn: Any) -> None:
    described, _ = run(sfn, _task("arn:aws:states:::aws-sdk:sfn:listStateMachines", {}, End=True))
    machines = output_of(described)["StateMachines"]
    assert machines
    assert {"StateMachineArn", "Name", "Type", "CreationDate"} <= set(machines[0])


def test_bedrockagent_pascal_case_parameters_and_error_name(sfn: Any) -> None:
    definition = _catch_all("arn:aws:states:::aws-sdk:bedrockagent:getKnowledgeBase", {"KnowledgeBaseId": "NOSUCHKB01"})
    described, events = run(sfn, definition)
    assert described["status"] == "SUCCEEDED"
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "BedrockAgent.ResourceNotFoundException"
    assert "Service: BedrockAgent" in failed["cause"]
    assert failed["resourceType"] == "aws-sdk:bedrockagent"


def test_s3_error_gets_the_exception_suffix(cloud: LocalCloud, sfn: Any) -> None:
    cloud.client("s3").create_bucket(Bucket="sdk-errors")
    definition = _catch_all("arn:aws:states:::aws-sdk:s3:getObject", {"Bucket": "sdk-errors", "Key": "missing.txt"})
    _, events = run(sfn, definition)
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "S3.NoSuchKeyException"


def test_retry_matches_the_aws_error_name(sfn: Any) -> None:
    definition = _task(
        "arn:aws:states:::aws-sdk:dynamodb:describeTable",
        {"TableName": "nope"},
        Retry=[{"ErrorEquals": ["DynamoDb.ResourceNotFoundException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
        End=True,
    )
    described, events = run(sfn, definition)
    assert described["status"] == "FAILED"
    assert described["error"] == "DynamoDb.ResourceNotFoundException"
    assert event_types(events).count("TaskFailed") == 3


def test_dynamodb_aws_sdk_put_and_get_item_round_trip(cloud: LocalCloud, sfn: Any) -> None:
    cloud.client("dynamodb").create_table(
        TableName="sdk-items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                "Parameters": {"TableName": "sdk-items", "Item": {"pk": {"S.$": "$.id"}}},
                "ResultPath": None,
                "Next": "Get",
            },
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": "sdk-items", "Key": {"pk": {"S.$": "$.id"}}},
                "End": True,
            },
        },
    }
    described, _ = run(sfn, definition, {"id": "job-1"})
    assert output_of(described) == {"Item": {"pk": {"S": "job-1"}}}


# --------------------------------------------------------------------------- optimized integrations still work


@pytest.fixture(scope="module")
def jobs_table(cloud: LocalCloud) -> str:
    cloud.client("dynamodb").create_table(
        TableName="opt-jobs",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "opt-jobs"


def _put_item_definition(table: str) -> dict[str, Any]:
    return {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": table,
                    "Item": {"pk": {"S.$": "$.id"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
                "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "Next": "Duplicate"}],
                "End": True,
            },
            "Duplicate": {"Type": "Pass", "Result": {"duplicate": True}, "End": True},
        },
    }


def test_optimized_dynamodb_put_item_and_its_error_name(cloud: LocalCloud, sfn: Any, jobs_table: str) -> None:
    first, _ = run(sfn, _put_item_definition(jobs_table), {"id": "a"})
    assert first["status"] == "SUCCEEDED"
    assert "duplicate" not in json.loads(first["output"])
    item = cloud.client("dynamodb").get_item(TableName=jobs_table, Key={"pk": {"S": "a"}})
    assert item["Item"] == {"pk": {"S": "a"}}
    second, events = run(sfn, _put_item_definition(jobs_table), {"id": "a"})
    assert output_of(second) == {"duplicate": True}
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "DynamoDB.ConditionalCheckFailedException"


def test_optimized_sns_publish(cloud: LocalCloud, sfn: Any) -> None:
    sns, sqs = cloud.client("sns"), cloud.client("sqs")
    topic = sns.create_topic(Name="opt-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="opt-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    definition = _task("arn:aws:states:::sns:publish", {"TopicArn": topic, "Message.$": "$.text"}, End=True)
    described, _ = run(sfn, definition, {"text": "hello"})
    assert "MessageId" in output_of(described)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
    assert messages[0]["Body"] == "hello"


def test_optimized_sns_error_name(sfn: Any) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    definition = _catch_all("arn:aws:states:::sns:publish", {"TopicArn": missing, "Message": "x"})
    _, events = run(sfn, definition)
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failed["error"] == "SNS.NotFoundException"


def test_install_is_idempotent() -> None:
    aws_sdk_tasks.install()
    aws_sdk_tasks.install()
    aws_sdk_tasks.verify_moto_internals()
