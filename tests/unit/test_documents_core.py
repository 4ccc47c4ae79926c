"""The shared core of push completion: which log events name a failed document and how the record keeps them
(kbsync_documents, bounded), the poll schedule (kbsync_polling), and waking a waiting execution (kbsync_wake:
SendTaskSuccess / SendTaskHeartbeat through a botocore Stubber, with Step Functions' real error codes)."""

from __future__ import annotations

import json
from typing import Any

import kbsync_contracts
import kbsync_documents as docs
import kbsync_polling
import kbsync_wake
import pytest
from kbsync_contracts import ContractError

from tests.helpers.stubs import stubbed

KB_ARN = "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KB12345678"
TOKEN = "AQCEAAAAKgAAAA" + "x" * 200
NOW = 1_800_000_000


def resource_event(uri: str, status: str, reasons: list[str] | None = None) -> dict[str, Any]:
    """A resource level log event as AWS documents it (knowledge-bases-logging.html, 'Examples')."""
    body: dict[str, Any] = {
        "ingestion_job_id": "JOB1234567",
        "data_source_id": "DS12345678",
        "knowledge_base_arn": KB_ARN,
        "document_location": {"type": "S3", "s3_location": {"uri": uri}},
        "status": status,
        "chunk_statistics": {"ignored": 0, "created": 0, "deleted": 0, "failed_to_create": 1},
    }
    if reasons is not None:
        body["status_reasons"] = reasons
    return {
        "event_timestamp": 1718677342332,
        "event": body,
        "event_version": "1.0",
        "event_type": "StartIngestionJob.ResourceStatusChanged",
        "level": "WARN",
    }


def failure(key: str, reason: str = "too large", status: str = "RESOURCE_IGNORED") -> docs.DocumentFailure:
    return docs.DocumentFailure(key=key, status=status, reason=reason)


# --- the log event contract -------------------------------------------------------------------------------------------


def test_the_documented_examples_keep_the_log_event_contract_and_extra_fields_are_allowed() -> None:
    job = {
        "event_timestamp": 1718683433639,
        "event": {
            "ingestion_job_id": "JOB1234567",
            "data_source_id": "DS12345678",
            "ingestion_job_status": "COMPLETE",
            "knowledge_base_arn": KB_ARN,
            "resource_statistics": {"number_of_resources_failed": 2, "number_of_resources_ingested": 5},
            "added_by_aws_later": {"x": 1},
        },
        "event_version": "1.0",
        "event_type": "StartIngestionJob.StatusChanged",
        "level": "INFO",
    }
    assert kbsync_contracts.problems("kb-log-event", job) == []
    assert kbsync_contracts.problems("kb-log-event", resource_event("s3://b/a.pdf", "INDEXED")) == []


def test_a_log_event_missing_what_kbsync_reads_breaks_the_contract_naming_the_field() -> None:
    broken = resource_event("s3://b/a.pdf", "EMBEDDING_FAILED", ["x"])
    del broken["event"]["document_location"]["s3_location"]
    assert kbsync_contracts.problems("kb-log-event", broken) == [
        "/event/document_location/s3_location: required: 's3_location' is a required property"
    ]
    job = {"event_type": "StartIngestionJob.StatusChanged", "event_version": "1.0", "event": {}}
    assert "/event/ingestion_job_status: required: 'ingestion_job_status' is a required property" in (
        kbsync_contracts.problems("kb-log-event", job)
    )
    unknown = {**resource_event("s3://b/a.pdf", "INDEXED"), "event_type": "Retrieve.Called"}
    assert kbsync_contracts.problems("kb-log-event", unknown)


# --- failure_of -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", ["EMBEDDING_FAILED", "INDEXING_FAILED", "DELETION_FAILED", "METADATA_UPDATE_FAILED", "RESOURCE_IGNORED"]
)
def test_stage_failures_and_ignored_documents_name_the_key_without_the_bucket(status: str) -> None:
    event = resource_event("s3://docs-bucket/reports/2026/a b.pdf", status, ["  File too large (max 50 MB)  ", "2nd"])
    assert docs.failure_of(event) == docs.DocumentFailure("reports/2026/a b.pdf", status, "File too large (max 50 MB)")


