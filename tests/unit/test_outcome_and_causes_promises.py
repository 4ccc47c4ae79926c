"""The promises behind a few small tables and boundaries: the CLI's exit code and outcome word for every final job
status and every KbSync.* error, clean error names and text (kbsync_causes), which records need their job looked up
(kbsync_jobs), and the alert's line limits and exactly-once flag (functions/send_alert).

The exit codes are the ones `kbsync --help` (kbsync/cli/errors.py EXIT_CODE_HELP) and runbooks/README.md document;
the statuses are the job-record contract's (schemas/job-record.schema.json); the errors are the Fail states of
statemachines/*.asl.json. A status or an error added to any of them without a documented exit code fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import kbsync_causes
import kbsync_contracts
import kbsync_jobs
import pytest
from moto import mock_aws

from kbsync.cli.errors import EXIT_CODE_HELP, ExitCode
from kbsync.cli.outcome import RUNNING_STATUSES, describe_end, exit_for
from tests.helpers.functions import load_function

ROOT = Path(__file__).resolve().parents[2]
send_alert = load_function("send_alert")

# ------------------------------------------------------------------ what is documented

#: Every final status of the job-record contract -> the exit code `kbsync sync --wait` ends with, and the words of
#: that code's documentation (kbsync --help, runbooks/README.md) that name it.
EXIT_BY_FINAL_STATUS: dict[str, tuple[ExitCode, str]] = {
    "COMPLETE": (ExitCode.OK, "the job completed and every document was indexed"),
    "PARTIAL": (ExitCode.PARTIAL, "(PARTIAL)"),
    "FAILED": (ExitCode.FAILED, "the job failed"),
    "START_FAILED": (ExitCode.FAILED, "could not start"),
    "TIMED_OUT": (ExitCode.FAILED, "timed out"),
    "POLL_FAILED": (ExitCode.FAILED, "the job failed"),  # kbsync lost the job: not a success, never OK
    "STOPPED": (ExitCode.STOPPED, "(STOPPED)"),
    # Another execution's job covers the request: `sync --wait` follows that execution (kbsync/cli/service.py
    # follow); the record's own verdict is "done".
    "COALESCED": (ExitCode.OK, "done"),
    "EXECUTION_ABORTED": (ExitCode.FAILED, "its execution died"),
    "EXECUTION_TIMED_OUT": (ExitCode.FAILED, "its execution died"),
    "EXECUTION_FAILED": (ExitCode.FAILED, "its execution died"),
}

#: How the execution that wrote each final status ends (statemachines/README.md: PARTIAL is a Succeed, FAILED and
#: the other alerted outcomes end in their own KbSync.* error; the catch-all writes EXECUTION_* for an execution that
#: ended outside its own error handling).
ENDING_OF: dict[str, tuple[str, str | None]] = {
    "COMPLETE": ("SUCCEEDED", None),
    "PARTIAL": ("SUCCEEDED", None),
    "COALESCED": ("SUCCEEDED", None),
    "FAILED": ("FAILED", "KbSync.JobFailed"),
    "START_FAILED": ("FAILED", "KbSync.StartFailed"),
    "TIMED_OUT": ("FAILED", "KbSync.JobTimedOut"),
    "POLL_FAILED": ("FAILED", "KbSync.PollFailed"),
    "STOPPED": ("FAILED", "KbSync.JobStopped"),
    "EXECUTION_ABORTED": ("ABORTED", None),
    "EXECUTION_TIMED_OUT": ("TIMED_OUT", "States.Timeout"),
    "EXECUTION_FAILED": ("FAILED", "States.TaskFailed"),
}

#: The ingestion sync's terminal errors -> the job status each stands for ("already alerted").
STATUS_OF_ERROR = {
    "KbSync.JobFailed": "FAILED",
    "KbSync.JobTimedOut": "TIMED_OUT",
    "KbSync.JobStopped": "STOPPED",
    "KbSync.StartFailed": "START_FAILED",
    "KbSync.PollFailed": "POLL_FAILED",
}
#: The other KbSync.* errors: no job status; the exit code they give, and the outcome word (the error's own name).
EXIT_OF_OTHER_ERROR = {
    "KbSync.InvalidRequest": ExitCode.USAGE,  # "bad arguments, an invalid id or an invalid sync request"
    "KbSync.SyncFailed": ExitCode.FAILED,  # the gate's last round did not succeed (that round's execution decides)
    "KbSync.GateLost": ExitCode.FAILED,  # the gate lease was taken over: this execution did not sync
}


def schema_statuses() -> list[str]:
    schema = json.loads((ROOT / "schemas" / "job-record.schema.json").read_text())
    statuses: list[str] = schema["properties"]["status"]["enum"]
    return statuses


def runbook_exit_codes() -> dict[int, str]:
    """The exit-code table of runbooks/README.md, backticks dropped."""
    text = (ROOT / "runbooks" / "README.md").read_text()
    section = text.split("### Exit codes", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.MULTILINE)
    return {int(code): meaning.replace("`", "") for code, meaning in rows}


def fail_states() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each state machine's Fail states (name, state), nested ones included."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def walk(machine: str, states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state.get("Type") == "Fail":
                found.setdefault(machine, []).append((name, state))
            for branch in state.get("Branches", []):
                walk(machine, branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    walk(machine, state[key]["States"])

    for path in sorted((ROOT / "statemachines").glob("*.asl.json")):
        walk(path.name, json.loads(path.read_text())["States"])
    return found


def own_errors() -> set[str]:
    return {
        str(state["Error"])
        for states in fail_states().values()
        for _, state in states
        if str(state.get("Error", "")).startswith("KbSync.")
    }


def test_kbsync_help_and_the_runbooks_document_the_same_exit_codes() -> None:
    assert runbook_exit_codes() == {int(code): text for code, text in EXIT_CODE_HELP}


def test_every_final_status_of_the_job_record_contract_has_a_documented_exit_code() -> None:
    """A status added to the contract without an exit code here (and in the CLI) fails this test."""
    final = [status for status in schema_statuses() if status not in RUNNING_STATUSES]
    assert set(RUNNING_STATUSES) <= set(schema_statuses())
    assert sorted(final) == sorted(EXIT_BY_FINAL_STATUS)
    documented = dict(EXIT_CODE_HELP)
    for status, (code, words) in EXIT_BY_FINAL_STATUS.items():
        assert words in documented[code], (status, code)
        assert words in runbook_exit_codes()[int(code)], (status, code)


@pytest.mark.parametrize("status", sorted(EXIT_BY_FINAL_STATUS))
def test_the_exit_code_and_outcome_word_of_each_final_status(status: str) -> None:
    execution_status, error = ENDING_OF[status]
    code, _ = EXIT_BY_FINAL_STATUS[status]
    assert exit_for(execution_status, error, status) == code
    if status.startswith("EXECUTION_"):
        word = f"EXECUTION_DIED ({execution_status}{': ' + error if error else ''})"
    else:
        word = status
    assert describe_end(execution_status, error, status) == word


@pytest.mark.parametrize("status", [*sorted(STATUS_OF_ERROR.values()), "COMPLETE", "PARTIAL"])
@pytest.mark.parametrize("error", sorted(STATUS_OF_ERROR))
def test_the_final_record_decides_over_the_executions_own_error(status: str, error: str) -> None:
    """exit_for: "the final job record decides; the execution's error when it wrote none"."""
    assert exit_for("FAILED", error, status) == EXIT_BY_FINAL_STATUS[status][0]
    assert exit_for("SUCCEEDED", None, status) == EXIT_BY_FINAL_STATUS[status][0]
    assert describe_end("FAILED", error, status) == status


@pytest.mark.parametrize("status", ["COMPLETE", "PARTIAL", "STOPPED"])
@pytest.mark.parametrize(("execution_status", "error"), [("ABORTED", None), ("FAILED", "States.Runtime")])
def test_an_execution_that_died_after_its_record_exits_as_died(
    execution_status: str, error: str | None, status: str
) -> None:
    """A record written, then the execution died outside its own error handling (stopped while alerting, a runtime
    error): exit 4, "its execution died", and the word says so; never the record's 0, 3 or 5."""
    assert exit_for(execution_status, error, status) == ExitCode.FAILED
    assert describe_end(execution_status, error, status).startswith(f"EXECUTION_DIED ({execution_status}")


