"""The functions' metrics on the deployed local stack: real syncs (`kbsync sync --wait`), their EMF lines extracted by
the local cloud into CloudWatch (adapters/emf_metrics.py), read back with GetMetricStatistics as on AWS.

The module has its own local cloud (the `deployed` fixture is per module); its tests run in any order, so each
compares the counts after its sync with those before: one COMPLETE job, or the jobs of one FAILED sync (every start
attempt fails: the bucket does not exist).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kbsync_metrics

from kbsync.cli.errors import ExitCode
from tests.cli.support import Deployed, cli

WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")
NAMESPACE = kbsync_metrics.DEFAULT_NAMESPACE  # the template's POWERTOOLS_METRICS_NAMESPACE
SERVICE = "kbsync"  # the template's POWERTOOLS_SERVICE_NAME


def stats(deployed: Deployed, metric: kbsync_metrics.Metric, **dimensions: str) -> dict[str, float]:
    """Sum, SampleCount, Minimum and Maximum of `metric` over the last hour (one period), {} when nothing."""
    now = datetime.now(UTC)
    points: list[dict[str, Any]] = deployed.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=metric.name,
        # Powertools adds the service dimension (POWERTOOLS_SERVICE_NAME, kbsync in the template) to every metric, and
        # CloudWatch answers only for the exact dimension set: AWS needs it in the query, so the test asks the same way.
        Dimensions=[{"Name": name, "Value": value} for name, value in {**dimensions, "service": SERVICE}.items()],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3900,
        Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
    )["Datapoints"]
    assert len(points) <= 1
    return (
        {key: float(value) for key, value in points[0].items() if key != "Timestamp" and key != "Unit"}
        if points
        else {}
    )


#: What the tests count: label -> (metric, dimensions). The tests share one deployment and run in any order, so each
#: compares what it reads after its sync with what was there before it.
COUNTED: dict[str, tuple[kbsync_metrics.Metric, dict[str, str]]] = {
    "jobs COMPLETE": (kbsync_metrics.JOBS_BY_OUTCOME, {"Outcome": "COMPLETE"}),
    "jobs FAILED": (kbsync_metrics.JOBS_BY_OUTCOME, {"Outcome": "FAILED"}),
    "durations COMPLETE": (kbsync_metrics.JOB_DURATION, {"Outcome": "COMPLETE"}),
    "durations FAILED": (kbsync_metrics.JOB_DURATION, {"Outcome": "FAILED"}),
    "scanned": (kbsync_metrics.DOCUMENTS_SCANNED, {}),
    "failed documents": (kbsync_metrics.DOCUMENTS_FAILED, {}),
    "gate wait": (kbsync_metrics.GATE_WAIT, {}),
}


def counts(deployed: Deployed) -> dict[str, tuple[float, float]]:
    """label -> (Sum, SampleCount), 0 when nothing was emitted."""
    read = {label: stats(deployed, metric, **dims) for label, (metric, dims) in COUNTED.items()}
    return {label: (got.get("Sum", 0.0), got.get("SampleCount", 0.0)) for label, got in read.items()}


def grown(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    return {label: (after[label][0] - before[label][0], after[label][1] - before[label][1]) for label in after}


def history(kb: str, ds: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(cli("history", "--kb", kb, "--ds", ds, "--json").out)
    return records


def test_a_real_sync_s_metrics_are_read_back_from_cloudwatch(deployed: Deployed) -> None:
    t = deployed.new_target(documents={"a.md": b"# A\n", "b.txt": b"b\n", "c.md": b"# C\n"})
    before = counts(deployed)
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
    assert result.code == ExitCode.OK, result.out + result.err
    [record] = history(t.kb, t.ds)
    scanned = int(record["statistics"]["numberOfDocumentsScanned"])
    assert scanned == 3

    grew = grown(before, counts(deployed))
    assert grew["jobs COMPLETE"] == (1.0, 1.0)
    assert grew["durations COMPLETE"][1] == 1.0  # one duration sample
    assert grew["scanned"][0] == scanned
    assert grew["failed documents"] == (0.0, 1.0)  # emitted, as 0
    assert grew["gate wait"][1] >= 1.0  # the sync's gated round began
    assert grew["jobs FAILED"] == (0.0, 0.0)


def test_each_failed_job_of_a_failed_sync_is_counted(deployed: Deployed) -> None:
    t = deployed.new_target(bucket_exists=False)
    before = counts(deployed)
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
    assert result.code == ExitCode.FAILED, result.out + result.err
    grew = grown(before, counts(deployed))
    failed = grew["jobs FAILED"][0]
    assert failed >= 1.0  # one per start attempt that Bedrock ran and failed
    assert grew["durations FAILED"][1] == failed
    assert grew["jobs COMPLETE"] == (0.0, 0.0)
