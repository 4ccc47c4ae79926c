"""Drive the deployed ingestion-sync workflow on the local cloud and capture what it did.

- ``AlertInbox``: an SQS queue subscribed to the alerts topic (how a subscriber really sees alerts);
- ``WorkflowRig``: fresh data sources, executions with team-format names, pollers with deadlines, the job records
  of a data source, the execution history;
- ``simplify_events`` / ``coverage_of``: which states, Choice branches and Catches executions visited.

Every poller has a deadline (real seconds) and raises ``TimeoutError`` naming what it waited for.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kbsync_values
from boto3.dynamodb.types import TypeDeserializer

_NAME_ALPHABET = string.ascii_lowercase + string.digits
_DESERIALIZER = TypeDeserializer()
_FAILURE_EVENTS = ("TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut")


def execution_name(trigger: str, knowledge_base_id: str, data_source_id: str, now: datetime | None = None) -> str:
    """<trigger>-<kb>-<ds>-<UTC yyyymmddTHHMMSS>-<4 random [a-z0-9]> (the team's format, <= 80 chars)."""
    moment = now or datetime.now(UTC)
    suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(4))
    return f"{trigger}-{knowledge_base_id}-{data_source_id}-{moment:%Y%m%dT%H%M%S}-{suffix}"[:80]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; TimeoutError after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


#: DynamoDB-deserialized values made JSON-ready (Decimal -> int): the shared core's rule.
plain = kbsync_values.plain


