"""kbsync/targets.py: targets discovered from Bedrock, registered idempotently, never half-registered."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kbsync import targets
from tests.helpers.stubs import two_page_registry_scan
from tests.triggers.support import DS, DS2, KB, aws, create_targets_table


class FakeBedrockAgent:
    """GetDataSource answering with Bedrock's real response shape (and its real errors for unknown ids)."""

    def __init__(self) -> None:
        self.sources: dict[tuple[str, str], dict[str, Any]] = {}

    def add_s3(self, kb: str, ds: str, bucket: str, prefixes: list[str] | None = None) -> None:
        s3_config: dict[str, Any] = {"bucketArn": f"arn:aws:s3:::{bucket}"}
        if prefixes:
            s3_config["inclusionPrefixes"] = prefixes
        self.sources[(kb, ds)] = {
            "knowledgeBaseId": kb,
            "dataSourceId": ds,
            "name": f"docs-{ds.lower()}",
            "status": "AVAILABLE",
            "dataSourceConfiguration": {"type": "S3", "s3Configuration": s3_config},
            "dataDeletionPolicy": "DELETE",
            "createdAt": datetime(2026, 11, 1, tzinfo=UTC),  # botocore parses timestamps to datetimes
            "updatedAt": datetime(2026, 11, 1, tzinfo=UTC),
        }

    def get_data_source(self, knowledgeBaseId: str, dataSourceId: str) -> dict[str, Any]:
        found = self.sources.get((knowledgeBaseId, dataSourceId))
        if found is None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ResourceNotFoundException",
                        "Message": f"DataSource {dataSourceId} is not found",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 404},
                },
                "GetDataSource",
            )
        return {"dataSource": found}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with aws(monkeypatch):
        yield create_targets_table()


@pytest.fixture
def bedrock() -> FakeBedrockAgent:
    agent = FakeBedrockAgent()
    agent.add_s3(KB, DS, "docs", ["tenant-a/"])
    agent.add_s3(KB, DS2, "docs")
    return agent


def test_bucket_and_prefixes_are_discovered_not_typed(table: Any, bedrock: FakeBedrockAgent) -> None:
    added = targets.add_target(table, bedrock, KB, DS)
    assert (added.created, added.changed) == (True, True)
    assert added.target.bucket_name == "docs"
    assert added.target.inclusion_prefixes == ("tenant-a/",)
    assert targets.add_target(table, bedrock, KB, DS2).target.inclusion_prefixes == ()


def test_registering_twice_is_one_target(table: Any, bedrock: FakeBedrockAgent) -> None:
    first = targets.add_target(table, bedrock, KB, DS)
    again = targets.add_target(table, bedrock, KB, DS)
    assert (again.created, again.changed) == (False, False)
    assert again.target == first.target
    assert [t.data_source_id for t in targets.list_targets(table)] == [DS]


def test_re_adding_refreshes_what_bedrock_now_says(table: Any, bedrock: FakeBedrockAgent) -> None:
    first = targets.add_target(table, bedrock, KB, DS)
    bedrock.add_s3(KB, DS, "docs", ["tenant-a/v2/"])
    again = targets.add_target(table, bedrock, KB, DS, nightly=False)
    assert (again.created, again.changed) == (False, True)
    assert again.target.inclusion_prefixes == ("tenant-a/v2/",) and again.target.nightly is False
    assert again.target.registered_at == first.target.registered_at
    assert len(targets.list_targets(table)) == 1


@pytest.mark.parametrize(
    ("kb", "ds", "message"),
    [
        (KB, "DSUNKNOWN1", "has no data source DSUNKNOWN1"),
        ("bad-id", DS, "invalid knowledge base id 'bad-id'"),
        (KB, "x", "invalid data source id 'x'"),
    ],
)
def test_an_unknown_or_invalid_target_fails_clearly_and_writes_nothing(
    table: Any, bedrock: FakeBedrockAgent, kb: str, ds: str, message: str
) -> None:
    with pytest.raises(targets.TargetError, match=message):
        targets.add_target(table, bedrock, kb, ds)
    assert table.scan()["Count"] == 0


