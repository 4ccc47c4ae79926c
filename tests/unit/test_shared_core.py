"""The shared core's rules (schemas/kbsync_keys, kbsync_names, kbsync_values, kbsync_pacer), pinned where they are
written. Pure functions: no network, no AWS (the pacer's reads and writes are in test_item_contracts.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import kbsync_contracts
import kbsync_keys
import kbsync_names
import kbsync_pacer
import kbsync_values
import pytest
from botocore.exceptions import ClientError

KB, DS = "KB12345678", "DS12345678"
NOW = 1_800_000_000


# ---------------------------------------------------------------- keys


def test_the_data_source_partition_is_the_job_records_pk() -> None:
    pk = kbsync_keys.ds_pk(KB, DS)
    assert pk == "DS#KB12345678#DS12345678"
    assert re.fullmatch(kbsync_contracts.schema("job-record")["properties"]["pk"]["pattern"], pk)
    assert kbsync_keys.target_key(KB, DS) == {"pk": pk, "sk": "TARGET"}
    assert kbsync_keys.gate_key(KB, DS) == {"pk": pk, "sk": "GATE"}


def test_a_data_source_partition_is_read_back_into_its_ids() -> None:
    assert kbsync_keys.parse_ds_pk(kbsync_keys.ds_pk(KB, DS)) == (KB, DS)
    for other in ("PACER", "PLAN#night-1", "DS#KB12345678", "DS#a#b#c", "DS##DS12345678", "XS#a#b"):
        assert kbsync_keys.parse_ds_pk(other) is None, other


def test_job_sort_keys_and_the_range_that_reads_them() -> None:
    sk = kbsync_keys.JOB_SK_FORMAT.format("2026-11-22T05:00:00.123Z", "manual-x", 2)
    assert sk == "JOB#2026-11-22T05:00:00.123Z#manual-x-2"
    assert kbsync_keys.job_sk_since(None) == "JOB#" and sk >= kbsync_keys.job_sk_since(None)
    since = kbsync_keys.job_sk_since("2026-11-22T05:00:00")
    assert since == "JOB#2026-11-22T05:00:00" and sk >= since
    assert sk < kbsync_keys.job_sk_since("2026-11-22T05:00:01")


def test_the_other_targets_table_keys() -> None:
    assert kbsync_keys.PACER_KEY == {"pk": "PACER", "sk": "ACCOUNT"}
    assert kbsync_keys.cursor_key("night-1") == {"pk": "PLAN#night-1", "sk": "CURSOR"}
    assert kbsync_keys.page_key("night-1", 12) == {"pk": "PLAN#night-1", "sk": "PAGE#000012"}
    arn = "arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:s3-x"
    assert kbsync_keys.alert_marker_key(arn) == {"pk": f"ALERT#{arn}", "sk": "EXECUTION_DIED"}


def test_the_key_of_an_item_and_its_low_level_form() -> None:
    item = {"pk": "DS#a#b", "sk": "JOB#1", "status": "FAILED"}
    assert kbsync_keys.key_of(item) == {"pk": "DS#a#b", "sk": "JOB#1"}
    assert kbsync_keys.client_key(kbsync_keys.key_of(item)) == {"pk": {"S": "DS#a#b"}, "sk": {"S": "JOB#1"}}


# ---------------------------------------------------------------- execution names


def test_a_fresh_execution_name_follows_the_format_and_fits_step_functions() -> None:
    at = datetime(2026, 11, 22, 5, 4, 5, tzinfo=UTC)
    names = {kbsync_names.execution_name("schedule", KB, DS, at) for _ in range(20)}
    assert len(names) > 1, "the suffix is random"
    for name in names:
        assert re.fullmatch(rf"schedule-{KB}-{DS}-20261122T050405-[a-z0-9]{{4}}", name)
        assert len(name) == 51 <= 80  # StartExecution: at most 80 characters


def test_a_name_without_a_time_is_stamped_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    name = kbsync_names.execution_name("s3", KB, DS)
    stamp = datetime.strptime(name.split("-")[3], kbsync_names.STAMP_FORMAT).replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)


def test_the_shell_form_takes_the_time_when_the_command_runs() -> None:
    assert (
        kbsync_names.shell_execution_name("manual", KB, DS, "rr01")
        == f"manual-{KB}-{DS}-$(date -u +%Y%m%dT%H%M%S)-rr01"
    )


def test_an_execution_arn_from_its_state_machine_and_back() -> None:
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-SyncGate"
    arn = kbsync_names.execution_arn(machine, "s3-x")
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:kbsync-SyncGate:s3-x"
    assert kbsync_names.name_of(arn) == "s3-x"


# ---------------------------------------------------------------- values


def test_dynamodb_numbers_become_plain_numbers_everywhere_in_a_value() -> None:
    value = {"a": Decimal("3"), "b": Decimal("2.5"), "c": [Decimal("1"), {"d": Decimal("0")}], "e": {"x"}, "f": "s"}
    assert kbsync_values.plain(value) == {"a": 3, "b": 2.5, "c": [1, {"d": 0}], "e": ["x"], "f": "s"}
    assert isinstance(kbsync_values.plain(Decimal("3")), int)
    assert kbsync_values.plain((Decimal("1"),)) == [1]


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")


def test_a_lost_conditional_write_is_told_from_other_errors() -> None:
    assert kbsync_values.is_condition_failure(_client_error("ConditionalCheckFailedException"))
    assert not kbsync_values.is_condition_failure(_client_error("ProvisionedThroughputExceededException"))
    assert not kbsync_values.is_condition_failure(RuntimeError("no response"))


def test_utc_stamps() -> None:
    assert kbsync_values.utc_seconds(NOW) == "2027-01-15T08:00:00Z"
    assert kbsync_values.utc_from_millis(NOW * 1000 + 999) == "2027-01-15T08:00:00Z"
    assert kbsync_values.utc_from_millis(1.5e12) == "2017-07-14T02:40:00Z"
    assert [kbsync_values.utc_from_millis(v) for v in (None, True, "1800000000000")] == [None, None, None]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", kbsync_values.utc_now())
    assert abs(kbsync_values.now_epoch() - datetime.now(UTC).timestamp()) < 5


@pytest.mark.parametrize(
    ("key", "prefixes", "covered"),
    [
        ("anything", [], True),
        ("tenant-a/x.md", ["tenant-a/"], True),
        ("tenant-b/x.md", ["tenant-a/"], False),
        ("tenant-b/x.md", ["tenant-a/", "tenant-b/"], True),
        ("tenant+a/red+flower.jpg", ["tenant a/"], True),  # URL-encoded key, decoded prefix
        ("tenant%20a/x.md", ["tenant a/"], True),
        ("tenant a/x.md", ["tenant a/"], True),
        ("Tenant-a/x.md", ["tenant-a/"], False),  # S3 keys are case-sensitive
    ],
)
def test_prefix_routing(key: str, prefixes: list[str], covered: bool) -> None:
    assert kbsync_values.prefix_matches(key, prefixes) is covered
    assert kbsync_values.prefix_matches(key, tuple(prefixes)) is covered  # any iterable


# ---------------------------------------------------------------- the pacer's transitions


def slot(kb: str = KB, ds: str = DS, lease: int = NOW + 100, **flags: bool) -> dict[str, object]:
    return {"knowledgeBaseId": kb, "dataSourceId": ds, "leaseUntil": lease, **flags}


def test_live_slots_and_waiters_leave_out_the_expired() -> None:
    item = {
        "slots": {"live": slot(lease=NOW), "dead": slot(lease=NOW - 1)},
        "waiters": {"fresh": {"seq": 1, "seenAt": NOW - 900}, "stale": {"seq": 2, "seenAt": NOW - 901}},
    }
    assert set(kbsync_pacer.live_slots(item, NOW)) == {"live"}
    assert set(kbsync_pacer.live_waiters(item, NOW, 900)) == {"fresh"}
    assert kbsync_pacer.live_slots({}, NOW) == {} and kbsync_pacer.live_waiters({}, NOW, 900) == {}


def test_the_start_token_is_busy_until_its_lease_runs_out() -> None:
    held = {"startHolder": "a", "startLeaseUntil": NOW}
    assert kbsync_pacer.start_token_busy(held, NOW) and not kbsync_pacer.start_token_busy(held, NOW + 1)
    assert not kbsync_pacer.start_token_busy({"startLeaseUntil": NOW + 5}, NOW)
    assert kbsync_pacer.holds_start_token(held, "a") and not kbsync_pacer.holds_start_token(held, "b")


def test_a_slot_is_refused_when_all_are_busy_or_the_knowledge_base_runs_a_job() -> None:
    slots = {f"h{i}": slot(kb=f"KB0000000{i}") for i in range(4)}
    assert kbsync_pacer.slot_refusal(slots, KB, 5) is None
    assert kbsync_pacer.slot_refusal(slots, "KB00000001", 5) == kbsync_pacer.KNOWLEDGE_BASE_BUSY
    slots["h4"] = slot(kb="KB00000004")
    assert kbsync_pacer.slot_refusal(slots, KB, 5) == kbsync_pacer.SLOTS_FULL
    slots["h4"]["finished"] = True  # its job is over: the slot counts as free
    assert kbsync_pacer.slot_refusal(slots, KB, 5) is None
    assert kbsync_pacer.slot_refusal(slots, "KB00000004", 5) is None


def test_the_queue_keeps_the_order_rounds_first_asked_in() -> None:
    item: dict[str, object] = {}
    waiters: dict[str, dict[str, object]] = {}
    assert kbsync_pacer.join_queue(item, waiters, "b", NOW, 450) is True
    assert kbsync_pacer.join_queue(item, waiters, "a", NOW, 450) is True
    assert item["queueSeq"] == 2 and waiters["b"] == {"seq": 1, "seenAt": NOW}
    assert [kbsync_pacer.queue_position(waiters, h) for h in ("b", "a", "c")] == [0, 1, 2]
    assert kbsync_pacer.join_queue(item, waiters, "b", NOW + 449, 450) is False  # seen recently: no write
    assert kbsync_pacer.join_queue(item, waiters, "b", NOW + 450, 450) is True  # refreshed, same place
    assert waiters["b"] == {"seq": 1, "seenAt": NOW + 450} and item["queueSeq"] == 2


def test_a_grant_gives_slot_and_token_and_takes_the_round_out_of_the_queue() -> None:
    item = {"version": 3, "queueSeq": 1, "slots": {}, "waiters": {}}
    waiters = {"a": {"seq": 1, "seenAt": NOW}, "b": {"seq": 2, "seenAt": NOW}}
    granted = kbsync_pacer.granted(item, {}, waiters, "a", KB, DS, NOW + 10, NOW + 20)
    assert granted == {
        "version": 3,
        "queueSeq": 1,
        "slots": {"a": {"knowledgeBaseId": KB, "dataSourceId": DS, "leaseUntil": NOW + 10}},
        "waiters": {"b": {"seq": 2, "seenAt": NOW}},
        "startHolder": "a",
        "startLeaseUntil": NOW + 20,
    }
    kept = slot(lease=NOW + 5, started=True)
    again = kbsync_pacer.granted(item, {"a": kept}, {}, "a", KB, DS, NOW + 10, NOW + 20)
    assert again["slots"] == {"a": kept}, "a holder keeps the slot it has"


def test_releasing_gives_back_exactly_what_was_asked() -> None:
    item = {
        "version": 1,
        "slots": {"a": slot(), "b": slot(kb="KB00000002")},
        "waiters": {"a": {"seq": 1, "seenAt": NOW}, "c": {"seq": 2, "seenAt": NOW}},
        "startHolder": "a",
        "startLeaseUntil": NOW + 900,
    }
    token = kbsync_pacer.released(item, "a", slot=False, start_token=True)
    assert token is not None and "startHolder" not in token and "startLeaseUntil" not in token
    assert token["slots"]["a"] == {**slot(), "started": True} and set(token["waiters"]) == {"c"}
    assert item["slots"]["a"] == slot(), "the item read is not changed"
    everything = kbsync_pacer.released(item, "a", slot=True, start_token=True)
    assert everything is not None and set(everything["slots"]) == {"b"} and set(everything["waiters"]) == {"c"}
    assert "startHolder" not in everything
    slot_only = kbsync_pacer.released(item, "b", slot=True, start_token=False)
    assert slot_only is not None and set(slot_only["slots"]) == {"a"} and slot_only["startHolder"] == "a"
    queued = kbsync_pacer.released(item, "c", slot=True, start_token=True)
    assert queued is not None and set(queued["waiters"]) == {"a"} and set(queued["slots"]) == {"a", "b"}
    assert kbsync_pacer.released(item, "stranger", slot=True, start_token=True) is None
    assert kbsync_pacer.released(item, "b", slot=False, start_token=True) is None, "b does not hold the token"


def test_a_slot_is_reclaimed_only_once_its_job_was_seen_running_and_then_not() -> None:
    running = {KB: True}
    asked: list[str] = []

    def job_running(kb: str, ds: str) -> bool:
        asked.append(kb)
        return running.get(kb, False)

    slots = {"unstarted": slot(kb="KB00000009"), "a": slot(started=True), "no-ds": slot(kb="KB00000008", ds="")}
    slots["no-ds"]["started"] = True
    assert kbsync_pacer.reclaim_finished(slots, job_running) == (False, True)
    assert asked == [KB] and slots["a"]["seenRunning"] is True
    assert kbsync_pacer.reclaim_finished(slots, job_running) == (False, False)  # still running: nothing new
    running[KB] = False
    assert kbsync_pacer.reclaim_finished(slots, job_running) == (True, True)
    assert slots["a"]["finished"] is True
    assert kbsync_pacer.reclaim_finished(slots, job_running) == (False, False)  # finished slots are not asked again
    assert asked == [KB, KB, KB]
