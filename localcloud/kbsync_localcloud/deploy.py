"""Deploy a SAM template as a CloudFormation stack on the local cloud (what ``sam deploy`` does on AWS).

    outputs = deploy_stack(Path("template.yaml"), "kbsync", {"Env": "local"})

Steps, each a small function: zip every local function/layer directory and upload it to a local artifacts
bucket (``sam package``), register each function's source directory with the in-process Lambda
(``code_registry``), run the SAM transform (sam.py), then CloudFormation create_stack/update_stack and wait
(with a deadline) for a terminal status. Works inside an active ``LocalCloud`` (decorator mode) or against a
server (``endpoint_url``) running in this same process — code registration is in-process.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import time
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from kbsync_localcloud import code_registry, scheduler
from kbsync_localcloud.sam import LocalArtifact, load_template, package_template, transform_packaged

LOG = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ARTIFACTS_BUCKET = f"kbsync-local-artifacts-{ACCOUNT_ID}"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_UNSUPPORTED = re.compile(r"Tried to parse (\S+) but it's not supported by moto's CloudFormation")
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}


def _layer_version_physical_id(self: Any) -> str:
    return str(self.arn)


def _wrap_function_create(original: Any) -> Any:
    def create(cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region: str, **kw: Any) -> Any:
        function = original(cls, resource_name, cloudformation_json, account_id, region, **kw)
        layers = cloudformation_json.get("Properties", {}).get("Layers")
        if layers:
            function.layers = function._get_layers_data([str(layer) for layer in layers])
        return function

    create._kbsync_wrapped = True  # type: ignore[attr-defined]
    return create


# --- one stack operation at a time, each resource created once ------------------------------------------------
#
# moto's ResourceMap is a *lazy* mapping: ``resource_map[logical_id]`` creates the resource on first access and caches
# it, with no lock. CreateStack walks the map on the request's thread while any other request on the same stack reads
# it too: DescribeStacks resolves the Outputs (``Ref IngestionSyncStateMachine``, ``CatchAllFunctionName``...) and
# ListStackResources/DescribeStackResources walk every resource. Under the threaded server, a client polling the stack
# while it is being created (``aws cloudformation wait stack-create-complete``, a test, a script waiting for `kbsync
# local up`) made both threads miss the cache and create the same resource twice: two IngestionSync state machines or
# two CatchAll functions, the stack's outputs naming one and the other resources (the gate's definition) the other.


_LOCKS_GUARD = threading.Lock()
_LOCK_ATTRIBUTE = "_kbsync_lock"


def _lock_of(owner: Any) -> threading.RLock:
    """The re-entrant lock of one ResourceMap (created on first use; re-entrant: a resource's creation resolves the
    resources it references through the same map, on the same thread)."""
    lock = owner.__dict__.get(_LOCK_ATTRIBUTE)
    if lock is None:
        with _LOCKS_GUARD:
            lock = owner.__dict__.setdefault(_LOCK_ATTRIBUTE, threading.RLock())
    return lock


def _locked_item(original: Any) -> Any:
    def getitem(self: Any, key: str) -> Any:
        with _lock_of(self):
            return original(self, key)

    getitem._kbsync_wrapped = True  # type: ignore[attr-defined]
    return getitem


def _locked_stack_operation(original: Any) -> Any:
    """Stack.create_resources / update / delete holding the stack's ResourceMap lock for the whole operation, so a
    concurrent reader waits for the resources instead of creating them out of dependency order."""

    def operation(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock_of(self.resource_map):
            return original(self, *args, **kwargs)

    operation._kbsync_wrapped = True  # type: ignore[attr-defined]
    return operation


_CREATE_STACK_LOCK = threading.RLock()


def _atomic_create_stack(original: Any) -> Any:
    """CreateStack's "already exists?" check and its insertion as one step (two concurrent creates of one name made
    two stacks, each creating every resource)."""

    def create_stack(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _CREATE_STACK_LOCK:
            return original(self, *args, **kwargs)

    create_stack._kbsync_wrapped = True  # type: ignore[attr-defined]
    return create_stack


def _outputs_once_created(original: property) -> property:
    """CloudFormation shows a stack's Outputs once it is created (none while CREATE_IN_PROGRESS)."""

    def outputs(self: Any) -> Any:
        if self.status in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            return None
        return original.fget(self)  # type: ignore[misc]

    outputs._kbsync_wrapped = True  # type: ignore[attr-defined]
    return property(outputs)


