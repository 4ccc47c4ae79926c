"""Unit tests of the CLI's pure parts: names, error mapping, outcomes, rendering, argument parsing (no network)."""

from __future__ import annotations

import io
import re

import kbsync_alerts
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from kbsync.cli import main
from kbsync.cli.errors import EXIT_CODE_HELP, ExitCode, from_aws
from kbsync.cli.names import is_execution_arn
from kbsync.cli.outcome import describe_end, exit_for
from kbsync.cli.render import PLAIN, ProgressLine, Style, duration, table, when
from kbsync.targets import sync_execution_name

KB, DS = "KB12345678", "DS12345678"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def client_error(code: str, message: str = "boom", operation: str = "StartExecution") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# --------------------------------------------------------------------------- names


def test_execution_name_follows_the_team_convention() -> None:
    name = sync_execution_name(KB, DS)  # the name `kbsync sync` gives its sync-gate execution
    assert re.fullmatch(rf"manual-{KB}-{DS}-\d{{8}}T\d{{6}}-[a-z0-9]{{4}}", name)
    assert len(name) <= 80


def test_execution_arn_recognised() -> None:
    assert is_execution_arn("arn:aws:states:us-east-1:123456789012:execution:kbsync-sync:manual-x")
    assert not is_execution_arn("arn:aws:states:us-east-1:123456789012:stateMachine:kbsync-sync")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (NoCredentialsError(), ExitCode.AWS, "no AWS credentials"),
        (NoRegionError(), ExitCode.AWS, "--region"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), ExitCode.AWS, "http://127.0.0.1:9"),
        (client_error("AccessDeniedException"), ExitCode.AWS, "access denied for StartExecution"),
        (client_error("ExpiredTokenException"), ExitCode.AWS, "access denied"),
        (client_error("ThrottlingException"), ExitCode.AWS, "try again"),
        (client_error("ResourceNotFoundException", "no such table"), ExitCode.NOT_FOUND, "no such table"),
        (client_error("InternalServerException", "oops"), ExitCode.AWS, "InternalServerException"),
        (ValueError("bad"), ExitCode.INTERNAL, "internal error"),
    ],
)
def test_aws_errors_map_to_one_line_and_a_documented_code(exc: Exception, code: ExitCode, words: str) -> None:
    mapped = from_aws(exc)
    assert mapped.code == code
    assert words in mapped.message
    assert "\n" not in mapped.message


def test_every_exit_code_is_documented_once() -> None:
    documented = [code for code, _ in EXIT_CODE_HELP]
    assert sorted(documented) == sorted(ExitCode)


# --------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize(
    ("execution_status", "error", "record_status", "code", "word"),
    [
        ("SUCCEEDED", None, "COMPLETE", ExitCode.OK, "COMPLETE"),
        ("SUCCEEDED", None, "PARTIAL", ExitCode.PARTIAL, "PARTIAL"),
        ("FAILED", "KbSync.JobFailed", "FAILED", ExitCode.FAILED, "FAILED"),
        ("FAILED", "KbSync.StartFailed", "START_FAILED", ExitCode.FAILED, "START_FAILED"),
        ("FAILED", "KbSync.JobTimedOut", "TIMED_OUT", ExitCode.FAILED, "TIMED_OUT"),
        ("FAILED", "KbSync.JobStopped", "STOPPED", ExitCode.STOPPED, "STOPPED"),
        ("FAILED", "KbSync.JobStopped", None, ExitCode.STOPPED, "STOPPED"),
        ("FAILED", "KbSync.InvalidRequest", None, ExitCode.USAGE, "KbSync.InvalidRequest"),
        ("FAILED", "States.Runtime", "IN_PROGRESS", ExitCode.FAILED, "EXECUTION_DIED"),
        ("TIMED_OUT", None, "IN_PROGRESS", ExitCode.FAILED, "EXECUTION_DIED"),
        ("ABORTED", None, None, ExitCode.FAILED, "EXECUTION_DIED"),
    ],
)
def test_exit_code_by_outcome(
    execution_status: str, error: str | None, record_status: str | None, code: ExitCode, word: str
) -> None:
    assert exit_for(execution_status, error, record_status) == code
    assert describe_end(execution_status, error, record_status).startswith(word)


