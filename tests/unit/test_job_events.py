"""functions/job_events: a subscription delivery of knowledge base log events, applied to the job records.

The document failures of a job are merged into its record with one read-merge-write per job per invocation (10,000
document events: one Query, one GetItem, one UpdateItem), before its terminal status; the terminal status wakes the
waiting execution once (a duplicate finds it woken, or its token spent); bad input is counted by reason, never fatal,
and never logged beyond the reason.

moto's DynamoDB with the template's JobsTable; Step Functions as a botocore Stubber (SendTaskSuccess with its real
error codes); the deliveries built as CloudWatch Logs builds them (base64 of gzip of the JSON:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import kbsync_documents as docs
import pytest

from tests.helpers.functions import FakeLambdaContext, load_function, load_module
from tests.helpers.stubs import stubbed
from tests.helpers.tables import moto_jobs_table
from tests.unit.test_job_watch import iso, put_record, refuse_once, stored, token
from tests.unit.test_metrics_emf import emf_metrics

fn = load_function("job_events")
logic = load_module("job_events", "job_events_logic")
Settings = load_module("job_events", "job_events_settings").Settings

KB, DS = "KB12345678", "DS12345678"
NOW = 1_800_000_000
ARN = f"arn:aws:bedrock:us-east-1:123456789012:knowledge-base/{KB}"


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_jobs_table(monkeypatch, fn) as table:
        yield table


def job_event(job: str, status: str, kb_arn: str = ARN, ds: str = DS) -> dict[str, Any]:
    """A job level log event as AWS documents it (knowledge-bases-logging.html, 'Examples')."""
    return {
        "event_timestamp": 1718683433639,
        "event": {
            "ingestion_job_id": job,
            "data_source_id": ds,
            "ingestion_job_status": status,
            "knowledge_base_arn": kb_arn,
            "resource_statistics": {"number_of_resources_failed": 1, "number_of_resources_ingested": 3},
        },
        "event_version": "1.0",
        "event_type": "StartIngestionJob.StatusChanged",
        "level": "INFO",
    }


def document_event(job: str, key: str, status: str = "RESOURCE_IGNORED", reason: str = "too large") -> dict[str, Any]:
    """A resource level log event (same page), its reason as Bedrock words them."""
    return {
        "event_timestamp": 1718677342332,
        "event": {
            "ingestion_job_id": job,
            "data_source_id": DS,
            "knowledge_base_arn": ARN,
            "document_location": {"type": "S3", "s3_location": {"uri": f"s3://docs-bucket/{key}"}},
            "status": status,
            "status_reasons": [reason],
            "chunk_statistics": {"ignored": 1, "created": 0, "deleted": 0},
        },
        "event_version": "1.0",
        "event_type": "StartIngestionJob.ResourceStatusChanged",
        "level": "WARN",
    }


def delivery(*messages: Any, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """What a subscription filter sends Lambda: {"awslogs": {"data": base64(gzip(json))}}; dict messages as JSON."""
    data = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "/aws/vendedlogs/kbsync/knowledge-bases",
        "logStream": "log_stream_created_by_aws_to_deliver_logs",
        "subscriptionFilters": ["kbsync-job-events"],
        "logEvents": [
            {"id": str(i), "timestamp": 1718677342332, "message": m if isinstance(m, str) else json.dumps(m)}
            for i, m in enumerate(messages)
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()}}


class Recorded:
    """The Table resource, with the name of each call kept in order, and its arguments (the calls still reach moto)."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.table, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            self.requests.append((name, kwargs))
            return method(**kwargs)

        return call


def wake_params(n: int, job: str, status: str) -> dict[str, str]:
    output = {"source": "logs", "ingestionJobId": job, "status": status, "wokenAt": iso(NOW)}
    return {"taskToken": token(n), "output": json.dumps(output, separators=(",", ":"))}


def waiting(n: int) -> dict[str, Any]:
    return {"waitToken": token(n), "waitingSince": iso(NOW - 60), "nextCheckAt": iso(NOW), "checkWaitSeconds": 15}


# --- a job's failures and its end -------------------------------------------------------------------------------------


