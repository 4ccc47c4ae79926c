"""The SAM template as CloudFormation, without an AWS account: local paths made translatable, then transformed.

aws-sam-translator refuses local CodeUri / ContentUri / DefinitionUri (sam build/deploy upload them first). For the
static gates we only need their shape: code URIs become placeholder S3 locations and the state machine definition
is inlined from its file (its ${...} placeholders stay, DefinitionSubstitutions is kept), so cfn-lint sees the real
definition after the transform.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
ARTIFACT_BUCKET = "kbsync-static-check-artifacts"

#: The managed policies SAM may attach by name (Tracing: Active adds AWSXrayWriteOnlyAccess).
MANAGED_POLICIES = {
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}


class StaticManagedPolicyLoader:
    """Answers SAM's managed-policy lookups without calling IAM."""

    def load(self) -> dict[str, str]:
        return dict(MANAGED_POLICIES)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml with its short-form intrinsics (!Ref, !Sub, ...) decoded to the long form."""
    loaded: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(path))))
    return loaded


def definition_file(template: dict[str, Any], logical_id: str = "IngestionSyncStateMachine") -> Path:
    return REPO / template["Resources"][logical_id]["Properties"]["DefinitionUri"]


def translatable(template: dict[str, Any]) -> dict[str, Any]:
    """A copy whose local code/definition URIs aws-sam-translator accepts."""
    result = copy.deepcopy(template)
    for resource in result["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://{ARTIFACT_BUCKET}/{props[key].strip('/')}.zip"
        if isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((REPO / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    return result


def transformed_template(path: Path = TEMPLATE, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation template SAM would deploy (definition inlined); no AWS call is made."""
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    result: dict[str, Any] = translator.translate(
        translatable(load_template(path)),
        parameter_values={},
        get_managed_policy_map=StaticManagedPolicyLoader().load,
    )
    return result
