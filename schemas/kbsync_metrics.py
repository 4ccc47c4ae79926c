"""kbsync's CloudWatch metrics: each metric's name, unit and dimensions written once, and ``emit``, which prints one
metric as an embedded-metric-format (EMF) line through Powertools Metrics' ``single_metric``
(https://docs.aws.amazon.com/powertools/python/latest/core/metrics/): CloudWatch Logs extracts it from the function's
log at no API cost (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).

Each metric is emitted with the dimensions listed here plus ``service`` (Powertools' ``single_metric`` adds the
service name, POWERTOOLS_SERVICE_NAME = kbsync, to every metric's dimension set), and CloudWatch answers a query or
evaluates an alarm only for the exact set: the dashboard and the alarms in template.yaml name all of them
(tests/alarms/test_alarms_template.py compares).
The namespace is POWERTOOLS_METRICS_NAMESPACE, as for every Powertools metric of the functions; when it is missing,
``DEFAULT_NAMESPACE``. A metric never breaks a sync: ``emit`` logs and swallows any error of its own.

Imports the standard library; Powertools when a metric is first emitted (the functions' Powertools layer: the CLI,
which shares this package, never emits).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

#: The namespace when POWERTOOLS_METRICS_NAMESPACE is not set (template.yaml sets it to this for every function).
DEFAULT_NAMESPACE = "kbsync"
NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # a CloudWatch unit (Powertools' MetricUnit values)
    dimensions: tuple[str, ...]
    emitted_by: str


#: Ingestion jobs by their terminal status as Bedrock reports it (Outcome: COMPLETE, FAILED or STOPPED), one per job
#: attempt, when functions/get_job_status first sees the status.
JOBS_BY_OUTCOME = Metric("JobsByOutcome", "Count", ("Outcome",), "get_job_status")
#: Bedrock's updatedAt - startedAt of that job.
JOB_DURATION = Metric("JobDurationSeconds", "Seconds", ("Outcome",), "get_job_status")
#: The job's numberOfDocumentsScanned / numberOfDocumentsFailed.
DOCUMENTS_SCANNED = Metric("DocumentsScanned", "Count", (), "get_job_status")
DOCUMENTS_FAILED = Metric("DocumentsFailed", "Count", (), "get_job_status")
#: Seconds from the data source's gate being taken (the sync asked for) to a round of it beginning (sync_gate's
#: beginRound): the settle delay for the first round, plus the earlier rounds for the next ones.
GATE_WAIT = Metric("GateWaitSeconds", "Seconds", (), "sync_gate")
#: The pacer's refusals of a job slot or the start token (Reason: account job slots full, knowledge base busy, start
#: spacing, contention): one per ask refused.
START_THROTTLES = Metric("StartThrottles", "Count", ("Reason",), "pacer")
#: Written by functions/freshness (the freshness watch); listed here because the dashboard and an alarm read them.
TARGET_AGE = Metric("TargetAgeSeconds", "Seconds", ("KnowledgeBaseId", "DataSourceId"), "freshness")
TARGET_LAG = Metric("TargetLagSeconds", "Seconds", ("KnowledgeBaseId", "DataSourceId"), "freshness")
STALE_TARGETS = Metric("StaleTargets", "Count", (), "freshness")
#: Each alarm state change the relay receives: 1 when it sent a notice, 0 when the change sends none (to or from
#: INSUFFICIENT_DATA, OK without an earlier ALARM).
ALARM_NOTICES = Metric("AlarmNotices", "Count", (), "alarm_relay")
#: Push completion (docs/push-completion.md): each waiting execution woken, by what woke it (Source: logs, sweep).
WAKES = Metric("Wakes", "Count", ("Source",), "job_events, job_watch")
#: GetIngestionJob calls of one sweep of the job watch (the checks that were due).
SWEEP_CHECKS = Metric("SweepChecks", "Count", (), "job_watch")
#: Knowledge base log events job_events could not use, by reason (not json, not in contract, wrong knowledge base,
#: unknown job, job update failed, unreadable delivery): counted, never fatal.
LOG_EVENTS_IGNORED = Metric("LogEventsIgnored", "Count", ("Reason",), "job_events")

ALL = (
    JOBS_BY_OUTCOME,
    JOB_DURATION,
    DOCUMENTS_SCANNED,
    DOCUMENTS_FAILED,
    GATE_WAIT,
    START_THROTTLES,
    TARGET_AGE,
    TARGET_LAG,
    STALE_TARGETS,
    ALARM_NOTICES,
    WAKES,
    SWEEP_CHECKS,
    LOG_EVENTS_IGNORED,
)


def namespace() -> str:
    return os.environ.get(NAMESPACE_VARIABLE) or DEFAULT_NAMESPACE


def emit(metric: Metric, value: float, **dimensions: str) -> bool:
    """Print `metric` = `value` with `dimensions` (exactly the metric's) as one EMF line; False (logged) if it could
    not be, never an exception."""
    try:
        if set(dimensions) != set(metric.dimensions):
            raise ValueError(f"{metric.name} takes dimensions {metric.dimensions}, given {sorted(dimensions)}")
        if not math.isfinite(value):  # Powertools would print NaN, which is not JSON: CloudWatch drops the line
            raise ValueError(f"{metric.name}: {value} is not a finite number")
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        written: Any
        unit = MetricUnit(metric.unit)
        with single_metric(name=metric.name, unit=unit, value=value, namespace=namespace()) as written:
            for name in metric.dimensions:
                written.add_dimension(name=name, value=str(dimensions[name]))
        return True
    except Exception as error:  # a metric is never worth a failed sync
        _log.warning("metric %s not emitted: %s", metric.name, error)
        return False
