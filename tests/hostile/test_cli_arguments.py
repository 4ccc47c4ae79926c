"""Hostile command lines through `kbsync.cli.main(argv)`: always a documented exit code, never a traceback.

The AWS boundary is replaced by what an unreachable endpoint really raises (botocore's EndpointConnectionError), so
arguments that parse reach the error mapping without any network; `local up` and remote `fire-schedule` are
stubbed the same way (no server is started, no URL from the fuzzer is ever contacted).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kbsync.cli import app
from kbsync.cli.errors import ExitCode
from tests.hostile.strategies import NASTY_CHARS

DOCUMENTED = {int(code) for code in ExitCode}
COMMANDS = ["sync", "status", "history", "show", "rerun", "stop", "local", "local up", "local fire-schedule"]
OPTIONS = [
    "--kb", "--ds", "--reason", "--wait", "--timeout", "--interval", "--json", "--status", "--limit", "--no-wait",
    "--region", "--profile", "--endpoint-url", "--stack-name", "--port", "--time-scale", "--template", "--no-seed",
    "--group", "--force", "--help", "--version", "-h", "--", "-", "--kb=", "--timeout=-1",
]  # fmt: skip
VALUES = [
    "KB12345678", "DS12345678", "JOB1234567", "KB12345678\n", "kb-1", "0", "-1", "1e309", "nan", "inf", "-0",
    "99999999999999999999", "arn:aws:states:us-east-1:123456789012:execution:m:n", "arn:aws:states:::", "FAILED",
    "COMPLETE", "", " ", "\udcff", "\udcfe\udcfd",  # undecodable argv bytes arrive as surrogate escapes
]  # fmt: skip
token = (
    st.sampled_from(OPTIONS)
    | st.sampled_from(VALUES)
    | st.sampled_from(NASTY_CHARS)
    | st.text(st.characters(codec="utf-8"), max_size=40)
)
command_lines = st.builds(
    lambda command, rest: [*command.split(), *rest], st.sampled_from(COMMANDS), st.lists(token, max_size=8)
) | st.lists(token, max_size=6)


def _unreachable(*_args: Any, **_kwargs: Any) -> Any:
    raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every path to AWS, a server or a remote endpoint fails the way an unreachable endpoint does."""
    from kbsync_localcloud import cli as local_cli
    from kbsync_localcloud import scheduler

    monkeypatch.setattr(app, "services", _unreachable)
    monkeypatch.setattr(local_cli, "cmd_local_up", lambda args, io: ExitCode.OK)
    monkeypatch.setattr(scheduler, "fire_schedule_remote", _unreachable)
    monkeypatch.setattr(
        scheduler, "fire_schedule", lambda *a, **k: (_ for _ in ()).throw(ValueError("no such schedule"))
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield


def run(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) with stdout/stderr as a real process has them (UTF-8; stderr escapes what it cannot encode)."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = app.main(argv)
    return code, out_bytes.getvalue().decode(), err_bytes.getvalue().decode()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(command_lines)
@example(["sync", "--kb", "KB12345678", "--ds", "DS12345678", "--reason", "\udcff"])
@example(["sync", "--kb", "KB12345678", "--ds", "DS12345678", "--timeout", "1e309"])
@example(["history", "--kb", "KB12345678", "--ds", "DS12345678", "--limit", "99999999999999999999"])
def test_any_command_line_ends_with_a_documented_exit_code_and_no_traceback(argv: list[str]) -> None:
    code, out, err = run(argv)
    assert isinstance(code, int) and code in DOCUMENTED, (argv, code, err)
    assert code != ExitCode.INTERNAL, f"internal error for {argv!r}: {err}"
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "--kb", "KB12345678\n", "--ds", "DS12345678"],  # a trailing newline is not an id
        ["sync", "--kb", "KB1234567", "--ds", "DS12345678"],
        ["sync", "--kb", "KB12345678", "--ds", "DS12345678", "--timeout", "-5"],
        ["show", "not-a-job"],
        ["rerun", "arn:aws:states:::"],
        ["history", "--kb", "KB12345678", "--ds", "DS12345678", "--status", "RUNNING"],
        ["frobnicate"],
        [],
    ],
)
def test_bad_arguments_are_refused_as_usage_errors(argv: list[str]) -> None:
    code, _, err = run(argv)
    assert code == ExitCode.USAGE, err
    assert "Traceback" not in err and err.strip()


def test_valid_arguments_reach_aws_and_an_unreachable_endpoint_is_one_line() -> None:
    code, _, err = run(["sync", "--kb", "KB12345678", "--ds", "DS12345678"])
    assert code == ExitCode.AWS
    assert err.count("\n") == 1 and "cannot reach" in err


@pytest.mark.parametrize(
    ("reason", "rule"),
    [
        ("\udcff", "text: contains a lone surrogate U+DCFF"),  # an undecodable argv byte
        ("rerun\nnow", "text: contains a control character U+000A"),
        ("a\x00b", "text: contains a control character U+0000"),
        ("r" * 501, "maxLength: 501 characters, at most 500 allowed"),
    ],
)
def test_unstorable_reason_is_refused_before_any_aws_call(reason: str, rule: str) -> None:
    """`--reason` with text the job record and the alert cannot carry: a usage error naming the option and the rule,
    before any AWS call (it used to reach AWS and start a job whose record write then failed)."""
    code, _, err = run(["sync", "--kb", "KB12345678", "--ds", "DS12345678", "--reason", reason])
    assert code == ExitCode.USAGE, err
    assert "--reason" in err and rule in err and "cannot reach" not in err


def test_a_bad_request_names_the_cli_option_and_the_pointer() -> None:
    from kbsync.cli import service
    from kbsync.cli.errors import CliError

    with pytest.raises(CliError) as refused:
        service.sync_request("KB1234567", "DS12345678", "fine", "alice")
    assert refused.value.code == ExitCode.USAGE
    assert "--kb (/knowledgeBaseId): minLength: " in str(refused.value)


def test_an_odd_local_user_name_is_normalized_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from kbsync.cli import service

    monkeypatch.setattr(service.getpass, "getuser", lambda: "al\udcffice\n")
    who = service.requested_by(None)
    assert who == "al\\udcffice\\n"
    service.sync_request("KB12345678", "DS12345678", None, who)  # a valid request
