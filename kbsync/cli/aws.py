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
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import ClientError
from botocore.utils import ensure_boolean

from kbsync.cli.errors import CliError, ExitCode, error_code, error_text

Client = Any  # boto3 clients are built at runtime; the services we use have no installed stubs

DEFAULT_STACK = "kbsync"
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/kbsync/kbsync/blob/main/runbooks"
#: Standard retries (throttling, 5xx, connection errors); the attempt count stays AWS_MAX_ATTEMPTS / the profile's.
_RETRIES = Config(retries={"mode": "standard"})


#: On the local cloud (an endpoint on this machine) with nothing configured: moto's region and any credentials.
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("testing", "testing")
#: Where the region came from when nothing configured one and the endpoint is the local cloud.
LOCAL_DEFAULT = "the local cloud's default"


def _is_loopback(endpoint: str | None) -> bool:
    return bool(endpoint) and urlsplit(str(endpoint)).hostname in {"127.0.0.1", "localhost", "::1"}


@cache
def _shared_loader() -> botocore.loaders.Loader:
    """One botocore model loader per process: parsing the service models is most of a client's creation cost, and
    `kbsync.cli.main` may run many times in one process (tests, scripts). Credentials stay per session."""
    return botocore.loaders.create_loader()


@dataclass
class Clients:
    """Lazily created clients sharing one session, configured exactly as the AWS CLI v2 is.

    Region, first found wins (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html: "AWS_REGION
    ... overrides the values in the environment variable AWS_DEFAULT_REGION and the profile setting region. You can
    override this environment variable by using the --region command line parameter"): --region, AWS_REGION,
    AWS_DEFAULT_REGION, the `region` of the profile (--profile, else AWS_PROFILE, else `default`) in the config file
    (AWS_CONFIG_FILE, else ~/.aws/config). boto3 alone skips AWS_REGION, so it is read here.

    Endpoint (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html): --endpoint-url, else
    botocore's own chain: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's `services` section, the
    profile's `endpoint_url`; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / ignore_configured_endpoint_urls turn the
    configured ones off. Credentials: botocore's chain for the profile.

    One convenience the AWS CLI lacks: a client whose endpoint is on this machine (the local cloud) with no region
    or no credentials configured gets us-east-1 and dummy credentials (the local cloud accepts any).
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    _cache: dict[str, Client] = field(default_factory=dict)
    #: Services whose client was given the dummy local credentials (the AWS CLI hints then carry them too).
    _dummy_credentials: set[str] = field(default_factory=set)

    @cached_property
    def session(self) -> Any:
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        return boto3.Session(botocore_session=core, profile_name=self.profile)

    @property
    def _core(self) -> Any:
        return self.session._session  # the botocore session boto3 wraps (boto3 exposes no public accessor)

    @property
    def profile_name(self) -> str:
        """The profile in use: --profile, else AWS_PROFILE (or AWS_DEFAULT_PROFILE), else 'default'."""
        return str(self._core.profile or "default")

    @property
    def config_file(self) -> str:
        return str(self._core.get_config_variable("config_file"))

    @cached_property
    def configured_region(self) -> tuple[str | None, str]:
        """(region, where it came from) along the AWS CLI v2 chain; (None, '') when nothing names one."""
        if self.region:
            return self.region, "--region"
        for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if os.environ.get(variable):
                return os.environ[variable], variable
        in_profile = self._core.get_scoped_config().get("region")  # raises ProfileNotFound for an unknown profile
        if in_profile:
            return str(in_profile), f"profile {self.profile_name} in {self.config_file}"
        return None, ""

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint a client of `service` uses (None: AWS's own), resolved as botocore resolves it."""
        if self.endpoint_url:
            return self.endpoint_url
        core = self._core
        if ensure_boolean(core.get_config_variable("ignore_configured_endpoint_urls") or False):
            return None
        provider = ConfiguredEndpointProvider(
            full_config=core.full_config, scoped_config=core.get_scoped_config(), client_name=service
        )
        found = provider.provide()
        return str(found) if found else None

    def region_for(self, service: str) -> tuple[str | None, str]:
        region, source = self.configured_region
        if region is None and _is_loopback(self.endpoint_for(service)):
            return LOCAL_REGION, LOCAL_DEFAULT
        return region, source

    def _has_credentials(self) -> bool:
        """Whether the profile's credential chain finds any, without asking EC2/ECS metadata services (never there on
        the machine that runs the local cloud, and up to seconds of timeouts elsewhere)."""
        resolver = self._core.get_component("credential_provider")
        for name in ("iam-role", "container-role"):
            resolver.remove(name)
        return self._core.get_credentials() is not None

    def client(self, service: str) -> Client:
        if service not in self._cache:
            self._cache[service] = self.session.client(service, config=_RETRIES, **self._client_options(service))
        return self._cache[service]

    def resource(self, service: str) -> Any:
        """A boto3 resource on the same session (kbsync.targets works on DynamoDB Table resources)."""
        return self.session.resource(service, config=_RETRIES, **self._client_options(service))

    def _client_options(self, service: str) -> dict[str, Any]:
        options: dict[str, Any] = {"region_name": self.region_for(service)[0]}
        if self.endpoint_url:  # else botocore resolves the configured endpoint itself
            options["endpoint_url"] = self.endpoint_url
        if _is_loopback(self.endpoint_for(service)) and not self._has_credentials():
            options["aws_access_key_id"], options["aws_secret_access_key"] = LOCAL_CREDENTIALS
            self._dummy_credentials.add(service)
        return options

    @property
    def region_name(self) -> str:
        return str(self.region_for("cloudformation")[0] or "(no region)")

    def where(self, service: str = "cloudformation") -> str:
        """'region eu-west-1 (from --region)', plus ' at <endpoint>' off AWS: where a lookup looked, for messages."""
        region, source = self.region_for(service)
        text = f"region {region} ({source if source == LOCAL_DEFAULT else 'from ' + source})" if region else "no region"
        endpoint = self.endpoint_for(service)
        return text + (f" at {endpoint}" if endpoint else "")

    def is_local(self, service: str = "cloudformation") -> bool:
        return _is_loopback(self.endpoint_for(service))

    def aws_cli(self, command: str, service: str) -> str:
        """`aws <command>` as it must be typed to reach what this CLI reached: the same region, and the endpoint and
        profile given as options (those from the environment or the config file reach the AWS CLI by themselves);
        with the dummy local credentials when kbsync supplied them (the AWS CLI would find none)."""
        region = self.region_for(service)[0]
        words = [f"aws {command}"]
        if region:
            words.append(f"--region {region}")
        if self.endpoint_url:
            words.append(f"--endpoint-url {self.endpoint_url}")
        if self.profile:
            words.append(f"--profile {self.profile}")
        prefix = ""
        if service in self._dummy_credentials:
            key, secret = LOCAL_CREDENTIALS
            prefix = f"AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret} "
        return prefix + " ".join(words)


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


