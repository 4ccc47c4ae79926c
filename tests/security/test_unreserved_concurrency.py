"""No reserved concurrency by default: Lambda keeps 100 concurrent executions of an account unreserved, so a
reservation fails the deployment on accounts with a small concurrency limit (new accounts).
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html

UploadRouterConcurrency is "off unless set": 0 by default = no ReservedConcurrentExecutions on any function.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from kbsync_localcloud.sam import transform_template

from tests.security import cfn_names as n
from tests.security import properties as p

PARAMETER = "UploadRouterConcurrency"


def reservations(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """Function -> its ReservedConcurrentExecutions, as CloudFormation evaluates it for these parameter values."""
    resolver = n.Resolver(template, n.Stack("kbsync", "51af3dc0-da77-11e4-872e-1234567db123", parameters=parameters))
    found = {}
    for logical_id, function in p.resources(template, "AWS::Lambda::Function").items():
        properties = function.get("Properties") or {}
        if "ReservedConcurrentExecutions" in properties:
            value = resolver.resolve(properties["ReservedConcurrentExecutions"])
            if value is not n.NO_VALUE:
                found[logical_id] = value
    return found


def test_the_parameter_defaults_to_unreserved() -> None:
    parameter = p.deployed()["Parameters"][PARAMETER]
    assert str(parameter["Default"]) == "0"
    assert str(parameter["MinValue"]) == "0"
    assert "0 (default) = unreserved" in parameter["Description"]


def test_no_function_reserves_concurrency_with_the_defaults() -> None:
    assert reservations(p.deployed(), {}) == {}


@pytest.mark.parametrize("value", ["1", "25"])
def test_the_upload_router_reserves_what_is_set(value: str) -> None:
    template = transform_template(p.TEMPLATE, {PARAMETER: value})
    assert reservations(template, {PARAMETER: value}) == {"UploadRouterFunction": value}


def test_an_explicit_zero_reserves_nothing() -> None:
    assert reservations(transform_template(p.TEMPLATE, {PARAMETER: "0"}), {PARAMETER: "0"}) == {}


def test_the_readme_parameter_table_says_so() -> None:
    readme = (p.REPO / "README.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{PARAMETER}` \| ([^|]+) \|", readme, re.MULTILINE)
    assert row is not None, f"README.md's parameter table has no {PARAMETER} row"
    assert row.group(1).strip().startswith("0"), row.group(0)
