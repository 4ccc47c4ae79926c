"""The alarm relay's policy (functions/alarm_relay): which state change sends which notice, with which attributes,
text and chat notification. Events have AWS's shape (the CloudWatch user guide's "Single Metric Alarm" example).
No network: publishing is a function that records."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import kbsync_alerts
import kbsync_contracts
import pytest

from tests.helpers.functions import load_function, load_module

logic = load_module("alarm_relay", "alarm_relay_logic")
Settings = load_module("alarm_relay", "alarm_relay_settings").Settings
NAME = "kbsync-FailedJobsAlarm"
KINDS = {NAME: "ALARM_JOBS_FAILED", "kbsync-TargetAgeAlarm": "ALARM_TARGETS_STALE"}
SETTINGS = Settings(runbook_base_url="https://runbooks.example", alarm_kinds=json.dumps(KINDS))


def event(state: str, previous: str, name: str = NAME, dimensions: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-22T03:04:40Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [3.0] > 0.0", "reasonData": "{}",
                      "timestamp": "2026-11-22T03:04:40.985+0000"},
            "previousState": {"value": previous, "reason": "earlier", "timestamp": "2026-11-22T02:04:40.985+0000"},
            "configuration": {
                "description": "kbsync ingestion jobs ended FAILED. Runbook: https://runbooks.example/x.md",
                "metrics": [{"id": "m1", "returnData": True, "metricStat": {
                    "metric": {"namespace": "kbsync", "name": "JobsByOutcome",
                               "dimensions": dimensions or {"service": "kbsync", "Outcome": "FAILED"}},
                    "period": 300, "stat": "Sum"}}],
            },
        },
    }  # fmt: skip


def relayed(
    evt: dict[str, Any], settings: Any = SETTINGS
) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """The relay's result for `evt`, and what it published (each alert and chat checked against its contract)."""
    sent: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def publish(alert: dict[str, Any], chat: dict[str, Any]) -> str:
        kbsync_contracts.validate("alert", alert)
        kbsync_contracts.validate("chat-notification", chat)
        sent.append((alert, chat))
        return f"m-{len(sent)}"

    return logic.relay(evt, settings, publish), sent


def attributes(alert: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in alert["messageAttributes"].items()}


@pytest.mark.parametrize(
    ("state", "previous", "sent"),
    [
        ("ALARM", "OK", "ALARM_JOBS_FAILED"),
        ("ALARM", "INSUFFICIENT_DATA", "ALARM_JOBS_FAILED"),
        ("OK", "ALARM", "ALARM_RECOVERED"),
        ("OK", "INSUFFICIENT_DATA", None),  # an alarm just created: no news
        ("INSUFFICIENT_DATA", "OK", None),
        ("INSUFFICIENT_DATA", "ALARM", None),
    ],
)
def test_which_change_sends_what(state: str, previous: str, sent: str | None) -> None:
    result, published = relayed(event(state, previous))
    assert result == {"alarm": NAME, "state": state, "previousState": previous, "sent": sent,
                      "messageId": "m-1" if sent else None}  # fmt: skip
    assert [attributes(alert)["alertType"] for alert, _ in published] == ([sent] if sent else [])


def test_the_alarm_notice_carries_the_catalogue_s_severity_kind_and_the_alarm() -> None:
    _, [(alert, chat)] = relayed(event("ALARM", "OK"))
    kind = kbsync_alerts.alert_kind("ALARM_JOBS_FAILED")
    assert attributes(alert) == {"severity": kind.severity, "alertType": kind.kind, "alarmName": NAME}
    assert alert["subject"] == f"[{kind.severity}] kbsync ALARM_JOBS_FAILED: alarm {NAME}"
    assert alert["message"].startswith(f"kbsync ALARM_JOBS_FAILED ({kind.severity}): {kind.headline}.\n")
    assert f"\nRunbook: https://runbooks.example/{kind.runbook}" in alert["message"]
    assert "Metric:          kbsync JobsByOutcome (Outcome=FAILED, service=kbsync), Sum over 300 s" in alert["message"]
    assert chat["content"]["title"] == alert["subject"]
    assert chat["content"]["keywords"] == [kind.severity, kind.kind, NAME]
    assert chat["metadata"]["additionalContext"] == attributes(alert)