#: Stack statuses in which the stack's resources and outputs are all there (a finished create, update or import).
DEPLOYED_STATUSES = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)


def load_stack(cfn: Client, name: str, where: str, local: bool = False) -> Stack:
    """Describe the stack and pick the outputs; a missing, unfinished or foreign stack is one actionable error.

    `where` names where kbsync looked ('region eu-west-1 (from --region)', see Clients.where): a stack that is
    "not found" is most often in another region or account than the one configured."""
    try:
        described = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in error_text(exc):
            deploy = (
                "the local cloud deploys the stack `kbsync local up --stack-name NAME` names (default kbsync)"
                if local
                else "deploy it (`sam deploy --guided`)"
            )
            raise CliError(
                f"stack {name!r} not found in {where}: {deploy}, or point kbsync at it: --stack-name "
                "(KBSYNC_STACK) for its name, --region (AWS_REGION) for its region",
                ExitCode.NOT_FOUND,
            ) from exc
        raise
    stack = described[0]
    status = str(stack.get("StackStatus", ""))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing and status not in DEPLOYED_STATUSES:
        raise CliError(
            f"stack {name!r} in {where} is {status}, not deployed: finish or fix its deployment (`sam deploy`; "
            f"see `aws cloudformation describe-stack-events --stack-name {name}`), then retry",
            ExitCode.NOT_FOUND,
        )
    if missing:
        raise CliError(
            f"stack {name!r} in {where} has no output {', '.join(missing)} (status {status}): is it a kbsync "
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
