"""``$$.Execution.StartTime`` is the ISO 8601 text AWS documents, not moto's datetime: a state machine can pass it
on to a child execution's input (kbsync's sync gate does: the round's ``gate.enteredAt``)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from kbsync_localcloud.cloud import LocalCloud

from tests.localcloud.lambda_fixtures.sfn_helpers import create_state_machine, wait_for_end


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(time_scale=0.01) as local:
        yield local


def test_the_execution_start_time_is_iso_8601_text_equal_to_the_described_start(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    definition = {
        "StartAt": "Facts",
        "States": {
            "Facts": {
                "Type": "Pass",
                "Parameters": {"input.$": "$", "facts": {"at.$": "$$.Execution.StartTime"}},
                "Next": "Merge",
            },
            "Merge": {
                "Type": "Pass",
                "Parameters": {"start.$": "$.facts.at", "merged.$": "States.JsonMerge($.input, $.facts, false)"},
                "End": True,
            },
        },
    }
    execution = sfn.start_execution(
        stateMachineArn=create_state_machine(sfn, definition), name=f"ex-{uuid.uuid4().hex[:8]}", input='{"a": 1}'
    )["executionArn"]
    ended = wait_for_end(sfn, execution, deadline_s=10)
    assert ended["status"] == "SUCCEEDED", ended
    output = json.loads(ended["output"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", output["start"]), output
    started = datetime.fromisoformat(output["start"].replace("Z", "+00:00"))
    assert abs((started - ended["startDate"]).total_seconds()) < 0.001
    assert output["merged"] == {"a": 1, "at": output["start"]}
