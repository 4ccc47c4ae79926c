"""The dashboard and the alarms as template.yaml declares them, against what the code emits and the catalogue says.
No network.

- an alarm never repeats a per-event alert: every alarm but the dead-letter queue's (which has no per-event alert)
  fires on a pattern, at or above a threshold parameter of at least 1 whose smallest value one failure cannot reach
  (one failed sync counts up to MaxStartAttempts failed jobs); one alarm on ExecutionsFailed, the sync gate's;
- every AWS::CloudWatch::Alarm has no actions (the relay notifies), TreatMissingData notBreaching, and appears once in
  the AlarmRelayRule's pattern and once in the relay's ALARM_KINDS, with an ALARM_* kind of the catalogue whose
  runbook its description links; every alarm kind is some alarm's;
- an alarm on a kbsync metric names it with its exact dimension set: kbsync_metrics' dimensions plus service=kbsync
  (Powertools adds it; CloudWatch matches dimension sets exactly);
- the dashboard asks for every metric of kbsync_metrics with that exact set, and shows every alarm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kbsync_alerts
import kbsync_metrics

from tests.helpers.sam import load_template

REPO = Path(__file__).resolve().parents[2]
SERVICE = ("service", "kbsync")  # the template's POWERTOOLS_SERVICE_NAME: Powertools adds it to every metric
RELAY_KINDS = set(kbsync_alerts.kinds_raised_by(kbsync_alerts.ALARM_RELAY)) - {"ALARM_RECOVERED"}


def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template(REPO / "template.yaml")["Resources"]
    return found


def alarms() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources().items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm_kinds() -> dict[str, str]:
    """ALARM_KINDS with each ${Alarm} reference as the alarm's logical id."""
    text = resources()["AlarmRelayFunction"]["Properties"]["Environment"]["Variables"]["ALARM_KINDS"]["Fn::Sub"]
    return {re.fullmatch(r"\$\{(\w+)\}", name)[1]: kind for name, kind in json.loads(text).items()}  # type: ignore[index]