def test_alert_table_matches_the_names_fixed_across_the_team() -> None:
    catalogue = kbsync_alerts.catalogue()
    assert {kind: (alert.severity, alert.runbook) for kind, alert in catalogue.items()} == {
        "FAILED": ("CRITICAL", "sync-failed.md"),
        "START_FAILED": ("CRITICAL", "sync-failed.md"),
        "PARTIAL": ("WARNING", "sync-partial.md"),
        "TIMED_OUT": ("CRITICAL", "sync-timed-out.md"),
        "POLL_FAILED": ("CRITICAL", "execution-died.md"),
        "STOPPED": ("WARNING", "sync-stopped.md"),
        "EXECUTION_DIED": ("CRITICAL", "execution-died.md"),
        "RECORD_RECONCILED": ("WARNING", "record-reconciled.md"),
        "TARGET_STALE": ("WARNING", "target-freshness.md"),
        "TARGET_LAGGING": ("WARNING", "target-freshness.md"),
        "TARGET_FRESH_AGAIN": ("INFO", "target-freshness.md"),
        "ALARM_JOBS_FAILED": ("WARNING", "alarm-jobs-failed.md"),
        "ALARM_TARGETS_STALE": ("WARNING", "target-freshness.md"),
        "ALARM_DEAD_LETTERS": ("CRITICAL", "dead-letter-queue.md"),
        "ALARM_EXECUTIONS_FAILED": ("WARNING", "alarm-executions-failed.md"),
        "ALARM_RECOVERED": ("INFO", "alarm-recovered.md"),
    }


# --------------------------------------------------------------------------- rendering


def test_table_piped_is_plain_aligned_text() -> None:
    text = table(["job", "status"], [["AAAAAAAAAA", "FAILED"], ["B", "COMPLETE"]], PLAIN, status_column=1)
    assert not ANSI.search(text)
    assert text.splitlines() == ["JOB         STATUS", "AAAAAAAAAA  FAILED", "B           COMPLETE"]


def test_table_on_a_terminal_is_coloured_ruled_and_fits_the_width() -> None:
    style = Style(tty=True, colour=True, width=30)
    text = table(["job", "status", "note"], [["AAAAAAAAAA", "FAILED", "x" * 80]], style, status_column=1)
    assert "\x1b[31mFAILED\x1b[0m" in text
    assert "─" in text
    assert all(len(ANSI.sub("", line)) <= 30 for line in text.splitlines())
    assert "…" in text


def test_progress_piped_prints_a_line_only_when_something_changed() -> None:
    out = io.StringIO()
    line = ProgressLine(out, PLAIN)
    line.update("IN_PROGRESS scanned 1 elapsed 1s", "IN_PROGRESS", key="IN_PROGRESS scanned 1")
    line.update("IN_PROGRESS scanned 1 elapsed 2s", "IN_PROGRESS", key="IN_PROGRESS scanned 1")
    line.update("IN_PROGRESS scanned 5 elapsed 3s", "IN_PROGRESS", key="IN_PROGRESS scanned 5")
    line.close()
    assert out.getvalue().splitlines() == ["IN_PROGRESS scanned 1 elapsed 1s", "IN_PROGRESS scanned 5 elapsed 3s"]


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    out = io.StringIO()
    line = ProgressLine(out, Style(tty=True, colour=False, width=80))
    line.update("STARTING a", "STARTING")
    line.update("IN_PROGRESS b", "IN_PROGRESS")
    line.close()
    assert out.getvalue() == "\r\x1b[2KSTARTING a\r\x1b[2KIN_PROGRESS b\n"


