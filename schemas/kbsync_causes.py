"""Clean error causes: the one place that turns an Error/Cause pair into text fit for people.

Step Functions hands a failed task's ``Error`` and ``Cause`` to whatever comes next: for a Lambda task the Cause is
the function's error JSON (``errorMessage``, ``errorType``, ``requestId`` and a ``stackTrace`` of file paths and
source lines); for a boto3 error inside it the message reads ``An error occurred (AccessDeniedException) when calling
the GetIngestionJob operation: ...``; for an aws-sdk task it is the service's message, sometimes followed by
``(Service: ..., Status Code: ..., Request ID: ...)``. None of the stack, the paths or a Python ``repr`` belongs in
an alert, a job record or a CLI message: only the AWS error code and its message, or our own error name and a
sentence.

``clean_error(error, cause)`` returns ``CleanError(code, message)``:
- ``code``: the AWS error code or our own error name (``AccessDeniedException``, ``BedrockAgent.ConflictException``,
  ``KbSync.JobFailed``, ``States.Timeout``), a name and nothing else;
- ``message``: one line, at most ``MAX_MESSAGE_CHARS``, valid UTF-8 (a lone surrogate becomes ``?``), no stack
  trace, no file path, no ``<object at 0x...>`` or ``Exception('...')`` repr. When nothing clean is left, a sentence
  says so instead.

Standard library only: it ships in the Contracts layer (``schemas/``) beside ``kbsync_contracts`` and is imported by
the functions and the CLI alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_CHARS = 500
#: What an error name may look like: dotted identifiers (``BedrockAgent.ConflictException``, ``States.Timeout``).
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
#: botocore's ClientError text: "An error occurred (Code) when calling the Operation operation[ (reached max
#: retries: N)]: message".
_BOTOCORE = re.compile(
    r"An error occurred \((?P<code>[A-Za-z0-9_.]+)\) when calling the (?P<operation>\w+) operation"
    r"(?: \(reached max retries: \d+\))?: ?(?P<message>.*)",
    re.DOTALL,
)
#: The start of a Python traceback, or a frame line; everything from there on is dropped.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\n\s*File \"|^\s*File \"", re.MULTILINE)
#: File paths: absolute POSIX paths with at least two components, Windows drive paths, Python module file names.
_PATH = re.compile(r"(?:[A-Za-z]:\\|(?<![\w.:/])/)(?:[\w.@+-]+[\\/])+[\w.@+-]*|\b[\w-]+\.py\b(?::\d+)?")
#: Python reprs: "<botocore.x.Y object at 0x7f...>", "<function f at 0x...>", "Name('...')" / 'Name("...")'.
_OBJECT_REPR = re.compile(r"<[^<>]*\bat 0x[0-9a-fA-F]+>")
_CALL_REPR = re.compile(r"\b(?P<name>[A-Z]\w*(?:Error|Exception|Warning))\((?P<quote>['\"])(?P<text>.*?)(?P=quote),?\)")
#: The trailer the AWS SDK for Java puts on service errors (Step Functions' aws-sdk tasks): request ids are noise.
_SDK_TRAILER = re.compile(r"\s*\(Service: [^)]*\)\s*$")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CleanError:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def clean_text(text: str) -> str:
    """Text SNS, DynamoDB and UTF-8 can carry: a lone surrogate becomes '?'; control characters become spaces."""
    encodable = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(" " if (ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0) else ch for ch in encodable)


def clean_name(name: Any, default: str = "UnknownError") -> str:
    """An error name, or `default` when `name` is not one (a sentence, a repr, a path, empty)."""
    text = clean_text(str(name or "")).strip()
    return text if text and len(text) <= 128 and _NAME.match(text) else default


def _lambda_error(cause: str) -> dict[str, Any] | None:
    """The Lambda function error document a Lambda task's Cause holds, if it is one."""
    if not cause.lstrip().startswith("{"):
        return None
    try:
        document = json.loads(cause)
    except ValueError:
        return None
    if isinstance(document, dict) and ("errorMessage" in document or "errorType" in document):
        return document
    return None


def _strip(message: str) -> str:
    """One clean line: no traceback, no path, no repr, no SDK trailer, single spaces, bounded."""
    match = _TRACEBACK.search(message)
    if match:
        message = message[: match.start()]
    message = _OBJECT_REPR.sub("", message)
    message = _CALL_REPR.sub(lambda m: m["text"], message)
    message = _PATH.sub("<path>", message)
    message = _SDK_TRAILER.sub("", clean_text(message))
    message = _SPACES.sub(" ", message).strip()
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3].rstrip() + "..."
    return message


def clean_error(error: Any, cause: Any) -> CleanError:
    """The AWS error code (or our own error name) and a clean one-line message for an Error/Cause pair."""
    code = clean_name(error, default="")
    message = "" if cause is None else str(cause)
    lambda_error = _lambda_error(message)
    if lambda_error is not None:
        code = code if code and code not in ("Lambda.Unknown", "States.TaskFailed") else ""
        code = code or clean_name(lambda_error.get("errorType"), default="")
        message = str(lambda_error.get("errorMessage") or "")
    botocore = _BOTOCORE.search(message)
    if botocore is not None:
        # The service's own code is more precise than the Python class name Lambda reports as errorType.
        code = code if code.endswith(botocore["code"]) else botocore["code"]
        message = f"{botocore['message']} ({botocore['operation']})"
    code = code or "UnknownError"
    message = _strip(message)
    if not message or message == "<path>":
        message = "no further detail was given (the raw cause is in the execution's history, not repeated here)"
    return CleanError(code, message)


def dead_execution_cause(status: str, error: Any, cause: Any) -> tuple[str, str]:
    """(error name, one clean sentence) for an execution that ended `status` with `error` / `cause`.

    For a job record the catch-all or the reconciler closes. The error and its message come from clean_error: the AWS
    error code or our own error name, and one line without stack trace,
    path or repr — a Lambda task's cause is the function's error JSON, of which only the code and message are kept.
    """
    defaults = {"ABORTED": "StopExecution", "TIMED_OUT": "States.Timeout"}
    sentences = {
        "ABORTED": "The execution was stopped (StopExecution) before it recorded the job's outcome",
        "TIMED_OUT": "The execution ran past its TimeoutSeconds before it recorded the job's outcome",
    }
    sentence = sentences.get(status, "The execution failed before it recorded the job's outcome")
    has_cause = isinstance(cause, str) and bool(cause.strip())
    if not has_cause and not (isinstance(error, str) and error.strip()):
        return defaults.get(status, "States.Runtime"), f"{sentence}."
    clean = clean_error(error, cause if has_cause else None)
    name = clean.code if clean.code != "UnknownError" else defaults.get(status, "States.Runtime")
    return name, f"{sentence}: {clean.message}" if has_cause else f"{sentence}."