@pytest.mark.parametrize(
    "status", ["FAILED", "INDEXED", "DELETED", "PARTIALLY_INDEXED", "EMBEDDING_STARTED", "SCHEDULED_FOR_INGESTION"]
)
def test_the_final_failed_and_every_other_status_name_no_file(status: str) -> None:
    assert docs.failure_of(resource_event("s3://b/a.pdf", status, ["reason"])) is None


def test_a_job_level_event_names_no_file() -> None:
    event = resource_event("s3://b/a.pdf", "RESOURCE_IGNORED", ["r"])
    event["event_type"] = "StartIngestionJob.StatusChanged"
    assert docs.failure_of(event) is None


def test_without_a_reason_the_status_is_the_reason_and_a_long_reason_is_cut() -> None:
    assert docs.failure_of(resource_event("s3://b/k.txt", "INDEXING_FAILED")) == docs.DocumentFailure(
        "k.txt", "INDEXING_FAILED", "INDEXING_FAILED"
    )
    long = docs.failure_of(resource_event("s3://b/k.txt", "EMBEDDING_FAILED", ["x" * 5000]))
    assert long is not None
    assert len(long.reason) == docs.MAX_REASON_CHARS and long.reason.endswith("...")


def test_the_key_is_made_storable_and_the_documented_single_slash_uri_is_read() -> None:
    assert docs.s3_key("s3:/bucket/dir/a.pdf") == "dir/a.pdf"  # the spelling of AWS's example
    assert docs.s3_key("s3://bucket/line\nbreak.pdf") == "line\\nbreak.pdf"
    assert docs.s3_key("s3://bucket") == "bucket"  # no key part: kept, never lost
    assert len(docs.s3_key("s3://b/" + "k" * 3000)) == docs.MAX_KEY_CHARS


# --- merge: the bounds ------------------------------------------------------------------------------------------------


def test_one_entry_per_reason_with_its_count_status_and_first_keys() -> None:
    merged = docs.merge(None, [failure("a.pdf"), failure("b.pdf"), failure("c.txt", "empty", "EMBEDDING_FAILED")])
    assert merged == {
        docs.reason_id("too large"): {
            "reason": "too large",
            "status": "RESOURCE_IGNORED",
            "count": 2,
            "keys": ["a.pdf", "b.pdf"],
        },
        docs.reason_id("empty"): {"reason": "empty", "status": "EMBEDDING_FAILED", "count": 1, "keys": ["c.txt"]},
    }
    assert docs.total(merged) == 3


def test_the_eleventh_key_of_a_reason_is_counted_but_not_stored() -> None:
    merged = docs.merge(None, [failure(f"f{i:02d}.pdf") for i in range(docs.MAX_KEYS_PER_REASON + 1)])
    (entry,) = merged.values()
    assert entry["count"] == 11
    assert entry["keys"] == [f"f{i:02d}.pdf" for i in range(10)]


def test_the_eleventh_reason_goes_to_other_without_keys() -> None:
    failures = [failure(f"f{i}.pdf", reason=f"reason {i}") for i in range(docs.MAX_REASONS + 2)]
    merged = docs.merge(None, failures)
    assert len(merged) == docs.MAX_REASONS + 1
    assert merged[docs.OTHER_ID] == {"reason": docs.OTHER_REASON, "status": "RESOURCE_IGNORED", "count": 2, "keys": []}
    assert docs.reason_id("reason 9") in merged and docs.reason_id("reason 10") not in merged
    # A reason already kept still gets its failures when the map is full.
    again = docs.merge(merged, [failure("late.pdf", reason="reason 0")])
    assert again[docs.reason_id("reason 0")]["count"] == 2 and again[docs.OTHER_ID]["count"] == 2


def test_a_key_already_held_is_neither_added_nor_counted_again() -> None:
    once = docs.merge(None, [failure("a.pdf"), failure("a.pdf")])
    twice = docs.merge(once, [failure("a.pdf")])
    assert twice == once
    assert once[docs.reason_id("too large")] == {
        "reason": "too large",
        "status": "RESOURCE_IGNORED",
        "count": 1,
        "keys": ["a.pdf"],
    }
    # The same key under another reason is another failure.
    assert docs.total(docs.merge(once, [failure("a.pdf", reason="other reason")])) == 2


