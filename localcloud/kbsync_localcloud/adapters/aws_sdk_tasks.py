"""``arn:aws:states:::aws-sdk:<service>:<action>`` tasks that behave like AWS Step Functions.

moto 5.2.5 passes the integration's service name (``bedrockagent``) straight to boto3, passes PascalCase
parameters through unchanged, returns botocore's casing and datetimes, and names most errors wrongly. Real
Step Functions, whose SDK integrations are built on the AWS SDK for Java v2:

- names the service by its lowercased botocore ``serviceId`` without spaces/dashes (``bedrockagent``,
  ``sfn``, ``eventbridge``, ``cloudwatchlogs``) -> mapped here to boto3's name;
- takes PascalCase parameters and returns PascalCase results, following the service's shapes recursively
  (map keys are data and keep their case);
- returns timestamps as ISO-8601 strings (``2025-01-01T00:00:00.123Z``);
- names errors ``<SdkV2ServiceClass>.<ErrorCode>[Exception]`` (``BedrockAgent.ConflictException``,
  ``DynamoDb.ResourceNotFoundException``, ``S3.NoSuchKeyException``), and ``<Svc>.<Svc>Exception`` for
  an error code the service model does not declare (the SDK's generic service exception).

Operation models and clients are cached: building them per call made each task ~5x slower.
"""

from __future__ import annotations

import base64
import datetime
import functools
import re
import threading
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

_INSTALL_LOCK = threading.Lock()
_installed = False

#: Step Functions service names that are not boto3's name with dashes removed: lowercased botocore
#: serviceId without spaces/dashes -> boto3 name (complete for the pinned botocore; tested against it).
KNOWN_RENAMES: dict[str, str] = {
    "applicationdiscoveryservice": "discovery",
    "cloudwatchlogs": "logs",
    "cognitoidentityprovider": "cognito-idp",
    "configservice": "config",
    "costandusagereportservice": "cur",
    "costexplorer": "ce",
    "databasemigrationservice": "dms",
    "directoryservice": "ds",
    "directoryservicedata": "ds-data",
    "elasticloadbalancing": "elb",
    "elasticloadbalancingv2": "elbv2",
    "elasticsearchservice": "es",
    "eventbridge": "events",
    "iotdataplane": "iot-data",
    "iotjobsdataplane": "iot-jobs-data",
    "lexmodelbuildingservice": "lex-models",
    "lexmodelsv2": "lexv2-models",
    "lexruntimeservice": "lex-runtime",
    "lexruntimev2": "lexv2-runtime",
    "marketplaceentitlementservice": "marketplace-entitlement",
    "marketplacemetering": "meteringmarketplace",
    "migrationhub": "mgh",
    "pinpointsmsvoice": "sms-voice",
    "serverlessapplicationrepository": "serverlessrepo",
    "sfn": "stepfunctions",
    "simpledb": "sdb",
}

EXPECTED_SOURCES: dict[str, str] = {
    "StateTaskServiceAwsSdk._eval_service_task": "e68dc9e06e6ae0ce",
    "StateTaskServiceAwsSdk._from_error": "43def989ab2585ba",
    "StateTaskService._eval_execution": "81a8da94bfdb59ff",
    "boto_client_for": "1f44dc2ac8aa2179",
    "StateTaskServiceSfn._normalise_parameters": "d75d3da19aad01fb",
    "StateTaskServiceSfn._normalise_response": "00e0b0a50b1dd4ba",
}

_SESSION_LOCK = threading.Lock()
_session = botocore.session.get_session()


# --------------------------------------------------------------------------- names


def normalise_service_id(service_id: str) -> str:
    """'Bedrock Agent' -> 'bedrockagent': how Step Functions spells a service in aws-sdk resource ARNs."""
    return re.sub(r"[\s-]", "", service_id).lower()


def _available_services() -> frozenset[str]:
    with _SESSION_LOCK:
        return frozenset(_session.get_available_services())


_AVAILABLE = functools.cache(_available_services)


@functools.cache
def service_model(boto_service: str) -> ServiceModel:
    with _SESSION_LOCK:
        return _session.get_service_model(boto_service)


@functools.cache
def _full_service_id_map() -> dict[str, str]:
    """Every botocore service by its normalised serviceId (slow: loads ~440 models; last resort only)."""
    return {normalise_service_id(service_model(name).service_id): name for name in sorted(_AVAILABLE())}


