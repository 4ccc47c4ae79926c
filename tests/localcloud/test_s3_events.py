"""S3 -> EventBridge: "Object Created" / "Object Deleted" events with S3's documented shape, on the default bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters import s3_eventbridge
from kbsync_localcloud.cloud import LocalCloud

BUCKET = "docs"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.001) as local:
        yield local


def _capture_s3_events(cloud: LocalCloud) -> str:
    """An SQS queue receiving every aws.s3 event of the default bus; its URL."""
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = cloud.client("events")
    events.put_rule(Name="s3", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="s3", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _received(cloud: LocalCloud, url: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _enable(cloud: LocalCloud, bucket: str = BUCKET) -> Any:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
    return s3


def test_put_object_emits_object_created_with_the_real_shape(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    s3 = _enable(cloud)
    etag = s3.put_object(Bucket=BUCKET, Key="docs/a.txt", Body=b"hello")["ETag"].strip('"')
    (event,) = _received(cloud, url)
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    assert event["resources"] == [f"arn:aws:s3:::{BUCKET}"]
    detail = event["detail"]
    assert set(detail) == {
        "version",
        "bucket",
        "object",
        "request-id",
        "requester",
        "source-ip-address",
        "reason",
    }
    assert detail["version"] == "0"
    assert detail["bucket"] == {"name": BUCKET}
    assert detail["reason"] == "PutObject"
    assert detail["object"]["key"] == "docs/a.txt"
    assert detail["object"]["size"] == 5
    assert detail["object"]["etag"] == etag
    assert "version-id" not in detail["object"]  # unversioned bucket
    assert detail["object"]["sequencer"]


def test_copy_multipart_and_deletes_have_their_reasons(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    s3 = _enable(cloud)
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    s3.copy_object(Bucket=BUCKET, Key="b.txt", CopySource={"Bucket": BUCKET, "Key": "a.txt"})
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="c.txt")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="c.txt", UploadId=upload_id, PartNumber=1, Body=b"c" * 10)
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="c.txt",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    s3.delete_object(Bucket=BUCKET, Key="a.txt")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "b.txt"}, {"Key": "c.txt"}]})
    seen = [(e["detail-type"], e["detail"]["reason"], e["detail"]["object"]["key"]) for e in _received(cloud, url)]
    assert seen == [
        ("Object Created", "PutObject", "a.txt"),
        ("Object Created", "CopyObject", "b.txt"),
        ("Object Created", "CompleteMultipartUpload", "c.txt"),
        ("Object Deleted", "DeleteObject", "a.txt"),
        ("Object Deleted", "DeleteObject", "b.txt"),
        ("Object Deleted", "DeleteObject", "c.txt"),
    ]


def test_deleted_event_has_deletion_type_and_no_size(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    s3 = _enable(cloud)
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    s3.delete_object(Bucket=BUCKET, Key="a.txt")
    created, deleted = _received(cloud, url)
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"
    assert "size" not in deleted["detail"]["object"] and "etag" not in deleted["detail"]["object"]
    assert created["detail"]["object"]["sequencer"] < deleted["detail"]["object"]["sequencer"]


def test_versioned_bucket_events_carry_the_version_id(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    s3 = _enable(cloud)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")["VersionId"]
    (event,) = _received(cloud, url)
    assert event["detail"]["object"]["version-id"] == version


def test_delete_on_a_versioned_bucket_reports_the_delete_marker(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    s3 = _enable(cloud)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    marker = s3.delete_object(Bucket=BUCKET, Key="a.txt")["VersionId"]
    _, deleted = _received(cloud, url)
    assert deleted["detail-type"] == "Object Deleted"
    assert deleted["detail"]["deletion-type"] == "Delete Marker Created"
    assert deleted["detail"]["reason"] == "DeleteObject"
    assert deleted["detail"]["object"]["version-id"] == marker


def test_no_eventbridge_configuration_no_events(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    assert _received(cloud, url) == []


def test_only_the_default_bus_receives_s3_events(cloud: LocalCloud) -> None:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="custom")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = cloud.client("events")
    events.create_event_bus(Name="custom")
    events.put_rule(Name="s3", EventBusName="custom", EventPattern=json.dumps({"source": ["aws.s3"]}))
    events.put_targets(Rule="s3", EventBusName="custom", Targets=[{"Id": "q", "Arn": arn}])
    _enable(cloud).put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    assert _received(cloud, url) == []


def test_cloudformation_eventbridge_configuration_is_honoured(cloud: LocalCloud) -> None:
    url = _capture_s3_events(cloud)
    template = {
        "Resources": {
            "On": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": "cfn-on",
                    "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
                },
            },
            "Off": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "cfn-off"}},
        }
    }
    cloud.client("cloudformation").create_stack(StackName="buckets", TemplateBody=json.dumps(template))
    s3 = cloud.client("s3")
    s3.put_object(Bucket="cfn-on", Key="a.txt", Body=b"a")
    s3.put_object(Bucket="cfn-off", Key="a.txt", Body=b"a")
    assert [e["detail"]["bucket"]["name"] for e in _received(cloud, url)] == ["cfn-on"]


def test_verify_moto_internals_passes_on_the_pinned_moto() -> None:
    s3_eventbridge.verify_moto_internals()


def test_verify_moto_internals_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(s3_eventbridge.notifications, "_send_event_bridge_message")
    with pytest.raises(s3_eventbridge.MotoInternalsChanged, match="_send_event_bridge_message"):
        s3_eventbridge.verify_moto_internals()
