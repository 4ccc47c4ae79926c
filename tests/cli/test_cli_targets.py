"""`kbsync targets add|list|remove|nightly` against the local cloud (the product template deployed in-process): the
registry in the stack's TargetsTable, the bucket's EventBridge notifications, and each error's line and exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from kbsync.cli.errors import ExitCode
from kbsync.cli.render import PLAIN
from kbsync.cli.views import targets_table
from tests.cli.support import Deployed, Target, cli


def poll(condition: Callable[[], Any], what: str, deadline_s: float = 30.0) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {deadline_s}s waiting for {what}")


def listed(t: Target) -> dict[str, Any] | None:
    result = cli("targets", "list", "--json")
    assert result.code == 0, result.err
    return next((r for r in json.loads(result.out) if (r["knowledgeBaseId"], r["dataSourceId"]) == (t.kb, t.ds)), None)


def test_add_registers_from_bedrock_turns_on_bucket_events_and_is_idempotent(deployed: Deployed) -> None:
    t = deployed.new_target()
    added = cli("targets", "add", "--kb", t.kb, "--ds", t.ds)
    assert added.code == ExitCode.OK, added.err
    assert added.out.startswith(f"registered {t.kb}/{t.ds} (")
    assert f"s3://{t.bucket}/{t.prefix}, nightly on" in added.out
    assert f"S3 EventBridge notifications are on for bucket {t.bucket}" in added.out
    # The bucket now notifies EventBridge: an upload starts an on-upload sync of this target through the gate.
    deployed.client("s3").put_object(Bucket=t.bucket, Key=t.prefix + "new.md", Body=b"# new\n")
    sfn = deployed.client("stepfunctions")
    gate = deployed.outputs["SyncGateStateMachineArn"]
    poll(
        lambda: any(
            e["name"].startswith(f"s3-{t.kb}-{t.ds}-") for e in sfn.list_executions(stateMachineArn=gate)["executions"]
        ),
        "the upload to start an on-upload sync",
    )

    row = listed(t)
    assert row is not None
    assert (row["bucketName"], row["inclusionPrefixes"], row["nightly"]) == (t.bucket, [t.prefix], True)

    again = cli("targets", "add", "--kb", t.kb, "--ds", t.ds, "--json")
    assert again.code == ExitCode.OK, again.err
    assert (json.loads(again.out)["created"], json.loads(again.out)["changed"]) == (False, False)
    plain = cli("targets", "add", "--kb", t.kb, "--ds", t.ds)
    assert plain.out.startswith(f"already registered, unchanged: {t.kb}/{t.ds} (")
    assert listed(t) == row  # one target, registeredAt kept

    table = cli("targets", "list")
    assert table.code == 0
    assert table.out.splitlines()[0].split() == [
        "KNOWLEDGE", "BASE", "DATA", "SOURCE", "NIGHTLY", "BUCKET", "PREFIXES", "REGISTERED", "NAME",
    ]  # fmt: skip
    assert any(line.split()[:5] == [t.kb, t.ds, "on", t.bucket, t.prefix] for line in table.out.splitlines())


def test_nightly_off_and_on_and_add_without_nightly(deployed: Deployed) -> None:
    t = deployed.new_target()
    added = cli("targets", "add", "--kb", t.kb, "--ds", t.ds, "--no-nightly")
    assert added.code == ExitCode.OK and "nightly off" in added.out
    on = cli("targets", "nightly", "--kb", t.kb, "--ds", t.ds, "on")
    assert on.code == ExitCode.OK, on.err
    assert on.out.startswith(f"nightly on: {t.kb}/{t.ds} (")
    assert listed(t)["nightly"] is True  # type: ignore[index]
    off = cli("targets", "nightly", "--kb", t.kb, "--ds", t.ds, "off", "--json")
    assert off.code == ExitCode.OK and json.loads(off.out)["nightly"] is False
    assert listed(t)["nightly"] is False  # type: ignore[index]
    readded = cli("targets", "add", "--kb", t.kb, "--ds", t.ds)  # add without --no-nightly: nightly back on
    assert readded.out.startswith(f"updated {t.kb}/{t.ds} (") and "nightly on" in readded.out


def test_remove_then_the_target_is_gone_and_a_second_remove_says_so(deployed: Deployed) -> None:
    t = deployed.new_target()
    assert cli("targets", "add", "--kb", t.kb, "--ds", t.ds).code == 0
    removed = cli("targets", "remove", "--kb", t.kb, "--ds", t.ds)
    assert removed.code == ExitCode.OK, removed.err
    assert removed.out == f"removed {t.kb}/{t.ds}: no new sync starts for it (a sync already running finishes)\n"
    assert listed(t) is None
    not_registered = (
        f"kbsync: {t.kb}/{t.ds} is not a registered target: see `kbsync targets list`, or register it with "
        f"`kbsync targets add --kb {t.kb} --ds {t.ds}`\n"
    )
    again = cli("targets", "remove", "--kb", t.kb, "--ds", t.ds)
    assert (again.code, again.err) == (ExitCode.NOT_FOUND, not_registered)
    nightly = cli("targets", "nightly", "--kb", t.kb, "--ds", t.ds, "off")
    assert (nightly.code, nightly.err) == (ExitCode.NOT_FOUND, not_registered)
    assert listed(t) is None  # set_nightly never creates a half target


def test_unknown_knowledge_base_and_data_source_are_named_and_nothing_is_written(deployed: Deployed) -> None:
    t = deployed.new_target()
    unknown_kb = cli("targets", "add", "--kb", "ZZZZZZZZZZ", "--ds", t.ds)
    assert (unknown_kb.code, unknown_kb.err) == (
        ExitCode.NOT_FOUND,
        "kbsync: unknown knowledge base ZZZZZZZZZZ: list them with "
        "`aws bedrock-agent list-knowledge-bases --region us-east-1`\n",
    )
    unknown_ds = cli("targets", "add", "--kb", t.kb, "--ds", "ZZZZZZZZZZ")
    assert (unknown_ds.code, unknown_ds.err) == (
        ExitCode.NOT_FOUND,
        f"kbsync: unknown data source ZZZZZZZZZZ of knowledge base {t.kb}: list them with "
        f"`aws bedrock-agent list-data-sources --knowledge-base-id {t.kb} --region us-east-1`\n",
    )
    assert cli("targets", "add", "--kb", "short", "--ds", t.ds).code == ExitCode.USAGE  # argparse names it
    names = {(r["knowledgeBaseId"], r["dataSourceId"]) for r in json.loads(cli("targets", "list", "--json").out)}
    assert ("ZZZZZZZZZZ", t.ds) not in names and (t.kb, "ZZZZZZZZZZ") not in names


def test_a_data_source_whose_bucket_is_missing_is_not_registered(deployed: Deployed) -> None:
    t = deployed.new_target(bucket_exists=False)
    result = cli("targets", "add", "--kb", t.kb, "--ds", t.ds)
    assert result.code == ExitCode.NOT_FOUND, result.out + result.err
    assert result.err == (
        f"kbsync: the bucket of data source {t.kb}/{t.ds} does not exist: create it, or fix the data source's S3 "
        "configuration, then add the target again\n"
    )
    assert listed(t) is None


def test_a_stack_without_the_registry_says_so(deployed: Deployed) -> None:
    result = cli("--stack-name", "nope", "targets", "list")
    assert result.code == ExitCode.NOT_FOUND and result.err.startswith("kbsync: stack 'nope' not found")


def test_an_empty_registry_says_how_to_add_one() -> None:
    assert targets_table([], PLAIN) == "no targets registered: add one with `kbsync targets add --kb ID --ds ID`"
