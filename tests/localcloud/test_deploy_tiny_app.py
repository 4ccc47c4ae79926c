"""The local cloud's acceptance test: the tiny app (tests/localcloud/tiny_app) deployed through the SAM transform and
started by an S3 upload through an EventBridge rule runs every adapter: aws-sdk bedrockagent task with Retry
on BedrockAgent.ThrottlingException, Wait, in-process Lambda with the template's environment, DynamoDB and
SNS integrations."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud import bedrock, scheduler
from kbsync_localcloud.cloud import LocalCloud
from kbsync_localcloud.deploy import deploy_stack
from kbsync_localcloud.seed import SeededData, seed_local_cloud

TEMPLATE = Path(__file__).parent / "tiny_app" / "template.yaml"
EXPECTED_STATES = ["StartIngestion", "Pause", "Describe", "Record", "Notify", "Done"]


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def _alerts_queue(cloud: LocalCloud, topic_arn: str) -> str:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="tiny-alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return str(url)


def _deploy(cloud: LocalCloud) -> tuple[SeededData, dict[str, str]]:
    seeded = seed_local_cloud()
    parameters = {"KnowledgeBaseId": seeded.knowledge_base_id, "DataSourceId": seeded.data_source_id}
    return seeded, deploy_stack(TEMPLATE, "tiny", parameters)


def _one_finished_execution(cloud: LocalCloud, machine_arn: str) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    deadline = time.monotonic() + 20
    while True:
        executions = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
        if executions and executions[0]["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, f"no finished execution after 20 s: {executions}"
        time.sleep(0.01)
    (execution,) = executions
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    return dict(described)


def _history(cloud: LocalCloud, execution_arn: str) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    return list(sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])


def test_s3_upload_runs_the_tiny_machine_through_every_adapter(cloud: LocalCloud) -> None:
    seeded, outputs = _deploy(cloud)
    alerts = _alerts_queue(cloud, outputs["TopicArn"])
    bedrock.faults().throttle_next_starts(1)  # the first StartIngestionJob is throttled: Retry must absorb it

    cloud.client("s3").put_object(Bucket=outputs["BucketName"], Key="docs/new.txt", Body=b"new document")
    execution = _one_finished_execution(cloud, outputs["StateMachineArn"])

    history = _history(cloud, execution["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert entered == EXPECTED_STATES
    failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failures == ["BedrockAgent.ThrottlingException"]  # retried once, then started

    output = json.loads(execution["output"])
    assert json.loads(execution["input"]) == {"trigger": "s3", "key": "docs/new.txt", "reason": "upload by PutObject"}
    job_id = output["job"]["ingestionJobId"]
    assert output["described"]["summary"] == f"tiny: docs/new.txt -> {job_id}"  # GREETING from the template

    job = cloud.client("bedrock-agent").get_ingestion_job(
        knowledgeBaseId=seeded.knowledge_base_id, dataSourceId=seeded.data_source_id, ingestionJobId=job_id
    )["ingestionJob"]
    assert job["description"] == "upload by PutObject"

    item = cloud.client("dynamodb").get_item(TableName=outputs["TableName"], Key={"pk": {"S": job_id}})["Item"]
    assert item["key"] == {"S": "docs/new.txt"}
    assert item["trigger"] == {"S": "s3"}
    assert item["execution"] == {"S": execution["name"]} and execution["name"]

    (message,) = cloud.client("sqs").receive_message(QueueUrl=alerts)["Messages"]
    notification = json.loads(message["Body"])
    assert notification["Subject"] == "tiny ingestion started"
    assert notification["Message"] == f"tiny: docs/new.txt -> {job_id}"


def test_disabled_nightly_schedule_fires_only_when_forced(cloud: LocalCloud) -> None:
    _, outputs = _deploy(cloud)
    with pytest.raises(scheduler.ScheduleDisabled):
        scheduler.fire_schedule("TinyStateMachineNightly")
    scheduler.fire_schedule("TinyStateMachineNightly", force=True)
    execution = _one_finished_execution(cloud, outputs["StateMachineArn"])
    assert json.loads(execution["input"])["trigger"] == "schedule"
