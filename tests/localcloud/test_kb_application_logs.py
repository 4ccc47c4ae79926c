"""The Bedrock emulator's APPLICATION_LOGS: delivered where a log delivery says, in AWS's schema, pushed at the job's
end, through a subscription filter to a Lambda, and the fault knobs that lose, repeat, reorder, delay or flood them.

Logs are enabled for a knowledge base with the real CloudWatch Logs API, as on AWS
(https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html): PutDeliverySource (the knowledge
base ARN, APPLICATION_LOGS), PutDeliveryDestination (a log group), CreateDelivery.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from kbsync_localcloud import bedrock
from kbsync_localcloud.adapters.log_subscriptions import MAX_DELIVERY_BYTES, wait_for_deliveries
from kbsync_localcloud.bedrock.app_logs import stream_name
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.cloud import LocalCloud
from kbsync_localcloud.workflow import wait_until

from tests.localcloud.inline_lambda import create_inline_function

SCALE = 0.001  # 1 virtual second = 1 ms
DEADLINE_S = 10.0  # real seconds a poll may take before the test fails
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "kb-log-event.schema.json").read_text())
JOB_EVENT = "StartIngestionJob.StatusChanged"
RESOURCE_EVENT = "StartIngestionJob.ResourceStatusChanged"

#: The subscribed test function: it decodes what CloudWatch Logs sends and reports a summary to an SQS queue.
_SUBSCRIBER = """
import base64
import collections
import gzip
import json
import os

import boto3


def lambda_handler(event, context):
    data = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    messages = [json.loads(log_event["message"]) for log_event in data["logEvents"]]
    statuses = [m["event"].get("ingestion_job_status") or m["event"].get("status") for m in messages]
    summary = {
        "keys": sorted(event),
        "envelope": {key: value for key, value in data.items() if key != "logEvents"},
        "jobs": sorted({m["event"]["ingestion_job_id"] for m in messages}),
        "count": len(messages),
        "statuses": statuses if len(statuses) <= 50 else [],
        "by_status": dict(collections.Counter(statuses)),
        "event_keys": sorted(data["logEvents"][0]),
        "payload_bytes": len(json.dumps(event)),
    }
    boto3.client("sqs").send_message(QueueUrl=os.environ["INBOX"], MessageBody=json.dumps(summary))
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=SCALE, evaluate_alarms=False) as local:
        yield local
    _CLIENTS.clear()


_CLIENTS: dict[str, Any] = {}


def client(cloud: LocalCloud, service: str) -> Any:
    """One client per service for the module (creating a boto3 client costs more than the calls it makes here)."""
    if service not in _CLIENTS:
        _CLIENTS[service] = cloud.client(service)
    return _CLIENTS[service]


@pytest.fixture(autouse=True)
def no_faults(cloud: LocalCloud) -> Iterator[None]:
    bedrock.faults().reset()
    bedrock.faults().set_start_rate_limit(None)
    yield
    bedrock.faults().reset()


@pytest.fixture(scope="module")
def inbox(cloud: LocalCloud) -> str:
    return str(client(cloud, "sqs").create_queue(QueueName="subscriber-inbox")["QueueUrl"])


@pytest.fixture(scope="module")
def subscriber(cloud: LocalCloud, inbox: str) -> str:
    return create_inline_function(
        client(cloud, "lambda"),
        client(cloud, "iam"),
        "kb-log-subscriber",
        _SUBSCRIBER,
        Environment={"Variables": {"INBOX": inbox}},
    )


# --------------------------------------------------------------------------- helpers


