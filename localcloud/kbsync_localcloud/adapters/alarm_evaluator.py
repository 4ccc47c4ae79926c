"""CloudWatch metric alarms that evaluate, change state and tell EventBridge, as on AWS.

moto 5.2.5 stores alarms (PutMetricAlarm, CloudFormation) but never evaluates them: they stay in the state they were
created in (OK, where AWS starts every alarm in INSUFFICIENT_DATA), and no "CloudWatch Alarm State Change" event is
ever sent, so kbsync's AlarmRelayRule never fires. This adapter:

- **creation**: a new alarm starts in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"), as on AWS; a
  PutMetricAlarm on an existing alarm keeps its state;
- **state changes**: every change of an alarm's state value — by the evaluator or by ``SetAlarmState`` (which AWS
  documents for testing alarm actions) — puts a "CloudWatch Alarm State Change" event on the default bus of the
  alarm's account and region, with AWS's shape (source ``aws.cloudwatch``, resources ``[alarm ARN]``, detail
  ``{alarmName, state, previousState, configuration {description, metrics[{id, metricStat {metric {namespace, name,
  dimensions}, period, stat}, returnData}]}}``):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
- **evaluation** (``AlarmEvaluator``, a daemon thread started with the local cloud): every ``TICK_VIRTUAL_SECONDS``
  of virtual time (AWS evaluates an alarm of a period of a minute or more once a minute) each metric alarm is
  evaluated against the stored data (``evaluate``, pure): the last ``EvaluationPeriods`` periods of ``Period``
  seconds ending now, each period's ``Statistic`` of the datapoints whose namespace, name, unit and **exact**
  dimension set are the alarm's (CloudWatch matches dimension sets exactly; moto's GetMetricStatistics matches
  subsets), compared with ``Threshold`` by ``ComparisonOperator``; ALARM when at least ``DatapointsToAlarm`` (default
  ``EvaluationPeriods``) periods breach, else OK; periods without data count as ``TreatMissingData`` says
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html): ``notBreaching``
  good, ``breaching`` bad, ``ignore`` keeps the state when every period is empty, ``missing`` (the default) goes to
  INSUFFICIENT_DATA when every period is empty; with some data, missing periods are left out.
- **service metrics AWS publishes and moto does not**: each tick puts ``AWS/SQS ApproximateNumberOfMessagesVisible``
  (dimension ``QueueName``) for every queue an alarm watches, as SQS reports its queues every minute
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
  Step Functions' ``AWS/States`` execution metrics are put by adapters/execution_events.py when an execution starts
  and ends.

Time: a period is a duration, so it is measured in virtual seconds (clock.py): a datapoint's date (the wall clock) is
mapped to its virtual instant, and a 300 s period lasts 300 x scale real seconds, like every wait of the local cloud.

Not emulated: metric math alarms (``Metrics``), percentiles (``ExtendedStatistic``), anomaly detection, composite
alarms, alarm actions (kbsync has none), periods aligned to the clock, CloudWatch's evaluation delay for late data.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.clock import CLOCK, Ticker

LOG = logging.getLogger(__name__)

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"
ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
#: How often (virtual seconds) the evaluator runs: AWS evaluates alarms of a period >= 60 s every minute.
TICK_VIRTUAL_SECONDS = 60.0
INITIAL_REASON = "Unchecked: Initial alarm creation"
SQS_NAMESPACE, SQS_DEPTH = "AWS/SQS", "ApproximateNumberOfMessagesVisible"
#: ``off`` turns the evaluator off for a local cloud started without an explicit choice (``kbsync local up`` run by a
#: test that counts the alerts of one failed sync, without the alarm notices it also causes).
ENABLED_VARIABLE = "KBSYNC_LOCAL_ALARMS"

_COMPARISONS = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


# --------------------------------------------------------------------------- the math (pure)


@dataclass(frozen=True)
class Rule:
    """What decides one metric alarm's state."""

    period: float
    evaluation_periods: int
    datapoints_to_alarm: int
    statistic: str
    comparison: str
    threshold: float
    treat_missing_data: str = "missing"


