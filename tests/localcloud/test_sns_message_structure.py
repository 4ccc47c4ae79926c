"""SNS Publish with MessageStructure=json on the local cloud, as AWS does it (adapters/sns_message_structure.py), and
an alert published through the real helper (kbsync_alerts.publish) as its subscribers receive it.

AWS (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, MessageStructure and Message): the message must be
a JSON object with a string "default"; a subscriber gets its protocol's string entry, else "default"; an empty entry
is allowed, a non-string one ignored; a message that breaks these rules is refused at Publish, subscribers or not.
moto 5.2.5 checks only while delivering (a topic without subscribers accepted anything), replaced an empty entry by
the default and delivered a non-string entry as is. An HTTPS subscriber (Amazon Q Developer in chat applications) is
not available here: the "https" entry is read from what the topic was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import kbsync_alerts
import kbsync_contracts
import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.adapters import sns_message_structure
from kbsync_localcloud.cloud import ACCOUNT_ID, LocalCloud

from kbsync.cli import alerts as cli_alerts
from tests.helpers.functions import load_function

send_alert = load_function("send_alert")
NOW = datetime(2026, 11, 22, 5, 30, 0, tzinfo=UTC)
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:s3-KB12345678-DS12345678-x"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


@pytest.fixture
def topic(cloud: LocalCloud, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:200]
    return str(cloud.client("sns").create_topic(Name=name)["TopicArn"])


def subscribed_queue(cloud: LocalCloud, topic: str, name: str, raw: bool) -> str:
    sqs = cloud.client("sqs")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("sns").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true" if raw else "false"}
    )
    return url


def received(cloud: LocalCloud, url: str) -> list[str]:
    messages = cloud.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [str(message["Body"]) for message in messages]


def error_of(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def sent_to(cloud: LocalCloud, topic: str) -> str:
    """The last message the topic was sent, as published (moto keeps it on the topic)."""
    from moto.sns.models import sns_backends

    notifications = sns_backends[ACCOUNT_ID][cloud.region].topics[topic].sent_notifications
    return str(notifications[-1][1])


# --------------------------------------------------------------------------- an alert, through the real helper


def test_an_alert_reaches_the_inbox_as_text_and_carries_its_chat_notification_for_https(
    cloud: LocalCloud, topic: str
) -> None:
    inbox = subscribed_queue(cloud, topic, "alert-inbox", raw=False)  # as template.yaml's AlertInboxSubscription
    facts = send_alert.AlertFacts(
        "PARTIAL",
        "KB12345678",
        "DS12345678",
        EXECUTION_ARN,
        ingestion_job_id="JOB1234567",
        status="COMPLETE",
        failure_reasons=["Ignored 1 files as their file format was not supported. [Files: s3://acme/v.mp4]"],
    )
    alert, chat = send_alert.build_alert_and_chat(facts, "https://example.com/runbooks", NOW)
    message_id = kbsync_alerts.publish(cloud.client("sns"), topic, alert, chat)

    [body] = received(cloud, inbox)
    envelope = json.loads(body)
    assert envelope["Message"] == alert["message"]  # the "default" entry: the text e-mail and the inbox read
    assert envelope["Subject"] == alert["subject"]
    assert {name: value["Value"] for name, value in envelope["MessageAttributes"].items()} == {
        name: value["StringValue"] for name, value in alert["messageAttributes"].items()
    }
    shown = cli_alerts.parse(body)  # `kbsync alerts` reads it as before
    assert (shown.source, shown.alert_type, shown.message_id) == (cli_alerts.KBSYNC, "PARTIAL", message_id)
    assert shown.message.startswith("kbsync PARTIAL (WARNING): ")

    https = json.loads(json.loads(sent_to(cloud, topic))["https"])  # what Amazon Q Developer receives
    kbsync_contracts.validate("chat-notification", https)
    assert https == chat


# --------------------------------------------------------------------------- AWS's rules


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not json", sns_message_structure.PARSE_ERROR),
        ('["default", "text"]', sns_message_structure.PARSE_ERROR),
        ('{"default": "a", "default": "b"}', sns_message_structure.PARSE_ERROR),  # duplicate keys are not allowed
        ('{"https": "{}"}', sns_message_structure.NO_DEFAULT_ERROR),
        ('{"default": {"text": "x"}}', sns_message_structure.NO_DEFAULT_ERROR),  # "default" must be a string
    ],
)
def test_a_broken_structure_is_refused_at_publish_even_without_subscribers(
    cloud: LocalCloud, topic: str, message: str, error: str
) -> None:
    sns = cloud.client("sns")
    assert error_of(lambda: sns.publish(TopicArn=topic, Message=message, MessageStructure="json")) == (
        "InvalidParameter",
        error,
    )
    subscribed_queue(cloud, topic, f"q-{abs(hash(message)) % 10**8}", raw=False)
    assert error_of(lambda: sns.publish(TopicArn=topic, Message=message, MessageStructure="json"))[1] == error


@pytest.mark.parametrize(
    ("entries", "delivered"),
    [
        ({"default": "for all", "email": "for e-mail"}, "for all"),  # another protocol's entry
        ({"default": "for all", "sqs": "for queues"}, "for queues"),
        ({"default": "for all", "sqs": ""}, ""),  # an empty entry is allowed, and delivered
        ({"default": "for all", "sqs": {"not": "a string"}}, "for all"),  # a non-string entry is ignored
    ],
)
@pytest.mark.parametrize("raw", [False, True])
def test_each_subscriber_gets_its_protocols_string_entry_else_the_default(
    cloud: LocalCloud, topic: str, entries: dict[str, Any], delivered: str, raw: bool
) -> None:
    queue = subscribed_queue(cloud, topic, f"q-{'raw' if raw else 'envelope'}-{abs(hash(topic)) % 10**8}", raw=raw)
    cloud.client("sns").publish(TopicArn=topic, Message=json.dumps(entries), MessageStructure="json", Subject="s")
    [body] = received(cloud, queue)
    assert (body if raw else json.loads(body)["Message"]) == delivered


def test_a_plain_message_is_unchanged(cloud: LocalCloud, topic: str) -> None:
    queue = subscribed_queue(cloud, topic, f"q-plain-{abs(hash(topic)) % 10**8}", raw=False)
    cloud.client("sns").publish(TopicArn=topic, Message='{"default": "not structured"}')
    [body] = received(cloud, queue)
    assert json.loads(body)["Message"] == '{"default": "not structured"}'