def install_thread_safe_stacks() -> None:
    """Each stack resource created exactly once, whatever other requests read the stack meanwhile (idempotent)."""
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.parsing import ResourceMap

    if not getattr(ResourceMap.__getitem__, "_kbsync_wrapped", False):
        ResourceMap.__getitem__ = _locked_item(ResourceMap.__getitem__)  # type: ignore[method-assign]
    for name in ("create_resources", "update", "delete"):
        if not getattr(getattr(Stack, name), "_kbsync_wrapped", False):
            setattr(Stack, name, _locked_stack_operation(getattr(Stack, name)))
    if not getattr(CloudFormationBackend.create_stack, "_kbsync_wrapped", False):
        CloudFormationBackend.create_stack = _atomic_create_stack(CloudFormationBackend.create_stack)  # type: ignore[method-assign]
    outputs = Stack.__dict__["outputs"]
    if not getattr(outputs.fget, "_kbsync_wrapped", False):
        Stack.outputs = _outputs_once_created(outputs)  # type: ignore[method-assign,assignment]


def install_cloudformation_support() -> None:
    """CloudFormation gaps of moto 5.2.5 that a SAM app hits, closed process-wide (idempotent).

    - ``AWS::Scheduler::Schedule``: modelled by scheduler.py (moto has none);
    - ``Ref`` of an ``AWS::Lambda::LayerVersion`` must be its LayerVersionArn (moto's model has no
      physical_resource_id, so Ref yields the Python object);
    - ``AWS::Lambda::Function`` ``Layers`` are ignored on create by moto (update applies them);
    - stack operations and reads are serialized per stack, so each resource is created once
      (``install_thread_safe_stacks``).
    """
    from moto.awslambda.models import LambdaFunction, LayerVersion

    scheduler.install()
    install_thread_safe_stacks()
    if not hasattr(LayerVersion, "physical_resource_id"):
        LayerVersion.physical_resource_id = property(_layer_version_physical_id)  # type: ignore[attr-defined]
    create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if not getattr(create, "_kbsync_wrapped", False):
        LambdaFunction.create_from_cloudformation_json = classmethod(_wrap_function_create(create))  # type: ignore[assignment,method-assign]


#: The adapter contract's name (kbsync_localcloud.adapters): this module can be listed in ADAPTER_MODULES.
install = install_cloudformation_support


def verify_moto_internals() -> None:
    """What install_cloudformation_support relies on (besides scheduler.verify_moto_internals)."""
    from moto.awslambda.models import LambdaFunction, LayerVersion

    from kbsync_localcloud.adapters import MotoInternalsChanged

    if not isinstance(getattr(LayerVersion, "arn", None), property):
        raise MotoInternalsChanged("moto awslambda LayerVersion.arn is no longer a property")
    if not callable(getattr(LambdaFunction, "_get_layers_data", None)):
        raise MotoInternalsChanged("moto awslambda LambdaFunction._get_layers_data(arns) is gone")
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.parsing import ResourceMap

    if "_parsed_resources" not in ResourceMap.__init__.__code__.co_names:
        raise MotoInternalsChanged("moto ResourceMap no longer caches resources in _parsed_resources")
    for name in ("create_resources", "update", "delete"):
        if not callable(getattr(Stack, name, None)):
            raise MotoInternalsChanged(f"moto cloudformation Stack.{name} is gone")
    outputs = Stack.__dict__.get("outputs")
    if not isinstance(outputs, property) or "resource_map" not in Stack.__init__.__code__.co_names:
        raise MotoInternalsChanged("moto cloudformation Stack.outputs / Stack.resource_map changed")
    if not callable(getattr(CloudFormationBackend, "create_stack", None)):
        raise MotoInternalsChanged("moto CloudFormationBackend.create_stack is gone")
    scheduler.verify_moto_internals()


class DeployError(RuntimeError):
    """The stack did not reach a *_COMPLETE status; the message carries CloudFormation's reasons."""