class Target:
    """A knowledge base with one S3 data source, its documents, and (optionally) its log delivery."""

    def __init__(self, cloud: LocalCloud, documents: dict[str, bytes]) -> None:
        tag = uuid.uuid4().hex[:8]
        self.cloud = cloud
        self.seeded = bedrock.seed_sync_target(bucket=f"docs-{tag}", prefix="docs/", kb_name=f"kb-{tag}")
        self.kb_id = self.seeded.knowledge_base_id
        self.kb_arn = client(cloud, "bedrock-agent").get_knowledge_base(knowledgeBaseId=self.kb_id)["knowledgeBase"][
            "knowledgeBaseArn"
        ]
        self.log_group = f"/kbsync/test/{tag}"
        self.tag = tag
        client(cloud, "logs").create_log_group(logGroupName=self.log_group)
        for key, body in documents.items():
            client(cloud, "s3").put_object(Bucket=self.seeded.bucket, Key=f"docs/{key}", Body=body)

    def enable_logs(self) -> str:
        """The real API calls that turn a knowledge base's application logs on; returns the delivery id."""
        logs = client(self.cloud, "logs")
        group_arn = next(
            group["arn"]
            for group in logs.describe_log_groups(logGroupNamePrefix=self.log_group)["logGroups"]
            if group["logGroupName"] == self.log_group
        )
        logs.put_delivery_source(name=f"kb-{self.tag}", resourceArn=self.kb_arn, logType="APPLICATION_LOGS")
        destination = logs.put_delivery_destination(
            name=f"group-{self.tag}",
            outputFormat="json",
            deliveryDestinationConfiguration={"destinationResourceArn": group_arn},
        )["deliveryDestination"]
        delivery = logs.create_delivery(deliverySourceName=f"kb-{self.tag}", deliveryDestinationArn=destination["arn"])[
            "delivery"
        ]
        return str(delivery["id"])

    def subscribe(self, function_arn: str, pattern: str = "") -> str:
        name = f"to-lambda-{self.tag}"
        client(self.cloud, "logs").put_subscription_filter(
            logGroupName=self.log_group, filterName=name, filterPattern=pattern, destinationArn=function_arn
        )
        return name

    def start(self) -> tuple[str, float]:
        """Start a job; return its id and the virtual instant it started."""
        started = CLOCK.now()
        job = client(self.cloud, "bedrock-agent").start_ingestion_job(
            knowledgeBaseId=self.kb_id, dataSourceId=self.seeded.data_source_id
        )["ingestionJob"]
        return str(job["ingestionJobId"]), started

    def get_job(self, job_id: str) -> dict[str, Any]:
        return dict(
            client(self.cloud, "bedrock-agent").get_ingestion_job(
                knowledgeBaseId=self.kb_id, dataSourceId=self.seeded.data_source_id, ingestionJobId=job_id
            )["ingestionJob"]
        )

    def log_events(self, pattern: str = "") -> list[dict[str, Any]]:
        """The log group's events (all streams) matching `pattern`, with eventId, ingestionTime and parsed message."""
        logs, events, token = client(self.cloud, "logs"), [], None
        while True:
            more = {"nextToken": token} if token else {}
            page = logs.filter_log_events(logGroupName=self.log_group, filterPattern=pattern, **more)
            events += [{**event, "parsed": json.loads(event["message"])} for event in page["events"]]
            token = page.get("nextToken")
            if not token or not page["events"]:
                return events