def test_the_recovery_names_what_it_recovers_from_and_threads_with_it() -> None:
    _, [(_, alarm_chat)] = relayed(event("ALARM", "OK"))
    _, [(recovery, chat)] = relayed(event("OK", "ALARM"))
    assert attributes(recovery) == {"severity": kbsync_alerts.INFO, "alertType": "ALARM_RECOVERED", "alarmName": NAME}
    assert "Recovered from:  ALARM_JOBS_FAILED (https://runbooks.example/alarm-jobs-failed.md)" in recovery["message"]
    assert chat["metadata"]["threadId"] == alarm_chat["metadata"]["threadId"] == "kbsync-alarm-kbsync-FailedJobsAlarm"


def test_an_alarm_on_a_target_s_metric_names_its_knowledge_base_and_data_source() -> None:
    dims = {"service": "kbsync", "KnowledgeBaseId": "KB12345678", "DataSourceId": "DS12345678"}
    _, [(alert, _)] = relayed(event("ALARM", "OK", name="kbsync-TargetAgeAlarm", dimensions=dims))
    assert attributes(alert)["knowledgeBaseId"] == "KB12345678"
    assert attributes(alert)["dataSourceId"] == "DS12345678"
    assert attributes(alert)["alertType"] == "ALARM_TARGETS_STALE"


def test_an_alarm_the_relay_does_not_know_fails_loudly() -> None:
    with pytest.raises(logic.UnknownAlarm, match="kbsync-Other"):
        relayed(event("ALARM", "OK", name="kbsync-Other"))


@pytest.mark.forged_events
def test_a_broken_event_is_refused_naming_the_field() -> None:
    broken = copy.deepcopy(event("ALARM", "OK"))
    del broken["detail"]["previousState"]
    with pytest.raises(ValueError, match="/detail/previousState: required"):
        relayed(broken)


def test_alarm_kinds_must_be_alarm_kinds_of_the_catalogue() -> None:
    with pytest.raises(ValueError, match="FAILED"):
        logic.alarm_kinds(Settings(alarm_kinds=json.dumps({NAME: "FAILED"})))
    with pytest.raises(ValueError, match="ALARM_RECOVERED"):
        logic.alarm_kinds(Settings(alarm_kinds=json.dumps({NAME: "ALARM_RECOVERED"})))


def test_the_handler_publishes_through_kbsync_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_function("alarm_relay")
    published: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **request: Any) -> dict[str, str]:
            published.append(request)
            return {"MessageId": "sns-1"}

    monkeypatch.setattr(app, "SETTINGS", dataclasses.replace(SETTINGS, topic_arn="arn:aws:sns:us-east-1:1:t"))
    monkeypatch.setattr(app.CLIENTS, "client", lambda service: Sns())

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "alarm-relay", 256, "r-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:alarm-relay"

    result = app.lambda_handler(event("ALARM", "OK"), Context())
    assert result["sent"] == "ALARM_JOBS_FAILED" and result["messageId"] == "sns-1"
    [request] = published
    assert request["MessageStructure"] == "json" and request["TopicArn"] == "arn:aws:sns:us-east-1:1:t"
    assert request["MessageAttributes"]["alertType"]["StringValue"] == "ALARM_JOBS_FAILED"


# --------------------------------------------------------------------------- the notice, line by line


def test_the_alarm_notice_is_exactly_these_lines() -> None:
    """Every fact in its place: a fact dropped, a label changed or an empty line lost changes what on-call reads."""
    _, [(alert, chat)] = relayed(event("ALARM", "OK"))
    kind = kbsync_alerts.alert_kind("ALARM_JOBS_FAILED")
    assert alert["message"].splitlines() == [
        f"kbsync ALARM_JOBS_FAILED ({kind.severity}): {kind.headline}.",
        "",
        f"Alarm:           {NAME}",
        "State:           ALARM (was OK) at 2026-11-22T03:04:40.985+0000",
        "Reason:          Threshold Crossed: 1 datapoint [3.0] > 0.0",
        "Metric:          kbsync JobsByOutcome (Outcome=FAILED, service=kbsync), Sum over 300 s",
        "Description:     kbsync ingestion jobs ended FAILED. Runbook: https://runbooks.example/x.md",
        "",
        f"Runbook: https://runbooks.example/{kind.runbook}",
    ]
    assert chat["content"]["description"].splitlines() == [
        f"kbsync ALARM_JOBS_FAILED ({kind.severity}): {kind.headline}.",
        "",
        f"Alarm: {NAME}",
        "State: ALARM (was OK) at 2026-11-22T03:04:40.985+0000",
        "Reason: Threshold Crossed: 1 datapoint [3.0] \u203a 0.0",  # kbsync_chat.inert: no markdown quote
        "Metric: kbsync JobsByOutcome (Outcome=FAILED, service=kbsync), Sum over 300 s",
        "Description: kbsync ingestion jobs ended FAILED. Runbook: https://runbooks.example/x.md",
    ]
    assert chat["content"]["nextSteps"] == [f"Runbook: https://runbooks.example/{kind.runbook}"]
    assert chat["metadata"]["summary"] == alert["subject"]


