"""An alert's "Rerun:" commands pasted twice, as on-call does, through the real `kbsync` and `aws` binaries against
`kbsync local up` from a fresh shell with the banner's exports:

- `kbsync rerun JOB` while the first rerun still runs: "already running: <the first rerun's execution>", exit code 7
  (JOB_RUNNING, `kbsync --help`), nothing started; once it has ended: a new run with a new execution name;
- the `aws stepfunctions start-execution` line: its execution name's time comes from the shell, so pasting it again
  never fails with ExecutionAlreadyExists; while a sync runs the gate answers NOT_STARTED, afterwards it starts one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kbsync.cli.errors import ExitCode
from tests.cli.local_up_support import DataSource, bash, fresh_home, kbsync, new_data_source, serve, user_env
from tests.localcloud.local_up import LocalUp, poll

pytestmark = pytest.mark.e2e

#: 200 documents (a job of 15 + 0.5 x 200 virtual seconds: 11.5 s at time scale 0.1, the window for the second
#: paste) and two the emulator cannot index, so the sync ends PARTIAL and sends an alert.
DOCUMENTS = {**{f"d{i:03}.md": b"# doc\n" for i in range(200)}, "setup.exe": b"MZ", "tool.bin": b"\x00"}
RUN_DEADLINE_S = 180.0


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("rerun-twice"), time_scale="0.1")


def subscribe_an_inbox(up: LocalUp) -> str:
    """An SQS queue subscribed to the stack's alert topic (raw delivery: the body is the alert's message)."""
    sqs, sns = up.client("sqs"), up.client("sns")
    url = sqs.create_queue(QueueName="rerun-twice-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = up.outputs()["AlertsTopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return str(url)


def alert_body(up: LocalUp, inbox: str, source: DataSource) -> str:
    sqs = up.client("sqs")

    def received() -> str | None:
        for message in sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []):
            if f"Data source:    {source.ds}" in message["Body"]:
                return str(message["Body"])
        return None

    body: str = poll(received, "the PARTIAL alert in the inbox", 60)
    return body


def idle(env: dict[str, str], source: DataSource) -> None:
    ids = ("--kb", source.kb, "--ds", source.ds)
    poll(lambda: kbsync(env, "status", *ids).out == "nothing running\n", "the data source to be idle", RUN_DEADLINE_S)


def started_name(out: str) -> str:
    assert out.startswith("started "), out
    return out.split("\n", 1)[0][len("started ") :]


def test_the_alerts_rerun_commands_can_be_pasted_twice(up: LocalUp, tmp_path: Path) -> None:
    inbox = subscribe_an_inbox(up)
    source = new_data_source(up, DOCUMENTS)
    env = user_env(  # what the `kbsync local up` banner exports (the AWS CLI needs a region and credentials)
        fresh_home(tmp_path),
        AWS_ENDPOINT_URL=up.endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    first = kbsync(env, "sync", "--kb", source.kb, "--ds", source.ds, "--wait", "--interval", "0.5")
    assert first.code == ExitCode.PARTIAL, first
    body = alert_body(up, inbox, source)
    rerun, aws = [line.strip() for line in body.split("\nRerun:\n", 1)[1].splitlines() if line.strip()]
    assert rerun.startswith("kbsync rerun ") and aws.startswith("aws stepfunctions start-execution "), body

    # -- while the first rerun runs: the second paste is refused, naming it; the AWS CLI line starts nothing
    running = bash(env, rerun)
    assert running.code == 0, running
    name = started_name(running.out)
    again = bash(env, rerun)
    ids = f"--kb {source.kb} --ds {source.ds}"
    assert (again.code, again.out) == (ExitCode.JOB_RUNNING, ""), again
    assert again.err.startswith(f"kbsync: already running: {name} ("), again.err
    assert again.err.endswith(f"; wait for it (`kbsync status {ids}`) or stop it (`kbsync stop {ids}`)\n")
    skipped = bash(env, aws)
    assert skipped.code == 0, skipped.err
    sfn = up.client("stepfunctions")
    skipped_arn = json.loads(skipped.out)["executionArn"]
    ended = poll(lambda: ended_execution(sfn, skipped_arn), "the skipped gate execution to end", 60)
    assert ended["status"] == "SUCCEEDED" and "NOT_STARTED" in ended["output"], ended

    # -- once it has ended: each paste starts a new run, with a new execution name
    idle(env, source)
    pasted = bash(env, aws)
    assert pasted.code == 0, pasted.err  # not ExecutionAlreadyExists
    second_arn = json.loads(pasted.out)["executionArn"]
    assert second_arn != skipped_arn
    poll(lambda: kbsync(env, "status", "--kb", source.kb, "--ds", source.ds).out != "nothing running\n",
         "the AWS CLI rerun to run", 60)  # fmt: skip
    idle(env, source)
    decided = ended_execution(sfn, second_arn)
    assert decided is not None and "NOT_STARTED" not in str(decided.get("output")), decided
    third = bash(env, rerun)
    assert third.code == 0, third
    assert started_name(third.out) not in {name, second_arn.rsplit(":", 1)[-1]}
    records = json.loads(kbsync(env, "history", "--kb", source.kb, "--ds", source.ds, "--json").out)
    assert len({r["executionArn"] for r in records}) >= 3  # the first sync, the first rerun, the AWS CLI's


def ended_execution(sfn: Any, arn: str) -> dict[str, Any] | None:
    described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
    return None if described["status"] == "RUNNING" else described