def of_job(events: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [event for event in events if event["parsed"]["event"]["ingestion_job_id"] == job_id]


def statuses(events: list[dict[str, Any]]) -> list[str]:
    return [e["parsed"]["event"].get("ingestion_job_status") or e["parsed"]["event"]["status"] for e in events]


def terminal_logged(target: Target, job_id: str) -> Callable[[], list[dict[str, Any]]]:
    """A probe for `wait_until`: the job's terminal job events (COMPLETE, FAILED, STOPPED) logged so far."""

    def terminal() -> list[dict[str, Any]]:
        return [
            event
            for event in of_job(target.log_events(f'"{JOB_EVENT}"'), job_id)
            if event["parsed"]["event_type"] == JOB_EVENT
            and event["parsed"]["event"]["ingestion_job_status"] in ("COMPLETE", "FAILED", "STOPPED")
        ]

    return terminal


def summaries(cloud: LocalCloud, inbox: str, job_id: str) -> list[dict[str, Any]]:
    """The subscriber's reports about `job_id` (read and deleted from its inbox)."""
    sqs, found = client(cloud, "sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            summary = json.loads(message["Body"])
            if job_id in summary["jobs"]:
                found.append(summary)
            else:
                continue  # another test's: leave it invisible until its timeout, it is not read again here
            sqs.delete_message(QueueUrl=inbox, ReceiptHandle=message["ReceiptHandle"])


_DOCUMENTS = {"a.md": b"# indexed", "b.exe": b"MZ binary", "c.txt": b"", "d.md": b"# also indexed"}


# --------------------------------------------------------------------------- the delivery and the schema


def test_a_delivery_puts_the_jobs_events_in_the_log_group_in_aws_schema(cloud: LocalCloud) -> None:
    target = Target(cloud, _DOCUMENTS)
    delivery_id = target.enable_logs()
    assert client(cloud, "logs").describe_deliveries()["deliveries"][-1]["deliverySourceName"] == f"kb-{target.tag}"
    job_id, _ = target.start()
    terminal = wait_until(terminal_logged(target, job_id), DEADLINE_S, "the job's terminal event")[0]["parsed"]
    job = target.get_job(job_id)
    events = of_job(target.log_events(), job_id)
    assert statuses(events) == ["INGESTION_JOB_STARTED", "INDEXED", "RESOURCE_IGNORED", "FAILED", "INDEXED", "COMPLETE"]
    streams = client(cloud, "logs").describe_log_streams(logGroupName=target.log_group)["logStreams"]
    assert [stream["logStreamName"] for stream in streams] == [stream_name(target.kb_id, delivery_id)]
    for event in events:
        jsonschema.validate(event["parsed"], SCHEMA)
        assert event["timestamp"] == event["parsed"]["event_timestamp"]

    # The job event, field by field (the terminal one carries the statistics at the job's end).
    assert list(terminal) == ["event_timestamp", "event", "event_version", "event_type", "level"]
    assert (terminal["event_version"], terminal["event_type"], terminal["level"]) == ("1.0", JOB_EVENT, "INFO")
    assert terminal["event"] == {
        "ingestion_job_id": job_id,
        "data_source_id": target.seeded.data_source_id,
        "ingestion_job_status": "COMPLETE",
        "knowledge_base_arn": target.kb_arn,
        "resource_statistics": {
            "number_of_resources_updated": 0,
            "number_of_resources_ingested": 2,
            "number_of_resources_scheduled_for_update": 0,
            "number_of_resources_scheduled_for_ingestion": 2,
            "number_of_resources_scheduled_for_metadata_update": 0,
            "number_of_resources_deleted": 0,
            "number_of_resources_with_metadata_updated": 0,
            "number_of_resources_failed": 1,
            "number_of_resources_scheduled_for_deletion": 0,
        },
    }
    assert job["status"] == "COMPLETE" and job["statistics"]["numberOfDocumentsFailed"] == 1
    ended_ms = round(job["updatedAt"].timestamp() * 1000)
    assert abs(terminal["event_timestamp"] - ended_ms) <= 1  # the job's end, on the wall clock

    # A resource event, field by field: the stage failure names the file and Bedrock's reason for it.
    ignored = next(e["parsed"] for e in events if statuses([e]) == ["RESOURCE_IGNORED"])
    uri = f"s3://{target.seeded.bucket}/docs/b.exe"
    assert (ignored["event_type"], ignored["level"], ignored["event_version"]) == (RESOURCE_EVENT, "WARN", "1.0")
    assert ignored["event"] == {
        "ingestion_job_id": job_id,
        "data_source_id": target.seeded.data_source_id,
        "knowledge_base_arn": target.kb_arn,
        "document_location": {"type": "S3", "s3_location": {"uri": uri}},
        "status": "RESOURCE_IGNORED",
        "status_reasons": job["failureReasons"],
        "chunk_statistics": {
            "ignored": 0,
            "created": 0,
            "deleted": 0,
            "metadata_updated": 0,
            "failed_to_create": 0,
            "failed_to_delete": 0,
            "failed_to_update_metadata": 0,
        },
    }
    final = next(e["parsed"] for e in events if statuses([e]) == ["FAILED"])
    assert (final["level"], final["event"]["document_location"]["s3_location"]["uri"]) == ("ERROR", uri)


def test_a_second_job_logs_modified_and_deleted_documents(cloud: LocalCloud) -> None:
    target = Target(cloud, {"a.md": b"# one", "b.md": b"# two"})
    target.enable_logs()
    first, _ = target.start()
    wait_until(terminal_logged(target, first), DEADLINE_S, "the first job's end")
    s3 = client(cloud, "s3")
    s3.put_object(Bucket=target.seeded.bucket, Key="docs/a.md", Body=b"# one, edited")
    s3.delete_object(Bucket=target.seeded.bucket, Key="docs/b.md")
    second, _ = target.start()
    terminal = wait_until(terminal_logged(target, second), DEADLINE_S, "the second job's end")[0]["parsed"]
    events = of_job(target.log_events(), second)
    assert statuses(events) == ["INGESTION_JOB_STARTED", "INDEXED", "DELETED", "COMPLETE"]
    statistics = terminal["event"]["resource_statistics"]
    assert (statistics["number_of_resources_updated"], statistics["number_of_resources_deleted"]) == (1, 1)
    job = target.get_job(second)["statistics"]
    assert (job["numberOfModifiedDocumentsIndexed"], job["numberOfDocumentsDeleted"]) == (1, 1)


def test_no_delivery_no_events(cloud: LocalCloud) -> None:
    silent = Target(cloud, _DOCUMENTS)
    logged = Target(cloud, _DOCUMENTS)
    logged.enable_logs()
    silent_job, _ = silent.start()
    logged_job, _ = logged.start()
    wait_until(terminal_logged(logged, logged_job), DEADLINE_S, "the logged knowledge base's end")
    wait_until(lambda: silent.get_job(silent_job)["status"] == "COMPLETE", DEADLINE_S, "the silent job's end")
    assert silent.log_events() == []  # its own log group, never linked
    assert of_job(logged.log_events(), silent_job) == []  # nor the other knowledge base's delivery


def test_the_terminal_event_is_pushed_at_the_jobs_end_without_any_get_ingestion_job(cloud: LocalCloud) -> None:
    target = Target(cloud, {"a.md": b"# a"})
    target.enable_logs()
    bedrock.faults().force_job_duration(300, count=1)  # 300 virtual s = 300 ms
    job_id, _ = target.start()
    # No GetIngestionJob below: only the emulator's own timer can write the end.
    events = wait_until(terminal_logged(target, job_id), 5, "the pushed end")
    started = next(e for e in of_job(target.log_events(), job_id) if statuses([e]) == ["INGESTION_JOB_STARTED"])
    terminal = events[0]
    assert abs((terminal["timestamp"] - started["timestamp"]) - 300) <= 2  # 300 virtual s at 1 ms each
    assert terminal["ingestionTime"] >= terminal["timestamp"]  # written once the job had ended, not before
    assert terminal["ingestionTime"] - terminal["timestamp"] < 1000  # promptly


def test_a_stopped_job_logs_stopped_with_its_partial_statistics(cloud: LocalCloud) -> None:
    target = Target(cloud, {"a.md": b"# a"})
    target.enable_logs()
    bedrock.faults().hang_next_jobs(1)
    job_id, _ = target.start()
    client(cloud, "bedrock-agent").stop_ingestion_job(
        knowledgeBaseId=target.kb_id, dataSourceId=target.seeded.data_source_id, ingestionJobId=job_id
    )
    terminal = wait_until(terminal_logged(target, job_id), DEADLINE_S, "STOPPED")[0]["parsed"]
    assert terminal["event"]["ingestion_job_status"] == "STOPPED"
    assert terminal["event"]["resource_statistics"]["number_of_resources_scheduled_for_ingestion"] == 1
    assert statuses(of_job(target.log_events(), job_id)) == ["INGESTION_JOB_STARTED", "STOPPED"]


# --------------------------------------------------------------------------- the subscription


def test_a_subscription_filter_sends_the_events_gzipped_to_a_lambda(
    cloud: LocalCloud, subscriber: str, inbox: str
) -> None:
    target = Target(cloud, _DOCUMENTS)
    delivery_id = target.enable_logs()
    filter_name = target.subscribe(subscriber, pattern='{ $.event_type = "StartIngestionJob.StatusChanged" }')
    job_id, _ = target.start()
    wait_until(terminal_logged(target, job_id), DEADLINE_S, "the job's end")
    assert wait_for_deliveries(5)
    received = wait_until(lambda: summaries(cloud, inbox, job_id), DEADLINE_S, "the subscriber's reports")
    received += summaries(cloud, inbox, job_id)
    assert all(summary["keys"] == ["awslogs"] for summary in received)
    assert received[0]["envelope"] == {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": target.log_group,
        "logStream": stream_name(target.kb_id, delivery_id),
        "subscriptionFilters": [filter_name],
    }
    assert received[0]["event_keys"] == ["id", "message", "timestamp"]
    # The filter pattern applies: job events only, the started one then the end.
    assert [status for summary in received for status in summary["statuses"]] == ["INGESTION_JOB_STARTED", "COMPLETE"]


# --------------------------------------------------------------------------- fault knobs


def test_drop_terminal_log_events_loses_the_next_terminal_event_only(cloud: LocalCloud) -> None:
    target = Target(cloud, _DOCUMENTS)
    target.enable_logs()
    bedrock.faults().drop_terminal_log_events(1)
    lost, _ = target.start()
    wait_until(lambda: target.get_job(lost)["status"] == "COMPLETE", DEADLINE_S, "the first job's end")
    kept, _ = target.start()
    # timers run in order: the first end is written
    wait_until(terminal_logged(target, kept), DEADLINE_S, "the second job's end")
    assert statuses(of_job(target.log_events(), lost)) == [
        "INGESTION_JOB_STARTED",
        "INDEXED",
        "RESOURCE_IGNORED",
        "FAILED",
        "INDEXED",
    ]
    assert bedrock.faults().describe()["dropTerminalLogEvents"] == 0


def test_duplicate_terminal_log_events_writes_it_twice_and_delivers_it_twice(
    cloud: LocalCloud, subscriber: str, inbox: str
) -> None:
    target = Target(cloud, {"a.md": b"# a"})
    target.enable_logs()
    target.subscribe(subscriber, pattern='{ $.event.ingestion_job_status = "COMPLETE" }')
    bedrock.faults().duplicate_terminal_log_events(1)
    job_id, _ = target.start()
    twice = wait_until(
        lambda: len(terminal_logged(target, job_id)()) == 2 and terminal_logged(target, job_id)(),
        DEADLINE_S,
        "two ends",
    )
    assert twice[0]["message"] == twice[1]["message"]
    assert wait_for_deliveries(5)
    received = wait_until(lambda: summaries(cloud, inbox, job_id), DEADLINE_S, "the subscriber's reports")
    received += summaries(cloud, inbox, job_id)
    assert [summary["statuses"] for summary in received] == [["COMPLETE"], ["COMPLETE"]]


def test_reorder_log_events_writes_the_terminal_event_before_the_documents(cloud: LocalCloud) -> None:
    target = Target(cloud, _DOCUMENTS)
    target.enable_logs()
    bedrock.faults().reorder_log_events(1)
    job_id, _ = target.start()
    wait_until(lambda: len(of_job(target.log_events(), job_id)) == 6, DEADLINE_S, "all six events")
    written = sorted(of_job(target.log_events(), job_id), key=lambda event: int(event["eventId"]))
    assert statuses(written) == [
        "INGESTION_JOB_STARTED",
        "COMPLETE",
        "INDEXED",
        "RESOURCE_IGNORED",
        "FAILED",
        "INDEXED",
    ]


def test_delay_log_events_writes_them_late_with_their_true_timestamps(cloud: LocalCloud) -> None:
    target = Target(cloud, {"a.md": b"# a"})
    target.enable_logs()
    bedrock.faults().delay_log_events(400)  # 400 virtual s = 400 ms
    job_id, _ = target.start()
    events = wait_until(
        lambda: len(of_job(target.log_events(), job_id)) == 3 and of_job(target.log_events(), job_id), DEADLINE_S, "3"
    )
    assert all(event["ingestionTime"] - event["timestamp"] >= 395 for event in events)
    job = target.get_job(job_id)
    assert events[-1]["timestamp"] == pytest.approx(job["updatedAt"].timestamp() * 1000, abs=1)


def test_log_document_burst_floods_the_logs_and_agrees_with_the_job(
    cloud: LocalCloud, subscriber: str, inbox: str
) -> None:
    target = Target(cloud, {"a.md": b"# a"})
    target.enable_logs()
    target.subscribe(subscriber)
    bedrock.faults().log_document_burst(10_000)
    job_id, _ = target.start()
    wait_until(terminal_logged(target, job_id), 30, "the burst job's end")
    job = target.get_job(job_id)
    assert job["statistics"]["numberOfDocumentsFailed"] == 10_000
    assert job["statistics"]["numberOfDocumentsScanned"] == 10_001
    assert len(job["failureReasons"]) == 2048  # Bedrock's cap
    events = of_job(target.log_events(), job_id)
    counted: dict[str, int] = {}
    for status in statuses(events):
        counted[status] = counted.get(status, 0) + 1
    assert counted == {
        "INGESTION_JOB_STARTED": 1,
        "INDEXED": 1,
        "RESOURCE_IGNORED": 7_500,
        "EMBEDDING_FAILED": 2_500,
        "FAILED": 10_000,
        "COMPLETE": 1,
    }
    assert wait_for_deliveries(30)
    received = wait_until(lambda: summaries(cloud, inbox, job_id), DEADLINE_S, "the subscriber's reports")
    received += summaries(cloud, inbox, job_id)
    delivered: dict[str, int] = {}
    for summary in received:
        for status, count in summary["by_status"].items():
            delivered[status] = delivered.get(status, 0) + count
    assert delivered == counted
    assert len(received) > 1 and all(summary["payload_bytes"] <= MAX_DELIVERY_BYTES for summary in received)


def test_reset_clears_every_log_knob(cloud: LocalCloud) -> None:
    faults = bedrock.faults()
    faults.drop_terminal_log_events(2)
    faults.duplicate_terminal_log_events(1)
    faults.reorder_log_events(3)
    faults.delay_log_events(60)
    faults.log_document_burst(5)
    described = faults.describe()
    assert (described["dropTerminalLogEvents"], described["reorderLogEvents"], described["logDocumentBursts"]) == (
        2,
        3,
        [5],
    )
    faults.reset()
    described = faults.describe()
    assert described["dropTerminalLogEvents"] == described["duplicateTerminalLogEvents"] == 0
    assert described["reorderLogEvents"] == 0 and described["logEventDelaySeconds"] == 0.0
    assert described["logDocumentBursts"] == []
    with pytest.raises(ValueError):
        faults.delay_log_events(-1)
    with pytest.raises(ValueError):
        faults.log_document_burst(0)


# --------------------------------------------------------------------------- the same delivery from CloudFormation


def _logs_template(kb_arn: str, subscriber: str, tag: str) -> dict[str, Any]:
    """The resources a stack declares to send a knowledge base's logs to a subscribed function."""
    return {
        "Resources": {
            "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": f"/kbsync/cfn/{tag}"}},
            "Policy": {
                "Type": "AWS::Logs::ResourcePolicy",
                "Properties": {
                    "PolicyName": f"vended-{tag}",
                    "PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": []}),
                },
            },
            "Destination": {
                "Type": "AWS::Logs::DeliveryDestination",
                "Properties": {
                    "Name": f"cfn-group-{tag}",
                    "DestinationResourceArn": {"Fn::GetAtt": ["Group", "Arn"]},
                    "OutputFormat": "json",
                },
            },
            "Source": {
                "Type": "AWS::Logs::DeliverySource",
                "Properties": {"Name": f"cfn-kb-{tag}", "ResourceArn": kb_arn, "LogType": "APPLICATION_LOGS"},
            },
            "Delivery": {
                "Type": "AWS::Logs::Delivery",
                "Properties": {
                    "DeliverySourceName": {"Ref": "Source"},
                    "DeliveryDestinationArn": {"Fn::GetAtt": ["Destination", "Arn"]},
                },
            },
            "Subscription": {
                "Type": "AWS::Logs::SubscriptionFilter",
                "Properties": {
                    "LogGroupName": {"Ref": "Group"},
                    "DestinationArn": subscriber,
                    "FilterPattern": '{ $.event_type = "StartIngestionJob.StatusChanged" }',
                },
            },
        },
        "Outputs": {
            "DestinationArn": {"Value": {"Fn::GetAtt": ["Destination", "Arn"]}},
            "DestinationName": {"Value": {"Ref": "Destination"}},
            "DeliveryId": {"Value": {"Ref": "Delivery"}},
            "DeliveryType": {"Value": {"Fn::GetAtt": ["Delivery", "DeliveryDestinationType"]}},
            "FilterName": {"Value": {"Ref": "Subscription"}},
        },
    }


