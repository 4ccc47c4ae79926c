"""SAM -> CloudFormation, the way ``sam package`` + the ``AWS::Serverless-2016-10-31`` transform do it.

The transform is aws-sam-translator (the library CloudFormation itself runs). It only accepts code that
already lives in S3, so this module first does what ``sam package`` does:

- each function's local ``CodeUri`` and each layer's local ``ContentUri`` becomes an S3 location chosen by the
  caller's ``ArtifactResolver`` (deploy.py uploads real zips; ``transform_template`` alone uses a placeholder
  bucket, like a ``sam package`` dry run);
- each state machine's local ``DefinitionUri`` is inlined as ``Definition`` (``sam package`` uploads it to S3
  instead; the CloudFormation the translator produces is the same ``DefinitionString`` either way).

Nothing here knows about moto: the output is the CloudFormation that AWS would deploy, so static gates
(cfn-lint, checkov) can run on it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Where ``transform_template`` pretends code was uploaded when no resolver is given.
PLACEHOLDER_ARTIFACT_BUCKET = "kbsync-sam-artifacts"


@dataclass(frozen=True)
class LocalArtifact:
    """A local directory the template points at, to be uploaded before the transform."""

    logical_id: str
    kind: str  # "function" | "layer"
    source_dir: Path


#: Given a local artifact, return the (bucket, key) it was (or would be) uploaded to.
ArtifactResolver = Callable[[LocalArtifact], tuple[str, str]]


class SamTemplateError(ValueError):
    """The SAM template cannot be packaged or transformed; the message names the resource."""


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation short-form tags (!Ref, !GetAtt, !Sub, ...).

    A private subclass, so the process-wide ``yaml.SafeLoader`` is left untouched.
    """


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    value: Any
    if tag_suffix == "GetAtt" and isinstance(node, yaml.ScalarNode):
        value = str(loader.construct_scalar(node)).split(".", 1)
    elif isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(template_path: Path) -> dict[str, Any]:
    """Read a SAM/CloudFormation template (YAML or JSON, short-form intrinsics allowed)."""
    text = Path(template_path).read_text(encoding="utf-8")
    document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - _CfnLoader is a SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise SamTemplateError(f"{template_path}: not a CloudFormation/SAM template (no Resources)")
    return document


def _is_local_uri(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def local_artifacts(template: Mapping[str, Any], base_dir: Path) -> list[LocalArtifact]:
    """Every function code directory and layer content directory the template points at locally."""
    global_code_uri = template.get("Globals", {}).get("Function", {}).get("CodeUri")
    found: list[LocalArtifact] = []
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {}) or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            if properties.get("InlineCode") is not None or properties.get("ImageUri") is not None:
                continue
            code_uri = properties.get("CodeUri", global_code_uri)
            if code_uri is None:
                raise SamTemplateError(f"{logical_id}: function has no CodeUri (nor Globals.Function.CodeUri)")
            if _is_local_uri(code_uri):
                found.append(LocalArtifact(logical_id, "function", _existing_dir(base_dir, code_uri, logical_id)))
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            content_uri = properties.get("ContentUri")
            if isinstance(content_uri, str) and _is_local_uri(content_uri):
                found.append(LocalArtifact(logical_id, "layer", _existing_dir(base_dir, content_uri, logical_id)))
    return found


def _existing_dir(base_dir: Path, relative: str, logical_id: str) -> Path:
    path = (base_dir / relative).resolve()
    if not path.is_dir():
        raise SamTemplateError(f"{logical_id}: local path {relative!r} is not a directory under {base_dir}")
    return path


def placeholder_resolver(artifact: LocalArtifact) -> tuple[str, str]:
    """What ``sam package`` would write, without uploading anything."""
    return PLACEHOLDER_ARTIFACT_BUCKET, f"{artifact.logical_id}.zip"


def package_template(
    template: Mapping[str, Any], base_dir: Path, resolver: ArtifactResolver = placeholder_resolver
) -> dict[str, Any]:
    """Return a copy of ``template`` with local CodeUri/ContentUri/DefinitionUri rewritten (``sam package``)."""
    packaged = copy.deepcopy(dict(template))
    resources = packaged.get("Resources", {})
    for artifact in local_artifacts(packaged, base_dir):
        bucket, key = resolver(artifact)
        properties = resources[artifact.logical_id].setdefault("Properties", {})
        if artifact.kind == "function":
            properties["CodeUri"] = {"Bucket": bucket, "Key": key}
        else:
            properties["ContentUri"] = {"Bucket": bucket, "Key": key}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::StateMachine":
            _inline_definition(logical_id, resource.setdefault("Properties", {}), base_dir)
    return packaged


def _inline_definition(logical_id: str, properties: dict[str, Any], base_dir: Path) -> None:
    definition_uri = properties.get("DefinitionUri")
    if not isinstance(definition_uri, str) or not _is_local_uri(definition_uri):
        return
    path = (base_dir / definition_uri).resolve()
    if not path.is_file():
        raise SamTemplateError(f"{logical_id}: DefinitionUri {definition_uri!r} not found under {base_dir}")
    text = path.read_text(encoding="utf-8")
    try:
        definition = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_CfnLoader)  # noqa: S506
    except (ValueError, yaml.YAMLError) as error:
        raise SamTemplateError(f"{logical_id}: {definition_uri} is not valid JSON/YAML: {error}") from error
    del properties["DefinitionUri"]
    properties["Definition"] = definition


class BundledManagedPolicyLoader:
    """The translator's managed-policy loader, answered from the map bundled with aws-sam-translator.

    The stock loader lists policies through IAM; the bundled map is what the translator itself falls back to,
    and needs no IAM call (the local cloud has no AWS managed policies to list).
    """

    def __init__(self, partition: str = "aws") -> None:
        self.partition = partition

    def load(self) -> dict[str, str]:
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map

        return dict(get_bundled_managed_policy_map(self.partition) or {})


def is_sam_template(template: Mapping[str, Any]) -> bool:
    transform = template.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    return "AWS::Serverless-2016-10-31" in transforms


def transform_packaged(
    packaged: Mapping[str, Any], parameters: Mapping[str, str] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """Run the SAM transform on an already packaged template (no local paths left)."""
    if not is_sam_template(packaged):
        return copy.deepcopy(dict(packaged))
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # What samtranslator.translator.transform.transform does, but with an explicit session, so the region
    # comes from the caller rather than from whatever the environment happens to hold.
    loader = BundledManagedPolicyLoader(_partition(region))
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        return translator.translate(
            copy.deepcopy(dict(packaged)), dict(parameters or {}), get_managed_policy_map=loader.load
        )
    except InvalidDocumentException as error:
        causes = "; ".join(str(cause) for cause in error.causes)
        raise SamTemplateError(f"SAM transform failed: {causes}") from error


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def transform_template(
    template_path: Path,
    parameters: Mapping[str, str] | None = None,
    resolver: ArtifactResolver = placeholder_resolver,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """The CloudFormation template AWS would deploy for ``template_path`` (``sam package`` + SAM transform).

    With the default resolver, code locations are ``s3://kbsync-sam-artifacts/<LogicalId>.zip``
    placeholders: the form to hand to cfn-lint/checkov.
    """
    template_path = Path(template_path)
    packaged = package_template(load_template(template_path), template_path.parent, resolver)
    return transform_packaged(packaged, parameters, region)
