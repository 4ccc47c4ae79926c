"""The functions' CloudWatch metrics, as the embedded-metric-format lines they print (Powertools' single_metric: one
JSON line per metric on stdout; the spec:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
each metric's name, unit, value and dimensions pinned, and a missing namespace or a broken metric never breaks the
function. No network, no moto.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kbsync_metrics
import pytest

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.unit.test_fn_get_job_status import CONFIG, REQUEST

get_job_status = load_function("get_job_status")
pacer = load_function("pacer")
sync_gate_logic = load_module("sync_gate", "sync_gate_logic")
SyncGateSettings = load_module("sync_gate", "sync_gate_settings").Settings

STARTED = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def emf_metrics(out: str) -> list[dict[str, Any]]:
    """Every metric of every EMF line in `out`: {namespace, name, unit, dimensions, values}."""
    found = []
    for line in out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            (dimension_set,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                found.append(
                    {
                        "namespace": directive["Namespace"],
                        "name": metric["Name"],
                        "unit": metric["Unit"],
                        "dimensions": {name: document[name] for name in dimension_set},
                        "values": values if isinstance(values, list) else [values],
                    }
                )
    return found


def by_name(out: str) -> dict[str, dict[str, Any]]:
    return {metric["name"]: metric for metric in emf_metrics(out)}


class Agent:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job

    def get_ingestion_job(self, **_kwargs: Any) -> dict[str, Any]:
        return {"ingestionJob": self.job}


def poll(monkeypatch: pytest.MonkeyPatch, job: dict[str, Any]) -> dict[str, Any]:
    monkeypatch.setattr(get_job_status, "_client", Agent(job))
    event = {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-m",
        "request": REQUEST,
        "job": {"ingestionJobId": "JOB1234567", "status": "STARTING"},
        "config": CONFIG,
    }
    result: dict[str, Any] = get_job_status.lambda_handler(event, FakeLambdaContext())
    return result


def terminal_job(status: str, seconds: int, scanned: int, failed: int) -> dict[str, Any]:
    return {
        "knowledgeBaseId": REQUEST["knowledgeBaseId"],
        "dataSourceId": REQUEST["dataSourceId"],
        "ingestionJobId": "JOB1234567",
        "status": status,
        "startedAt": STARTED,
        "updatedAt": STARTED + timedelta(seconds=seconds),
        "statistics": {"numberOfDocumentsScanned": scanned, "numberOfDocumentsFailed": failed},
    }


@pytest.mark.parametrize("status", ["COMPLETE", "FAILED", "STOPPED"])
def test_a_terminal_job_emits_its_outcome_duration_and_documents(
    status: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    poll(monkeypatch, terminal_job(status, seconds=754, scanned=120, failed=3))
    metrics = by_name(capsys.readouterr().out)
    assert metrics["JobsByOutcome"] == {
        "namespace": "kbsync",
        "name": "JobsByOutcome",
        "unit": "Count",
        "dimensions": {"Outcome": status},
        "values": [1.0],
    }
    assert metrics["JobDurationSeconds"] == {
        "namespace": "kbsync",
        "name": "JobDurationSeconds",
        "unit": "Seconds",
        "dimensions": {"Outcome": status},
        "values": [754.0],
    }
    assert metrics["DocumentsScanned"]["values"] == [120.0] and metrics["DocumentsScanned"]["dimensions"] == {}
    assert metrics["DocumentsFailed"]["values"] == [3.0] and metrics["DocumentsFailed"]["dimensions"] == {}
    assert metrics["DocumentsScanned"]["unit"] == metrics["DocumentsFailed"]["unit"] == "Count"


@pytest.mark.parametrize("status", ["STARTING", "IN_PROGRESS", "STOPPING"])
def test_a_running_job_emits_no_job_metric(
    status: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    poll(monkeypatch, terminal_job(status, seconds=10, scanned=0, failed=0))
    names = {metric["name"] for metric in emf_metrics(capsys.readouterr().out)}
    assert names == {"IngestionJobPolls"}  # the poll count only (the function's Metrics, flushed per call)


def test_durations_read_iso_strings_and_skip_what_is_missing() -> None:
    assert get_job_status.seconds_between("2026-12-06T02:00:00Z", "2026-12-06T02:01:30Z") == 90.0
    assert get_job_status.seconds_between(None, STARTED) is None
    assert get_job_status.seconds_between("not a date", STARTED) is None


def test_a_missing_namespace_falls_back_and_never_breaks_the_poll(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")
    monkeypatch.setattr(get_job_status.metrics, "namespace", None)  # what the handler's Metrics read at cold start
    monkeypatch.setattr(get_job_status.metrics, "add_metric", lambda **_kwargs: None)  # its own flush needs one
    result = poll(monkeypatch, terminal_job("FAILED", seconds=5, scanned=1, failed=1))
    assert result["status"] == "FAILED"
    assert by_name(capsys.readouterr().out)["JobsByOutcome"]["namespace"] == kbsync_metrics.DEFAULT_NAMESPACE


def test_a_metric_that_cannot_be_written_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kbsync_metrics.emit(kbsync_metrics.JOBS_BY_OUTCOME, 1, Reason="wrong dimension") is False
    assert kbsync_metrics.emit(kbsync_metrics.GATE_WAIT, float("nan")) is False  # not JSON: refused, no raise


def test_each_refused_slot_or_token_is_a_start_throttle_by_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter(
        [
            {"granted": False, "waitSeconds": 10, "reason": "account job slots full", "position": 0},
            {"granted": False, "waitSeconds": 2, "reason": "start spacing", "position": 0},
            {"granted": True, "waitSeconds": 0, "spacingSeconds": 10},
            {"released": True},
        ]
    )
    monkeypatch.setattr(pacer, "run_step", lambda event, now: next(answers))
    for action in ("acquireSlot", "acquireSlot", "acquireSlot", "releaseSlot"):
        pacer.lambda_handler({"action": action, "holder": "h"}, FakeLambdaContext())
    throttles = [metric for metric in emf_metrics(capsys.readouterr().out) if metric["name"] == "StartThrottles"]
    assert [(m["unit"], m["dimensions"], m["values"]) for m in throttles] == [
        ("Count", {"Reason": "account job slots full"}, [1.0]),
        ("Count", {"Reason": "start spacing"}, [1.0]),
    ]


class Gates:
    """The TargetsTable as begin_round uses it: the gate was taken at `acquired_at`."""

    def __init__(self, acquired_at: int) -> None:
        self.acquired_at = acquired_at

    def update_item(self, **_kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"changeSeq": 3, "rounds": 1, "acquiredAt": self.acquired_at}}


def test_begin_round_emits_how_long_the_gate_was_held_before_the_round(capsys: pytest.CaptureFixture[str]) -> None:
    now = 1_796_000_000
    step = {"knowledgeBaseId": "KB12345678", "dataSourceId": "DS12345678", "holder": "h", "trigger": "manual"}
    result = sync_gate_logic.begin_round(step, Gates(now - 95), SyncGateSettings(), now)
    assert set(result) == {"seen", "round", "childName"}  # the state's output is unchanged
    (wait,) = emf_metrics(capsys.readouterr().out)
    assert wait == {
        "namespace": "kbsync",
        "name": "GateWaitSeconds",
        "unit": "Seconds",
        "dimensions": {},
        "values": [95.0],
    }


def test_every_metric_is_listed_once_with_the_dimensions_its_emitters_use() -> None:
    names = [metric.name for metric in kbsync_metrics.ALL]
    assert len(names) == len(set(names))
    assert kbsync_metrics.JOBS_BY_OUTCOME.dimensions == ("Outcome",)
    assert kbsync_metrics.STALE_TARGETS.dimensions == ()
    assert kbsync_metrics.TARGET_AGE.dimensions == kbsync_metrics.TARGET_LAG.dimensions
