"""Every kbsync command against the local cloud (the product template deployed in-process), with its error paths:
exit code and the one line printed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kbsync_localcloud.workflow import wait_until

from kbsync.cli.errors import ExitCode
from tests.cli.support import Deployed, Target, cli

WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")


def poll(condition: Callable[[], Any], what: str, deadline_s: float = 30.0) -> Any:
    """Poll until `condition()` is truthy; fail naming `what` at the deadline (workflow.wait_until)."""
    return wait_until(condition, deadline_s, what, interval=0.05)


def history(t: Target, *extra: str) -> list[dict[str, Any]]:
    result = cli("history", "--kb", t.kb, "--ds", t.ds, "--json", *extra)
    assert result.code == 0, result.err
    rows: list[dict[str, Any]] = json.loads(result.out)
    return rows


def faults() -> Any:
    from kbsync_localcloud.bedrock import faults as bedrock_faults

    return bedrock_faults()


def test_sync_wait_complete_then_history_and_show(deployed: Deployed) -> None:
    t = deployed.new_target()
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, "--reason", "cli test", *WAIT)
    assert result.code == ExitCode.OK, result.err
    assert f"started manual-{t.kb}-{t.ds}-" in result.out
    last = result.out.strip().splitlines()
    assert any(line.startswith("COMPLETE  job ") and "scanned 2  indexed 2  failed 0" in line for line in last)
    assert "\x1b[" not in result.out  # piped: plain text

    [record] = history(t)
    assert (record["status"], record["trigger"], record["reason"]) == ("COMPLETE", "manual", "cli test")
    table = cli("history", "--kb", t.kb, "--ds", t.ds)
    assert table.code == 0
    assert table.out.splitlines()[0].split() == [
        "STARTED", "JOB", "STATUS", "TRIGGER", "TRY", "SCANNED", "INDEXED", "DELETED", "FAILED", "TOOK", "NOTE",
    ]  # fmt: skip
    assert record["ingestionJobId"] in table.out.splitlines()[1]

    shown = cli("show", record["ingestionJobId"])
    assert shown.code == 0, shown.err
    assert "documents scanned" in shown.out and "Failure reasons (none)" in shown.out
    assert "none (no alert for this status)" in shown.out
    assert record["executionArn"] in shown.out


def test_sync_wait_partial_exits_3_and_show_names_every_reason(deployed: Deployed) -> None:
    t = deployed.new_target({"ok.md": b"# ok\n", "setup.exe": b"MZ", "tool.bin": b"\x00"})
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
    assert result.code == ExitCode.PARTIAL, result.out + result.err
    assert "alert: PARTIAL (WARNING), runbook https://github.com/kbsync/kbsync/blob/main/runbooks/sync-partial.md" in (
        result.out
    )
    [record] = history(t, "--status", "PARTIAL")
    shown = cli("show", record["ingestionJobId"], "--kb", t.kb, "--ds", t.ds)
    assert shown.code == 0
    assert "Failure reasons (2)" in shown.out
    assert f"s3://{t.bucket}/docs/setup.exe" in shown.out and f"s3://{t.bucket}/docs/tool.bin" in shown.out
    assert f"rerun    kbsync rerun {record['ingestionJobId']}" in shown.out
    as_json = json.loads(cli("show", record["ingestionJobId"], "--json").out)
    assert as_json["ingestionJob"]["status"] == "COMPLETE"
    assert as_json["record"]["status"] == "PARTIAL"


def test_sync_wait_failed_on_a_missing_bucket_exits_4(deployed: Deployed) -> None:
    t = deployed.new_target(bucket_exists=False)
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
    assert result.code == ExitCode.FAILED, result.out + result.err
    assert "FAILED" in result.out and "bucket does not exist" in result.out
    assert "runbooks/sync-failed.md" in result.out
    failed = history(t, "--status", "FAILED")  # one record per attempt (MaxStartAttempts = 3), newest first
    assert [(r["status"], r["attempt"]) for r in failed] == [("FAILED", 3), ("FAILED", 2), ("FAILED", 1)]


def test_running_job_refuses_sync_and_rerun_shows_in_status_and_stops(deployed: Deployed) -> None:
    t = deployed.new_target()
    faults().hang_next_jobs(1)
    started = cli("sync", "--kb", t.kb, "--ds", t.ds, "--json")
    assert started.code == 0, started.err
    execution_arn = json.loads(started.out)["executionArn"]

    def running_row() -> dict[str, Any] | None:
        rows = json.loads(cli("status", "--kb", t.kb, "--ds", t.ds, "--json").out)
        return next((r for r in rows if r["job_id"] and r["status"] == "IN_PROGRESS"), None)

    row = poll(running_row, "the hanging job to show IN_PROGRESS in `kbsync status`")
    job = row["job_id"]
    everything = cli("status")
    assert everything.code == 0 and job in everything.out and "IN_PROGRESS" in everything.out

    refused = cli("sync", "--kb", t.kb, "--ds", t.ds)
    assert refused.code == ExitCode.JOB_RUNNING
    gate_name = execution_arn.rsplit(":", 1)[-1]  # the execution `kbsync sync` printed
    assert refused.err.startswith(f"kbsync: already running: {gate_name} (job {job} in progress, started ")
    assert refused.err.rstrip().endswith(
        f"; wait for it (`kbsync status --kb {t.kb} --ds {t.ds}`) or stop it (`kbsync stop --kb {t.kb} --ds {t.ds}`)"
    )
    assert cli("rerun", execution_arn).code == ExitCode.JOB_RUNNING

    stopped = cli("stop", "--kb", t.kb, "--ds", t.ds, "--interval", "0.05", "--timeout", "60")
    assert stopped.code == ExitCode.OK, stopped.out + stopped.err
    assert stopped.out.startswith(f"stop requested for job {job} (knowledge base {t.kb} / data source {t.ds})\n")
    assert "job job" not in stopped.out and "stopped outside kbsync" not in stopped.out
    assert f"  stopped by `kbsync stop --kb {t.kb} --ds {t.ds}`: the STOPPED alert went out" in stopped.out
    assert "STOPPED" in stopped.out and "runbooks/sync-stopped.md" in stopped.out
    assert [r["status"] for r in history(t)] == ["STOPPED"]

    nothing = cli("stop", "--kb", t.kb, "--ds", t.ds)
    assert nothing.code == ExitCode.NOTHING_RUNNING
    assert nothing.err == (
        f"kbsync: nothing is running for knowledge base {t.kb} / data source {t.ds}: "
        f"see `kbsync history --kb {t.kb} --ds {t.ds}`\n"
    )
    assert cli("status", "--kb", t.kb, "--ds", t.ds).out == "nothing running\n"


def test_rerun_by_job_id_and_by_execution_arn(deployed: Deployed) -> None:
    t = deployed.new_target()
    assert cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT).code == 0
    [first] = history(t)
    again = cli("rerun", first["ingestionJobId"], *WAIT)
    assert again.code == ExitCode.OK, again.out + again.err
    newest = history(t)[0]
    assert newest["reason"] == f"rerun of job {first['ingestionJobId']}"
    assert newest["trigger"] == "manual"

    by_arn = cli("rerun", newest["executionArn"], "--json")
    assert by_arn.code == ExitCode.OK, by_arn.err
    request = json.loads(by_arn.out)["request"]
    assert request["reason"] == f"rerun of job {newest['ingestionJobId']}"
    sfn = deployed.client("stepfunctions")
    arn = json.loads(by_arn.out)["executionArn"]
    assert arn.startswith(deployed.outputs["SyncGateStateMachineArn"].replace(":stateMachine:", ":execution:"))
    poll(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", "the rerun to end")
    described = json.loads(sfn.describe_execution(executionArn=arn)["input"])
    assert described == {"request": request, "settleSeconds": 0, "ifBusy": "skip"}  # manual: no settle, no queue

    of_gate = cli("rerun", arn, *WAIT, "--json")  # the sync-gate execution kbsync printed is a rerun target too
    assert of_gate.code == ExitCode.OK, of_gate.err
    assert json.loads(of_gate.out)["request"]["reason"] == f"rerun of job {history(t)[1]['ingestionJobId']}"


def test_sync_goes_through_the_gate_and_wait_follows_its_ingestion_sync(deployed: Deployed) -> None:
    t = deployed.new_target()
    result = cli("sync", "--kb", t.kb, "--ds", t.ds, *WAIT, "--json")
    assert result.code == ExitCode.OK, result.err
    ended = json.loads(result.out)
    gate_prefix = deployed.outputs["SyncGateStateMachineArn"].replace(":stateMachine:", ":execution:")
    sync_prefix = deployed.outputs["IngestionSyncStateMachineArn"].replace(":stateMachine:", ":execution:")
    assert ended["gate_execution_arn"].startswith(gate_prefix + ":manual-")
    assert ended["execution_arn"].startswith(sync_prefix + ":manual-")  # the round's ingestion-sync execution
    assert (ended["outcome"], ended["exitCode"], ended["record"]["status"]) == ("COMPLETE", 0, "COMPLETE")
    [record] = history(t)
    assert record["executionArn"] == ended["execution_arn"]
    gate = deployed.client("stepfunctions").describe_execution(executionArn=ended["gate_execution_arn"])
    assert gate["status"] == "SUCCEEDED"


def test_sync_refused_when_the_gate_is_held_without_a_running_execution(deployed: Deployed) -> None:
    """Another trigger holds the data source's gate (e.g. an upload router that just took it): the gate's own
    answer is "not started", shown as the one refusal line, exit 7, and nothing runs."""
    t = deployed.new_target()
    targets = deployed.cloud.client("dynamodb")
    holder = f"s3-{t.kb}-{t.ds}-20261122T050403-up01"
    key = {"pk": {"S": f"DS#{t.kb}#{t.ds}"}, "sk": {"S": "GATE"}}
    item = {**key, "holder": {"S": holder}, "changeSeq": {"N": "1"}, "leaseUntil": {"N": str(int(time.time()) + 600)}}
    targets.put_item(TableName=deployed.outputs["TargetsTableName"], Item=item)
    try:
        refused = cli("sync", "--kb", t.kb, "--ds", t.ds)
    finally:
        targets.delete_item(TableName=deployed.outputs["TargetsTableName"], Key=key)
    assert refused.code == ExitCode.JOB_RUNNING, refused.out + refused.err
    assert refused.err == (
        f"kbsync: already running: {holder} (it holds the sync gate of this data source, no ingestion job yet); wait "
        f"for it (`kbsync status --kb {t.kb} --ds {t.ds}`) or stop it (`kbsync stop --kb {t.kb} --ds {t.ds}`)\n"
    )
    assert history(t) == []


def test_wait_follows_every_round_of_the_gate_and_exits_by_the_last(deployed: Deployed) -> None:
    """An upload during the manual job marks the gate dirty: the gate runs one more round; `--wait` shows the first
    round's end (here STOPPED), follows the second, and exits by it (COMPLETE = 0)."""
    t = deployed.new_target()
    assert cli("targets", "add", "--kb", t.kb, "--ds", t.ds, "--no-nightly").code == 0
    faults().hang_next_jobs(1)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(cli, "sync", "--kb", t.kb, "--ds", t.ds, *WAIT)
        agent = deployed.client("bedrock-agent")

        def hanging_job() -> str | None:
            jobs = agent.list_ingestion_jobs(knowledgeBaseId=t.kb, dataSourceId=t.ds)["ingestionJobSummaries"]
            return next((j["ingestionJobId"] for j in jobs if j["status"] == "IN_PROGRESS"), None)

        job = poll(hanging_job, "the first round's job to run")
        deployed.client("s3").put_object(Bucket=t.bucket, Key=t.prefix + "late.md", Body=b"# late\n")
        poll(lambda: _gate_change_seq(deployed, t) >= 2, "the upload to be counted on the gate")
        agent.stop_ingestion_job(knowledgeBaseId=t.kb, dataSourceId=t.ds, ingestionJobId=job)
        result = waiting.result(timeout=120)
    assert result.code == ExitCode.OK, result.out + result.err
    assert f"STOPPED  job {job}" in result.out
    assert "the sync gate runs one more round" in result.out
    assert result.out.rstrip().splitlines()[-2].startswith("COMPLETE  job ")
    assert [r["status"] for r in history(t)] == ["COMPLETE", "STOPPED"]