def test_failures_are_merged_before_the_terminal_status_wakes_the_wait(
    jobs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    item = put_record(jobs, "JOBAAAAAA1", **waiting(1))
    table = Recorded(jobs)
    event = delivery(
        document_event("JOBAAAAAA1", "a.pdf"),
        job_event("JOBAAAAAA1", "COMPLETE"),  # the terminal event first: the documents still go in before the wake
        document_event("JOBAAAAAA1", "b.pdf"),
        document_event("JOBAAAAAA1", "c.txt", "EMBEDDING_FAILED", "empty document"),
        document_event("JOBAAAAAA1", "d.pdf", "INDEXED"),
    )
    with stubbed("stepfunctions") as stubs:
        stubs["stepfunctions"].add_response("send_task_success", {}, wake_params(1, "JOBAAAAAA1", "COMPLETE"))
        outcome = logic.handle(event, table, stubs["stepfunctions"].client, NOW)
    assert table.calls == ["query", "get_item", "update_item", "update_item", "update_item"]
    assert outcome.as_dict() == {"jobs": 1, "failuresMerged": 3, "terminal": 1, "woken": 1, "ignored": {}}
    record = stored(jobs, item)
    assert docs.summary_lines(record["documentFailures"]) == [
        "2 files: too large - a.pdf, b.pdf",
        "1 file: empty document - c.txt",
    ]
    assert (record["documentFailuresTotal"], record["documentFailuresVersion"]) == (3, 1)
    assert (record["logStatus"], record["wokenBy"], record["wokenAt"]) == ("COMPLETE", "logs", iso(NOW))
    wakes = [m for m in emf_metrics(capsys.readouterr().out) if m["name"] == "Wakes"]
    assert [m["dimensions"] for m in wakes] == [{"Source": "logs"}]


def test_ten_thousand_document_events_cost_one_read_and_one_write(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1")
    table = Recorded(jobs)
    events = [document_event("JOBAAAAAA1", f"big/{i:05d}.pdf", reason=f"reason {i % 3}") for i in range(9_990)]
    events += [document_event("JOBAAAAAA1", f"ok/{i}.pdf", "INDEXED") for i in range(10)]
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(delivery(*events), table, stubs["stepfunctions"].client, NOW)
    assert table.calls == ["query", "get_item", "update_item"]
    assert outcome.failures_merged == 9_990
    record = stored(jobs, item)
    assert record["documentFailuresTotal"] == 9_990
    assert sorted(int(v["count"]) for v in record["documentFailures"].values()) == [3_330, 3_330, 3_330]
    assert all(len(v["keys"]) == docs.MAX_KEYS_PER_REASON for v in record["documentFailures"].values())


def test_events_that_name_no_failure_and_no_end_touch_no_record(jobs: Any) -> None:
    table = Recorded(jobs)
    event = delivery(
        document_event("JOBAAAAAA1", "a.pdf", "INDEXED"),
        document_event("JOBAAAAAA1", "a.pdf", "FAILED"),  # the final FAILED names no file (stage failures do)
        job_event("JOBAAAAAA1", "INGESTION_JOB_STARTED"),
        job_event("JOBAAAAAA1", "CRAWLING_COMPLETED"),
    )
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(event, table, stubs["stepfunctions"].client, NOW)
    assert table.calls == [] and outcome.as_dict()["ignored"] == {}


def test_a_terminal_event_before_the_token_is_kept_for_the_wait(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1")
    with stubbed("stepfunctions") as stubs:  # no wait yet: no call to Step Functions
        outcome = logic.handle(delivery(job_event("JOBAAAAAA1", "FAILED")), jobs, stubs["stepfunctions"].client, NOW)
    assert (outcome.terminal, outcome.woken) == (1, 0)
    record = stored(jobs, item)
    assert record["logStatus"] == "FAILED" and "wokenAt" not in record


def test_a_duplicated_terminal_event_wakes_once_and_a_spent_token_is_no_error(jobs: Any) -> None:
    woken = put_record(jobs, "JOBAAAAAA1", **waiting(1))
    spent = put_record(jobs, "JOBAAAAAA2", started=NOW - 500, **waiting(2))
    with stubbed("stepfunctions") as stubs:
        sfn = stubs["stepfunctions"]
        sfn.add_response("send_task_success", {}, wake_params(1, "JOBAAAAAA1", "STOPPED"))
        first = logic.handle(delivery(job_event("JOBAAAAAA1", "STOPPED")), jobs, sfn.client, NOW)
        # The same event again: the record says woken, Step Functions is not asked.
        again = logic.handle(delivery(job_event("JOBAAAAAA1", "STOPPED")), jobs, sfn.client, NOW)
        # A wait that ended otherwise (its heartbeat timed out) before the record was marked: the token is spent.
        sfn.add_client_error("send_task_success", "TaskTimedOut", "Task Timed Out", 400)
        late = logic.handle(delivery(job_event("JOBAAAAAA2", "COMPLETE")), jobs, sfn.client, NOW)
    assert (first.woken, again.woken, late.woken) == (1, 0, 0)
    assert again.errors == [] and late.errors == [] and late.ignored == {}
    assert stored(jobs, woken)["wokenBy"] == "logs"
    assert "wokenAt" not in stored(jobs, spent) and stored(jobs, spent)["logStatus"] == "COMPLETE"


def test_merges_across_invocations_keep_the_bounds_and_skip_keys_already_held(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1")
    with stubbed("stepfunctions") as stubs:
        for batch in range(3):  # the same first key in every batch: a redelivered event
            events = [document_event("JOBAAAAAA1", "same.pdf")]
            events += [document_event("JOBAAAAAA1", f"b{batch}-{i}.pdf") for i in range(5)]
            logic.handle(delivery(*events), jobs, stubs["stepfunctions"].client, NOW)
    record = stored(jobs, item)
    (entry,) = record["documentFailures"].values()
    assert entry["count"] == 1 + 5 * 3  # same.pdf once
    assert entry["keys"][:6] == ["same.pdf", *[f"b0-{i}.pdf" for i in range(5)]] and len(entry["keys"]) == 10
    assert record["documentFailuresVersion"] == 3


def test_a_write_that_lost_its_race_is_merged_again_from_a_fresh_read(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1")

    class Racing(Recorded):
        """Another invocation merges 'x.pdf' between this one's read and its first write."""

        raced = False

        def __getattr__(self, name: str) -> Any:
            if name == "update_item" and not self.raced:
                self.raced = True
                theirs = docs.merge(None, [docs.DocumentFailure("x.pdf", "RESOURCE_IGNORED", "too large")])
                self.table.update_item(
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression=(
                        "SET documentFailures = :m, documentFailuresTotal = :t, documentFailuresVersion = :v"
                    ),
                    ExpressionAttributeValues={":m": theirs, ":t": 1, ":v": 1},
                )
            return super().__getattr__(name)

    table = Racing(jobs)
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(
            delivery(document_event("JOBAAAAAA1", "a.pdf")), table, stubs["stepfunctions"].client, NOW
        )
    assert table.calls == ["query", "get_item", "update_item", "get_item", "update_item"]
    record = stored(jobs, item)
    assert next(iter(record["documentFailures"].values()))["keys"] == ["x.pdf", "a.pdf"]
    assert (record["documentFailuresTotal"], record["documentFailuresVersion"], outcome.failures_merged) == (2, 2, 1)


# --- bad input --------------------------------------------------------------------------------------------------------


def test_bad_input_is_counted_by_reason_never_fatal(jobs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put_record(jobs, "JOBAAAAAA1")
    other_kb = "arn:aws:bedrock:us-east-1:123456789012:knowledge-base/KBOTHER123"
    broken = document_event("JOBAAAAAA1", "a.pdf")
    del broken["event"]["status"]
    event = delivery(
        "not json at all",
        {"event_type": "StartIngestionJob.StatusChanged", "event_version": "2.0", "event": {"job": "x"}},
        broken,
        job_event("JOBAAAAAA1", "COMPLETE", kb_arn=other_kb),
        job_event("JOBAAAAAA1", "COMPLETE", ds="DSOTHER123"),
        job_event("JOBZZZZZZ9", "COMPLETE"),
        document_event("JOBZZZZZZ9", "a.pdf"),
    )
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(event, jobs, stubs["stepfunctions"].client, NOW)
    assert dict(outcome.ignored) == {"not json": 1, "not in contract": 2, "wrong knowledge base": 2, "unknown job": 2}
    assert outcome.jobs == 0
    ignored = {
        m["dimensions"]["Reason"]: m["values"]
        for m in emf_metrics(capsys.readouterr().out)
        if m["name"] == "LogEventsIgnored"
    }
    assert ignored == {"not json": [1.0], "not in contract": [2.0], "wrong knowledge base": [2.0], "unknown job": [2.0]}


def test_a_control_message_and_an_unreadable_delivery_are_not_fatal(jobs: Any) -> None:
    with stubbed("stepfunctions") as stubs:
        control = logic.handle(delivery("CWL CONTROL MESSAGE", message_type="CONTROL_MESSAGE"), jobs, None, NOW)
        unreadable = logic.handle({"awslogs": {"data": "bm90IGd6aXA="}}, jobs, stubs["stepfunctions"].client, NOW)
        missing = logic.handle({}, jobs, stubs["stepfunctions"].client, NOW)
    assert control.as_dict()["ignored"] == {} and control.jobs == 0
    assert dict(unreadable.ignored) == dict(missing.ignored) == {"unreadable delivery": 1}


def test_an_aws_error_on_one_job_does_not_stop_the_others(jobs: Any) -> None:
    put_record(jobs, "JOBAAAAAA1", **waiting(1))
    second = put_record(jobs, "JOBAAAAAA2", started=NOW - 500, **waiting(2))
    with stubbed("stepfunctions") as stubs:
        sfn = stubs["stepfunctions"]
        sfn.add_client_error("send_task_success", "ThrottlingException", "Rate exceeded", 400)
        sfn.add_response("send_task_success", {}, wake_params(2, "JOBAAAAAA2", "COMPLETE"))
        outcome = logic.handle(
            delivery(job_event("JOBAAAAAA1", "COMPLETE"), job_event("JOBAAAAAA2", "COMPLETE")), jobs, sfn.client, NOW
        )
    assert outcome.woken == 1 and stored(jobs, second)["wokenBy"] == "logs"
    assert outcome.errors == [
        {"ingestionJobId": "JOBAAAAAA1", "error": "ThrottlingException", "errorMessage": "Rate exceeded"}
    ]
    assert dict(outcome.ignored) == {"job update failed": 1}


# --- the handler ------------------------------------------------------------------------------------------------------


def test_the_handler_logs_reasons_and_counts_never_the_log_content(jobs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fn, "SETTINGS", Settings(jobs_table="jobs"))
    item = put_record(jobs, "JOBAAAAAA1")
    secret = document_event("JOBAAAAAA1", "a.pdf", reason="SECRET-CONTENT of the document")
    unknown = document_event("JOBZZZZZZ9", "b.pdf", reason="SECRET-CONTENT again")
    stream = io.StringIO()  # the function's own Powertools logger, through its own formatter
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fn.logger.registered_formatter)
    fn.logger.addHandler(handler)
    try:
        with stubbed("stepfunctions") as stubs:
            monkeypatch.setattr(fn.CLIENTS, "stepfunctions", lambda: stubs["stepfunctions"].client)
            result = fn.lambda_handler(delivery(secret, unknown, "SECRET-CONTENT not json"), FakeLambdaContext())
    finally:
        fn.logger.removeHandler(handler)
    assert result == {
        "jobs": 1,
        "failuresMerged": 1,
        "terminal": 0,
        "woken": 0,
        "ignored": {"unknown job": 1, "not json": 1},
    }
    out = stream.getvalue()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [line["message"] for line in lines] == [
        "knowledge base log events ignored",
        "knowledge base log events ignored",
        "applied knowledge base log events",
    ]
    assert [(line["reason"], line["count"]) for line in lines[:2]] == [("not json", 1), ("unknown job", 1)]
    assert "SECRET-CONTENT" not in out and "b.pdf" not in out
    assert stored(jobs, item)["documentFailuresTotal"] == 1


# --- promises the mutation run found unpinned (each test kills the mutants named in docs/testing.md) ----------------


def checked_against_the_contract(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The status of every event the contract check is run on (the real check still runs)."""
    import kbsync_contracts

    checked: list[str] = []
    problems = kbsync_contracts.problems

    def counting(contract: str, document: Any) -> Any:
        body = document.get("event") if isinstance(document, dict) else None
        status = body.get("status", body.get("ingestion_job_status")) if isinstance(body, dict) else None
        checked.append(str(status))
        return problems(contract, document)

    monkeypatch.setattr(logic.kbsync_contracts, "problems", counting)
    return checked


def test_events_kbsync_does_not_act_on_are_passed_over_without_the_contract_check(
    jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most of a job's events are documents indexed or scheduled and the job started or crawled: each costs a JSON
    parse only, so a burst of them stays cheap. Only the events kbsync acts on (a document's stage failure or
    RESOURCE_IGNORED, the job's end) are checked against the contract."""
    put_record(jobs, "JOBAAAAAA1")
    checked = checked_against_the_contract(monkeypatch)
    quiet = [document_event("JOBAAAAAA1", f"ok/{i}.pdf", status) for i in range(300) for status in ("INDEXED",)]
    quiet += [document_event("JOBAAAAAA1", "x.pdf", s) for s in ("DELETED", "SCHEDULED_FOR_INGESTION", "FAILED")]
    quiet += [job_event("JOBAAAAAA1", s) for s in ("INGESTION_JOB_STARTED", "CRAWLING_COMPLETED")]
    acted_on = [document_event("JOBAAAAAA1", "bad.pdf", "EMBEDDING_FAILED"), job_event("JOBAAAAAA1", "STOPPED")]
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(delivery(*quiet, *acted_on), jobs, stubs["stepfunctions"].client, NOW)
    assert checked == ["EMBEDDING_FAILED", "STOPPED"]
    assert (outcome.failures_merged, outcome.terminal, dict(outcome.ignored)) == (1, 1, {})


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"status": 42}, id="a document status that is not a string"),
        pytest.param({"status": ""}, id="an empty document status"),
        pytest.param({"event": "INDEXED"}, id="an event body that is not an object"),
        pytest.param({"event": None}, id="no event body"),
        pytest.param({"event_type": "StartIngestionJob.Other"}, id="an unknown event type"),
        pytest.param({"event_type": None}, id="no event type"),
        pytest.param({"job": 42}, id="a job status that is not a string"),
        pytest.param({"job": ""}, id="an empty job status"),
        pytest.param({"job-type": "StartIngestionJob.Other"}, id="an unknown type with a job status"),
        pytest.param({"document": [1]}, id="a message that is not an object"),
    ],
)
def test_an_event_without_a_usable_type_body_or_status_is_checked_and_counted(
    jobs: Any, monkeypatch: pytest.MonkeyPatch, broken: dict[str, Any]
) -> None:
    """Only a well-formed event of a status kbsync ignores is passed over: one whose type, body or status cannot be
    read is never passed over silently, the contract check counts it."""
    put_record(jobs, "JOBAAAAAA1")
    document: Any = document_event("JOBAAAAAA1", "a.pdf", "INDEXED")
    if "status" in broken:
        document["event"]["status"] = broken["status"]
    elif "event" in broken:
        document["event"] = broken["event"]
    elif "event_type" in broken:
        document["event_type"] = broken["event_type"]
    elif "job" in broken:
        document = job_event("JOBAAAAAA1", "INGESTION_JOB_STARTED")
        document["event"]["ingestion_job_status"] = broken["job"]
    elif "job-type" in broken:
        document = {**job_event("JOBAAAAAA1", "INGESTION_JOB_STARTED"), "event_type": broken["job-type"]}
    else:
        document = broken["document"]
    checked = checked_against_the_contract(monkeypatch)
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(delivery(document), jobs, stubs["stepfunctions"].client, NOW)
    assert len(checked) == 1
    assert dict(outcome.ignored) == {"not in contract": 1}


def racing(jobs: Any, item: dict[str, Any], losses: int) -> Recorded:
    """The table, where another invocation merges one more failure into the record between each of this one's reads
    and its write, `losses` times."""

    class Racing(Recorded):
        lost = 0

        def __getattr__(self, name: str) -> Any:
            if name == "update_item" and self.lost < losses:
                self.lost += 1
                self.table.update_item(
                    Key={"pk": item["pk"], "sk": item["sk"]},
                    UpdateExpression="SET documentFailuresVersion = if_not_exists(documentFailuresVersion, :z) + :one",
                    ExpressionAttributeValues={":z": 0, ":one": 1},
                )
            return super().__getattr__(name)

    return Racing(jobs)


def test_a_merge_that_loses_its_race_five_times_gives_up_and_counts_the_events(jobs: Any) -> None:
    """Five read-merge-writes in all: then the job's failure events are counted as not applied (``job update failed``),
    never as merged, and the invocation goes on."""
    item = put_record(jobs, "JOBAAAAAA1")
    table = racing(jobs, item, losses=logic.MAX_MERGE_ATTEMPTS)
    events = [document_event("JOBAAAAAA1", f"{i}.pdf") for i in range(3)]
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(delivery(*events), table, stubs["stepfunctions"].client, NOW)
    assert logic.MAX_MERGE_ATTEMPTS == 5
    assert table.calls == ["query", *["get_item", "update_item"] * 5]
    assert (outcome.failures_merged, dict(outcome.ignored), outcome.errors) == (0, {"job update failed": 3}, [])
    assert "documentFailures" not in stored(jobs, item)


def test_a_merge_that_loses_its_race_four_times_is_merged_on_the_fifth(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1")
    table = racing(jobs, item, losses=logic.MAX_MERGE_ATTEMPTS - 1)
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(
            delivery(document_event("JOBAAAAAA1", "a.pdf")), table, stubs["stepfunctions"].client, NOW
        )
    assert table.calls == ["query", *["get_item", "update_item"] * 5]
    assert (outcome.failures_merged, dict(outcome.ignored)) == (1, {})
    assert (stored(jobs, item)["documentFailuresTotal"], stored(jobs, item)["documentFailuresVersion"]) == (1, 5)


def test_every_read_of_the_merge_is_strongly_consistent(jobs: Any) -> None:
    """The merge reads the version it conditions its write on: an eventually consistent read could return an older
    one and lose the race on every attempt (moto cannot tell, so the request itself is checked)."""
    put_record(jobs, "JOBAAAAAA1")
    table = racing(jobs, put_record(jobs, "JOBAAAAAA1"), losses=1)
    with stubbed("stepfunctions") as stubs:
        logic.handle(delivery(document_event("JOBAAAAAA1", "a.pdf")), table, stubs["stepfunctions"].client, NOW)
    reads = [kwargs for name, kwargs in table.requests if name == "get_item"]
    assert len(reads) == 2 and all(kwargs["ConsistentRead"] is True for kwargs in reads)


class Deleting(Recorded):
    """The table, where the record is deleted (its job's retention, an operator) just before this invocation's first
    call named `when`."""

    def __init__(self, table: Any, item: dict[str, Any], when: str) -> None:
        super().__init__(table)
        self.item, self.when = item, when

    def __getattr__(self, name: str) -> Any:
        if name == self.when and self.item:
            self.table.delete_item(Key={"pk": self.item["pk"], "sk": self.item["sk"]})
            self.item = {}
        return super().__getattr__(name)


def test_a_record_deleted_after_the_lookup_is_neither_recreated_nor_an_error(jobs: Any) -> None:
    """Failures for a record that is gone are counted as not applied; its terminal status wakes nothing, counts no
    wake and no error, and no record is written back."""
    gone_before_merge = put_record(jobs, "JOBAAAAAA1", **waiting(1))
    with stubbed("stepfunctions") as stubs:
        merge = logic.handle(
            delivery(document_event("JOBAAAAAA1", "a.pdf")),
            Deleting(jobs, gone_before_merge, "get_item"),
            stubs["stepfunctions"].client,
            NOW,
        )
    assert (merge.failures_merged, dict(merge.ignored), merge.errors) == (0, {"job update failed": 1}, [])

    gone_before_end = put_record(jobs, "JOBAAAAAA2", started=NOW - 500, **waiting(2))
    with stubbed("stepfunctions") as stubs:  # no wake: nothing queued
        end = logic.handle(
            delivery(job_event("JOBAAAAAA2", "COMPLETE")),
            Deleting(jobs, gone_before_end, "update_item"),
            stubs["stepfunctions"].client,
            NOW,
        )
    assert (end.terminal, end.woken, end.errors, dict(end.ignored)) == (1, 0, [], {})
    assert jobs.scan()["Count"] == 0


def test_a_terminal_status_that_dynamodb_refuses_to_write_is_reported(
    jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a record gone is quiet: any other refusal of the logStatus write (throttling past the SDK's retries) is
    the job's error, by its AWS code and message, and no wake is sent."""
    put_record(jobs, "JOBAAAAAA1", **waiting(1))
    refused = refuse_once(
        jobs, monkeypatch, "update_item", "ProvisionedThroughputExceededException", "Rate of requests"
    )
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(delivery(job_event("JOBAAAAAA1", "COMPLETE")), jobs, stubs["stepfunctions"].client, NOW)
    assert refused == ["update_item"]
    assert outcome.errors == [
        {
            "ingestionJobId": "JOBAAAAAA1",
            "error": "ProvisionedThroughputExceededException",
            "errorMessage": "Rate of requests",
        }
    ]
    assert (outcome.woken, dict(outcome.ignored)) == (0, {"job update failed": 1})


def test_the_job_index_is_read_to_its_last_page(jobs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job id held by records of two knowledge bases, one record per page of the byJobId query: both are found, and
    each gets its own knowledge base's events."""
    ours = put_record(jobs, "JOBAAAAAA1")
    other_kb = "KBOTHER123"
    theirs = put_record(jobs, "JOBAAAAAA1", started=NOW - 500, pk=f"DS#{other_kb}#{DS}", knowledgeBaseId=other_kb)
    pages: list[int] = []
    query = jobs.query

    def one_per_page(**kwargs: Any) -> Any:
        page = query(Limit=1, **kwargs)
        pages.append(page["Count"])
        return page

    monkeypatch.setattr(jobs, "query", one_per_page)
    other_arn = ARN.replace(KB, other_kb)
    with stubbed("stepfunctions") as stubs:
        outcome = logic.handle(
            delivery(job_event("JOBAAAAAA1", "FAILED"), job_event("JOBAAAAAA1", "STOPPED", kb_arn=other_arn)),
            jobs,
            stubs["stepfunctions"].client,
            NOW,
        )
    assert pages[:2] == [1, 1]
    assert (outcome.jobs, dict(outcome.ignored)) == (2, {})
    assert (stored(jobs, ours)["logStatus"], stored(jobs, theirs)["logStatus"]) == ("FAILED", "STOPPED")


def test_of_two_terminal_statuses_in_one_batch_the_last_one_is_kept_and_wakes(jobs: Any) -> None:
    item = put_record(jobs, "JOBAAAAAA1", **waiting(1))
    with stubbed("stepfunctions") as stubs:
        stubs["stepfunctions"].add_response("send_task_success", {}, wake_params(1, "JOBAAAAAA1", "COMPLETE"))
        outcome = logic.handle(
            delivery(job_event("JOBAAAAAA1", "FAILED"), job_event("JOBAAAAAA1", "COMPLETE")),
            jobs,
            stubs["stepfunctions"].client,
            NOW,
        )
    assert (outcome.terminal, outcome.woken) == (1, 1)
    assert stored(jobs, item)["logStatus"] == "COMPLETE"


def test_the_handler_logs_each_jobs_aws_error(jobs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job whose events could not be applied gets one WARNING with its job id and the AWS error code and message
    (never a stack trace), before the summary."""
    from tests.helpers.logs import log_lines

    monkeypatch.setattr(fn, "SETTINGS", Settings(jobs_table="jobs"))
    put_record(jobs, "JOBAAAAAA1", **waiting(1))
    with log_lines(fn) as lines, stubbed("stepfunctions") as stubs:
        monkeypatch.setattr(fn.CLIENTS, "stepfunctions", lambda: stubs["stepfunctions"].client)
        stubs["stepfunctions"].add_client_error("send_task_success", "ThrottlingException", "Rate exceeded", 400)
        fn.lambda_handler(delivery(job_event("JOBAAAAAA1", "COMPLETE")), FakeLambdaContext())
        ignored, warning, summary = lines()
    assert (ignored["reason"], ignored["count"]) == ("job update failed", 1)
    assert (warning["level"], warning["message"]) == ("WARNING", "cannot apply a job's log events")
    assert (warning["ingestionJobId"], warning["error"]) == ("JOBAAAAAA1", "ThrottlingException")
    assert "Rate exceeded" in warning.values()  # the AWS message, under a key of its own
    assert summary["message"] == "applied knowledge base log events"