@functools.cache
def boto3_service_name(sfn_service: str) -> str:
    """Map an aws-sdk integration's service name (``bedrockagent``) to boto3's (``bedrock-agent``)."""
    wanted = sfn_service.lower()
    if wanted in KNOWN_RENAMES:
        return KNOWN_RENAMES[wanted]
    for name in sorted(_AVAILABLE()):
        if name.replace("-", "") == wanted and normalise_service_id(service_model(name).service_id) == wanted:
            return name
    try:
        return _full_service_id_map()[wanted]
    except KeyError:
        raise ValueError(f"aws-sdk integration: unknown service {sfn_service!r}") from None


@functools.cache
def sdk_service_class_name(boto_service: str) -> str:
    """The AWS SDK for Java v2 service name Step Functions prefixes errors with: 'Bedrock Agent' -> 'BedrockAgent',
    'DynamoDB' -> 'DynamoDb', 'SFN' -> 'Sfn', 'ACM PCA' -> 'AcmPca', 'S3' -> 'S3'."""
    words: list[str] = []
    for part in re.split(r"[\s\-_]+", service_model(boto_service).service_id):
        words.extend(re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", part))
    return "".join(word[:1].upper() + word[1:].lower() for word in words)


@functools.cache
def operation_model(boto_service: str, action: str) -> OperationModel:
    """Cached botocore operation model for an aws-sdk action in camelCase (``startIngestionJob``)."""
    model = service_model(boto_service)
    wanted = action.lower()
    for name in model.operation_names:
        if name.lower() == wanted:
            return model.operation_model(name)
    raise ValueError(f"aws-sdk integration: {boto_service} has no action {action!r}")


@functools.cache
def _modeled_error_codes(boto_service: str) -> frozenset[str]:
    model = service_model(boto_service)
    codes = set()
    for shape in model.error_shapes:
        codes.add(shape.name)
        code = shape.metadata.get("error", {}).get("code")
        if code:
            codes.add(code)
    return frozenset(codes)


def sfn_error_name(boto_service: str, error_code: str) -> str:
    """``BedrockAgent.ConflictException``; ``<Svc>.<Svc>Exception`` for an error the model doesn't declare."""
    svc = sdk_service_class_name(boto_service)
    if error_code not in _modeled_error_codes(boto_service):
        return f"{svc}.{svc}Exception"
    name = error_code if error_code.endswith("Exception") else f"{error_code}Exception"
    return f"{svc}.{name}"


# --------------------------------------------------------------------------- casing, by shape


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def to_boto_params(value: Any, shape: Shape | None) -> Any:
    """Step Functions' PascalCase parameters -> botocore's member names, recursively by shape."""
    if shape is None:
        return value
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_lower: dict[str, str] = {str(name).lower(): str(name) for name in shape.members}
        converted = {}
        for key, item in value.items():
            member: str = by_lower.get(str(key).lower(), str(key))
            converted[member] = to_boto_params(item, shape.members.get(member))
        return converted
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_boto_params(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: to_boto_params(item, shape.value) for key, item in value.items()}
    if shape.type_name == "string" and not isinstance(value, str):
        return _json_text(value)
    if shape.type_name == "blob" and isinstance(value, str | dict | list):
        return (value if isinstance(value, str) else _json_text(value)).encode()
    return value


def iso_timestamp(value: datetime.datetime) -> str:
    """ISO-8601 UTC with milliseconds, as Step Functions returns SDK timestamps."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    value = value.astimezone(datetime.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def to_sfn_result(value: Any, shape: Shape | None) -> Any:
    """botocore's parsed response -> Step Functions' JSON: PascalCase members, ISO timestamps, text bodies."""
    if isinstance(value, datetime.datetime):
        return iso_timestamp(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if hasattr(value, "read"):  # StreamingBody
        return value.read().decode("utf-8", errors="replace")
    if isinstance(value, dict):
        if isinstance(shape, StructureShape):
            return {_pascal(k): to_sfn_result(v, shape.members.get(k)) for k, v in value.items()}
        if isinstance(shape, MapShape):
            return {k: to_sfn_result(v, shape.value) for k, v in value.items()}
        return {_pascal(k): to_sfn_result(v, None) for k, v in value.items()}
    if isinstance(value, list):
        member = shape.member if isinstance(shape, ListShape) else None
        return [to_sfn_result(item, member) for item in value]
    return value


# --------------------------------------------------------------------------- clients


_CLIENTS: dict[tuple[str, str, str | None], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _endpoint_url() -> str | None:
    """None in decorator mode (moto intercepts boto3); the moto server otherwise, as moto's own tasks do."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    return None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"


def client_for(boto_service: str, region: str) -> Any:
    """A cached boto3 client like moto's ``boto_client_for`` (fake credentials, no retries)."""
    endpoint = _endpoint_url()
    key = (boto_service, region, endpoint)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            session: Any = boto3.session.Session()
            client = session.client(
                boto_service,
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id="ak",
                aws_secret_access_key="sk",  # noqa: S106 - moto's fake credentials, as its own tasks use
                config=Config(retries={"max_attempts": 0, "total_max_attempts": 1}, read_timeout=3600),
            )
            _CLIENTS[key] = client
    return client


#: moto modules that build a new boto3 client for every task via ``boto_client_for`` (~20 ms each).
CLIENT_USERS: tuple[str, ...] = tuple(
    f"moto.stepfunctions.parser.asl.component.state.exec.{path}"
    for path in (
        "state_task.lambda_eval_utils",
        "state_task.service.state_task_service_aws_sdk",
        "state_task.service.state_task_service_dynamodb",
        "state_task.service.state_task_service_sns",
        "state_task.service.state_task_service_sqs",
        "state_task.service.state_task_service_events",
        "state_task.service.state_task_service_sfn",
        "state_task.service.state_task_service_glue",
        "state_task.service.state_task_service_ecs",
        "state_task.service.state_task_service_batch",
        "state_task.service.state_task_service_unsupported",
        "state_map.item_reader.eval.resource_eval_s3",
        "state_map.result_writer.resource_eval.resource_eval_s3",
    )
)


def _moto_boto_client_for() -> Any:
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    return boto_client_for


def cached_boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's ``boto_client_for`` (which ignores state_credentials), one client per service/region/endpoint."""
    key = (service, region, _endpoint_url())
    with _CLIENTS_LOCK:
        client = _MOTO_CLIENTS.get(key)
    if client is None:
        client = _moto_boto_client_for()(region=region, service=service, state_credentials=state_credentials)
        with _CLIENTS_LOCK:
            client = _MOTO_CLIENTS.setdefault(key, client)
    return client


_MOTO_CLIENTS: dict[tuple[str, str, str | None], Any] = {}


def _cache_integration_clients() -> None:
    import importlib

    original: Callable[..., Any] = _moto_boto_client_for()
    for module_name in CLIENT_USERS:
        module: Any = importlib.import_module(module_name)
        if getattr(module, "boto_client_for", None) is not original:
            raise MotoInternalsChanged(f"aws_sdk_tasks: {module_name} no longer uses moto's boto_client_for")
        module.boto_client_for = mark_patch(cached_boto_client_for, original)


# --------------------------------------------------------------------------- the patched task


def _task_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    return StateTaskServiceAwsSdk


def _service_task_base() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    return StateTaskService


def invoke_sdk(sfn_service: str, action: str, parameters: dict[str, Any], region: str) -> Any:
    """Call one aws-sdk integration as Step Functions would and return its Step Functions-shaped result."""
    boto_service = boto3_service_name(sfn_service)
    op = operation_model(boto_service, action)
    params = to_boto_params(parameters, op.input_shape)
    client = client_for(boto_service, region)
    response = getattr(client, xform_name(op.name))(**params) or {}
    response.pop("ResponseMetadata", None)
    return to_sfn_result(response, op.output_shape)


def _eval_service_task(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
) -> None:
    result = invoke_sdk(
        self.resource.api_name, self.resource.api_action, normalised_parameters, resource_runtime_part.region
    )
    env.stack.append(result)


def _from_error(self: Any, env: Any, ex: Exception) -> Any:
    if not isinstance(ex, ClientError):
        return _task_cls()._from_error.__kbsync_original__(self, env, ex)
    boto_service = boto3_service_name(self.resource.api_name)
    error = sfn_error_name(boto_service, ex.response["Error"]["Code"])
    metadata = ex.response.get("ResponseMetadata", {})
    details = [
        f"Service: {sdk_service_class_name(boto_service)}",
        f"Status Code: {metadata.get('HTTPStatusCode')}",
        f"Request ID: {metadata.get('RequestId')}",
    ]
    cause = f"{ex.response['Error'].get('Message', '')} ({', '.join(details)})"
    return self._get_task_failure_event(env=env, error=error, cause=cause)


# --------------------------------------------------------------------------- the optimized states: integration
# (the sync gate starts ingestion-sync executions) moto's StateTaskService._normalise_parameters/_normalise_response
# are no-ops, so `arn:aws:states:::states:startExecution[.sync[:2]]` sends PascalCase keys botocore rejects (KeyError
# 'StateMachineArn') and its .sync resolvers read `ExecutionArn` from a camelCase response. Step Functions maps
# both ways by the SFN API shapes; so do these two patches (parsed JSON Input/Output of DescribeExecution is data,
# left as it is).


def _sfn_task_cls() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    return StateTaskServiceSfn


def _sfn_operation(self: Any, service_action_name: str | None) -> OperationModel:
    action = service_action_name or self._get_boto_service_action()
    return operation_model("stepfunctions", action.replace("_", ""))


def _sfn_normalise_parameters(
    self: Any, parameters: dict[str, Any], boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    _sfn_task_cls()._normalise_parameters.__kbsync_original__(
        self, parameters, boto_service_name=boto_service_name, service_action_name=service_action_name
    )
    converted = to_boto_params(dict(parameters), _sfn_operation(self, service_action_name).input_shape)
    parameters.clear()
    parameters.update(converted)


def _sfn_normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    if not isinstance(response, dict):
        return
    shape = _sfn_operation(self, service_action_name).output_shape
    members = shape.members if isinstance(shape, StructureShape) else {}
    converted = {}
    for key, value in response.items():
        member = members.get(key)
        keep = isinstance(value, dict | list) and member is not None and member.type_name == "string"
        converted[_pascal(key)] = value if keep else to_sfn_result(value, member)
    response.clear()
    response.update(converted)


def _patched_targets() -> dict[str, Any]:
    cls = _task_cls()
    return {
        "StateTaskServiceAwsSdk._eval_service_task": cls._eval_service_task,
        "StateTaskServiceAwsSdk._from_error": cls._from_error,
        "StateTaskService._eval_execution": _service_task_base()._eval_execution,
        "boto_client_for": _moto_boto_client_for(),
        "StateTaskServiceSfn._normalise_parameters": _sfn_task_cls()._normalise_parameters,
        "StateTaskServiceSfn._normalise_response": _sfn_task_cls()._normalise_response,
    }


def install() -> None:
    """Make aws-sdk tasks map names, casing, timestamps and errors like AWS (idempotent, process-wide)."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        cls = _task_cls()
        targets = _patched_targets()
        cls._eval_service_task = mark_patch(_eval_service_task, targets["StateTaskServiceAwsSdk._eval_service_task"])
        cls._from_error = mark_patch(_from_error, targets["StateTaskServiceAwsSdk._from_error"])
        sfn_cls = _sfn_task_cls()
        sfn_cls._normalise_parameters = mark_patch(
            _sfn_normalise_parameters, targets["StateTaskServiceSfn._normalise_parameters"]
        )
        sfn_cls._normalise_response = mark_patch(
            _sfn_normalise_response, targets["StateTaskServiceSfn._normalise_response"]
        )
        _cache_integration_clients()
        _installed = True


def verify_moto_internals() -> None:
    check_fingerprints("aws_sdk_tasks", _patched_targets(), EXPECTED_SOURCES)
    import importlib

    original = _moto_boto_client_for()
    for module_name in CLIENT_USERS:
        used = getattr(importlib.import_module(module_name), "boto_client_for", None)
        if getattr(used, "__kbsync_original__", used) is not original:
            raise MotoInternalsChanged(f"aws_sdk_tasks: {module_name} no longer uses moto's boto_client_for")
    if not hasattr(_task_cls(), "_get_task_failure_event"):
        raise MotoInternalsChanged("aws_sdk_tasks: StateTaskServiceAwsSdk lost _get_task_failure_event()")