def _gate_change_seq(deployed: Deployed, t: Target) -> int:
    item = (
        deployed.client("dynamodb")
        .get_item(
            TableName=deployed.outputs["TargetsTableName"],
            Key={"pk": {"S": f"DS#{t.kb}#{t.ds}"}, "sk": {"S": "GATE"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return int(item["changeSeq"]["N"]) if item else 0


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", "NOSUCHJOB1"], ExitCode.NOT_FOUND, "no ingestion job NOSUCHJOB1: no kbsync job record of it"),
        (["rerun", "NOSUCHJOB1"], ExitCode.NOT_FOUND, "no ingestion job NOSUCHJOB1: no kbsync job record of it"),
        (
            ["rerun", "arn:aws:states:us-east-1:123456789012:execution:nope:manual-x"],
            ExitCode.NOT_FOUND,
            "execution arn:aws:states:us-east-1:123456789012:execution:nope:manual-x not found",
        ),
        (["--stack-name", "nope", "status"], ExitCode.NOT_FOUND, "stack 'nope' not found in region us-east-1 (from"),
        (["status", "--stack-name", "nope"], ExitCode.NOT_FOUND, "stack 'nope' not found in region us-east-1 (from"),
    ],
)
def test_not_found_paths(deployed: Deployed, argv: list[str], code: ExitCode, message: str) -> None:
    result = cli(*argv)
    assert result.code == code
    assert result.err.startswith(f"kbsync: {message}")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_unknown_data_source(deployed: Deployed) -> None:
    t = deployed.new_target()
    for argv in (["sync", "--kb", t.kb, "--ds", "ZZZZZZZZZZ"], ["history", "--kb", t.kb, "--ds", "ZZZZZZZZZZ"]):
        result = cli(*argv)
        assert result.code == ExitCode.NOT_FOUND
        assert result.err == (
            f"kbsync: unknown data source ZZZZZZZZZZ of knowledge base {t.kb}: list them with "
            f"`aws bedrock-agent list-data-sources --knowledge-base-id {t.kb} --region us-east-1`\n"
        )


def test_no_credentials(deployed: Deployed, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = cli("status")
    assert result.code == ExitCode.AWS
    assert result.err.startswith("kbsync: no AWS credentials found for profile 'default': run `aws configure`")


def test_unknown_profile(deployed: Deployed) -> None:
    result = cli("--profile", "no-such-profile", "status")
    assert result.code == ExitCode.AWS
    assert "no-such-profile" in result.err and "--profile" in result.err


def test_fire_schedule_in_process(deployed: Deployed) -> None:
    t = deployed.new_target()
    scheduler = deployed.client("scheduler")
    request = {"knowledgeBaseId": t.kb, "dataSourceId": t.ds, "trigger": "schedule", "requestedBy": "nightly"}
    scheduler.create_schedule(
        Name="cli-test-nightly",
        ScheduleExpression="cron(0 2 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": deployed.outputs["IngestionSyncStateMachineArn"],
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps(request),
        },
        State="DISABLED",
    )
    disabled = cli("local", "fire-schedule", "cli-test-nightly")
    assert disabled.code == ExitCode.USAGE
    assert "DISABLED" in disabled.err and "--force" in disabled.err
    fired = cli("local", "fire-schedule", "cli-test-nightly", "--force", "--json")
    assert fired.code == 0, fired.err
    arn = json.loads(fired.out)["ExecutionArn"]
    sfn = deployed.client("stepfunctions")
    poll(lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", "the scheduled sync to end")
    assert [r["trigger"] for r in history(t)] == ["schedule"]

    missing = cli("local", "fire-schedule", "no-such-schedule")
    assert missing.code == ExitCode.NOT_FOUND
    assert "aws scheduler list-schedules" in missing.err


def test_endpoint_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    result = cli("--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1", "status")
    assert result.code == ExitCode.AWS
    assert result.err.startswith("kbsync: cannot reach http://127.0.0.1:9/")


def test_stop_of_a_gated_sync_waiting_for_its_turn_frees_the_data_source(deployed: Deployed) -> None:
    """Two data sources of one knowledge base: the second's gated sync waits for the knowledge base's job slot.
    `kbsync status` shows it WAITING; `kbsync stop` stops it before any job, the catch-all releases its gate, and
    the data source can be synced again. (moto's StopExecution drops the error name, so that the catch-all must not
    take it for a `KbSync.*` one is pinned by the service unit test, not here.)"""
    from kbsync_localcloud.bedrock.seed import seed_data_source

    t = deployed.new_target()
    second = seed_data_source(t.kb, t.bucket, "other/", deployed.client("bedrock-agent"), name=f"second-{t.ds}")
    faults().hang_next_jobs(1)
    assert cli("sync", "--kb", t.kb, "--ds", t.ds).code == 0
    agent = deployed.client("bedrock-agent")
    poll(
        lambda: any(
            j["status"] == "IN_PROGRESS"
            for j in agent.list_ingestion_jobs(knowledgeBaseId=t.kb, dataSourceId=t.ds)["ingestionJobSummaries"]
        ),
        "the first data source's job to run",
    )
    waiting = cli("sync", "--kb", t.kb, "--ds", second, "--json")
    assert waiting.code == 0, waiting.err
    gate_execution = json.loads(waiting.out)["executionArn"]
    [row] = json.loads(cli("status", "--kb", t.kb, "--ds", second, "--json").out)
    assert (row["status"], row["job_id"], row["execution_arn"]) == ("WAITING", None, gate_execution)

    stopped = cli("stop", "--kb", t.kb, "--ds", second, "--interval", "0.05", "--timeout", "60")
    assert stopped.code == ExitCode.OK, stopped.out + stopped.err
    assert stopped.out.startswith(f"stopped execution {gate_execution.rsplit(':', 1)[-1]} (knowledge base {t.kb} / ")
    gates = deployed.client("dynamodb")
    key = {"pk": {"S": f"DS#{t.kb}#{second}"}, "sk": {"S": "GATE"}}
    table = deployed.outputs["TargetsTableName"]
    poll(lambda: "Item" not in gates.get_item(TableName=table, Key=key, ConsistentRead=True), "the gate's release")

    assert cli("stop", "--kb", t.kb, "--ds", t.ds, "--interval", "0.05", "--timeout", "60").code == 0
    again = cli("sync", "--kb", t.kb, "--ds", second, *WAIT)
    assert again.code == ExitCode.OK, again.out + again.err
