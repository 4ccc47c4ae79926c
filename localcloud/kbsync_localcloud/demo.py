"""`make run`: kbsync end to end on the local cloud, as an operator would see it.

Starts the local cloud in this process (moto + kbsync's adapters + the Bedrock ingestion emulator), deploys the real
template.yaml, registers two sample targets, uploads a sample corpus (good files, one unsupported, one oversized),
then runs an on-upload sync, a nightly run and a sync that fails, and prints the job history and the alerts exactly
as on-call receives them; it ends by writing the night's report (`kbsync report`, an HTML page) and printing its
path. Everything goes through the same boto3 calls, state machines and CLI as on AWS.

Time is scaled: one virtual second lasts TIME_SCALE real seconds, so a 15 s poll interval costs 50 ms here.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kbsync_localcloud import CHECKOUT

REPO = CHECKOUT
TEMPLATE = REPO / "template.yaml"
STACK = "kbsync"
TIME_SCALE = 0.005
DEADLINE_S = 60.0  # real seconds for any one step of the demo
DEMO_SEED = 14

ACME_BUCKET = "acme-docs"
INITECH_BUCKET = "initech-docs"
GLOBEX_BUCKET = "globex-docs"
INITECH_DOCUMENTS: dict[str, bytes] = {
    "policies/security.md": b"# Security policy\n\nRotate credentials every 90 days.\n",
    "policies/travel.txt": b"Book travel through the portal at least 14 days ahead.\n",
}

GOOD_DOCUMENTS: dict[str, bytes] = {
    "handbook/onboarding.md": b"# Onboarding\n\nWelcome to ACME. Your first week: ...\n",
    "handbook/onboarding.md.metadata.json": json.dumps({"metadataAttributes": {"team": "people"}}).encode(),
    "handbook/expenses.html": b"<html><body><h1>Expenses</h1><p>Submit receipts within 30 days.</p></body></html>",
    "support/faq.txt": b"Q: How do I reset my password?\nA: Use the self-service portal.\n",
    "support/sla.csv": b"tier,response\ngold,1h\nsilver,4h\n",
    "product/roadmap.md": b"# Roadmap\n\n- Q1: search\n- Q2: alerts\n",
}
UNSUPPORTED = ("product/launch-video.mp4", b"\x00\x00\x00\x18ftypmp42 not really a video")
OVERSIZED_KEY = "support/all-tickets-export.pdf"
OVERSIZED_BYTES = 51 * 1024 * 1024  # Bedrock's limit is 50 MB per file
#: Where the demo writes the night's report (`kbsync report`), relative to where it runs (`make run`: the checkout,
#: whose build/ is ignored by git).
NIGHT_REPORT = "build/kbsync-night.html"


#: The "Next" hints: what `kbsync local up` prints, in the order a user follows it (tests/e2e/test_demo_transcript.py
#: checks them against the banner and the CLI's parser).
NEXT: tuple[tuple[str, str], ...] = (
    ("kbsync local up", "this local cloud as a server on 127.0.0.1:4566, in a shell of its own"),
    ("export AWS_ENDPOINT_URL=...", "in another shell: paste the export lines it prints"),
    ("kbsync sync --kb <kb> --ds <ds> --wait", "with the sample ids it prints"),
    ("kbsync history --kb <kb> --ds <ds>", "then: kbsync show <job id>, kbsync rerun <job id>"),
    ("kbsync alerts --follow", "the alerts, as on-call receives them"),
    ("runbooks/README.md", "what to do with each alert"),
)


class Demo:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, title: str) -> None:
        elapsed = time.monotonic() - self.started
        self.say()
        self.say(f"━━ {title} " + "━" * max(3, 78 - len(title)) + f" [{elapsed:4.1f}s]")

    def kbsync(self, *argv: str) -> int:
        """Run a kbsync CLI command in-process, echoing it like a shell would."""
        from kbsync.cli import main

        self.say(f"$ kbsync {' '.join(argv)}")
        return main(list(argv), out=self.out, err=self.out)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"demo: {what} did not happen within {timeout:.0f} s")


@contextlib.contextmanager
def local_cloud() -> Iterator[Any]:
    from moto.moto_api._internal import mock_random

    from kbsync_localcloud.cloud import LocalCloud

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        # moto's documented seeding (its /moto-api/seed): the tenants' ids, made one after the other, are the same in
        # every run, so the targets table keeps its order and docs/demo.md its shape. Ids made by concurrent
        # executions still vary (the transcript test normalises every id).
        mock_random.seed(DEMO_SEED)
        yield cloud


def subscribe_inbox(cloud: Any, topic_arn: str) -> str:
    """An SQS queue subscribed to the alerts topic: what an on-call pager/e-mail integration would receive."""
    sqs = cloud.client("sqs")
    url: str = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def read_inbox(cloud: Any, url: str) -> list[dict[str, Any]]:
    sqs = cloud.client("sqs")
    received: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def seed_tenants(cloud: Any) -> dict[str, tuple[str, str]]:
    """Three tenants, one knowledge base and S3 data source each: ACME and Initech healthy, Globex's bucket
    about to be deleted by someone."""
    from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

    s3 = cloud.client("s3")
    agent = cloud.client("bedrock-agent")
    tenants: dict[str, tuple[str, str]] = {}
    for tenant, bucket in (("acme", ACME_BUCKET), ("initech", INITECH_BUCKET), ("globex", GLOBEX_BUCKET)):
        s3.create_bucket(Bucket=bucket)
        kb = seed_knowledge_base(agent, name=f"{tenant}-support")
        tenants[tenant] = (kb, seed_data_source(kb, bucket, prefix=None, client=agent, name=f"{tenant}-docs"))
    for key, body in INITECH_DOCUMENTS.items():
        s3.put_object(Bucket=INITECH_BUCKET, Key=key, Body=body)
    return tenants


def executions_of(cloud: Any, state_machine_arn: str) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
    return found


def all_finished(cloud: Any, state_machine_arns: list[str], at_least: int) -> bool:
    executions = [e for arn in state_machine_arns for e in executions_of(cloud, arn)]
    return len(executions) >= at_least and all(e["status"] != "RUNNING" for e in executions)


def show_alert(demo: Demo, notification: dict[str, Any]) -> None:
    attributes = {k: v.get("Value") for k, v in (notification.get("MessageAttributes") or {}).items()}
    demo.say("┌" + "─" * 98)
    demo.say(f"│ Subject: {notification.get('Subject')}")
    demo.say("│ Attributes: " + ", ".join(f"{k}={v}" for k, v in sorted(attributes.items())))
    demo.say("│")
    for line in str(notification.get("Message", "")).splitlines():
        demo.say(f"│ {line}")
    demo.say("└" + "─" * 98)


def run(out: TextIO | None = None, lambda_log: TextIO | None = None) -> int:
    """The demo; prints to `out`. The handlers' own log lines (Powertools JSON on stdout, as in CloudWatch) go to
    `lambda_log` (default: discarded) so the operator's view stays readable."""
    out = out if out is not None else sys.stdout
    quiet = lambda_log or io.StringIO()
    # moto logs every Fail state it executes at ERROR; our own failures are expected here and shown by the CLI.
    moto_logger = logging.getLogger("moto")
    level = moto_logger.level
    moto_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            warnings.simplefilter("ignore")
            return _run(Demo(out))
    finally:
        moto_logger.setLevel(level)