def test_a_non_s3_data_source_is_refused(table: Any, bedrock: FakeBedrockAgent) -> None:
    bedrock.sources[(KB, DS)]["dataSourceConfiguration"] = {"type": "WEB", "webConfiguration": {}}
    with pytest.raises(targets.TargetError, match="S3 data sources only"):
        targets.add_target(table, bedrock, KB, DS)
    assert table.scan()["Count"] == 0


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:us-east-1:123456789012:accesspoint/docs",  # an ARN, but of an access point: no bucket in it
        "docs:::tenant-a",  # the bucket separator without being an ARN
        "docs",
    ],
)
def test_only_an_s3_bucket_arn_gives_a_bucket(arn: str) -> None:
    """A bucket is read only from `arn:<partition>:s3:::<bucket>` (the form Bedrock's S3 data source configuration
    takes); anything else is refused by name, never turned into a bucket or an IndexError."""
    assert targets.bucket_of("arn:aws:s3:::docs") == "docs"
    assert targets.bucket_of("arn:aws-cn:s3:::docs.cn") == "docs.cn"
    with pytest.raises(targets.TargetError, match="is not an S3 bucket ARN"):
        targets.bucket_of(arn)


def test_nightly_switch_and_remove(table: Any, bedrock: FakeBedrockAgent) -> None:
    targets.add_target(table, bedrock, KB, DS)
    assert targets.set_nightly(table, KB, DS, False).nightly is False
    assert targets.remove_target(table, KB, DS) is True
    assert targets.remove_target(table, KB, DS) is False
    with pytest.raises(targets.TargetError, match="not a registered target"):
        targets.set_nightly(table, KB, DS, True)


class RecordingS3:
    """Get/PutBucketNotificationConfiguration as S3 answers them (moto 5.2.5 drops EventBridgeConfiguration)."""

    def __init__(self, current: dict[str, Any]) -> None:
        self.current = current
        self.puts: list[dict[str, Any]] = []

    def get_bucket_notification_configuration(self, Bucket: str) -> dict[str, Any]:
        return {**self.current, "ResponseMetadata": {"HTTPStatusCode": 200}}

    def put_bucket_notification_configuration(self, Bucket: str, NotificationConfiguration: dict[str, Any]) -> None:
        self.puts.append({"Bucket": Bucket, **NotificationConfiguration})
        self.current = NotificationConfiguration


def test_bucket_event_notifications_are_enabled_keeping_existing_ones(table: Any, bedrock: FakeBedrockAgent) -> None:
    queue = {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:existing", "Events": ["s3:ObjectCreated:*"]}
    s3 = RecordingS3({"QueueConfigurations": [queue]})
    targets.add_target(table, bedrock, KB, DS, s3=s3)
    assert s3.puts == [{"Bucket": "docs", "QueueConfigurations": [queue], "EventBridgeConfiguration": {}}]
    targets.add_target(table, bedrock, KB, DS2, s3=s3)  # already on: not written again
    assert len(s3.puts) == 1


def test_a_new_target_is_stamped_with_the_moment_it_was_registered(table: Any, bedrock: FakeBedrockAgent) -> None:
    moment = datetime(2026, 11, 22, 5, 4, 3, tzinfo=UTC)
    added = targets.add_target(table, bedrock, KB, DS, now=lambda: moment)
    assert added.target.registered_at == "2026-11-22T05:04:03Z"
    assert table.get_item(Key={"pk": added.target.pk, "sk": "TARGET"})["Item"]["registeredAt"] == "2026-11-22T05:04:03Z"
    later = datetime(2026, 11, 23, tzinfo=UTC)
    bedrock.add_s3(KB, DS, "docs", ["tenant-b/"])
    refreshed = targets.add_target(table, bedrock, KB, DS, now=lambda: later)  # a refresh keeps the first stamp
    assert (refreshed.changed, refreshed.target.registered_at) == (True, "2026-11-22T05:04:03Z")


@pytest.mark.parametrize("hours", [1, 8760])
def test_the_allowed_age_may_be_an_hour_up_to_a_year(table: Any, bedrock: FakeBedrockAgent, hours: int) -> None:
    assert targets.add_target(table, bedrock, KB, DS, max_age_hours=hours).target.max_age_hours == hours
    assert table.get_item(Key={"pk": f"DS#{KB}#{DS}", "sk": "TARGET"})["Item"]["maxAgeHours"] == hours


@pytest.mark.parametrize("hours", [0, 8761])
def test_an_allowed_age_outside_an_hour_to_a_year_is_refused(table: Any, bedrock: FakeBedrockAgent, hours: int) -> None:
    refused = f"--max-age-hours {hours}: give a whole number of hours from 1 to 8760"
    with pytest.raises(targets.TargetError, match=refused):
        targets.add_target(table, bedrock, KB, DS, max_age_hours=hours)
    assert table.scan()["Count"] == 0


def test_every_page_of_the_registry_is_listed() -> None:
    """A registry larger than one Scan page (1 MB): the listing follows LastEvaluatedKey to the last page."""
    with two_page_registry_scan(KB, DS2, DS) as table:
        listed = targets.list_targets(table)
    assert [t.data_source_id for t in listed] == [DS, DS2]  # sorted, both pages
