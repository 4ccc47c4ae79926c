"""The freshness check: run every hour by the FreshnessSchedule (EventBridge Scheduler, template.yaml), it alerts
once when a registered target has gone too long without a successful sync (TARGET_STALE) or when S3 changes have
waited too long for one (TARGET_LAGGING), and once when it is fresh again (TARGET_FRESH_AGAIN, INFO).

A thin handler: the schedule's document is checked against its contract
(schemas/freshness-schedule-input.schema.json), every target is assessed by the logic (freshness_logic: the
policy) over the tables (freshness_data), each target's age and lag is emitted as a metric (TargetAgeSeconds,
TargetLagSeconds; dimensions KnowledgeBaseId, DataSourceId), and the number of stale targets (StaleTargets), in the
CloudWatch embedded metric format (kbsync_metrics: no API call), and the run is logged. Settings are read once, at
cold start (freshness_settings).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import freshness_logic
import kbsync_alerts  # the Contracts layer (schemas/): the shared core
import kbsync_handlers
import kbsync_metrics
import kbsync_names
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from freshness_settings import Settings

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)  # the tables SETTINGS names when first asked for (tests patch it)
targets_table, jobs_table, reset_clients = CLIENTS.targets_table, CLIENTS.jobs_table, CLIENTS.reset


def publish(alert: dict[str, Any], chat: dict[str, Any]) -> str:
    return kbsync_alerts.publish(CLIENTS.client("sns"), SETTINGS.topic_arn, alert, chat)


def emit(verdict: freshness_logic.Verdict) -> None:
    """One target's age and lag (seconds) as EMF metrics (kbsync_metrics: names, units and dimensions, the
    target's knowledge base and data source)."""
    target = {"KnowledgeBaseId": verdict.knowledge_base_id, "DataSourceId": verdict.data_source_id}
    kbsync_metrics.emit(kbsync_metrics.TARGET_AGE, round(verdict.age_seconds), **target)
    kbsync_metrics.emit(kbsync_metrics.TARGET_LAG, round(verdict.lag_seconds), **target)


def run(event: Any, now: datetime) -> dict[str, Any]:
    """The input's contract first (nothing read for a broken one), then one pass over the targets."""
    freshness_logic.checked(event)
    result = freshness_logic.check_all(targets_table(), jobs_table(), publish, SETTINGS, now, observe=emit)
    stale = sum(1 for verdict in result.verdicts if verdict.state == freshness_logic.STALE)
    kbsync_metrics.emit(kbsync_metrics.STALE_TARGETS, stale)
    return result.to_dict()


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """{source: kbsync.freshness-schedule, scheduledTime} -> {checked, states, alerted, errors}."""
    result = kbsync_handlers.run_logged(logger, "freshness check", event, lambda: run(event, datetime.now(UTC)))
    metrics.add_metric(name="FreshnessAlerts", unit=MetricUnit.Count, value=len(result["alerted"]))
    return result