def test_a_stack_declares_the_delivery_and_the_subscription(cloud: LocalCloud, subscriber: str, inbox: str) -> None:
    target = Target(cloud, {"a.md": b"# a"})
    cfn = client(cloud, "cloudformation")
    stack = f"kb-logs-{target.tag}"
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(_logs_template(target.kb_arn, subscriber, target.tag)))
    described = wait_until(
        lambda: (s := cfn.describe_stacks(StackName=stack)["Stacks"][0])["StackStatus"].endswith("COMPLETE") and s,
        DEADLINE_S,
        "the stack",
    )
    assert described["StackStatus"] == "CREATE_COMPLETE"
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}
    logs = client(cloud, "logs")
    destination = logs.get_delivery_destination(name=f"cfn-group-{target.tag}")["deliveryDestination"]
    assert (outputs["DestinationArn"], outputs["DestinationName"]) == (destination["arn"], destination["name"])
    delivery = logs.get_delivery(id=outputs["DeliveryId"])["delivery"]
    assert (delivery["deliverySourceName"], delivery["deliveryDestinationArn"]) == (
        f"cfn-kb-{target.tag}",
        destination["arn"],
    )
    assert outputs["DeliveryType"] == "CWL"
    source = logs.get_delivery_source(name=f"cfn-kb-{target.tag}")["deliverySource"]
    assert (source["resourceArns"], source["logType"]) == ([target.kb_arn], "APPLICATION_LOGS")
    filters = logs.describe_subscription_filters(logGroupName=f"/kbsync/cfn/{target.tag}")["subscriptionFilters"]
    assert [f["filterName"] for f in filters] == [outputs["FilterName"]]
    assert any(p["policyName"] == f"vended-{target.tag}" for p in logs.describe_resource_policies()["resourcePolicies"])

    job_id, _ = target.start()
    target.log_group = f"/kbsync/cfn/{target.tag}"
    wait_until(terminal_logged(target, job_id), DEADLINE_S, "the job's end in the stack's log group")
    assert wait_for_deliveries(5)
    received = wait_until(lambda: summaries(cloud, inbox, job_id), DEADLINE_S, "the subscriber's reports")
    assert received[0]["envelope"]["subscriptionFilters"] == [outputs["FilterName"]]

    cfn.delete_stack(StackName=stack)
    wait_until(
        lambda: (
            not logs.describe_deliveries()["deliveries"]
            or all(d["id"] != outputs["DeliveryId"] for d in logs.describe_deliveries()["deliveries"])
        ),
        DEADLINE_S,
        "the delivery deleted with the stack",
    )


