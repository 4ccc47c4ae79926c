"""functions/nightly_plan: the nightly order's Bedrock job history (bedrock_previous_duration) is only a hint:
every error Bedrock or the SDK really raises means "unknown", never a failed plan; the history is read from the local
cloud's Bedrock emulator (moto's own bedrock-agent has no ListIngestionJobs: NotImplementedError, which no AWS client
raises).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from kbsync_localcloud import bedrock as emulator
from kbsync_localcloud.adapters import bedrock_ingestion
from kbsync_localcloud.clock import CLOCK

from tests.helpers.functions import load_function, load_module
from tests.helpers.logs import log_lines
from tests.triggers.support import aws

plan_data = load_module("nightly_plan", "nightly_plan_data")
KB, DS = "KBAAAAAAA1", "DSAAAAAAA1"
T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "ListIngestionJobs")


class Raising:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def list_ingestion_jobs(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error


class Answering:
    def __init__(self, summaries: Any) -> None:
        self.summaries = summaries

    def list_ingestion_jobs(self, **kwargs: Any) -> dict[str, Any]:
        return {"ingestionJobSummaries": self.summaries}


@pytest.mark.parametrize(
    "error",
    [
        _client_error("ThrottlingException"),
        _client_error("AccessDeniedException"),
        _client_error("ResourceNotFoundException"),
        _client_error("ValidationException"),
        _client_error("InternalServerException"),
        EndpointConnectionError(endpoint_url="https://bedrock-agent.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://bedrock-agent.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://bedrock-agent.us-east-1.amazonaws.com"),
        NoCredentialsError(),
        ParamValidationError(report="Invalid length for parameter dataSourceId"),
    ],
    ids=lambda e: type(e).__name__ + (f"-{e.response['Error']['Code']}" if isinstance(e, ClientError) else ""),
)
def test_any_error_bedrock_or_the_sdk_raises_means_unknown(error: Exception) -> None:
    assert plan_data.bedrock_previous_duration(Raising(error), KB, DS) is None


def test_a_bug_is_not_swallowed() -> None:
    """Only what Bedrock or the SDK raise is a hint's "unknown": a programming error still surfaces."""
    with pytest.raises(ZeroDivisionError):
        plan_data.bedrock_previous_duration(Raising(ZeroDivisionError()), KB, DS)


@pytest.mark.parametrize(
    "summaries",
    [
        None,
        "not a list",
        [None, 3],
        [{"status": "COMPLETE", "startedAt": T0}],  # no updatedAt
        [{"status": "COMPLETE", "startedAt": "2026-12-01T01:00:00Z", "updatedAt": "2026-12-01T02:00:00Z"}],
        [{"status": "COMPLETE", "startedAt": T0, "updatedAt": T0.replace(tzinfo=None)}],  # naive vs aware
        [{"status": "COMPLETE", "startedAt": T0, "updatedAt": T0 - timedelta(seconds=5)}],  # negative
    ],
)
def test_summaries_without_usable_timestamps_mean_unknown(summaries: Any) -> None:
    assert plan_data.bedrock_previous_duration(Answering(summaries), KB, DS) is None


def test_the_newest_finished_job_gives_the_duration() -> None:
    summaries = [
        {"status": "IN_PROGRESS", "startedAt": T0, "updatedAt": T0 + timedelta(seconds=9)},
        {"status": "COMPLETE", "startedAt": T0, "updatedAt": T0 + timedelta(seconds=90)},
    ]
    assert plan_data.bedrock_previous_duration(Answering(summaries), KB, DS) == 90.0


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    bedrock_ingestion.install()
    previous = CLOCK.scale
    CLOCK.set_scale(0.001)
    try:
        with aws(monkeypatch):
            yield boto3.client("bedrock-agent", region_name="us-east-1")
    finally:
        CLOCK.set_scale(previous)


def test_against_the_emulator_an_unknown_data_source_is_unknown(bedrock: Any) -> None:
    with pytest.raises(ClientError) as raised:
        bedrock.list_ingestion_jobs(knowledgeBaseId=KB, dataSourceId=DS)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert plan_data.bedrock_previous_duration(bedrock, KB, DS) is None


def test_against_the_emulator_a_finished_job_gives_its_duration(bedrock: Any) -> None:
    source = emulator.seed_sync_target(agent_client=bedrock, s3_client=boto3.client("s3", region_name="us-east-1"))
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=source.bucket, Key="docs/a.txt", Body=b"hello")
    job = bedrock.start_ingestion_job(knowledgeBaseId=source.knowledge_base_id, dataSourceId=source.data_source_id)
    done = emulator.wait_for_ingestion_job(
        source.knowledge_base_id, source.data_source_id, job["ingestionJob"]["ingestionJobId"], bedrock
    )
    summaries = bedrock.list_ingestion_jobs(
        knowledgeBaseId=source.knowledge_base_id,
        dataSourceId=source.data_source_id,
        filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["COMPLETE"]}],
        sortBy={"attribute": "STARTED_AT", "order": "DESCENDING"},
        maxResults=1,
    )["ingestionJobSummaries"]
    assert isinstance(summaries[0]["startedAt"], datetime)  # botocore's type, as the real API gives it
    expected = (done["updatedAt"] - done["startedAt"]).total_seconds()
    assert plan_data.bedrock_previous_duration(bedrock, source.knowledge_base_id, source.data_source_id) == expected


def test_a_finished_job_without_usable_timestamps_is_skipped_for_the_next_finished_one() -> None:
    """The newest finished summary may lack a usable end (no updatedAt, or naive against aware): it is passed over,
    not the end of the search, and the next finished job gives the duration."""
    summaries = [
        {"status": "COMPLETE", "startedAt": T0, "updatedAt": T0.replace(tzinfo=None)},  # naive vs aware
        {"status": "FAILED", "startedAt": T0 - timedelta(hours=1), "updatedAt": T0 - timedelta(minutes=59)},
    ]
    assert plan_data.bedrock_previous_duration(Answering(summaries), KB, DS) == 60.0


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (_client_error("AccessDeniedException"), "AccessDeniedException"),
        (ReadTimeoutError(endpoint_url="https://bedrock-agent.us-east-1.amazonaws.com"), "ReadTimeoutError"),
    ],
    ids=["ClientError", "BotoCoreError"],
)
def test_the_warning_names_the_aws_error_code_or_the_sdk_error(error: Exception, named: str) -> None:
    """Clean causes: the log says which error made the hint unknown by its code, never by a repr or a trace."""
    load_function("nightly_plan")  # the handler's logger: the parent the data module's child logger writes through
    with log_lines(plan_data) as lines:
        assert plan_data.bedrock_previous_duration(Raising(error), KB, DS) is None
    (warning,) = [line for line in lines() if line["message"] == "no Bedrock job history for the night's order"]
    assert (warning["level"], warning["error"], warning["kb"], warning["ds"]) == ("WARNING", named, KB, DS)
