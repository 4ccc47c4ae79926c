"""The alarm relay: each state change of one of kbsync's CloudWatch alarms, delivered by the AlarmRelayRule
(EventBridge, "CloudWatch Alarm State Change", template.yaml), becomes at most one notice on the alerts topic, with the
same severity / alertType / alarmName message attributes and chat notification as every kbsync alert
(kbsync_alerts.publish).

Why a Lambda: an alarm action publishing straight to SNS cannot set message attributes, so subscribers filtering on
severity or alertType would never see it, and its body is CloudWatch's JSON, not a kbsync alert. Which change sends
what (alarm_relay_logic): a change to ALARM sends the alarm's own kind (ALARM_*, severity and runbook from the
catalogue), ALARM -> OK one ALARM_RECOVERED (INFO), a change to or from INSUFFICIENT_DATA nothing.

A thin handler: the event is checked against its contract (schemas/alarm-state-change-event.schema.json) and read
through Powertools' event source data classes, the logic decides and words the notice, this module publishes it and
logs the run. Settings are read once, at cold start (alarm_relay_settings).
"""

from __future__ import annotations

from typing import Any

import alarm_relay_logic
import kbsync_alerts  # the Contracts layer (schemas/): the shared core
import kbsync_handlers
import kbsync_metrics
import kbsync_names
from alarm_relay_settings import Settings
from aws_lambda_powertools.utilities.typing import LambdaContext

logger, tracer, metrics = kbsync_handlers.powertools()
SETTINGS = Settings.from_env()
CLIENTS = kbsync_handlers.Clients(lambda: SETTINGS)
reset_clients = CLIENTS.reset


def publish(alert: dict[str, Any], chat: dict[str, Any]) -> str:
    return kbsync_alerts.publish(CLIENTS.client("sns"), SETTINGS.topic_arn, alert, chat)


@logger.inject_lambda_context(correlation_id_path=kbsync_names.LOG_CORRELATION_ID_PATH)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A "CloudWatch Alarm State Change" event -> {alarm, state, previousState, sent, messageId}."""
    result = kbsync_handlers.run_logged(
        logger, "alarm relay", event, lambda: alarm_relay_logic.relay(event, SETTINGS, publish)
    )
    kbsync_metrics.emit(kbsync_metrics.ALARM_NOTICES, 1 if result["sent"] else 0)
    return result