@pytest.mark.parametrize("error", sorted(STATUS_OF_ERROR))
def test_an_own_error_without_a_record_gives_its_status_and_exit_code(error: str) -> None:
    """No record found (lost, or never written): the KbSync.* error names the status, and the status the code."""
    status = STATUS_OF_ERROR[error]
    assert exit_for("FAILED", error, None) == EXIT_BY_FINAL_STATUS[status][0]
    assert describe_end("FAILED", error, None) == status


@pytest.mark.parametrize("error", sorted(EXIT_OF_OTHER_ERROR))
def test_the_other_own_errors_give_their_exit_code_and_name(error: str) -> None:
    assert exit_for("FAILED", error, None) == EXIT_OF_OTHER_ERROR[error]
    assert describe_end("FAILED", error, None) == error


def test_every_kbsync_error_of_the_state_machines_has_a_status_or_an_exit_code() -> None:
    """Read from the Fail states of statemachines/*.asl.json: a new KbSync.* error needs a decision here."""
    assert own_errors() == set(STATUS_OF_ERROR) | set(EXIT_OF_OTHER_ERROR)


def test_the_ingestion_sync_routes_each_alerted_outcome_to_the_error_of_its_status() -> None:
    """EndAfterAlert (ingestion-sync.asl.json) picks the Fail state by alert type (= the record's status); its default
    is FAILED's. statemachines/README.md draws the same arrows."""
    machine = json.loads((ROOT / "statemachines" / "ingestion-sync.asl.json").read_text())["States"]
    choice = machine["EndAfterAlert"]
    ends = {rule["StringEquals"]: machine[rule["Next"]] for rule in choice["Choices"]}
    assert ends.pop("PARTIAL")["Type"] == "Succeed"  # PARTIAL: the execution SUCCEEDED, exit code 3 from the record
    routed = {state["Error"]: status for status, state in ends.items()}
    routed[machine[choice["Default"]]["Error"]] = "FAILED"
    assert routed == STATUS_OF_ERROR
    drawn = re.findall(r"([A-Z_]+) ─► (KbSync\.\w+)", (ROOT / "statemachines" / "README.md").read_text())
    assert {error: status for status, error in drawn} == STATUS_OF_ERROR