def test_merge_does_not_change_the_map_it_was_given_and_reads_dynamodb_numbers() -> None:
    existing = {docs.reason_id("too large"): {"reason": "too large", "status": "S", "count": 1, "keys": ["a"]}}
    snapshot = json.dumps(existing)
    docs.merge(existing, [failure("b")])
    assert json.dumps(existing) == snapshot


def test_a_full_map_keeps_the_record_contract_and_stays_far_below_the_item_limit() -> None:
    """15 reasons of the longest reason text, 15 of the longest keys each: every bound reached at once."""
    failures = [
        failure(f"{i:02d}" + "k" * (docs.MAX_KEY_CHARS - 2), reason=f"{j:02d}" + "r" * (docs.MAX_REASON_CHARS - 2))
        for j in range(15)
        for i in range(15)
    ]
    merged = docs.merge(None, failures)
    record = {
        "pk": "DS#KB12345678#DS12345678",
        "sk": "JOB#2027-01-15T08:00:00.000Z#x-1",
        "knowledgeBaseId": "KB12345678",
        "dataSourceId": "DS12345678",
        "status": "IN_PROGRESS",
        "trigger": "manual",
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:x",
        "attempt": 1,
        "startedAt": "2027-01-15T08:00:00Z",
        "updatedAt": "2027-01-15T08:00:00Z",
        "documentFailures": merged,
        "documentFailuresTotal": docs.total(merged),
        "documentFailuresVersion": 1,
    }
    assert kbsync_contracts.problems("job-record", record) == []
    assert docs.total(merged) == 225 and merged[docs.OTHER_ID]["count"] == 75
    assert len(json.dumps(merged)) < 120_000  # DynamoDB's item limit is 400 KB


def test_the_bounds_are_the_record_contracts() -> None:
    spec = kbsync_contracts.schema("job-record")["properties"]["documentFailures"]
    entry = spec["additionalProperties"]["properties"]
    assert spec["maxProperties"] == docs.MAX_REASONS + 1
    assert entry["keys"]["maxItems"] == docs.MAX_KEYS_PER_REASON
    assert entry["keys"]["items"]["maxLength"] == docs.MAX_KEY_CHARS
    assert entry["reason"]["maxLength"] == docs.MAX_REASON_CHARS


def test_a_reason_id_is_short_stable_and_never_other() -> None:
    assert docs.reason_id("too large") == docs.reason_id("too large") != docs.reason_id("too large!")
    assert docs.reason_id("too large").startswith("r") and len(docs.reason_id("x")) == 13
    assert docs.reason_id("other") != docs.OTHER_ID


# --- showing them -----------------------------------------------------------------------------------------------------


def test_summary_lines_by_count_with_three_keys_and_how_many_more() -> None:
    failures = [failure(f"{c}.pdf", reason="file too large (max 50 MB)") for c in "abcdefghij"]
    failures += [failure(f"x{i}", reason="no text") for i in range(27)]  # 10 stored, 27 counted
    failures += [failure("only.csv", reason="bad csv")]
    merged = docs.merge(None, failures)
    assert docs.summary_lines(merged) == [
        "27 files: no text - x0, x1, x2 and 24 more",
        "10 files: file too large (max 50 MB) - a.pdf, b.pdf, c.pdf and 7 more",
        "1 file: bad csv - only.csv",
    ]
    assert docs.summary_lines(merged, keys_shown=0)[2] == "1 file: bad csv"
    assert docs.summary_lines(None) == []


def test_other_reasons_come_last_without_keys() -> None:
    failures = [failure(f"f{i}", reason=f"reason {i:02d}") for i in range(docs.MAX_REASONS)]
    failures += [failure(f"g{i}", reason=f"late {i}") for i in range(5)]
    lines = docs.summary_lines(docs.merge(None, failures))
    assert lines[-1] == "5 files: other reasons"
    assert lines[0] == "1 file: reason 00 - f0"


