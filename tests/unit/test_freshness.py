"""functions/freshness: every verdict change alerts once, nothing else alerts; a target never synced is stale from its
registration, not an error; the lag counts only S3 changes no successful sync started after; the upload router stamps
the changes. moto in memory, no network, no threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import kbsync_contracts
import kbsync_freshness
import kbsync_handlers
import kbsync_keys
import pytest

from tests.helpers.functions import load_function, load_module
from tests.helpers.stubs import two_page_registry_scan
from tests.triggers.support import (
    DS,
    GATE_SM_ARN,
    KB,
    RecordingStepFunctions,
    aws,
    create_jobs_table,
    create_targets_table,
    register,
    s3_event,
)

app = load_function("freshness")
logic = load_module("freshness", "freshness_logic")
data = load_module("freshness", "freshness_data")
Settings = load_module("freshness", "freshness_settings").Settings
SETTINGS = Settings(targets_table="targets", jobs_table="jobs", topic_arn="arn:aws:sns:us-east-1:1:alerts",
                    runbook_base_url="https://runbooks.example", sync_gate_arn=GATE_SM_ARN)  # fmt: skip
REGISTERED = datetime(2026, 11, 22, tzinfo=UTC)  # tests.triggers.support.register's registeredAt


def at(hours: float) -> datetime:
    return REGISTERED + timedelta(hours=hours)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Tables:
    def __init__(self) -> None:
        self.targets = create_targets_table()
        self.jobs = create_jobs_table()
        self.published: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.fail_publish = False
        register(self.targets, KB, DS, "docs", ["tenant-a/"])

    def publish(self, alert: dict[str, Any], chat: dict[str, Any]) -> str:
        if self.fail_publish:
            raise RuntimeError("SNS is down")
        kbsync_contracts.validate("alert", alert)
        kbsync_contracts.validate("chat-notification", chat)
        self.published.append((alert, chat))
        return f"m-{len(self.published)}"

    def record(self, status: str, started: datetime, ended: datetime, job: str = "JOB0000001") -> None:
        """A closed job record as ingestion-sync writes it (schemas/job-record.schema.json)."""
        name = f"manual-{KB}-{DS}-{started:%Y%m%dT%H%M%S}-ab12"
        item = {
            "pk": kbsync_keys.ds_pk(KB, DS),
            "sk": kbsync_keys.JOB_SK_FORMAT.format(iso(started), name, 1),
            "knowledgeBaseId": KB,
            "dataSourceId": DS,
            "status": status,
            "trigger": "manual",
            "executionArn": f"arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:{name}",
            "attempt": 1,
            "startedAt": iso(started),
            "updatedAt": iso(ended),
            "ingestionJobId": job,
        }
        kbsync_contracts.validate("job-record", item)
        self.jobs.put_item(Item=item)

    def target(self) -> dict[str, Any]:
        item: dict[str, Any] = self.targets.get_item(Key=kbsync_keys.target_key(KB, DS))["Item"]
        kbsync_contracts.validate("target-item", json.loads(json.dumps(item, default=int)))
        return item

    def set(self, **values: Any) -> None:
        names = ", ".join(f"{name} = :{name}" for name in values)
        self.targets.update_item(Key=kbsync_keys.target_key(KB, DS), UpdateExpression=f"SET {names}",
                                 ExpressionAttributeValues={f":{k}": v for k, v in values.items()})  # fmt: skip

    def check(self, moment: datetime, settings: Any = SETTINGS) -> list[str]:
        """One check at `moment`: the alert types it published."""
        before = len(self.published)
        logic.check_all(self.targets, self.jobs, self.publish, settings, moment)
        return [a["messageAttributes"]["alertType"]["StringValue"] for a, _ in self.published[before:]]


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tables]:
    with aws(monkeypatch):
        yield Tables()


# ---------------------------------------------------------------- the verdict changes, and only they alert


def test_stale_alerts_once_and_fresh_again_once(tables: Tables) -> None:
    tables.record("COMPLETE", at(0.5), at(1))
    assert tables.check(at(20)) == []  # 19 h old: fresh
    assert tables.check(at(28)) == ["TARGET_STALE"]  # 27 h > 26 h
    assert tables.target()["freshness"] == "STALE"
    assert tables.check(at(29)) == []  # still stale: no second alert
    tables.record("COMPLETE", at(30), at(30.5), job="JOB0000002")
    assert tables.check(at(31)) == ["TARGET_FRESH_AGAIN"]
    assert tables.check(at(32)) == []
    assert (tables.target()["freshness"], tables.target()["freshnessChangedAt"]) == ("FRESH", iso(at(31)))
    stale, fresh = (alert for alert, _ in tables.published)
    assert stale["subject"] == f"[WARNING] kbsync TARGET_STALE: kb {KB} / ds {DS}"
    assert "Age:             27.0 h (allowed 26 h" in stale["message"]
    assert f"\nKnowledge base:  {KB}\nData source:     {DS}\n" in stale["message"]
    assert f"kbsync sync --kb {KB} --ds {DS} --wait" in stale["message"]
    assert "\nRunbook: https://runbooks.example/target-freshness.md" in stale["message"]
    assert fresh["subject"] == f"[INFO] kbsync TARGET_FRESH_AGAIN: kb {KB} / ds {DS}"
    assert fresh["messageAttributes"]["severity"]["StringValue"] == "INFO"
    assert fresh["messageAttributes"]["ingestionJobId"]["StringValue"] == "JOB0000002"
    assert "Sync now:" not in fresh["message"] and "Was:             STALE" in fresh["message"]
    fresh_chat = tables.published[1][1]  # the chat notification names the job of the sync that made it fresh
    assert fresh_chat["metadata"]["additionalContext"]["ingestionJobId"] == "JOB0000002"


def test_a_target_never_synced_counts_from_its_registration_and_is_no_error(tables: Tables) -> None:
    assert tables.check(at(2)) == []
    assert tables.check(at(27)) == ["TARGET_STALE"]
    message = tables.published[0][0]["message"]
    assert "Last successful sync: never synced" in message
    assert "from never synced (registered 2026-11-22T00:00:00Z)" in message
    assert "ingestionJobId" not in tables.published[0][0]["messageAttributes"]


def test_partial_is_a_sync_that_ran_and_failed_is_not(tables: Tables) -> None:
    tables.record("PARTIAL", at(1), at(2))
    tables.record("FAILED", at(20), at(21), job="JOB0000003")
    tables.record("TIMED_OUT", at(22), at(23), job="JOB0000004")
    verdict = logic.check_all(tables.targets, tables.jobs, tables.publish, SETTINGS, at(27)).verdicts[0]
    assert (verdict.state, verdict.age_seconds, verdict.last_sync["ingestionJobId"]) == (
        "FRESH",
        25 * 3600,
        "JOB0000001",
    )
    assert tables.check(at(28.5)) == ["TARGET_STALE"]  # the failures since do not make it fresh


def test_the_allowed_age_is_per_target(tables: Tables) -> None:
    tables.record("COMPLETE", at(0), at(1))
    tables.set(maxAgeHours=2)
    assert tables.check(at(2.5)) == []
    assert tables.check(at(3.5)) == ["TARGET_STALE"]
    assert "(allowed 2 h;" in tables.published[0][0]["message"]


def test_the_record_read_is_bounded(tables: Tables) -> None:
    """No success among the newest records read: the age counts from the oldest read, not from the registration."""
    tables.record("COMPLETE", at(0), at(0.5))
    for hour in range(1, 8):
        tables.record("FAILED", at(hour), at(hour + 0.1), job=f"JOBFAILED{hour}")
    bounded = replace(SETTINGS, max_records=3)
    monkey = data.PAGE_SIZE
    data.PAGE_SIZE = 3
    try:
        verdict = logic.check_all(tables.targets, tables.jobs, tables.publish, bounded, at(10)).verdicts[0]
    finally:
        data.PAGE_SIZE = monkey
    assert verdict.last_sync is None and verdict.age_from == iso(at(5)), verdict
    assert "no successful sync among the newest 3 records" in verdict.age_basis


# ---------------------------------------------------------------- lag: S3 changes waiting for a sync


def test_a_change_waiting_longer_than_the_threshold_lags_then_a_sync_after_it_clears_it(tables: Tables) -> None:
    tables.record("COMPLETE", at(0), at(1))
    tables.set(lastChangeAt=iso(at(3)), pendingSince=iso(at(2)))
    assert tables.check(at(3.5)) == []  # waited 1.5 h < 2 h
    assert tables.check(at(4.5)) == ["TARGET_LAGGING"]  # 2.5 h
    assert "Changes waiting: since 2026-11-22T02:00:00Z (2.5 h); threshold 2.0 h" in tables.published[0][0]["message"]
    assert tables.check(at(5)) == []
    tables.record("COMPLETE", at(5.2), at(5.4), job="JOB0000002")  # started after the last change: covers it
    assert tables.check(at(5.5)) == ["TARGET_FRESH_AGAIN"]
    assert "pendingSince" not in tables.target() and tables.target()["lastChangeAt"] == iso(at(3))


def test_a_change_during_a_running_sync_is_covered_only_by_a_sync_started_after_it(tables: Tables) -> None:
    tables.set(lastChangeAt=iso(at(1)), pendingSince=iso(at(1)))
    tables.record("COMPLETE", at(0.9), at(1.2))  # started before the change: does not cover it
    assert tables.check(at(1.5)) == []
    assert tables.target()["pendingSince"] == iso(at(1))  # nothing moved: no sync started after it
    assert tables.check(at(3.5)) == ["TARGET_LAGGING"]
    # an earlier change covered, a later one not: the mark moves to the start of the sync that covered the first
    tables.set(lastChangeAt=iso(at(4)))
    tables.record("COMPLETE", at(3.6), at(4.2), job="JOB0000002")
    assert tables.check(at(4.5)) == ["TARGET_FRESH_AGAIN"]
    assert tables.target()["pendingSince"] == iso(at(3.6))
    assert tables.check(at(5.7)) == ["TARGET_LAGGING"]  # 2.1 h after that start


def test_a_change_newer_than_the_threshold_is_fresh(tables: Tables) -> None:
    tables.record("COMPLETE", at(0), at(1))
    tables.set(lastChangeAt=iso(at(2)), pendingSince=iso(at(2)))
    verdict = logic.check_all(tables.targets, tables.jobs, tables.publish, SETTINGS, at(3.9)).verdicts[0]
    assert (verdict.state, verdict.lag_seconds) == ("FRESH", 1.9 * 3600)


def test_a_change_lags_only_once_it_has_waited_longer_than_the_threshold(tables: Tables) -> None:
    """FRESHNESS_LAG_MINUTES=120: waiting exactly 7,200 s is not lagging yet; one second more is."""
    tables.record("COMPLETE", at(0), at(1))
    tables.set(lastChangeAt=iso(at(2)), pendingSince=iso(at(2)))
    on_time = logic.check_all(tables.targets, tables.jobs, tables.publish, SETTINGS, at(4)).verdicts[0]
    assert (on_time.state, on_time.lag_seconds, on_time.lag_threshold_seconds) == ("FRESH", 7200, 7200)
    late = logic.check_all(tables.targets, tables.jobs, tables.publish, SETTINGS, at(4) + timedelta(seconds=1))
    assert (late.verdicts[0].state, late.verdicts[0].lag_seconds) == ("LAGGING", 7201)
    assert late.to_dict()["checked"] == 1 and late.to_dict()["states"] == {"LAGGING": 1}  # the handler's answer


def test_stale_wins_over_lagging_and_a_change_of_kind_alerts_the_new_kind(tables: Tables) -> None:
    tables.set(lastChangeAt=iso(at(20)), pendingSince=iso(at(20)))
    assert tables.check(at(27)) == ["TARGET_STALE"]  # never synced, and lagging too: stale says more
    tables.record("COMPLETE", at(19), at(27.5))  # a sync ran, but started before the change
    assert tables.check(at(28)) == ["TARGET_LAGGING"]


# ---------------------------------------------------------------- once, whatever races


def test_two_overlapping_checks_alert_once(tables: Tables) -> None:
    tables.record("COMPLETE", at(0), at(1))
    seen = tables.target()  # both checks read the target before either wrote
    first = logic.check_target(seen, tables.targets, tables.jobs, tables.publish, SETTINGS, at(28))
    second = logic.check_target(seen, tables.targets, tables.jobs, tables.publish, SETTINGS, at(28))
    assert (first[1]["alertType"], second[1]) == ("TARGET_STALE", None)
    assert len(tables.published) == 1


def test_a_failed_publish_gives_the_verdict_back_so_the_next_check_alerts(tables: Tables) -> None:
    tables.fail_publish = True
    with pytest.raises(RuntimeError, match="SNS is down"):
        tables.check(at(27))
    assert tables.target().get("freshness", "FRESH") == "FRESH"
    tables.fail_publish = False
    assert tables.check(at(27.1)) == ["TARGET_STALE"]


def test_a_target_removed_during_the_check_is_not_written_back(tables: Tables) -> None:
    seen = tables.target()
    tables.targets.delete_item(Key=kbsync_keys.target_key(KB, DS))
    assert logic.check_target(seen, tables.targets, tables.jobs, tables.publish, SETTINGS, at(30))[1] is None
    assert "Item" not in tables.targets.get_item(Key=kbsync_keys.target_key(KB, DS))
    assert tables.published == []


def test_the_schedule_input_is_checked_first() -> None:
    logic.checked({"source": "kbsync.freshness-schedule", "scheduledTime": "2026-12-06T02:00:00Z"})
    with pytest.raises(kbsync_handlers.InvalidRequest, match="/source"):
        logic.checked({"source": "kbsync.reconcile-schedule", "scheduledTime": "2026-12-06T02:00:00Z"})


def test_age_and_lag_are_emitted_per_target(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "kbsync")
    target = {"knowledgeBaseId": KB, "dataSourceId": DS, "registeredAt": iso(at(0))}
    app.emit(logic.assess(target, None, None, at(3), SETTINGS))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    values = {name: blob[name] for blob in blobs for name in ("TargetAgeSeconds", "TargetLagSeconds") if name in blob}
    assert values == {"TargetAgeSeconds": [3 * 3600.0], "TargetLagSeconds": [0.0]}
    assert all((blob["KnowledgeBaseId"], blob["DataSourceId"]) == (KB, DS) for blob in blobs)
    directives = blobs[0]["_aws"]["CloudWatchMetrics"][0]
    assert directives["Dimensions"] == [["KnowledgeBaseId", "DataSourceId"]]


def test_the_settings_are_read_from_the_environment_with_their_documented_defaults() -> None:
    defaults = Settings.from_env({})
    assert (defaults.max_age_hours, defaults.lag_minutes, defaults.max_records) == (26, 120, 500)
    read = Settings.from_env({"FRESHNESS_MAX_AGE_HOURS": "48", "FRESHNESS_LAG_MINUTES": "30"})
    assert (read.max_age_hours, read.lag_minutes) == (48, 30)


# ---------------------------------------------------------------- the upload router stamps the changes


def test_the_upload_router_stamps_the_change_and_keeps_the_oldest_pending(tables: Tables) -> None:
    router = load_module("upload_router", "upload_router_logic")
    router_settings = load_module("upload_router", "upload_router_settings").Settings
    settings = router_settings(targets_table="targets", sync_gate_arn=GATE_SM_ARN)
    start = int(at(1).timestamp())
    router.route_upload(s3_event("docs", "tenant-a/a.md"), tables.targets, RecordingStepFunctions(), settings, start)
    assert (tables.target()["lastChangeAt"], tables.target()["pendingSince"]) == (iso(at(1)), iso(at(1)))
    later = start + 600
    router.route_upload(s3_event("docs", "tenant-a/b.md", "Object Deleted"), tables.targets,
                        RecordingStepFunctions(), settings, later)  # fmt: skip
    assert (tables.target()["lastChangeAt"], tables.target()["pendingSince"]) == (iso(at(1) + timedelta(minutes=10)),
                                                                                  iso(at(1)))  # fmt: skip


def test_the_upload_router_does_not_bring_a_removed_target_back(tables: Tables) -> None:
    router_data = load_module("upload_router", "upload_router_data")
    tables.targets.delete_item(Key=kbsync_keys.target_key(KB, DS))
    router_data.stamp_change(tables.targets, KB, DS, iso(at(1)))
    assert "Item" not in tables.targets.get_item(Key=kbsync_keys.target_key(KB, DS))


def test_every_page_of_the_registry_is_checked() -> None:
    """More targets than one Scan page (1 MB): the check follows LastEvaluatedKey to the last page."""
    with two_page_registry_scan(KB, "DSAAAAAAA2", DS) as table:
        listed = [t["dataSourceId"] for t in data.targets(table)]
    assert listed == ["DSAAAAAAA2", DS]


def test_a_target_without_a_success_among_its_newest_records_ages_from_the_oldest_read(tables: Tables) -> None:
    """The read is bounded (FRESHNESS_MAX_RECORDS): with no successful sync among them, the age counts from the
    oldest record read, named in the alert."""
    for i in range(101):  # FAILED records started 6 min apart; the newest 100 are read (one page)
        tables.record("FAILED", at(0.1 * i), at(0.1 * i + 0.05), job=f"JOB{i:07d}")
    assert tables.check(at(30), replace(SETTINGS, max_records=100)) == ["TARGET_STALE"]
    oldest_read = iso(at(0.1))
    assert (
        f"no successful sync among the newest 100 records (the oldest started {oldest_read})"
        in (tables.published[0][0]["message"])
    )


# ---------------------------------------------------------------- the alert's layout, the run's errors, the clocks


def test_the_alert_is_a_headline_a_blank_line_the_facts_a_blank_line_and_the_runbook(tables: Tables) -> None:
    """The layout of a kbsync alert: mail clients and the alert inbox show the headline
    apart from the facts, and the runbook apart from both."""
    tables.record("COMPLETE", at(0.5), at(1))
    assert tables.check(at(28)) == ["TARGET_STALE"]
    lines = tables.published[0][0]["message"].split("\n")
    runbook = lines.index("Runbook: https://runbooks.example/target-freshness.md")
    assert lines[:6] == [
        "kbsync TARGET_STALE (WARNING): a registered target has had no successful sync for longer than its allowed"
        " age.",
        "",
        f"Knowledge base:  {KB}",
        f"Data source:     {DS}",
        "Was:             FRESH",
        "Freshness:       STALE",
    ]
    assert "" not in lines[2 : runbook - 1] and lines[runbook - 1] == ""


def test_a_target_that_cannot_be_checked_is_named_by_its_key_when_the_run_fails(tables: Tables) -> None:
    """The run fails after the other targets, naming each target it could not check and the AWS error code: the
    operator finds the target from the error alone."""
    tables.jobs.delete()  # its job records cannot be read: ResourceNotFoundException
    with pytest.raises(RuntimeError) as raised:
        tables.check(at(2))
    pk = tables.target()["pk"]
    assert str(raised.value) == f"freshness check: 1 target(s) not checked: {pk}: ResourceNotFoundException"


def test_age_and_lag_start_at_zero_and_never_go_negative() -> None:
    """0 s at the very moment they start counting; a stamp ahead of the clock (another host's clock, a record
    written a moment later than the check read `now`) counts as 0, never as a negative age or lag."""
    now = at(5)
    registered = {"registeredAt": iso(now)}
    assert kbsync_freshness.age_seconds(registered, None, now) == 0.0
    assert kbsync_freshness.age_seconds(registered, {"updatedAt": iso(now + timedelta(seconds=30))}, now) == 0.0
    assert kbsync_freshness.age_seconds(registered, {"updatedAt": iso(now - timedelta(seconds=30))}, now) == 30.0
    assert kbsync_freshness.lag_seconds(registered, None, now) == 0.0  # no change waiting
    waiting_now = {**registered, "pendingSince": iso(now), "lastChangeAt": iso(now)}
    assert kbsync_freshness.lag_seconds(waiting_now, None, now) == 0.0
    ahead = {**registered, "pendingSince": iso(now + timedelta(seconds=30)), "lastChangeAt": iso(now)}
    assert kbsync_freshness.lag_seconds(ahead, None, now) == 0.0
    waiting = {**registered, "pendingSince": iso(now - timedelta(seconds=30)), "lastChangeAt": iso(now)}
    assert kbsync_freshness.lag_seconds(waiting, None, now) == 30.0
