"""The CLI reads facts, not traces: what it shows about a sync (which gated sync and round a job is, how long the
sync waited, who holds a data source) is written by the workflow into the job record and the sync gate's item, each
a contract (schemas/job-record.schema.json, schemas/gate-item.schema.json). Against the local cloud, the template
deployed as built."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import kbsync_contracts
from kbsync_localcloud.workflow import wait_until

from kbsync.cli import records
from kbsync.cli.errors import ExitCode
from tests.cli.support import Deployed, Target, cli

WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")


def _records(deployed: Deployed, t: Target) -> list[dict[str, Any]]:
    return records.history(deployed.client("dynamodb"), deployed.outputs["JobsTableName"], t.kb, t.ds)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_gated_sync_s_record_names_its_gate_execution_its_round_and_when_the_gate_was_entered(
    deployed: Deployed,
) -> None:
    t = deployed.new_target()
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT, "--json")
    assert result.code == ExitCode.OK, result.err
    ended = json.loads(result.out)
    [record] = _records(deployed, t)
    assert kbsync_contracts.problems("job-record", record) == []
    gate = deployed.client("stepfunctions").describe_execution(executionArn=ended["gate_execution_arn"])
    assert (record["gateExecutionArn"], record["round"]) == (ended["gate_execution_arn"], 1)
    assert record["executionArn"] == ended["execution_arn"] != record["gateExecutionArn"]
    assert abs((_time(record["gateEnteredAt"]) - gate["startDate"]).total_seconds()) < 0.01
    assert _time(record["gateEnteredAt"]) <= _time(record["startedAt"])

    shown = cli("show", record["ingestionJobId"], "--kb", t.kb, "--ds", t.ds)
    assert shown.code == ExitCode.OK, shown.err
    gate_name = ended["gate_execution_arn"].rsplit(":", 1)[-1]
    assert re.search(rf"\n  round +1 of sync gate execution {gate_name}\n", shown.out), shown.out
    assert re.search(r"\n  gate wait +\d", shown.out), shown.out


def test_an_ingestion_sync_started_directly_is_its_own_round_one(deployed: Deployed) -> None:
    """Started without the gate (by hand, as a runbook may): validate_request fills the gate facts in from the
    execution itself, so every record has them."""
    t = deployed.new_target()
    sfn = deployed.client("stepfunctions")
    request = {"knowledgeBaseId": t.kb, "dataSourceId": t.ds, "trigger": "manual", "reason": "by hand"}
    started = sfn.start_execution(
        stateMachineArn=deployed.outputs["IngestionSyncStateMachineArn"], input=json.dumps(request)
    )
    wait_until(
        lambda: sfn.describe_execution(executionArn=started["executionArn"])["status"] != "RUNNING",
        60,
        "the direct ingestion sync to end",
        interval=0.05,
    )
    [record] = _records(deployed, t)
    assert kbsync_contracts.problems("job-record", record) == []
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert (record["gateExecutionArn"], record["round"]) == (started["executionArn"], 1)
    assert abs((_time(record["gateEnteredAt"]) - described["startDate"]).total_seconds()) < 0.01
    shown = cli("show", record["ingestionJobId"], "--kb", t.kb, "--ds", t.ds)
    assert re.search(r"\n  round +1 started directly \(no sync gate\)\n", shown.out), shown.out


def test_the_gate_item_of_a_waiting_sync_keeps_its_contract_and_status_reads_it(deployed: Deployed) -> None:
    """Two data sources of one knowledge base: the second's gated sync holds its gate and waits for the knowledge
    base's job slot. Its GATE item (written by the sync gate's steps) is what `kbsync status` shows as WAITING."""
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.bedrock.seed import seed_data_source

    t = deployed.new_target()
    second = seed_data_source(t.kb, t.bucket, "other/", deployed.client("bedrock-agent"), name=f"facts-{t.ds}")
    faults().hang_next_jobs(1)
    assert cli("sync", "--kb", t.kb, "--ds", t.ds).code == 0
    agent = deployed.client("bedrock-agent")
    wait_until(
        lambda: any(
            j["status"] == "IN_PROGRESS"
            for j in agent.list_ingestion_jobs(knowledgeBaseId=t.kb, dataSourceId=t.ds)["ingestionJobSummaries"]
        ),
        30,
        "the first data source's job to run",
        interval=0.05,
    )
    waiting = cli("sync", "--kb", t.kb, "--ds", second, "--json")
    assert waiting.code == 0, waiting.err
    gate_execution = json.loads(waiting.out)["executionArn"]
    ddb, table = deployed.client("dynamodb"), deployed.outputs["TargetsTableName"]
    gate = wait_until(
        lambda: (lambda g: g if g and "rounds" in g else None)(records.gate(ddb, table, t.kb, second)),
        30,
        "the waiting sync's first round",
        interval=0.05,
    )
    assert kbsync_contracts.problems("gate-item", gate) == []
    assert (gate["holderArn"], gate["trigger"], gate["rounds"]) == (gate_execution, "manual", 1)
    rows = json.loads(cli("status", "--json").out)
    [row] = [r for r in rows if (r["knowledge_base_id"], r["data_source_id"]) == (t.kb, second)]
    assert (row["status"], row["execution_arn"], row["trigger"]) == ("WAITING", gate_execution, "manual")
    for ds in (second, t.ds):
        assert cli("stop", "--kb", t.kb, "--ds", ds, "--interval", "0.05", "--timeout", "60").code == 0
