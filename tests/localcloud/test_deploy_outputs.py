"""deploy_stack on the local cloud: one tiny-app stack shared by read-only checks (a deploy costs about a second).

Kept apart from test_deploy.py so the module-scoped cloud never nests with a per-test one.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from kbsync_localcloud import code_registry
from kbsync_localcloud.cloud import LocalCloud
from kbsync_localcloud.deploy import ARTIFACTS_BUCKET, deploy_stack

TINY = Path(__file__).parent / "tiny_app"
TEMPLATE = TINY / "template.yaml"
PARAMETERS = {"KnowledgeBaseId": "KB12345678", "DataSourceId": "DS12345678"}


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[LocalCloud, dict[str, str]]]:
    """One tiny-app stack shared by the read-only deploy tests (a deploy costs about a second)."""
    with LocalCloud(time_scale=0.001) as local:
        yield local, deploy_stack(TEMPLATE, "tiny", PARAMETERS)


def test_deploy_uploads_code_registers_it_and_returns_outputs(deployed: tuple[LocalCloud, dict[str, str]]) -> None:
    cloud, outputs = deployed
    assert set(outputs) == {"StateMachineArn", "StateMachineName", "BucketName", "TableName", "TopicArn"}
    assert outputs["StateMachineArn"].endswith(":stateMachine:" + outputs["StateMachineName"])
    keys = [o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=ARTIFACTS_BUCKET)["Contents"]]
    function_key = next(k for k in keys if "/DescribeFunction-" in k)
    layer_key = next(k for k in keys if "/HelperLayer-" in k)
    assert code_registry.source_dir_for(ARTIFACTS_BUCKET, function_key) == (TINY / "function").resolve()
    layer_zip = cloud.client("s3").get_object(Bucket=ARTIFACTS_BUCKET, Key=layer_key)["Body"].read()
    assert "python/kbsync_tiny/greeting.py" in zipfile.ZipFile(io.BytesIO(layer_zip)).namelist()


def test_function_layers_reference_the_layer_version_arn(deployed: tuple[LocalCloud, dict[str, str]]) -> None:
    cloud, _ = deployed
    (layer,) = cloud.client("lambda").list_layers()["Layers"]
    configuration = cloud.client("lambda").get_function_configuration(FunctionName=_function_name(cloud))
    assert [entry["Arn"] for entry in configuration["Layers"]] == [layer["LatestMatchingVersion"]["LayerVersionArn"]]


def _function_name(cloud: LocalCloud) -> str:
    (function,) = cloud.client("lambda").list_functions()["Functions"]
    return str(function["FunctionName"])


def test_deployed_state_machine_has_substitutions_applied(deployed: tuple[LocalCloud, dict[str, str]]) -> None:
    cloud, outputs = deployed
    sfn = cloud.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=outputs["StateMachineArn"])["definition"])
    assert "${" not in json.dumps(definition)
    assert definition["States"]["Record"]["Parameters"]["TableName"] == outputs["TableName"]
    assert definition["States"]["Notify"]["Parameters"]["TopicArn"] == outputs["TopicArn"]
    assert definition["States"]["StartIngestion"]["Parameters"]["KnowledgeBaseId"] == "KB12345678"
    assert definition["States"]["Describe"]["Parameters"]["FunctionName"].endswith(_function_name(cloud))
