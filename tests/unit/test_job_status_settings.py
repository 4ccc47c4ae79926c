"""functions/get_job_status, loaded with the environment template.yaml gives GetJobStatusFunction: what it keeps of
a job's failure reasons is what the job-record contract allows (schemas/job-record.schema.json: failureReasons
maxItems 25, each maxLength 1024), since the same list is written to the record by RecordOutcome.

The limits are read from the contract itself (no environment knob); these tests load the module with the template's
environment (and none of the knobs it once read) and fail if what it keeps ever breaks the contract.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import kbsync_contracts
import pytest
from jsonschema import Draft202012Validator

from tests.helpers.functions import FUNCTIONS_DIR
from tests.helpers.sam import load_template

REASONS = kbsync_contracts.schema("job-record")["properties"]["failureReasons"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def template_environment() -> dict[str, str]:
    """The variables Lambda gives GetJobStatusFunction: the Globals' and its own (literal values only)."""
    template = load_template()
    variables: dict[str, Any] = dict(template["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    function = template["Resources"]["GetJobStatusFunction"]["Properties"]
    variables.update(function.get("Environment", {}).get("Variables", {}))
    return {name: value if isinstance(value, str) else "<intrinsic>" for name, value in variables.items()}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """functions/get_job_status/app.py imported afresh with the template's environment and no other tuning."""
    for name in ("MAX_FAILURE_REASONS", "POLL_WAIT_GROWTH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in template_environment().items():
        monkeypatch.setenv(name, value)
    module_name = "kbsync_fn_get_job_status_as_deployed"
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / "get_job_status" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[module_name]


def bedrock_job(reasons: list[str]) -> dict[str, Any]:
    """A GetIngestionJob `ingestionJob` as the API shapes it."""
    return {
        "knowledgeBaseId": "KB12345678",
        "dataSourceId": "DS12345678",
        "ingestionJobId": "JOB1234567",
        "status": "COMPLETE",
        "statistics": {"numberOfDocumentsScanned": 2048, "numberOfDocumentsFailed": len(reasons)},
        "failureReasons": reasons,
        "startedAt": NOW,
        "updatedAt": NOW,
    }


def test_the_deployed_function_keeps_what_the_job_record_contract_allows(deployed: ModuleType) -> None:
    assert (REASONS["maxItems"], REASONS["items"]["maxLength"]) == (25, 1024)
    reasons = [f"s3://bucket/doc-{i:04d}.pdf: " + "x" * 2_020 for i in range(2_048)]  # Bedrock's worst case
    view = deployed.job_status(bedrock_job(reasons))
    kept = view["failureReasons"]
    assert kept == [reason[: 1024 - 3] + "..." for reason in reasons[:25]]  # the first 25, each cut to 1024
    assert list(Draft202012Validator(REASONS).iter_errors(kept)) == []
    assert view["failureReasonsTotal"] == 2_048
    assert view["dynamodb"]["failureReasons"] == {"L": [{"S": reason} for reason in kept]}


def test_reasons_within_the_contract_are_kept_as_bedrock_wrote_them(deployed: ModuleType) -> None:
    reasons = [f"reason {i} " + "y" * (1024 - len(f"reason {i} ")) for i in range(25)]  # 25 of exactly 1024
    assert deployed.job_status(bedrock_job(reasons))["failureReasons"] == reasons
