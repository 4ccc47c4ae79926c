"""The local cloud's EMF intake (adapters/emf_metrics.py): embedded-metric-format lines become CloudWatch metrics as
the spec says CloudWatch Logs extracts them
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
broken documents are dropped, ordinary log lines ignored, and a handler's stdout still reaches where it went.
moto in-process (mock_aws), no network.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from kbsync_localcloud.adapters import emf_metrics
from moto import mock_aws

ACCOUNT, REGION = "123456789012", "us-east-1"
AT = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def document(**root: Any) -> str:
    meta = {
        "Timestamp": int(AT.timestamp() * 1000),
        "CloudWatchMetrics": [
            {
                "Namespace": "kbsync",
                "Dimensions": [["Outcome"], []],
                "Metrics": [
                    {"Name": "JobsByOutcome", "Unit": "Count"},
                    {"Name": "JobDurationSeconds", "Unit": "Seconds"},
                ],
            }
        ],
    }
    return json.dumps({"_aws": meta, "Outcome": "FAILED", "JobsByOutcome": 1, "JobDurationSeconds": [30, 45], **root})


def test_each_dimension_set_of_each_metric_is_one_datum_with_the_documents_time_and_unit() -> None:
    data = emf_metrics.parse(document())
    assert {(d.name, d.dimensions, d.values, d.unit) for d in data} == {
        ("JobsByOutcome", (("Outcome", "FAILED"),), (1.0,), "Count"),
        ("JobsByOutcome", (), (1.0,), "Count"),
        ("JobDurationSeconds", (("Outcome", "FAILED"),), (30.0, 45.0), "Seconds"),
        ("JobDurationSeconds", (), (30.0, 45.0), "Seconds"),
    }
    assert {d.timestamp for d in data} == {AT.replace(tzinfo=None)} and {d.namespace for d in data} == {"kbsync"}


@pytest.mark.parametrize("line", ["", "START RequestId: x", '{"level": "INFO", "message": "polled"}', "[1, 2]", "{not"])
def test_a_line_that_is_not_an_emf_document_is_ordinary_log(line: str) -> None:
    assert emf_metrics.parse(line) == []


@pytest.mark.parametrize(
    "root",
    [
        {"JobsByOutcome": "1"},  # a value must be a number
        {"JobsByOutcome": True},
        {"JobDurationSeconds": list(range(101))},  # at most 100 values
        {"Outcome": 3},  # a dimension value must be a string
        {"_aws": {"CloudWatchMetrics": []}},  # no Timestamp
        {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Dimensions": [], "Metrics": []}]}},  # no Namespace
    ],
)
def test_a_document_that_breaks_the_spec_is_refused_whole(root: dict[str, Any]) -> None:
    with pytest.raises(emf_metrics.InvalidDocument):
        emf_metrics.parse(document(**root))


def statistics(cloudwatch: Any, name: str, dimensions: list[dict[str, str]]) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = cloudwatch.get_metric_statistics(
        Namespace="kbsync",
        MetricName=name,
        Dimensions=dimensions,
        StartTime=AT - timedelta(minutes=5),
        EndTime=AT + timedelta(minutes=5),
        Period=600,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    return points


@mock_aws
def test_extracted_metrics_are_read_back_and_a_broken_line_is_dropped() -> None:
    broken = document(JobsByOutcome="one")
    put = emf_metrics.extract(ACCOUNT, REGION, "\n".join(["START", document(), broken, "END"]))
    assert put == 4
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    [point] = statistics(cloudwatch, "JobsByOutcome", [{"Name": "Outcome", "Value": "FAILED"}])
    assert (point["Sum"], point["SampleCount"], point["Unit"]) == (1.0, 1.0, "Count")
    [duration] = statistics(cloudwatch, "JobDurationSeconds", [{"Name": "Outcome", "Value": "FAILED"}])
    assert (duration["SampleCount"], duration["Maximum"]) == (2.0, 45.0)


@mock_aws
def test_what_a_handler_prints_still_reaches_stdout_and_feeds_cloudwatch(capsys: pytest.CaptureFixture[str]) -> None:
    fn = SimpleNamespace(function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:kbsync-GetJobStatus")
    with emf_metrics.collected(fn):
        print("a log line")
        print(document())
    assert capsys.readouterr().out.splitlines() == ["a log line", document()]
    assert sys.stdout is not None and not isinstance(sys.stdout, emf_metrics._Tee)
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    assert statistics(cloudwatch, "JobsByOutcome", [{"Name": "Outcome", "Value": "FAILED"}])[0]["Sum"] == 1.0


@mock_aws
def test_nested_invocations_keep_each_line_once() -> None:
    outer = SimpleNamespace(function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:outer")
    with emf_metrics.collected(outer):
        with emf_metrics.collected(outer):
            print(document())
        print(document())
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    [point] = statistics(cloudwatch, "JobsByOutcome", [{"Name": "Outcome", "Value": "FAILED"}])
    assert point["SampleCount"] == 2.0


def test_the_moto_internals_it_uses_are_there() -> None:
    emf_metrics.verify_moto_internals()
