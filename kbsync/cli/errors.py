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
    PORT_IN_USE = 12
    NOT_INSTALLED = 13
    DRIFT = 14
    INTERRUPTED = 130


EXIT_CODE_HELP: tuple[tuple[ExitCode, str], ...] = (
    (ExitCode.OK, "done; with --wait: the job completed and every document was indexed"),
    (ExitCode.INTERNAL, "internal error (a kbsync bug: please report it with the command line)"),
    (ExitCode.USAGE, "bad arguments, an invalid id or an invalid sync request"),
    (ExitCode.PARTIAL, "the job completed but some documents failed (PARTIAL)"),
    (ExitCode.FAILED, "the job failed, could not start, timed out, or its execution died"),
    (ExitCode.STOPPED, "the job was stopped (STOPPED)"),
    (ExitCode.WAIT_TIMEOUT, "still running when --timeout expired (the sync goes on)"),
    (
        ExitCode.JOB_RUNNING,
        "already running: a sync of this data source runs (or a job started outside kbsync); nothing was started",
    ),
    (ExitCode.NOTHING_RUNNING, "nothing is running for this data source (stop)"),
    (ExitCode.NOT_FOUND, "not found: stack, knowledge base, data source, registered target, job or execution"),
    (ExitCode.AWS, "AWS: no credentials or region, access denied, endpoint unreachable, throttled, other AWS error"),
    (
        ExitCode.NO_RECORD,
        "the sync ended but kbsync found no job or job record of it (nothing proves it synced): see kbsync history",
    ),
    (ExitCode.PORT_IN_USE, "kbsync local up: the port is in use (pass --port N, or stop what listens on it)"),
    (ExitCode.NOT_INSTALLED, "kbsync local: the local cloud is not installed (pip install -e ./localcloud, make dev)"),
    (
        ExitCode.DRIFT,
        "kbsync drift: S3 and the index differ (files missing from the index, deleted from S3, or failed)",
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


#: Where the AWS CLI and boto3 read profiles when AWS_CONFIG_FILE is not set.
DEFAULT_CONFIG_FILE = "~/.aws/config"
#: For the local cloud: `kbsync local up` prints its endpoint.
LOCAL_HINT = "for the local cloud, start `kbsync local up` and pass the endpoint it prints with --endpoint-url"


def no_credentials(profile: str) -> str:
    return (
        f"no AWS credentials found for profile {profile!r}: run `aws configure` (or `aws sso login`), set "
        f"AWS_PROFILE to a profile that has some, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; {LOCAL_HINT}"
    )


def no_region(profile: str, config_file: str) -> str:
    return (
        f"no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set one for profile {profile!r} "
        f"in {config_file} (`aws configure set region REGION`); {LOCAL_HINT}"
    )


def from_aws(exc: Exception, profile: str = "default", config_file: str = DEFAULT_CONFIG_FILE) -> CliError:
    """Map an error raised by boto3/botocore that no command handled itself to one actionable line (`profile` and
    `config_file`: the profile in use and the file it is read from, named in the credential and region errors)."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(no_credentials(profile), ExitCode.AWS)
    if isinstance(exc, ProfileNotFound):
        missing = exc.kwargs.get("profile", profile)
        return CliError(
            f"AWS profile {missing!r} not found in {config_file}: list the profiles with `aws configure "
            "list-profiles`, then fix --profile or AWS_PROFILE (or create it with `aws configure --profile NAME`)",
            ExitCode.AWS,
        )
    if isinstance(exc, NoRegionError):
        return CliError(no_region(profile, config_file), ExitCode.AWS)
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
