"""On-call's whole path with the knowledge base's logs on: the product template deployed with KnowledgeBaseLogs=on,
`kbsync logs enable` on a knowledge base, a sync with unsupported files, then the PARTIAL alert read with
`kbsync alerts` names the files by reason, and `kbsync show` lists them from the record.

The Bedrock emulator delivers its application log events only where a CloudWatch Logs delivery of the knowledge base
points (as on AWS), so the delivery `kbsync logs enable` creates is what makes the names appear.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kbsync_localcloud.workflow import wait_until

from kbsync.cli.errors import ExitCode
from tests.cli.support import REPO, TIME_SCALE, Deployed, cli, drain

WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", {"KnowledgeBaseLogs": "on"})
        yield Deployed(cloud, outputs)
        drain(cloud)


def poll(condition: Callable[[], Any], what: str, deadline_s: float = 60.0) -> Any:
    return wait_until(condition, deadline_s, what, interval=0.05)


def test_with_logs_enabled_the_partial_alert_and_show_name_the_failed_files(deployed: Deployed) -> None:
    assert "KnowledgeBaseLogDestinationArn" in deployed.outputs, sorted(deployed.outputs)
    t = deployed.new_target({"ok.md": b"# ok\n", "setup.exe": b"MZ", "tool.bin": b"\x00"})
    enabled = cli("logs", "enable", "--knowledge-base-id", t.kb)
    assert enabled.code == ExitCode.OK, enabled.err
    assert cli("alerts", "--json").code == ExitCode.OK  # an empty inbox: only this test's alert below

    synced = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
    assert synced.code == ExitCode.PARTIAL, synced.out + synced.err

    def partial_alert() -> dict[str, Any] | None:
        read = cli("alerts", "--json", "--keep")
        assert read.code == ExitCode.OK, read.err
        return next(
            (a for a in json.loads(read.out) if a["alertType"] == "PARTIAL" and a["knowledgeBaseId"] == t.kb), None
        )

    alert = poll(partial_alert, f"the PARTIAL alert of knowledge base {t.kb}")
    named = " ".join(alert["documents"])
    assert alert["documentsSummary"].startswith("named by the knowledge base's logs: ")
    assert f"{t.prefix}setup.exe" in named and f"{t.prefix}tool.bin" in named
    assert f"{t.prefix}ok.md" not in named

    [record] = json.loads(cli("history", "--kb", t.kb, "--ds", t.ds, "--json", "--limit", "1").out)
    shown = cli("show", record["ingestionJobId"], "--kb", t.kb, "--ds", t.ds)
    assert shown.code == ExitCode.OK, shown.err
    assert "Failed documents (" in shown.out
    assert f"    {t.prefix}setup.exe" in shown.out and f"    {t.prefix}tool.bin" in shown.out