# --------------------------------------------------------------------------- filter patterns (AWS's syntax)


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    [
        ("", {"event_type": RESOURCE_EVENT}, True),
        ('{ $.event_type = "StartIngestionJob.*" }', {"event_type": JOB_EVENT}, True),
        ('{ $.event_type = "StartIngestionJob.StatusChanged" }', {"event_type": RESOURCE_EVENT}, False),
        ('{ $.event.status != "INDEXED" }', {"event": {"status": "FAILED"}}, True),
        ('{ $.event.status != "INDEXED" }', {"event": {}}, False),
        ("{ $.event.n > 2 && $.event.n <= 3 }", {"event": {"n": 3}}, True),
        ("{ $.event.n > 2 && $.event.n <= 3 }", {"event": {"n": 4}}, False),
        ("{ $.event.gone NOT EXISTS }", {"event": {}}, True),
        ("{ $.event.reasons[0] = disk* }", {"event": {"reasons": ["disk full"]}}, True),
        ("{ $.level IS NULL || $.level = ERROR }", {"level": "ERROR"}, True),
        ('{ ($.a = "x") || ($.b = "y" && ($.c = 1 || $.d = 2)) }', {"b": "y", "d": 2}, True),
        ('{ ($.a = "x") || ($.b = "y" && ($.c = 1 || $.d = 2)) }', {"b": "y", "d": 3}, False),
        ('"StatusChanged"', {"event_type": JOB_EVENT}, True),
    ],
)
def test_subscription_filter_patterns(pattern: str, event: dict[str, Any], expected: bool) -> None:
    from kbsync_localcloud.adapters.log_subscriptions import pattern_matcher

    assert pattern_matcher(pattern)(json.dumps(event)) is expected


def test_a_json_pattern_matches_no_plain_text_message() -> None:
    from kbsync_localcloud.adapters.log_subscriptions import pattern_matcher

    assert pattern_matcher('{ $.level = "ERROR" }')("ERROR: not JSON") is False
