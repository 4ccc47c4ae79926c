"""A definition is parsed once for all its executions, and concurrent executions sharing it stay independent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kbsync_localcloud.adapters import asl_program_cache
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import create_state_machine, output_of, wait_for_end


@pytest.fixture(scope="module")
def sfn() -> Iterator[Any]:
    with LocalCloud(time_scale=0.002) as local:
        yield local.client("stepfunctions")


DEFINITION = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.n", "seen.$": "States.Format('run {}', $.n)"},
            "Next": "Wait",
        },
        "Wait": {"Type": "Wait", "SecondsPath": "$.n", "Next": "Done"},
        "Done": {"Type": "Pass", "End": True},
    },
}


def test_one_parse_serves_every_execution_and_each_keeps_its_own_data(sfn: Any) -> None:
    parse = asl_program_cache._parser_cls().parse
    arn = create_state_machine(sfn, DEFINITION)  # parsed here (moto validates the definition): the cache is warm
    before = parse.cache_info()
    runs = [
        sfn.start_execution(stateMachineArn=arn, name=f"ex-{uuid.uuid4().hex[:10]}", input=json.dumps({"n": n}))
        for n in (1, 30, 2, 20)  # interleaved: the long ones still wait while the short ones finish
    ]
    outputs = [output_of(wait_for_end(sfn, run["executionArn"], 10)) for run in runs]
    assert outputs == [{"n": n, "seen": f"run {n}"} for n in (1, 30, 2, 20)]
    after = parse.cache_info()
    assert after.misses == before.misses  # no execution parsed the definition again
    assert after.hits - before.hits >= 4


def test_an_invalid_definition_is_still_refused_every_time(sfn: Any) -> None:
    for _ in range(2):
        with pytest.raises(ClientError, match="ASLParserException"):
            create_state_machine(sfn, {"States": {}})  # no StartAt