@dataclass(frozen=True)
class Verdict:
    state: str  # ALARM, OK or INSUFFICIENT_DATA; the alarm's current state for "ignore" with no data
    reason: str
    values: tuple[float | None, ...]  # each period's statistic, oldest first (None: no data)


def statistic(values: Sequence[float], name: str) -> float:
    """CloudWatch's statistic `name` of one period's values (at least one)."""
    if name == "SampleCount":
        return float(len(values))
    if name == "Sum":
        return float(sum(values))
    if name == "Average":
        return float(sum(values) / len(values))
    if name == "Minimum":
        return float(min(values))
    if name == "Maximum":
        return float(max(values))
    raise ValueError(f"statistic {name!r} is not emulated (SampleCount, Sum, Average, Minimum, Maximum)")


def breaches(value: float, rule: Rule) -> bool:
    return bool(_COMPARISONS[rule.comparison](value, rule.threshold))


def evaluate(rule: Rule, periods: Sequence[Sequence[float]], current: str) -> Verdict:
    """The state of an alarm whose last `rule.evaluation_periods` periods (oldest first) hold these values."""
    values = tuple(statistic(p, rule.statistic) if p else None for p in periods[-rule.evaluation_periods :])
    present = [v for v in values if v is not None]
    shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
    if not present and rule.treat_missing_data in ("missing", "ignore"):
        state = INSUFFICIENT_DATA if rule.treat_missing_data == "missing" else current
        return Verdict(state, f"Insufficient Data: no datapoint in the last {len(values)} period(s).", values)
    if rule.treat_missing_data == "breaching":
        breaching = sum(1 for v in values if v is None or breaches(v, rule))
    else:  # notBreaching counts a missing period as good; missing/ignore leave it out
        breaching = sum(1 for v in present if breaches(v, rule))
    state = ALARM if breaching >= rule.datapoints_to_alarm else OK
    verb = "was" if state == ALARM else "was not"
    return Verdict(
        state,
        f"Threshold Crossed: {breaching} of the last {len(values)} datapoint(s) [{shown}] {verb} "
        f"{rule.comparison} {rule.threshold:g} (at least {rule.datapoints_to_alarm} to alarm).",
        values,
    )