# ------------------------------------------------------------------ kbsync_causes


def test_an_error_name_of_exactly_128_characters_is_kept_and_129_is_not() -> None:
    name = "E" * 120 + ".Timeout"
    assert len(name) == 128
    assert kbsync_causes.clean_name(name) == name
    assert kbsync_causes.clean_name("X" + name) == "UnknownError"
    assert kbsync_causes.clean_name("X" + name, default="") == ""
    assert kbsync_causes.clean_error("X" + name, "boom").code == "UnknownError"


@pytest.mark.parametrize(
    ("char", "kept"),
    [
        ("\x00", False),
        ("\x1f", False),  # 31: the last C0 control character
        (" ", True),  # 32: the space (< 32 and <= 32 agree on it: it becomes itself)
        ("!", True),
        ("~", True),  # 0x7E: the last printable ASCII character
        ("\x7f", False),  # DEL
        ("\x80", False),
        ("\x9f", False),  # the last C1 control character
        ("\xa0", True),  # NO-BREAK SPACE: printable text
        ("é", True),
    ],
)
def test_clean_text_replaces_exactly_the_control_characters(char: str, kept: bool) -> None:
    assert kbsync_causes.clean_text(f"a{char}b") == (f"a{char}b" if kept else "a b")


def test_clean_text_keeps_spaces_and_makes_a_lone_surrogate_a_question_mark() -> None:
    assert kbsync_causes.clean_text("a b\ud800") == "a b?"


@pytest.mark.parametrize("error", ["States.TaskFailed", "Lambda.Unknown"])
def test_a_cause_that_looks_like_json_but_is_not_is_kept_as_text(error: str) -> None:
    """A Cause starting with '{' that is not JSON (a truncated Lambda error, a service message) is no Lambda error
    document: the code stays the error's and the text is the message, cleaned, never an exception."""
    clean = kbsync_causes.clean_error(error, '{"errorMessage": "Task timed out after 900.00 seconds"')
    assert clean == kbsync_causes.CleanError(error, '{"errorMessage": "Task timed out after 900.00 seconds"')
    assert str(kbsync_causes.clean_error(error, "{ not json\n at all")) == f"{error}: {{ not json at all"