@pytest.mark.parametrize(("seconds", "text"), [(None, "-"), (4.4, "4s"), (65, "1m05s"), (3720, "1h02m")])
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_when_is_utc() -> None:
    assert when("2026-11-22T05:04:03.123+01:00") == "2026-11-22 04:04:03Z"
    assert when(None) == "-"


# --- argument parsing (exits before any AWS call)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    for code, text in EXIT_CODE_HELP:
        assert f"{int(code):>3}  {text}" in shown


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["sync", "--kb", "short", "--ds", DS], "invalid knowledge base id 'short'"),
        (["sync", "--kb", KB, "--ds", "bad-id-!!!!"], "invalid data source id"),
        (["sync", "--kb", KB], "--ds"),
        (["history", "--kb", KB, "--ds", DS, "--status", "RUNNING"], "invalid choice: 'RUNNING'"),
        (["history", "--kb", KB, "--ds", DS, "--limit", "0"], "must be a whole number"),
        (["show", "not-an-id"], "invalid ingestion job id"),
        (["rerun", "arn:aws:s3:::bucket"], "an ingestion job id (10 letters or digits) or an execution ARN"),
        (["stop", "--kb", KB, "--ds", DS, "--timeout", "-1"], "must be > 0 seconds"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    assert words in capsys.readouterr().err


def test_status_needs_both_ids_or_none() -> None:
    code, _, err = run(["status", "--kb", KB])
    assert code == ExitCode.USAGE
    assert err == "kbsync: give both --kb and --ds, or neither (everything running)\n"


def test_reason_too_long_is_refused_by_the_sync_request_contract_before_any_aws_call() -> None:
    from kbsync.cli.errors import CliError
    from kbsync.cli.service import sync_request

    with pytest.raises(CliError) as caught:
        sync_request(KB, DS, "x" * 501, "me")
    assert caught.value.code == ExitCode.USAGE
    assert "reason" in caught.value.message


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "kbsync: interrupted; anything already started keeps running"),
        (RuntimeError("boom"), ExitCode.INTERNAL, "kbsync: internal error: RuntimeError: boom (please report it"),
        (
            NoRegionError(),
            ExitCode.AWS,
            "kbsync: no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set one for profile",
        ),
    ],
)
def test_anything_raised_becomes_one_line_and_an_exit_code(
    monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: ExitCode, line: str
) -> None:
    from kbsync.cli import app

    def explode(_args: object) -> None:
        raise raised

    monkeypatch.setattr(app, "services", explode)
    result_code, out, err = run(["history", "--kb", KB, "--ds", DS])
    assert result_code == code
    assert err.startswith(line) and err.count("\n") == 1
    assert out == ""


def test_history_filters_on_every_status_a_job_record_can_have() -> None:
    """`kbsync history --status` accepts each status of the job-record contract (EXECUTION_* included: the catch-all
    and the reconciler write them), and nothing else."""
    import kbsync_contracts

    from kbsync.cli.outcome import ALL_STATUSES

    enum = kbsync_contracts.schema("job-record")["properties"]["status"]["enum"]
    assert sorted(ALL_STATUSES) == sorted(enum)


# --------------------------------------------------------------------------- the local cloud's plugin


@pytest.mark.parametrize("argv", [["local"], ["local", "up"], ["local", "fire-schedule", "x", "--force"]])
def test_without_the_local_cloud_kbsync_local_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """The product CLI never imports the local cloud: `kbsync local` comes from its `kbsync.cli` entry point."""
    from kbsync.cli import app

    monkeypatch.setattr(app, "plugins", list)
    code, out, err = run(argv)
    assert code == ExitCode.NOT_INSTALLED == 13
    assert out == ""
    assert err == "kbsync: the local cloud is not installed: pip install -e ./localcloud (make dev)\n"


def test_with_the_local_cloud_installed_kbsync_local_has_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "--help"]) == 0
    out = capsys.readouterr().out
    assert "up" in out and "fire-schedule" in out