def test_the_template_globals_are_the_namespace_and_service_the_alarms_name() -> None:
    variables = load_template(REPO / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == kbsync_metrics.DEFAULT_NAMESPACE
    assert variables["POWERTOOLS_SERVICE_NAME"] == SERVICE[1]


def test_every_alarm_is_relayed_once_with_an_alarm_kind_and_has_no_actions() -> None:
    declared = alarms()
    assert len(declared) == 4, sorted(declared)
    kinds = alarm_kinds()
    assert set(kinds) == set(declared)
    assert set(kinds.values()) == RELAY_KINDS  # every alarm kind is some alarm's
    pattern = resources()["AlarmRelayRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.cloudwatch"] and pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert sorted(ref["Ref"] for ref in pattern["detail"]["alarmName"]) == sorted(declared)
    for name, alarm in declared.items():
        assert not {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(alarm), name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmName"] == {"Fn::Sub": f"${{AWS::StackName}}-{name}"}, name
        runbook = kbsync_alerts.alert_kind(kinds[name]).runbook
        assert f"Runbook: ${{RunbookBaseUrl}}/{runbook}" in alarm["AlarmDescription"]["Fn::Sub"], name


def test_an_alarm_on_a_kbsync_metric_names_its_exact_dimension_set() -> None:
    by_name = {metric.name: metric for metric in kbsync_metrics.ALL}
    checked = 0
    for name, alarm in alarms().items():
        if alarm["Namespace"] != kbsync_metrics.DEFAULT_NAMESPACE:
            continue
        metric = by_name[alarm["MetricName"]]
        names = {d["Name"] for d in alarm["Dimensions"]}
        assert names == {*metric.dimensions, SERVICE[0]}, name
        assert {"Name": SERVICE[0], "Value": SERVICE[1]} in alarm["Dimensions"], name
        checked += 1
    assert checked == 2  # FailedJobsAlarm, StaleTargetsAlarm


#: Alarm -> (the parameter that is its threshold, its default, the smallest value allowed).
PATTERN_ALARMS = {
    "FailedJobsAlarm": ("FailedJobsAlarmThreshold", 9, 6),
    "SyncGateExecutionsFailedAlarm": ("FailedExecutionsAlarmThreshold", 3, 1),
    "StaleTargetsAlarm": ("StaleTargetsAlarmThreshold", 3, 1),
}


def parameters() -> dict[str, Any]:
    found: dict[str, Any] = load_template(REPO / "template.yaml")["Parameters"]
    return found


def test_an_alarm_fires_on_a_pattern_never_on_one_event() -> None:
    """FailedJobsAlarm: failed jobs in an hour >= FailedJobsAlarmThreshold (at least MaxStartAttempts' largest value +
    1: one failed sync re-starts its FAILED job up to MaxStartAttempts times, each job counted); the executions
    alarm: failed syncs in an hour >= FailedExecutionsAlarmThreshold; StaleTargetsAlarm: targets stale at once >=
    StaleTargetsAlarmThreshold. Only the dead-letter queue's alarm fires on one message (no per-event alert)."""
    declared, params = alarms(), parameters()
    assert set(declared) == {*PATTERN_ALARMS, "DeadLetterQueueAlarm"}
    for alarm, (parameter, default, smallest) in PATTERN_ALARMS.items():
        properties = declared[alarm]
        assert properties["Threshold"] == {"Ref": parameter}, alarm
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", alarm
        assert f"${{{parameter}}}" in properties["AlarmDescription"]["Fn::Sub"], alarm
        declared_parameter = params[parameter]
        assert declared_parameter["Type"] == "Number", parameter
        assert (int(declared_parameter["Default"]), int(declared_parameter["MinValue"])) == (default, smallest)
        assert "own" in declared_parameter["Description"], parameter  # "...already has its own ... alert"
    assert int(PATTERN_ALARMS["FailedJobsAlarm"][2]) > int(params["MaxStartAttempts"]["MaxValue"])
    jobs = declared["FailedJobsAlarm"]
    assert (jobs["MetricName"], jobs["Statistic"], jobs["Period"], jobs["EvaluationPeriods"]) == (
        "JobsByOutcome", "Sum", 3600, 1,
    )  # fmt: skip
    executions = declared["SyncGateExecutionsFailedAlarm"]
    assert (executions["Namespace"], executions["MetricName"], executions["Statistic"]) == (
        "AWS/States", "ExecutionsFailed", "Sum",
    )  # fmt: skip
    assert (executions["Period"], executions["EvaluationPeriods"]) == (3600, 1)
    stale = declared["StaleTargetsAlarm"]
    assert (stale["Statistic"], stale["Period"], stale["EvaluationPeriods"], stale["DatapointsToAlarm"]) == (
        "Maximum", 3600, 2, 1,
    )  # fmt: skip
    dead_letters = declared["DeadLetterQueueAlarm"]
    assert (dead_letters["Threshold"], dead_letters["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_one_executions_failed_alarm_on_the_sync_gate_the_entry_of_every_sync() -> None:
    watched = [
        alarm["Dimensions"]
        for alarm in alarms().values()
        if (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    ]
    assert watched == [[{"Name": "StateMachineArn", "Value": {"Ref": "SyncGateStateMachine"}}]]


def test_the_alarm_parameters_are_grouped() -> None:
    groups = load_template(REPO / "template.yaml")["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert {parameter for parameter, _, _ in PATTERN_ALARMS.values()} <= set(grouped)


def dashboard() -> dict[str, Any]:
    """The dashboard body, each ${...} replaced by a placeholder naming it (a JSON document then)."""
    text = resources()["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body: dict[str, Any] = json.loads(re.sub(r"\$\{([\w:.]+)\}", r"<\1>", text))
    return body


def test_the_dashboard_shows_every_kbsync_metric_with_its_exact_dimensions_and_every_alarm() -> None:
    widgets = dashboard()["widgets"]
    lines = [line for w in widgets if w["type"] == "metric" for line in w["properties"]["metrics"]]
    asked: dict[str, set[frozenset[str]]] = {}
    searched = " ".join(str(item.get("expression", "")) for line in lines for item in line if isinstance(item, dict))
    for line in lines:
        words = [item for item in line if isinstance(item, str)]
        if words and words[0] == kbsync_metrics.DEFAULT_NAMESPACE:
            pairs = dict(zip(words[2::2], words[3::2], strict=True))
            assert pairs.get(SERVICE[0]) == SERVICE[1], line
            asked.setdefault(words[1], set()).add(frozenset(pairs))
    for metric in kbsync_metrics.ALL:
        wanted = frozenset({*metric.dimensions, SERVICE[0]})
        if metric.name in asked:
            assert asked[metric.name] == {wanted}, metric.name
        else:  # per-target metrics: a SEARCH over their exact dimension set
            schema = "{" + ",".join([kbsync_metrics.DEFAULT_NAMESPACE, *sorted(wanted)]) + "}"
            assert f'SEARCH(\'{schema} MetricName="{metric.name}"' in searched, metric.name
    [alarm_widget] = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(f"<{name}.Arn>" for name in alarms())
    graphed = {  # a graph is not a notification: ExecutionsFailed of every state machine stays on the dashboard
        item for line in lines for item in line
        if isinstance(item, str) and line[:2] == ["AWS/States", "ExecutionsFailed"] and item.startswith("<")
    }  # fmt: skip
    machines = {name for name, r in resources().items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert graphed == {f"<{machine}>" for machine in machines}
    titles = [w["properties"]["title"] for w in widgets]
    assert len(titles) == len(set(titles))
