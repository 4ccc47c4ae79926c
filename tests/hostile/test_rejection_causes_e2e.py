"""The sync gate and the nightly fan-out, deployed from template.yaml on the local cloud: a rejected input ends the
execution in KbSync.InvalidRequest whose Cause names every bad field as a JSON pointer into the execution's input and
the rule — never the Lambda error document with its stack trace. Nothing starts, nothing is recorded, no alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kbsync_localcloud.bench.triggers import TriggerRig

TIME_SCALE = 0.002
QUIET_S = 90


@pytest.fixture(scope="module")
def rig() -> Iterator[TriggerRig]:
    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=TIME_SCALE):
        yield TriggerRig.deploy({"SettleSeconds": "30"})


def _failed(rig: TriggerRig, output: str, name: str, document: Any) -> dict[str, Any]:
    sfn = rig.clients["stepfunctions"]
    arn = sfn.start_execution(stateMachineArn=rig.outputs[output], name=name, input=json.dumps(document))[
        "executionArn"
    ]
    rig.wait_until_quiet(QUIET_S)
    described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
    return described


def test_gate_and_fanout_rejections_name_the_field_and_the_rule(rig: TriggerRig) -> None:
    gate = _failed(
        rig,
        "SyncGateStateMachineArn",
        "manual-unstorable-reason",
        {"request": {"knowledgeBaseId": "KBAAAAAAA1", "dataSourceId": "DS1", "trigger": "manual", "reason": "\x1b[2J"}},
    )
    assert (gate["status"], gate["error"]) == ("FAILED", "KbSync.InvalidRequest"), gate.get("cause")
    assert gate["cause"].startswith("invalid gate input: /request/dataSourceId: ")
    assert "/request/reason: text: contains a control character U+001B at index 0" in gate["cause"]
    assert "stackTrace" not in gate["cause"] and "Traceback" not in gate["cause"]

    fanout = _failed(
        rig, "NightlyFanOutStateMachineArn", "schedule-unstorable", {"trigger": "schedule", "requestedBy": "n\x00"}
    )
    assert (fanout["status"], fanout["error"]) == ("FAILED", "KbSync.InvalidRequest")
    assert fanout["cause"] == (
        "invalid schedule payload: /requestedBy: text: contains a control character U+0000 at index 1"
        " (free text must be printable UTF-8)"
    )
    assert [i for i in rig.targets_table.scan()["Items"] if i["sk"] == "GATE"] == []
    assert rig.drain_alerts() == []
