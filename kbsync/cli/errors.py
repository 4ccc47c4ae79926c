"""Exit codes and the one-line errors the CLI prints instead of tracebacks.

An on-call engineer at 3 a.m. must read *what* is wrong and *what to do next* in one line, and scripts must be able
to branch on the outcome; so every failure becomes a `CliError` carrying a documented exit code.
"""

from __future__ import annotations

from enum import IntEnum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)


class ExitCode(IntEnum):
    """Documented exit codes (`kbsync --help` and runbooks/README.md list them)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    PARTIAL = 3
    FAILED = 4
    STOPPED = 5
    WAIT_TIMEOUT = 6
    JOB_RUNNING = 7
    NOTHING_RUNNING = 8
    NOT_FOUND = 9
    AWS = 10
    NO_RECORD = 11
    INTERRUPTED = 130


EXIT_CODE_HELP: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "done; with --wait: the job completed and every document was indexed"),
    (ExitCode.INTERNAL, "internal error (a kbsync bug: please report it with the command line)"),
    (ExitCode.USAGE, "bad arguments, an invalid id or an invalid sync request"),
    (ExitCode.PARTIAL, "the job completed but some documents failed (PARTIAL)"),
    (ExitCode.FAILED, "the job failed, could not start, timed out, or its execution died"),
    (ExitCode.STOPPED, "the job was stopped (STOPPED)"),
    (ExitCode.WAIT_TIMEOUT, "still running when --timeout expired (the sync goes on)"),
    (ExitCode.JOB_RUNNING, "refused: a job of this data source is running (or another sync holds its sync gate)"),
    (ExitCode.NOTHING_RUNNING, "nothing is running for this data source (stop)"),
    (ExitCode.NOT_FOUND, "not found: stack, knowledge base, data source, registered target, job or execution"),
    (ExitCode.AWS, "AWS: no credentials or region, access denied, endpoint unreachable, throttled, other AWS error"),
    (
        ExitCode.NO_RECORD,
        "the sync ended but kbsync found no job or job record of it (nothing proves it synced): see kbsync history",
    ),
    (ExitCode.INTERRUPTED, "interrupted (Ctrl-C); a sync already started goes on"),
)


class CliError(Exception):
    """A failure the user can act on: one line naming the problem and the next step."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
_THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ('' if the response carries none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_text(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")).strip()


def from_aws(exc: Exception) -> CliError:
    """Map an error raised by boto3/botocore that no command handled itself to one actionable line."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "no AWS credentials: run `aws configure` or set AWS_PROFILE (for the local cloud pass --endpoint-url)",
            ExitCode.AWS,
        )
    if isinstance(exc, ProfileNotFound):
        return CliError(f"{exc}: check --profile / AWS_PROFILE against ~/.aws/config", ExitCode.AWS)
    if isinstance(exc, NoRegionError):
        return CliError("no AWS region: pass --region or set AWS_DEFAULT_REGION (or AWS_REGION)", ExitCode.AWS)
    if isinstance(exc, EndpointConnectionError):
        return CliError(
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}: check the network, or start the local "
            "cloud with `kbsync local up`",
            ExitCode.AWS,
        )
    if isinstance(exc, ClientError):
        return _from_client_error(exc)
    if isinstance(exc, BotoCoreError):
        return CliError(f"AWS client error: {exc}", ExitCode.AWS)
    return CliError(f"internal error: {type(exc).__name__}: {exc}", ExitCode.INTERNAL)


def _from_client_error(exc: ClientError) -> CliError:
    code = error_code(exc)
    operation = exc.operation_name
    text = error_text(exc)
    if code in _ACCESS_CODES:
        return CliError(
            f"access denied for {operation} ({code}): check the credentials/profile and the IAM permissions",
            ExitCode.AWS,
        )
    if code in _THROTTLE_CODES:
        return CliError(f"AWS throttled {operation}: try again in a minute", ExitCode.AWS)
    if code in {"ResourceNotFoundException", "ResourceNotFound", "NotFoundException", "ExecutionDoesNotExist"}:
        return CliError(f"not found ({operation}): {text}", ExitCode.NOT_FOUND)
    return CliError(f"AWS error {code} from {operation}: {text}", ExitCode.AWS)