def test_a_target_alarm_s_notice_lists_the_knowledge_base_and_data_source() -> None:
    dims = {"service": "kbsync", "KnowledgeBaseId": "KB12345678", "DataSourceId": "DS12345678"}
    _, [(alert, _)] = relayed(event("ALARM", "OK", name="kbsync-TargetAgeAlarm", dimensions=dims))
    lines = alert["message"].splitlines()
    assert "Knowledge base:  KB12345678" in lines and "Data source:     DS12345678" in lines
    assert lines.index("Knowledge base:  KB12345678") + 1 == lines.index("Data source:     DS12345678")


def test_what_the_event_lacks_is_left_out_not_printed_empty() -> None:
    """No state timestamp, reason, description or metricStat (a metric-math alarm): those lines are absent."""
    bare = copy.deepcopy(event("ALARM", "OK"))
    bare["detail"]["state"] = {"value": "ALARM"}
    bare["detail"]["configuration"] = {"metrics": [{"id": "e1", "expression": "m1 + m2", "returnData": True}]}
    _, [(alert, _)] = relayed(bare)
    assert alert["message"].splitlines()[2:-2] == [f"Alarm:           {NAME}", "State:           ALARM (was OK)"]


def test_long_values_are_cut_to_their_limits() -> None:
    """A fact at most FACT_MAX_CHARS (1,000) characters; an alarm name of CloudWatch's longest (255) kept whole as a
    chat keyword; the runbook step within the chat's limit."""
    long = copy.deepcopy(event("ALARM", "OK"))
    long["detail"]["state"]["reason"] = "r" * 1_500
    _, [(alert, chat)] = relayed(long)
    [reason] = [line for line in alert["message"].splitlines() if line.startswith("Reason:")]
    assert reason == "Reason:          " + "r" * 1_000
    long_name = "kbsync-" + "A" * 248
    kinds = json.dumps({long_name: "ALARM_JOBS_FAILED"})
    base = "https://runbooks.example/" + "p" * 1_200
    _, [(_, chat)] = relayed(event("ALARM", "OK", name=long_name), Settings(runbook_base_url=base, alarm_kinds=kinds))
    import kbsync_chat

    assert chat["content"]["keywords"][2] == long_name
    [step] = chat["content"]["nextSteps"]
    assert len(step) == kbsync_chat.NEXT_STEP_MAX_CHARS


def test_the_handler_counts_each_notice_sent_and_each_change_that_sends_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AlarmNotices: 1 for a change that sent a notice, 0 for one that did not (the dashboard's widget)."""
    from tests.unit.test_metrics_emf import emf_metrics

    app = load_function("alarm_relay")
    monkeypatch.setattr(app, "SETTINGS", dataclasses.replace(SETTINGS, topic_arn="arn:aws:sns:us-east-1:1:t"))

    class Sns:
        def publish(self, **_request: Any) -> dict[str, str]:
            return {"MessageId": "sns-1"}

    monkeypatch.setattr(app.CLIENTS, "client", lambda service: Sns())

    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "alarm-relay", 256, "r-1"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:alarm-relay"

    capsys.readouterr()
    app.lambda_handler(event("ALARM", "OK"), Context())
    app.lambda_handler(event("INSUFFICIENT_DATA", "OK"), Context())
    notices = [m for m in emf_metrics(capsys.readouterr().out) if m["name"] == "AlarmNotices"]
    assert [m["values"] for m in notices] == [[1.0], [0.0]]