# ------------------------------------------------------------------ kbsync_jobs


@pytest.mark.parametrize(
    ("record", "lookup"),
    [
        ({"ingestionJobId": "JOB1234567", "description": "manual-x attempt 1"}, False),
        ({"description": "manual-x attempt 1"}, True),
        ({"ingestionJobId": "", "description": "manual-x attempt 1"}, True),
        ({"ingestionJobId": "JOB1234567"}, False),
        ({}, False),
        ({"description": ""}, False),
    ],
)
def test_only_a_record_with_a_description_and_no_job_id_needs_its_job_looked_up(
    record: dict[str, Any], lookup: bool
) -> None:
    assert kbsync_jobs.needs_lookup({"status": "STARTING", **record}) is lookup


# ------------------------------------------------------------------ send_alert


def test_a_reason_line_is_cut_at_2400_characters() -> None:
    """The line limit is 2,400 characters: a line of exactly 2,400 is shown whole, one of 2,401 is cut to 2,400
    ending in "...". Bedrock's longest reason (2,048 characters) is never cut."""
    fits = send_alert.ReasonGroup(text="r" * 2_398, first="r" * 2_398, count=1)
    assert send_alert.group_line(fits) == "- " + "r" * 2_398
    longer = send_alert.ReasonGroup(text="s" * 2_399, first="s" * 2_399, count=1)
    assert send_alert.group_line(longer) == "- " + "s" * 2_395 + "..."
    assert len(send_alert.group_line(longer)) == 2_400
    longest_reason = "t" * 2_048
    (group,) = send_alert.group_reasons([longest_reason])
    assert send_alert.group_line(group) == f"- {longest_reason}"


def test_a_group_lists_exactly_three_example_files() -> None:
    """Three examples per group, whatever number of files each reason names; the others are counted."""
    reasons = [f"Files s3://docs/{i}a.pdf and s3://docs/{i}b.pdf are too large" for i in range(4)]
    (group,) = send_alert.group_reasons(reasons)
    assert group.examples == ["s3://docs/0a.pdf", "s3://docs/0b.pdf", "s3://docs/1a.pdf"]
    assert send_alert.group_line(group) == (
        "- [4 x] Files <file> and <file> are too large (e.g. s3://docs/0a.pdf, s3://docs/0b.pdf, s3://docs/1a.pdf; "
        "+1 more)"
    )
    (three,) = send_alert.group_reasons([f"Bad s3://docs/{name}.pdf" for name in "abc"])
    assert send_alert.group_line(three) == "- [3 x] Bad <file> (e.g. s3://docs/a.pdf, s3://docs/b.pdf, s3://docs/c.pdf)"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's DynamoDB with the jobs table's key (pk, sk) and fake credentials."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="jobs",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield client


def test_mark_sent_writes_alert_sent_true_and_the_message_id(dynamodb: Any) -> None:
    key = {"pk": {"S": "DS#KB12345678#DS12345678"}, "sk": {"S": "JOB#2026-11-22T05:00:00Z#manual-x-1"}}
    dynamodb.put_item(TableName="jobs", Item={**key, "status": {"S": "FAILED"}})
    assert send_alert.already_sent(send_alert.read_record(dynamodb, "jobs", key)) is None
    send_alert.mark_sent(dynamodb, "jobs", key, "m-1")
    item = dynamodb.get_item(TableName="jobs", Key=key, ConsistentRead=True)["Item"]
    assert item["alertSent"] == {"BOOL": True}
    assert item["alertMessageId"] == {"S": "m-1"}
    assert send_alert.already_sent(send_alert.read_record(dynamodb, "jobs", key)) == "m-1"
    written = {name: value for name, value in item.items() if name not in key}
    assert kbsync_contracts.schema("job-record")["properties"]["alertSent"]["type"] == "boolean"
    assert written == {"status": {"S": "FAILED"}, "alertSent": {"BOOL": True}, "alertMessageId": {"S": "m-1"}}


def test_mark_sent_never_creates_a_record(dynamodb: Any) -> None:
    key = {"pk": {"S": "DS#KB12345678#DS12345678"}, "sk": {"S": "JOB#none"}}
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        send_alert.mark_sent(dynamodb, "jobs", key, "m-1")
    assert "Item" not in dynamodb.get_item(TableName="jobs", Key=key)