def _run(demo: Demo) -> int:
    from kbsync_localcloud.deploy import deploy_stack
    from kbsync_localcloud.scheduler import fire_schedule

    demo.say("kbsync demo — the whole system on the local cloud (no AWS account, no Docker).")
    demo.say(f"Time is scaled: 1 virtual second = {TIME_SCALE * 1000:.0f} ms (durations shrink, dates stay real).")

    with local_cloud() as cloud:
        demo.step("1. Deploy template.yaml (SAM transform, state machines, functions, table, topic, rules)")
        tenants = seed_tenants(cloud)
        outputs = deploy_stack(
            TEMPLATE,
            STACK,
            {
                "UploadBucketNames": ",".join((ACME_BUCKET, INITECH_BUCKET, GLOBEX_BUCKET)),
                "SettleSeconds": "600",
                "KnowledgeBaseLogs": "on",  # the knowledge bases' logs wake the syncs and name failed files
            },
        )
        for key in ("SyncGateStateMachineArn", "IngestionSyncStateMachineArn", "JobsTableName", "AlertsTopicArn"):
            demo.say(f"  {key:<30} {outputs[key]}")
        inbox = subscribe_inbox(cloud, outputs["AlertsTopicArn"])
        machines = [outputs["SyncGateStateMachineArn"], outputs["IngestionSyncStateMachineArn"]]
        nightly_machines = [outputs["NightlyFanOutStateMachineArn"], *machines]

        def settle(what: str, machine_arns: list[str], at_least: int) -> None:
            wait_for(lambda: all_finished(cloud, machine_arns, at_least), what)

        demo.step("2. Register the sync targets (bucket and prefixes discovered from Bedrock)")
        s3 = cloud.client("s3")
        for tenant, (kb, ds) in tenants.items():
            demo.kbsync("targets", "add", "--kb", kb, "--ds", ds, *(["--no-nightly"] if tenant == "globex" else []))
        demo.kbsync("targets", "list")
        acme_kb, acme_ds = tenants["acme"]
        # Push completion (README "Knowledge base logs"): each knowledge base delivers its application logs to the
        # stack's log group; a job's end then wakes its sync, and PARTIAL/FAILED alerts name the failed files.
        for kb, _ in tenants.values():
            demo.kbsync("logs", "enable", "--kb", kb)

        demo.step("3. Upload a corpus to ACME's bucket: 6 good files, 1 unsupported, 1 over 50 MB")
        s3.put_object(Bucket=ACME_BUCKET, Key=OVERSIZED_KEY, Body=b"%PDF-1.7\n" + b"0" * OVERSIZED_BYTES)
        s3.put_object(Bucket=ACME_BUCKET, Key=UNSUPPORTED[0], Body=UNSUPPORTED[1])
        for key, body in GOOD_DOCUMENTS.items():
            s3.put_object(Bucket=ACME_BUCKET, Key=key, Body=body)
        uploads = len(GOOD_DOCUMENTS) + 2
        demo.say(f"  {uploads} uploads -> S3 'Object Created' events -> upload router -> sync gate (settles 600 s)")
        settle("the on-upload sync", machines, 2)
        demo.say(f"  {uploads} uploads started {len(executions_of(cloud, machines[1]))} ingestion sync(s)")
        demo.kbsync("history", "--kb", acme_kb, "--ds", acme_ds)

        demo.step("4. On-call follows runbooks/sync-partial.md: remove the two bad files (deletes sync too)")
        s3.delete_object(Bucket=ACME_BUCKET, Key=UNSUPPORTED[0])
        s3.delete_object(Bucket=ACME_BUCKET, Key=OVERSIZED_KEY)
        settle("the on-delete sync", machines, 4)
        demo.kbsync("history", "--kb", acme_kb, "--ds", acme_ds, "--limit", "1")

        demo.step("5. The nightly run over every target with nightly on (the schedule ships DISABLED: fired by hand)")
        fired = fire_schedule(outputs["NightlyScheduleName"], force=True)
        demo.say(f"  fired schedule {fired.schedule_arn.rsplit('/', 1)[-1]} -> {fired.target_arn.rsplit(':', 1)[-1]}")
        settle("the nightly run", nightly_machines, 1 + 4 + 2 * 2)
        demo.kbsync("status")
        for tenant in ("acme", "initech"):
            kb, ds = tenants[tenant]
            demo.kbsync("history", "--kb", kb, "--ds", ds, "--limit", "1")

        demo.step("6. A sync that fails: Globex's bucket was deleted; an operator syncs it by hand")
        globex_kb, globex_ds = tenants["globex"]
        s3.delete_bucket(Bucket=GLOBEX_BUCKET)
        code = demo.kbsync(
            "sync", "--kb", globex_kb, "--ds", globex_ds, "--reason", "demo", "--wait", "--interval", "0.1"
        )
        demo.say(f"  (exit code {code}: the job failed — `kbsync --help` lists the exit codes)")
        demo.kbsync("history", "--kb", globex_kb, "--ds", globex_ds)

        demo.step("7. What on-call received (SNS -> their inbox): one alert per failed or partial job")
        settle("every execution to end", nightly_machines, 1)
        alerts = read_inbox(cloud, inbox)
        for notification in alerts:
            show_alert(demo, notification)
        demo.say(f"  {len(alerts)} alert(s)")

        demo.step("8. The night as a picture: every job on a time axis, in the account's 5 quota lanes, with totals")
        Path(NIGHT_REPORT).parent.mkdir(parents=True, exist_ok=True)
        from kbsync.cli import main as kbsync_main

        demo.say(f"$ kbsync report --night $(date -u +%F) --out {NIGHT_REPORT}")  # the day's jobs, as a shell says it
        night = datetime.now(UTC).date().isoformat()
        kbsync_main(["report", "--night", night, "--out", NIGHT_REPORT], out=demo.out, err=demo.out)
        demo.say("  one self-contained HTML file (no script, nothing fetched): open it in any browser")

        demo.step("Next")
        for command, comment in NEXT:
            demo.say(f"  {command:<40} # {comment}")
        demo.say(f"\nDone in {time.monotonic() - demo.started:.1f} s.")
    return 0


def main() -> None:
    raise SystemExit(run())


if __name__ == "__main__":
    main()