class AlertInbox:
    """An SQS queue subscribed to the alerts topic; alerts are kept by knowledge base id as they arrive."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, name: str = "kbsync-test-alerts") -> None:
        self._sqs = sqs
        self.queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self._by_kb: dict[str, list[dict[str, Any]]] = {}

    def drain(self) -> None:
        """Move every message now in the queue into the inbox (until the queue answers empty twice)."""
        empty = 0
        while empty < 2:
            messages = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                empty += 1
                continue
            for message in messages:
                alert = self.parse(message["Body"])
                self._by_kb.setdefault(alert["attributes"].get("knowledgeBaseId", "?"), []).append(alert)
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    @staticmethod
    def parse(body: str) -> dict[str, Any]:
        """An SNS-to-SQS envelope as the alert contract shape plus its SNS size."""
        envelope = json.loads(body)
        attributes = {k: v["Value"] for k, v in (envelope.get("MessageAttributes") or {}).items()}
        subject, message = envelope.get("Subject") or "", envelope["Message"]
        size = len(message.encode()) + len(subject.encode()) + sum(len(k) + len(v) for k, v in attributes.items())
        return {
            "subject": subject,
            "message": message,
            "attributes": attributes,
            "contract": {
                "subject": subject,
                "message": message,
                "messageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
            },
            "snsBytes": size,
        }

    def alerts_for(self, knowledge_base_id: str) -> list[dict[str, Any]]:
        self.drain()
        return list(self._by_kb.get(knowledge_base_id, []))


@dataclass
class Source:
    knowledge_base_id: str
    data_source_id: str
    bucket: str


@dataclass
class WorkflowRig:
    """The deployed stack's outputs plus clients; everything a workflow scenario needs."""

    clients: dict[str, Any]
    outputs: dict[str, str]
    inbox: AlertInbox
    timeout: float = 60.0
    _sources: int = field(default=0)

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["IngestionSyncStateMachineArn"]

    def new_source(self, documents: dict[str, bytes] | None = None) -> Source:
        """A bucket with `documents` under docs/, a knowledge base and an S3 data source over it."""
        self._sources += 1
        bucket = f"kbsync-wf-docs-{self._sources}"
        s3, agent = self.clients["s3"], self.clients["bedrock-agent"]
        s3.create_bucket(Bucket=bucket)
        for key, body in (documents or {"docs/readme.md": b"# readme\n"}).items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        kb = agent.create_knowledge_base(
            name=f"kbsync-wf-kb-{self._sources}",
            roleArn="arn:aws:iam::123456789012:role/kbsync-kb",
            knowledgeBaseConfiguration={
                "type": "VECTOR",
                "vectorKnowledgeBaseConfiguration": {
                    "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
                },
            },
            storageConfiguration={
                "type": "OPENSEARCH_SERVERLESS",
                "opensearchServerlessConfiguration": {
                    "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/kbsyncwf",
                    "vectorIndexName": "kbsync-index",
                    "fieldMapping": {"vectorField": "vector", "textField": "text", "metadataField": "metadata"},
                },
            },
        )["knowledgeBase"]["knowledgeBaseId"]
        ds = agent.create_data_source(
            knowledgeBaseId=kb,
            name=f"kbsync-wf-ds-{self._sources}",
            dataSourceConfiguration={
                "type": "S3",
                "s3Configuration": {"bucketArn": f"arn:aws:s3:::{bucket}", "inclusionPrefixes": ["docs/"]},
            },
        )["dataSource"]["dataSourceId"]
        return Source(kb, ds, bucket)

    def enable_logs(self, source: Source) -> None:
        """What `kbsync logs enable` does, with the API: the knowledge base's APPLICATION_LOGS delivered to the
        stack's KnowledgeBaseLogDestinationArn (a stack deployed with KnowledgeBaseLogs=on; needs a "logs" client).
        https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html"""
        kb_arn = self.clients["bedrock-agent"].get_knowledge_base(knowledgeBaseId=source.knowledge_base_id)[
            "knowledgeBase"
        ]["knowledgeBaseArn"]
        name = f"kbsync-{source.knowledge_base_id}"
        self.clients["logs"].put_delivery_source(name=name, resourceArn=kb_arn, logType="APPLICATION_LOGS")
        self.clients["logs"].create_delivery(
            deliverySourceName=name, deliveryDestinationArn=self.outputs["KnowledgeBaseLogDestinationArn"]
        )

    @staticmethod
    def request(source: Source, trigger: str = "manual", **extra: Any) -> dict[str, Any]:
        return {
            "knowledgeBaseId": source.knowledge_base_id,
            "dataSourceId": source.data_source_id,
            "trigger": trigger,
            **extra,
        }

    def start(self, request: Any, name: str | None = None) -> str:
        if name is None:
            valid = isinstance(request, dict)
            name = execution_name(
                str(request.get("trigger", "manual")) if valid else "manual",
                str(request.get("knowledgeBaseId", "unknown"))[:10] if valid else "unknown",
                str(request.get("dataSourceId", "unknown"))[:10] if valid else "unknown",
            )
        arn: str = self.clients["stepfunctions"].start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(request)
        )["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout: float | None = None) -> dict[str, Any]:
        sfn = self.clients["stepfunctions"]

        def finished() -> dict[str, Any] | None:
            description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            return None if description["status"] == "RUNNING" else description

        result: dict[str, Any] = wait_until(finished, timeout or self.timeout, f"execution {execution_arn}")
        return result

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self.clients["stepfunctions"].get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def records(self, source: Source) -> list[dict[str, Any]]:
        """The job records of one data source, newest first (the documented single Query)."""
        response = self.clients["dynamodb"].query(
            TableName=self.outputs["JobsTableName"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"DS#{source.knowledge_base_id}#{source.data_source_id}"}},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        return [plain({k: _DESERIALIZER.deserialize(v) for k, v in item.items()}) for item in response["Items"]]

    def jobs(self, source: Source) -> list[dict[str, Any]]:
        """The data source's ingestion jobs in Bedrock ([] for a data source that does not exist)."""
        agent = self.clients["bedrock-agent"]
        try:
            summaries: list[dict[str, Any]] = agent.list_ingestion_jobs(
                knowledgeBaseId=source.knowledge_base_id, dataSourceId=source.data_source_id
            )["ingestionJobSummaries"]
        except agent.exceptions.ResourceNotFoundException:
            return []
        return summaries


# ------------------------------------------------------------------ history analysis


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def simplify_events(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-ready events: id, type, state name, error/cause, and the byte size of any input/output payload."""
    simple = []
    for event in events:
        details = _details(event)
        payload = max(
            (len(str(details[key]).encode()) for key in ("input", "output", "parameters") if key in details),
            default=0,
        )
        simple.append(
            {
                "id": event["id"],
                "type": event["type"],
                "name": details.get("name"),
                "error": details.get("error"),
                "cause": details.get("cause"),
                "payloadBytes": payload,
            }
        )
    return simple


@dataclass
class Coverage:
    states: set[str] = field(default_factory=set)
    branches: set[tuple[str, str]] = field(default_factory=set)
    catches: set[tuple[str, str]] = field(default_factory=set)


def coverage_of(histories: Iterable[list[dict[str, Any]]]) -> Coverage:
    """States entered; (choice, next state) pairs taken; (task, catch target) pairs where a failure was caught."""
    found = Coverage()
    for events in histories:
        entered = [(i, e) for i, e in enumerate(events) if e["type"].endswith("StateEntered")]
        for position, (index, event) in enumerate(entered):
            found.states.add(event["name"])
            if position + 1 >= len(entered):
                continue
            following_index, following = entered[position + 1]
            span = events[index:following_index]
            if event["type"] == "ChoiceStateEntered":
                found.branches.add((event["name"], following["name"]))
            task_results = [
                e["type"]
                for e in span
                if e["type"].startswith(("Task", "Lambda"))
                and (e["type"].endswith(("Succeeded", "Failed", "TimedOut")))
            ]
            if task_results and task_results[-1] in _FAILURE_EVENTS:
                found.catches.add((event["name"], following["name"]))
    return found


def expected_coverage(asl: dict[str, Any]) -> Coverage:
    """Every state, every Choice rule's and Default's target, every Catch target of the definition."""
    expected = Coverage()
    for name, state in asl["States"].items():
        expected.states.add(name)
        if state["Type"] == "Choice":
            targets = [rule["Next"] for rule in state["Choices"]] + ([state["Default"]] if "Default" in state else [])
            expected.branches.update((name, target) for target in targets)
        for catcher in state.get("Catch", []):
            expected.catches.add((name, catcher["Next"]))
    return expected