def zip_directory(source_dir: Path, prefix: str = "") -> bytes:
    """A deterministic zip of ``source_dir`` (sorted entries, fixed timestamps): same code, same bytes.

    ``prefix`` puts every file under a folder, e.g. ``python/`` for layers as ``sam build`` lays them out.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source_dir.rglob("*")):
            relative = path.relative_to(source_dir)
            if not path.is_file() or _SKIPPED_PARTS.intersection(relative.parts) or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(prefix + relative.as_posix(), date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class ArtifactUploader:
    """The ``ArtifactResolver`` deploy uses: zip, upload to the artifacts bucket, register function code."""

    def __init__(self, s3_client: Any, stack_name: str, bucket: str = ARTIFACTS_BUCKET) -> None:
        self.s3 = s3_client
        self.stack_name = stack_name
        self.bucket = bucket
        self.uploaded: dict[str, tuple[str, str]] = {}

    def ensure_bucket(self) -> None:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.s3.create_bucket(Bucket=self.bucket)

    def __call__(self, artifact: LocalArtifact) -> tuple[str, str]:
        body = zip_directory(artifact.source_dir, "python/" if artifact.kind == "layer" else "")
        digest = hashlib.sha256(body).hexdigest()[:20]
        key = f"{self.stack_name}/{artifact.logical_id}-{digest}.zip"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        # The in-process Lambda runs handlers from the repo's files, found through this registry; a layer's
        # registered directory is what its zip holds under python/ (the directory to put on sys.path).
        code_registry.register_code(self.bucket, key, artifact.source_dir)
        self.uploaded[artifact.logical_id] = (self.bucket, key)
        return self.bucket, key


def _clients(endpoint_url: str | None, region: str, timeout_s: float = 60.0) -> tuple[Any, Any]:
    """The S3 and CloudFormation clients of a deploy. CreateStack/UpdateStack are not idempotent (moto ignores
    ClientRequestToken) and moto answers them only once every resource exists: the CloudFormation client waits
    that long for an answer and never re-sends a request it timed out on."""
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    once = Config(read_timeout=max(60.0, timeout_s), retries={"total_max_attempts": 1})
    return boto3.client("s3", **kwargs), boto3.client("cloudformation", config=once, **kwargs)


def build_cloudformation(
    template_path: Path,
    stack_name: str,
    parameters: Mapping[str, str] | None,
    s3_client: Any,
    region: str = REGION,
) -> dict[str, Any]:
    """Package (upload + register code) and transform: the CloudFormation template to create."""
    template_path = Path(template_path)
    uploader = ArtifactUploader(s3_client, stack_name)
    uploader.ensure_bucket()
    packaged = package_template(load_template(template_path), template_path.parent, uploader)
    return transform_packaged(packaged, parameters, region)


def _stack_exists(cfn: Any, stack_name: str) -> bool:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return False
        raise
    return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)


def _submit(cfn: Any, stack_name: str, body: str, parameters: Mapping[str, str] | None) -> bool:
    """create_stack or update_stack; False when an update had nothing to change."""
    request: dict[str, Any] = {
        "StackName": stack_name,
        "TemplateBody": body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in (parameters or {}).items()],
        "Capabilities": CAPABILITIES,
    }
    if not _stack_exists(cfn, stack_name):
        cfn.create_stack(**request)
        return True
    try:
        cfn.update_stack(**request)
    except ClientError as error:
        if "No updates are to be performed" in str(error):
            return False
        raise
    return True


def wait_for_stack(cfn: Any, stack_name: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll describe_stacks until a terminal status (deadline ``timeout_s`` real seconds); raise unless *_COMPLETE."""
    deadline = time.monotonic() + timeout_s
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise DeployError(f"stack {stack_name} still {status} after {timeout_s}s")
        time.sleep(0.05)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise DeployError(f"stack {stack_name} ended {status}: {_failure_reasons(cfn, stack_name)}")
    return dict(stack)


def _failure_reasons(cfn: Any, stack_name: str) -> str:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    reasons = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e.get("ResourceStatus", "").endswith("FAILED")
    ]
    return "; ".join(reasons) or "no reason recorded"


def stack_outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def deploy_stack(
    template_path: Path,
    stack_name: str,
    parameters: dict[str, str] | None = None,
    *,
    endpoint_url: str | None = None,
    region: str = REGION,
    timeout_s: float = 60.0,
) -> dict[str, str]:
    """Deploy (create or update) ``template_path`` as ``stack_name``; return the stack outputs.

    Runs inside an active LocalCloud, or against a moto server at ``endpoint_url`` that lives in this process
    (the in-process Lambda's code registry and the schedule support must be in the same process).
    """
    install_cloudformation_support()
    s3, cfn = _clients(endpoint_url, region, timeout_s)
    transformed = build_cloudformation(Path(template_path), stack_name, parameters, s3, region)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        submitted = _submit(cfn, stack_name, json.dumps(transformed), parameters)
    _report_skipped_resources(caught)
    if submitted:
        stack = wait_for_stack(cfn, stack_name, timeout_s)
    else:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return stack_outputs(stack)


def _report_skipped_resources(caught: list[warnings.WarningMessage]) -> None:
    """One log line for the resource types moto cannot create (policies, alarms: inert locally)."""
    skipped: set[str] = set()
    for warning in caught:
        match = _UNSUPPORTED.search(str(warning.message))
        if match:
            skipped.add(match.group(1))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if skipped:
        LOG.info("not created locally (no moto CloudFormation support): %s", ", ".join(sorted(skipped)))


def delete_stack(stack_name: str, *, endpoint_url: str | None = None, region: str = REGION) -> None:
    """Delete the stack (resources included), as ``sam delete`` does."""
    _, cfn = _clients(endpoint_url, region)
    cfn.delete_stack(StackName=stack_name)