def test_all_lines_list_every_stored_key_under_its_reason() -> None:
    merged = docs.merge(None, [failure(f"k{i}", reason="r") for i in range(12)] + [failure("z", reason="s")])
    assert docs.all_lines(merged) == [
        "12 files: r (RESOURCE_IGNORED)",
        *[f"  k{i}" for i in range(10)],
        "  ... and 2 more not stored",
        "1 file: s (RESOURCE_IGNORED)",
        "  z",
    ]


# --- the poll schedule ------------------------------------------------------------------------------------------------


def test_next_wait_grows_by_half_rounded_up_and_stays_within_bounds() -> None:
    assert kbsync_polling.WAIT_GROWTH == 1.5
    assert [kbsync_polling.next_wait(w, 300) for w in (15, 23, 35, 53, 80, 120, 180, 270, 300)] == [
        23,
        35,
        53,
        80,
        120,
        180,
        270,
        300,
        300,
    ]
    assert kbsync_polling.next_wait(0, 300) == 1
    assert kbsync_polling.next_wait(1, 300) == 2
    assert kbsync_polling.next_wait(100, 30) == 30


# --- waking -----------------------------------------------------------------------------------------------------------


def wake_of(source: str = "logs") -> dict[str, Any]:
    return kbsync_wake.wake_message(source, "JOB1234567", "COMPLETE", NOW)


def test_wake_sends_the_wake_as_the_task_output() -> None:
    with stubbed("stepfunctions") as stubs:
        stub = stubs["stepfunctions"]
        expected = {"taskToken": TOKEN, "output": json.dumps(wake_of(), separators=(",", ":"))}
        stub.add_response("send_task_success", {}, expected)
        assert kbsync_wake.wake(stub.client, TOKEN, wake_of()) is True
    assert wake_of() == {
        "source": "logs",
        "ingestionJobId": "JOB1234567",
        "status": "COMPLETE",
        "wokenAt": "2027-01-15T08:00:00Z",
    }
    assert kbsync_contracts.problems("job-wake", wake_of("sweep")) == []


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_spent_token_is_false_not_an_error(code: str) -> None:
    with stubbed("stepfunctions") as stubs:
        stub = stubs["stepfunctions"]
        stub.add_client_error("send_task_success", code, "the task has already been closed")
        stub.add_client_error("send_task_heartbeat", code, "the task has already been closed")
        assert kbsync_wake.wake(stub.client, TOKEN, wake_of()) is False
        assert kbsync_wake.heartbeat(stub.client, TOKEN) is False


