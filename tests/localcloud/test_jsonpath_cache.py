"""JSONPath expressions are parsed once per text, and states that use them give the same results as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.adapters import jsonpath_cache
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import output_of, run


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with LocalCloud(time_scale=0.002) as local:
        yield local.client("stepfunctions")


def test_each_path_text_is_parsed_once_by_both_parsers(sfn: Any) -> None:
    for module in jsonpath_cache._modules().values():
        assert module.parse("$.a.b") is module.parse("$.a.b")  # one parsed expression, shared
        assert module.parse("$.a.b") is not module.parse("$.a.c")


def test_paths_evaluated_through_the_cache_keep_their_aws_results(sfn: Any) -> None:
    definition = {
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "InputPath": "$.in",
                "Parameters": {"second.$": "$.items[1]", "all.$": "$.items[*].id", "n.$": "$.n"},
                "ResultPath": "$.shaped",
                "Next": "Again",
            },
            "Again": {
                "Type": "Pass",
                "Parameters": {"second.$": "$.shaped.second", "all.$": "$.shaped.all", "n.$": "$.shaped.n"},
                "ResultPath": "$.again",
                "OutputPath": "$.again",
                "End": True,
            },
        },
    }
    payload = {"in": {"n": 2, "items": [{"id": "a"}, {"id": "b"}]}}
    for _ in range(2):  # the second run is served from the cache
        assert output_of(run(sfn, definition, payload)[0]) == {"second": {"id": "b"}, "all": ["a", "b"], "n": 2}
