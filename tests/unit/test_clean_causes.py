"""schemas/kbsync_causes.py: the one place an Error/Cause pair is made fit for an alert, a record or a CLI message."""

from __future__ import annotations

import json

import kbsync_causes

UNCLEAN = ("Traceback", 'File "', "stackTrace", "errorMessage", "/var/task", "/opt/python", ".py", " at 0x", "\n")


def lambda_cause(message: str, error_type: str) -> str:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": "8f5c7f4e-0000-4000-8000-000000000000",
            "stackTrace": ['  File "/var/task/app.py", line 97, in poll_job\n    response = bedrock_agent().get(\n'],
        }
    )


def test_access_denied_on_a_poll_is_the_code_and_the_aws_message() -> None:
    cause = lambda_cause(
        "An error occurred (AccessDeniedException) when calling the GetIngestionJob operation: "
        "You do not have sufficient access to perform this action.",
        "AccessDeniedException",
    )
    clean = kbsync_causes.clean_error("AccessDeniedException", cause)
    assert clean.code == "AccessDeniedException"
    assert clean.message == "You do not have sufficient access to perform this action. (GetIngestionJob)"


def test_a_python_crash_is_its_type_and_message_only() -> None:
    clean = kbsync_causes.clean_error(
        "Lambda.Unknown", lambda_cause("'NoneType' object is not subscriptable", "TypeError")
    )
    assert (clean.code, clean.message) == ("TypeError", "'NoneType' object is not subscriptable")


def test_an_aws_sdk_task_cause_loses_the_request_id_trailer() -> None:
    clean = kbsync_causes.clean_error(
        "BedrockAgent.ConflictException",
        "Unable to start ingestion job. (Service: BedrockAgent, Status Code: 409, Request ID: abc-123)",
    )
    assert str(clean) == "BedrockAgent.ConflictException: Unable to start ingestion job."


def test_tracebacks_paths_and_reprs_never_survive() -> None:
    for cause in (
        "Traceback (most recent call last):\n  File \"/opt/python/kbsync_contracts.py\", line 3\nKeyError: 'x'",
        "boom ClientError('denied') in <botocore.client.BedrockAgent object at 0x7f3a2b> /usr/lib/python3.12/x.py",
        lambda_cause('Traceback (most recent call last):\n  File "/var/task/app.py"', "RuntimeError"),
    ):
        clean = kbsync_causes.clean_error("States.TaskFailed", cause)
        assert not [m for m in UNCLEAN if m in str(clean)], str(clean)
        assert clean.message  # a sentence when nothing clean is left


def test_bounded_one_line_and_encodable() -> None:
    clean = kbsync_causes.clean_error(None, "a\ud800b\n" + "x" * 5000)
    assert clean.code == "UnknownError"
    assert len(clean.message) <= kbsync_causes.MAX_MESSAGE_CHARS
    clean.message.encode("utf-8")
    assert "\n" not in clean.message and "?" in clean.message


def test_an_error_name_is_only_ever_a_name() -> None:
    assert kbsync_causes.clean_name("BedrockAgent.AccessDeniedException") == "BedrockAgent.AccessDeniedException"
    assert kbsync_causes.clean_name("Traceback (most recent call last)") == "UnknownError"


def test_a_generic_task_error_gives_way_to_the_functions_error_type() -> None:
    """Step Functions names a Lambda function error States.TaskFailed or Lambda.Unknown: the errorType says more."""
    for generic in ("States.TaskFailed", "Lambda.Unknown", None):
        clean = kbsync_causes.clean_error(generic, lambda_cause("list index out of range", "IndexError"))
        assert (clean.code, clean.message) == ("IndexError", "list index out of range"), generic


def test_a_specific_error_name_is_kept_over_the_functions_error_type() -> None:
    """A retrier's or catcher's name (GateContention, raised as an exception of that name) stays the code."""
    clean = kbsync_causes.clean_error("GateContention", lambda_cause("the gate moved", "Exception"))
    assert (clean.code, clean.message) == ("GateContention", "the gate moved")