def test_other_errors_are_raised_for_the_caller_to_count() -> None:
    with stubbed("stepfunctions") as stubs:
        stub = stubs["stepfunctions"]
        stub.add_client_error("send_task_success", "ThrottlingException", "Rate exceeded", 400)
        stub.add_client_error("send_task_heartbeat", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(Exception, match="ThrottlingException") as raised:
            kbsync_wake.wake(stub.client, TOKEN, wake_of())
        assert kbsync_wake.error_code(raised.value) == "ThrottlingException"
        assert kbsync_wake.error_message(raised.value) == "Rate exceeded"
        with pytest.raises(Exception, match="AccessDenied"):
            kbsync_wake.heartbeat(stub.client, TOKEN)


def test_heartbeat_is_true_while_the_task_waits() -> None:
    with stubbed("stepfunctions") as stubs:
        stub = stubs["stepfunctions"]
        stub.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
        assert kbsync_wake.heartbeat(stub.client, TOKEN) is True


def test_a_wake_that_breaks_its_contract_is_refused_before_any_call() -> None:
    with stubbed("stepfunctions") as stubs, pytest.raises(ContractError, match="/source"):
        kbsync_wake.wake(stubs["stepfunctions"].client, TOKEN, {**wake_of(), "source": "poll"})


def test_the_reason_leaves_out_the_file_it_names_so_that_files_refused_alike_share_one_entry() -> None:
    """Bedrock's reasons name their files ("[Files: s3://...]"): kept as is, every file would be its own reason."""
    import kbsync_documents

    def event(uri: str) -> dict[str, object]:
        return {
            "event_type": "StartIngestionJob.ResourceStatusChanged",
            "event": {
                "status": "RESOURCE_IGNORED",
                "status_reasons": [f"Ignored 1 files as their file format was not supported. [Files: {uri}]"],
                "document_location": {"type": "S3", "s3_location": {"uri": uri}},
            },
        }

    failures = [kbsync_documents.failure_of(event(f"s3://docs-bucket/docs/{name}")) for name in ("a.exe", "b.bin")]
    merged = kbsync_documents.merge(None, [f for f in failures if f is not None])
    [entry] = merged.values()
    assert entry["reason"] == "Ignored 1 files as their file format was not supported."
    assert (entry["count"], entry["keys"]) == (2, ["docs/a.exe", "docs/b.bin"])
    assert kbsync_documents.reason_text("see s3://b/k for details") == "see <file> for details"
    assert kbsync_documents.reason_text("s3://b/k") == "<file>"  # never an empty reason


# --- promises the mutation run found unpinned (each test kills the mutants named in docs/testing.md) ----------------


def test_a_negative_number_of_keys_shown_shows_none() -> None:
    merged = docs.merge(None, [failure(f"{c}.pdf", reason="too large") for c in "abcd"])
    assert (
        docs.summary_lines(merged, keys_shown=-2) == docs.summary_lines(merged, keys_shown=0) == ["4 files: too large"]
    )


def test_a_uri_with_an_empty_key_keeps_the_bucket_so_the_failure_is_never_nameless() -> None:
    assert docs.s3_key("s3://bucket/") == "bucket/"
    assert docs.s3_key("s3:/bucket/") == "bucket/"


def jobs_table() -> Any:
    """A JobsTable resource on a client of its own (a Stubber answers it)."""
    import boto3

    return boto3.resource(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).Table("jobs")


def test_mark_woken_says_whether_this_call_marked_the_wait() -> None:
    """True when the record still held the token and no wake; False (quietly) when the condition failed: a newer wait
    or the other path's mark came first; any other refusal is raised for the caller to count."""
    from botocore.stub import Stubber

    table, key = jobs_table(), {"pk": "DS#KB12345678#DS12345678", "sk": "JOB#2027-01-15T07:50:00Z#manual-x-1"}
    with Stubber(table.meta.client) as stub:
        stub.add_response("update_item", {})  # the request is still checked against the service model
        stub.add_client_error("update_item", "ConditionalCheckFailedException", "The conditional request failed", 400)
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException", "Rate of requests", 400)
        assert kbsync_wake.mark_woken(table, key, TOKEN, kbsync_wake.SWEEP, NOW) is True
        assert kbsync_wake.mark_woken(table, key, TOKEN, kbsync_wake.SWEEP, NOW) is False
        with pytest.raises(Exception, match="ProvisionedThroughputExceededException"):
            kbsync_wake.mark_woken(table, key, TOKEN, kbsync_wake.SWEEP, NOW)
        stub.assert_no_pending_responses()


def test_an_aws_error_message_is_one_line_of_at_most_300_characters() -> None:
    from botocore.exceptions import ClientError

    def error(message: str) -> ClientError:
        return ClientError({"Error": {"Code": "ThrottlingException", "Message": message}}, "SendTaskSuccess")

    assert kbsync_wake.error_message(error("x" * 300)) == "x" * 300
    cut = kbsync_wake.error_message(error("y" * 1000))
    assert len(cut) == 300 and cut.endswith("...")
    assert kbsync_wake.error_message(error("two\nlines")) == "two\\nlines"
    assert kbsync_wake.error_message(error("")) == str(error(""))  # no message: the exception's own text


def test_the_statuses_that_end_a_job_are_the_wake_contracts_statuses() -> None:
    """One set (kbsync_polling.TERMINAL_STATUSES) ends the poll loop, the sweep's check and a log event's wait; the
    wake the state machine reads names only those."""
    import kbsync_contracts
    import kbsync_polling

    enum = kbsync_contracts.schema("job-wake")["properties"]["status"]["enum"]
    assert set(enum) == kbsync_polling.TERMINAL_STATUSES == {"COMPLETE", "FAILED", "STOPPED"}
