"""boto3 clients for the CLI and the stack outputs that tell it where things are.

The CLI never hard-codes a resource name: it reads the deployed stack's outputs, so the same commands work on any
account, any stack name and the local cloud (`--endpoint-url` / `AWS_ENDPOINT_URL`, which boto3 honours itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from kbsync.cli.errors import CliError, ExitCode, error_code, error_text

Client = Any  # boto3 clients are built at runtime; the services we use have no installed stubs

DEFAULT_STACK = "kbsync"
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/kbsync/kbsync/blob/main/runbooks"
#: Standard retries (throttling, 5xx, connection errors); the attempt count stays AWS_MAX_ATTEMPTS / the profile's.
_RETRIES = Config(retries={"mode": "standard"})


#: On the local cloud (an endpoint on this machine) with nothing configured: moto's region and any credentials.
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("testing", "testing")


def _is_loopback(endpoint: str | None) -> bool:
    return bool(endpoint) and urlsplit(str(endpoint)).hostname in {"127.0.0.1", "localhost", "::1"}


@cache
def _shared_loader() -> botocore.loaders.Loader:
    """One botocore model loader per process: parsing the service models is most of a client's creation cost, and
    `kbsync.cli.main` may run many times in one process (tests, scripts). Credentials stay per session."""
    return botocore.loaders.create_loader()


@dataclass
class Clients:
    """Lazily created clients sharing one session (profile, region, endpoint as the AWS CLI takes them)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    _cache: dict[str, Client] = field(default_factory=dict)

    @cached_property
    def session(self) -> Any:
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        local = _is_loopback(self.endpoint)
        if local and not (self.profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_ACCESS_KEY_ID")):
            core.set_credentials(*LOCAL_CREDENTIALS)  # the local cloud accepts any; don't make users invent some
        session = boto3.Session(botocore_session=core, profile_name=self.profile, region_name=self.region)
        if session.region_name is None:  # boto3 reads AWS_DEFAULT_REGION and the profile; AWS_REGION as a fallback
            fallback = os.environ.get("AWS_REGION") or (LOCAL_REGION if local else None)
            if fallback:
                return boto3.Session(botocore_session=core, profile_name=self.profile, region_name=fallback)
        return session

    @property
    def endpoint(self) -> str | None:
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None

    def client(self, service: str) -> Client:
        if service not in self._cache:
            self._cache[service] = self.session.client(service, endpoint_url=self.endpoint, config=_RETRIES)
        return self._cache[service]

    def resource(self, service: str) -> Any:
        """A boto3 resource on the same session (kbsync.targets works on DynamoDB Table resources)."""
        return self.session.resource(service, endpoint_url=self.endpoint, config=_RETRIES)

    @property
    def region_name(self) -> str:
        return str(self.session.region_name or "(no region)")


#: The sync gate's output (template.yaml Outputs): `kbsync sync` starts every manual sync through the gate.
GATE_OUTPUT = "SyncGateStateMachineArn"
REQUIRED_OUTPUTS = ("IngestionSyncStateMachineArn", "JobsTableName", GATE_OUTPUT)


@dataclass(frozen=True)
class Stack:
    """What the CLI needs from the deployed kbsync stack."""

    name: str
    state_machine_arn: str
    jobs_table: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    @property
    def gate_state_machine_arn(self) -> str | None:
        """The sync gate (triggers): uploads and nightly runs wait in it before their ingestion-sync execution."""
        return self.outputs.get(GATE_OUTPUT) or None

    @property
    def runbook_base_url(self) -> str:
        return self.parameters.get("RunbookBaseUrl") or DEFAULT_RUNBOOK_BASE_URL


def load_stack(cfn: Client, name: str, region: str) -> Stack:
    """Describe the stack and pick the outputs; a missing stack or output is one actionable error."""
    try:
        described = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_text(exc):
            raise CliError(
                f"stack {name!r} not found in {region}: deploy it (`sam deploy --guided`), or pass "
                "--stack-name / KBSYNC_STACK, --region, or --endpoint-url for the local cloud",
                ExitCode.NOT_FOUND,
            ) from exc
        raise
    stack = described[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise CliError(
            f"stack {name!r} has no output {', '.join(missing)} (status {stack.get('StackStatus')}): is it a kbsync "
            "stack, fully deployed? Pass the right --stack-name",
            ExitCode.NOT_FOUND,
        )
    return Stack(
        name=name,
        state_machine_arn=outputs["IngestionSyncStateMachineArn"],
        jobs_table=outputs["JobsTableName"],
        outputs=outputs,
        parameters=parameters,
    )