def periods_of(points: Iterable[tuple[float, float]], now: float, rule: Rule) -> list[list[float]]:
    """(virtual instant, value) points -> the values of each of the last `rule.evaluation_periods` periods ending at
    `now` (oldest first; period i covers [now - (N - i) * P, now - (N - i - 1) * P))."""
    count = rule.evaluation_periods
    start = now - count * rule.period
    periods: list[list[float]] = [[] for _ in range(count)]
    for instant, value in points:
        if start <= instant < now:
            periods[min(count - 1, int((instant - start) // rule.period))].append(value)
    return periods


# --------------------------------------------------------------------------- moto's alarms


def rule_of(alarm: Any) -> Rule | None:
    """The alarm's rule, or None when it is not a plain metric alarm this evaluator handles."""
    if alarm.metric_data_queries or getattr(alarm, "rule", None) or not alarm.metric_name or not alarm.statistic:
        return None
    if alarm.comparison_operator not in _COMPARISONS or alarm.threshold is None or not alarm.period:
        return None
    periods = int(alarm.evaluation_periods)
    return Rule(
        period=float(alarm.period),
        evaluation_periods=periods,
        datapoints_to_alarm=int(alarm.datapoints_to_alarm or periods),
        statistic=str(alarm.statistic),
        comparison=str(alarm.comparison_operator),
        threshold=float(alarm.threshold),
        treat_missing_data=str(alarm.treat_missing_data or "missing"),
    )


def _dimensions(dimensions: Iterable[Any]) -> frozenset[tuple[str, str]]:
    return frozenset((str(d.name), str(d.value)) for d in dimensions)


def _virtual(timestamp: datetime) -> float:
    moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    return CLOCK.virtual(moment.timestamp())


def points_of(alarm: Any, data: Iterable[Any]) -> list[tuple[float, float]]:
    """(virtual instant, value) of the stored data the alarm watches (exact dimension set, unit when it has one)."""
    wanted = _dimensions(alarm.dimensions)
    points: list[tuple[float, float]] = []
    for datum in data:
        if datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
            continue
        if (alarm.unit and datum.unit != alarm.unit) or _dimensions(datum.dimensions) != wanted:
            continue
        instant = _virtual(datum.timestamp)
        if hasattr(datum, "value"):
            points.append((instant, float(datum.value)))
        else:  # StatisticValues: its Sum (Sum/SampleCount alarms) - enough for kbsync's alarms
            points.append((instant, float(datum.sum)))
    return points


def _iso(moment: datetime) -> str:
    """AWS's timestamp in these events: 2019-10-02T17:04:40.985+0000."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _state(value: str, reason: str, reason_data: str | None, when: datetime) -> dict[str, Any]:
    state = {"value": value, "reason": reason, "timestamp": _iso(when)}
    if reason_data:
        state["reasonData"] = reason_data
    return state


def configuration(alarm: Any) -> dict[str, Any]:
    metric: dict[str, Any] = {"namespace": alarm.namespace, "name": alarm.metric_name}
    metric["dimensions"] = {str(d.name): str(d.value) for d in alarm.dimensions}
    stat: dict[str, Any] = {"metric": metric, "period": int(alarm.period or 0), "stat": alarm.statistic}
    if alarm.unit:
        stat["unit"] = alarm.unit
    found: dict[str, Any] = {"metrics": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
                                          "metricStat": stat, "returnData": True}]}  # fmt: skip
    if alarm.description:
        found["description"] = alarm.description
    return found


def state_change_event(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry of `alarm`'s change from `previous` ({value, reason, reasonData, timestamp}) to its state."""
    detail = {
        "alarmName": alarm.name,
        "state": _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp),
        "previousState": previous,
        "configuration": configuration(alarm),
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [alarm.alarm_arn],
        "EventBusName": "default",
        "Time": int(CLOCK.wall_now()),
    }


def _snapshot(alarm: Any) -> dict[str, Any]:
    return _state(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp)


def _put_state_change(backend: Any, alarm: Any, previous: dict[str, Any]) -> None:
    """Tell EventBridge (the alarm's account and region); never break the caller."""
    try:
        from moto.events.models import events_backends

        events_backends[backend.account_id][backend.region_name].put_events([state_change_event(alarm, previous)])
    except Exception:
        LOG.exception("could not emit %s for %s", DETAIL_TYPE, getattr(alarm, "name", "?"))


# --------------------------------------------------------------------------- patches of moto's backend

_INSTALL_LOCK = threading.Lock()
_installed = False


def _backend_cls() -> Any:
    from moto.cloudwatch.models import CloudWatchBackend

    return CloudWatchBackend


def _wrap_set_alarm_state(original: Any) -> Any:
    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        alarm = self.alarms.get(alarm_name)
        before = _snapshot(alarm) if alarm is not None else None
        original(self, alarm_name, reason, reason_data, state_value)
        if before is not None and before["value"] != state_value:
            _put_state_change(self, self.alarms[alarm_name], before)

    set_alarm_state.__kbsync_original__ = original  # type: ignore[attr-defined]
    return set_alarm_state


def _wrap_put_metric_alarm(original: Any) -> Any:
    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = self.alarms.get(name)
        alarm = original(self, name, *args, **kwargs)
        if existing is not None:  # an update keeps the state (and its history)
            alarm.state_value, alarm.state_reason = existing.state_value, existing.state_reason
            alarm.state_reason_data, alarm.state_updated_timestamp = (
                existing.state_reason_data,
                existing.state_updated_timestamp,
            )
        else:
            alarm.state_value, alarm.state_reason = INSUFFICIENT_DATA, INITIAL_REASON
        return alarm

    put_metric_alarm.__kbsync_original__ = original  # type: ignore[attr-defined]
    return put_metric_alarm


def install() -> None:
    """Alarms start INSUFFICIENT_DATA and tell EventBridge of every change (idempotent, process-wide). The evaluator
    itself runs only while a local cloud runs (``AlarmEvaluator``)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        backend = _backend_cls()
        backend.set_alarm_state = _wrap_set_alarm_state(backend.set_alarm_state)
        backend.put_metric_alarm = _wrap_put_metric_alarm(backend.put_metric_alarm)
        _installed = True


def verify_moto_internals() -> None:
    import inspect

    backend = _backend_cls()
    for method, expected in (
        ("set_alarm_state", ["self", "alarm_name", "reason", "reason_data", "state_value"]),
        ("put_metric_alarm", ["self", "name"]),
    ):
        original = getattr(getattr(backend, method), "__kbsync_original__", getattr(backend, method))
        parameters = list(inspect.signature(original).parameters)
        if parameters[: len(expected)] != expected:
            raise MotoInternalsChanged(f"CloudWatchBackend.{method}{parameters} no longer starts with {expected}")
    from moto.cloudwatch.models import Alarm

    names = Alarm.__init__.__code__.co_names
    for attribute in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "dimensions"):
        if attribute not in names:
            raise MotoInternalsChanged(f"moto's cloudwatch Alarm no longer sets {attribute!r}")


# --------------------------------------------------------------------------- the evaluator


def sample_queue_depths(backend: Any) -> int:
    """Put AWS/SQS ApproximateNumberOfMessagesVisible now for every queue an alarm of `backend` watches."""
    from moto.sqs.models import sqs_backends

    queues = sqs_backends[backend.account_id][backend.region_name].queues
    watched = {
        str(d.value)
        for alarm in list(backend.alarms.values())
        if alarm.namespace == SQS_NAMESPACE and alarm.metric_name == SQS_DEPTH
        for d in alarm.dimensions
        if d.name == "QueueName"
    }
    now = CLOCK.utcnow().replace(tzinfo=None)
    data = [
        {"MetricName": SQS_DEPTH, "Dimensions": [{"Name": "QueueName", "Value": name}], "Value": float(
            queues[name].approximate_number_of_messages), "Unit": "Count", "Timestamp": now}
        for name in sorted(watched)
        if name in queues
    ]  # fmt: skip
    if data:
        backend.put_metric_data(SQS_NAMESPACE, data)
    return len(data)


def evaluate_all(backend: Any) -> list[tuple[str, str, str]]:
    """Evaluate every metric alarm of `backend` now; (name, previous state, new state) of each that changed."""
    now = CLOCK.now()
    data = list(backend.metric_data)
    changed = []
    for alarm in list(backend.alarms.values()):
        rule = rule_of(alarm)
        if rule is None:
            continue
        try:
            verdict = evaluate(rule, periods_of(points_of(alarm, data), now, rule), alarm.state_value)
        except ValueError as error:
            LOG.debug("alarm %s not evaluated: %s", alarm.name, error)
            continue
        if verdict.state != alarm.state_value:
            previous = alarm.state_value
            reason_data = {"version": "1.0", "queryDate": _iso(CLOCK.utcnow()), "statistic": rule.statistic,
                           "period": int(rule.period), "threshold": rule.threshold,
                           "recentDatapoints": [v for v in verdict.values if v is not None]}  # fmt: skip
            backend.set_alarm_state(alarm.name, verdict.reason, json.dumps(reason_data), verdict.state)
            changed.append((alarm.name, previous, verdict.state))
    return changed


def evaluation_enabled(choice: bool | None = None) -> bool:
    """`choice`, or else whether ``KBSYNC_LOCAL_ALARMS`` is not ``off``."""
    return choice if choice is not None else os.environ.get(ENABLED_VARIABLE, "on").lower() != "off"


class AlarmEvaluator(Ticker):
    """Evaluates the alarms of one account and region every TICK_VIRTUAL_SECONDS on a daemon thread."""

    thread_name = "kbsync-alarm-evaluator"
    tick_virtual_seconds = TICK_VIRTUAL_SECONDS

    def __init__(self, account_id: str, region: str) -> None:
        super().__init__()
        self.account_id, self.region = account_id, region

    def tick(self) -> list[tuple[str, str, str]]:
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[self.account_id][self.region]
        sample_queue_depths(backend)
        return evaluate_all(backend)
