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
import time
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from kbsync.localcloud import code_registry, scheduler
from kbsync.localcloud.sam import LocalArtifact, load_template, package_template, transform_packaged

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


def install_cloudformation_support() -> None:
    """CloudFormation gaps of moto 5.2.5 that a SAM app hits, closed process-wide (idempotent).

    - ``AWS::Scheduler::Schedule``: modelled by scheduler.py (moto has none);
    - ``Ref`` of an ``AWS::Lambda::LayerVersion`` must be its LayerVersionArn (moto's model has no
      physical_resource_id, so Ref yields the Python object);
    - ``AWS::Lambda::Function`` ``Layers`` are ignored on create by moto (update applies them).
    """
    from moto.awslambda.models import LambdaFunction, LayerVersion

    scheduler.install()
    if not hasattr(LayerVersion, "physical_resource_id"):
        LayerVersion.physical_resource_id = property(_layer_version_physical_id)  # type: ignore[attr-defined]
    create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if not getattr(create, "_kbsync_wrapped", False):
        LambdaFunction.create_from_cloudformation_json = classmethod(_wrap_function_create(create))  # type: ignore[assignment,method-assign]


#: The adapter contract's name (kbsync.localcloud.adapters): this module can be listed in ADAPTER_MODULES.
install = install_cloudformation_support


def verify_moto_internals() -> None:
    """What install_cloudformation_support relies on (besides scheduler.verify_moto_internals)."""
    from moto.awslambda.models import LambdaFunction, LayerVersion

    from kbsync.localcloud.adapters import MotoInternalsChanged

    if not isinstance(getattr(LayerVersion, "arn", None), property):
        raise MotoInternalsChanged("moto awslambda LayerVersion.arn is no longer a property")
    if not callable(getattr(LambdaFunction, "_get_layers_data", None)):
        raise MotoInternalsChanged("moto awslambda LambdaFunction._get_layers_data(arns) is gone")
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


def _clients(endpoint_url: str | None, region: str) -> tuple[Any, Any]:
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client("s3", **kwargs), boto3.client("cloudformation", **kwargs)


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
    s3, cfn = _clients(endpoint_url, region)
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
