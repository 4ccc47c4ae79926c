"""failureReasons of every size and character set through the alert formatter (functions/send_alert).

Bedrock reports up to 2,048 reasons of up to 2,048 characters (~4 M characters, up to 16 MB of UTF-8): the alert
must still be one SNS message: subject <= 100 chars on one line, message < 256 KB in UTF-8 bytes (with subject and
attributes: SNS counts them all), valid UTF-8, the alert contract satisfied, and the omitted reasons counted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import kbsync_alerts
import kbsync_contracts
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.functions import load_function
from tests.hostile.strategies import bedrock_ids

fn = load_function("send_alert")
SNS_LIMIT_BYTES = 262_144
NOW = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-KB12345678-DS12345678-x"
ALERT_TYPES = sorted(kbsync_alerts.catalogue())
SMILE = "\U0001f600"
#: Valid Unicode (no lone surrogates), weighted towards multi-byte and control characters.
unicode_text = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\U0001f600", "\u202e", "\x00", "\n", "é", "\u4e2d"]),
    max_size=300,
)
s3_uri = st.builds(
    lambda key: f"s3://docs-bucket/{key}", st.text(st.characters(codec="utf-8"), min_size=1, max_size=80)
)
reason = st.one_of(
    unicode_text,
    st.builds(lambda uri, text: f"Encountered error: {text} [Files: {uri}]", s3_uri, unicode_text),
    st.builds(lambda uri, n: f"File {uri} exceeds the size limit of 50 MB ({n} bytes)", s3_uri, st.integers(0, 10**12)),
)


def facts(alert_type: str, reasons: list[str], **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "alert_type": alert_type,
        "knowledge_base_id": "KB12345678",
        "data_source_id": "DS12345678",
        "execution_arn": EXECUTION,
        "ingestion_job_id": None if alert_type == "START_FAILED" else "JOB1234567",
        "status": "FAILED",
        "failure_reasons": reasons,
        "statistics": {"numberOfDocumentsScanned": 10**9, "numberOfDocumentsFailed": len(reasons)},
    }
    fields.update(extra)
    return fn.AlertFacts(**fields)


def assert_bounded(alert: dict[str, Any]) -> None:
    kbsync_contracts.validate("alert", alert)
    subject, message = alert["subject"], alert["message"]
    assert len(subject) <= 100 and "\n" not in subject and "\r" not in subject
    assert subject.isascii()
    body = message.encode("utf-8")  # strict: raises on anything that is not valid UTF-8
    attributes = sum(
        len(k) + len(v["StringValue"].encode()) + len("String") for k, v in alert["messageAttributes"].items()
    )
    assert len(body) + len(subject.encode()) + attributes < SNS_LIMIT_BYTES
    assert "Runbook: https://runbooks.example/" in message and "aws stepfunctions start-execution" in message


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    alert_type=st.sampled_from(ALERT_TYPES),
    reasons=st.lists(reason, max_size=60),
    cause=st.none() | unicode_text,
    request_reason=st.text(st.characters(codec="utf-8"), max_size=500),
    requested_by=st.text(st.characters(codec="utf-8"), max_size=200),
)
def test_any_failure_reasons_make_one_bounded_valid_alert(
    alert_type: str, reasons: list[str], cause: str | None, request_reason: str, requested_by: str
) -> None:
    alert = fn.build_alert(
        facts(alert_type, reasons, cause=cause, reason=request_reason, requested_by=requested_by),
        "https://runbooks.example/",
        NOW,
    )
    assert_bounded(alert)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kb=bedrock_ids, ds=bedrock_ids, alert_type=st.sampled_from(ALERT_TYPES))
def test_subject_names_severity_knowledge_base_and_data_source(kb: str, ds: str, alert_type: str) -> None:
    alert = fn.build_alert(
        facts(alert_type, [], knowledge_base_id=kb, data_source_id=ds), "https://runbooks.example/", NOW
    )
    assert_bounded(alert)
    severity = kbsync_alerts.alert_kind(alert_type).severity
    assert alert["subject"] == f"[{severity}] kbsync {alert_type}: kb {kb} / ds {ds}"


@pytest.mark.parametrize(
    "reasons",
    [
        pytest.param(["\U0001f600" * 2048] * 2048, id="2048-identical-4-byte-reasons"),
        pytest.param([f"s3://b/{i}-{SMILE * 2000}.pdf: unsupported" for i in range(2048)], id="2048-distinct-uris"),
        pytest.param([f"{chr(0x4E00 + i)}" * 2048 for i in range(2048)], id="2048-distinct-cjk-groups"),
        pytest.param(["x" * 100_000], id="one-huge-reason"),
    ],
)
def test_maximum_bedrock_failure_reasons_fit_one_sns_message_and_count_the_omitted(reasons: list[str]) -> None:
    alert = fn.build_alert(facts("FAILED", reasons), "https://runbooks.example/", NOW)
    assert_bounded(alert)
    omitted = re.search(r"\.\.\. (\d+) more failure reason\(s\) in (\d+) group\(s\) omitted", alert["message"])
    shown = alert["message"].count("\n- ")
    if omitted is None:
        groups = fn.group_reasons(reasons)
        assert shown == len(groups), "no 'omitted' line although groups are missing"
    else:
        assert int(omitted.group(1)) > 0


def test_lone_surrogates_in_failure_reasons_do_not_crash_the_formatter() -> None:
    alert = fn.build_alert(facts("FAILED", ["bad file \ud800 s3://b/k.pdf"]), "https://runbooks.example/", NOW)
    assert_bounded(alert)
