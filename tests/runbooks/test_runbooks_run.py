"""Every command of every runbook, executed against the local cloud with the alert's values from real failures.

A moto server runs in this process (kbsync_localcloud.server: the product template deployed, sample data seeded) so
that the AWS CLI — a separate process — can reach it over HTTP; `kbsync` commands run in-process (`kbsync.cli.main`)
against the same endpoint. The failures are provoked by real causes (an unsupported file, a missing bucket, a stop, an
execution killed mid-job) and their alerts are read from an SQS queue subscribed to the alerts topic, exactly as
on-call receives them; the runbook's `KB_ID=...`-style bindings are replaced by the alert's values, every other line
runs as written. A command fails the test if it exits non-zero (kbsync `--wait` may also end 3/4/5: the outcome of a
rerun of a failing data source, not a broken command).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from kbsync_localcloud.workflow import wait_until

from kbsync.cli import main
from tests.runbooks.runbook_parser import RUNBOOKS, Command, Runbook, all_runbooks

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TIME_SCALE = 0.01
WAIT = ("--wait", "--interval", "0.05", "--timeout", "120")
ALERT_VARIABLES = ("KB_ID", "DS_ID", "JOB_ID", "EXECUTION_ARN")
OUTCOME_CODES = {0, 3, 4, 5}  # complete, partial, failed, stopped: what a rerun with --wait may report


def poll(condition: Callable[[], Any], what: str, deadline_s: float = 60.0) -> Any:
    """Poll until `condition()` is truthy; fail naming `what` at the deadline (workflow.wait_until)."""
    return wait_until(condition, deadline_s, what, interval=0.05)


def kbsync(*argv: str) -> tuple[int, str, str]:
    """`kbsync argv...` in this process (callers pass --endpoint-url: the in-process Lambda handlers of the server swap
    os.environ while they run, so nothing here relies on AWS_ENDPOINT_URL being readable at that moment)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@dataclass
class Cloud:
    endpoint: str
    outputs: dict[str, str]
    kb: str
    ds: str
    bucket: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "KBSYNC_STACK": "kbsync",
        }

    def quiesce(self, deadline_s: float = 90.0) -> None:
        """Wait until no execution runs (the next runbook starts on a quiet cloud)."""
        sfn = self.client("stepfunctions")

        def quiet() -> bool:
            return not any(
                sfn.list_executions(stateMachineArn=m["stateMachineArn"], statusFilter="RUNNING")["executions"]
                for m in sfn.list_state_machines()["stateMachines"]
            )

        poll(quiet, "every execution to end", deadline_s)


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    from kbsync_localcloud.server import start_server

    saved = {key: os.environ.get(key) for key in ("AWS_ENDPOINT_URL", "MOTO_PORT", "KBSYNC_STACK")}
    handle = start_server(port=0, time_scale=TIME_SCALE, template=REPO / "template.yaml", stack_name="kbsync")
    assert handle.seeded is not None
    os.environ["AWS_ENDPOINT_URL"] = handle.endpoint
    os.environ["KBSYNC_STACK"] = "kbsync"
    seeded = handle.seeded
    try:
        yield Cloud(handle.endpoint, handle.outputs, seeded.knowledge_base_id, seeded.data_source_id, seeded.bucket)
    finally:
        try:
            Cloud(handle.endpoint, {}, "", "", "").quiesce(30)
        finally:
            handle.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


# --------------------------------------------------------------------------- real failures and their alerts

_ALERT_FIELDS = {
    "KB_ID": re.compile(r"^Knowledge base:\s+(\S+)", re.M),
    "DS_ID": re.compile(r"^Data source:\s+(\S+)", re.M),
    "JOB_ID": re.compile(r"^Ingestion job:\s+(\S+)", re.M),
    "EXECUTION_ARN": re.compile(r"^Execution:\s+(\S+)", re.M),
}


class Alerts:
    """The alerts topic as on-call receives it: an SQS queue subscribed to it."""

    def __init__(self, cloud: Cloud) -> None:
        self.sqs = cloud.client("sqs")
        self.url = self.sqs.create_queue(QueueName="runbook-test-alerts")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        cloud.client("sns").subscribe(TopicArn=cloud.outputs["AlertsTopicArn"], Protocol="sqs", Endpoint=arn)
        self.received: list[dict[str, Any]] = []

    def wait_for(self, alert_type: str, kb: str) -> dict[str, str]:
        """The alert's values (what the runbook binds first), once an alert of that type for `kb` arrived."""

        def find() -> dict[str, str] | None:
            for message in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", []):
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
            for envelope in self.received:
                attributes = envelope.get("MessageAttributes", {})
                if attributes.get("alertType", {}).get("Value") == alert_type and f"kb {kb}" in envelope["Subject"]:
                    body = envelope["Message"]
                    link = re.search(r"^Runbook: (\S+)$", body, re.M)
                    assert link, body
                    assert (RUNBOOKS / link[1].rsplit("/", 1)[-1]).is_file(), f"missing runbook: {link[1]}"
                    values = {name: m[1] for name, rx in _ALERT_FIELDS.items() if (m := rx.search(body))}
                    return {**values, "BODY": body}
            return None

        found: dict[str, str] = poll(find, f"a {alert_type} alert for knowledge base {kb}")
        return found


@pytest.fixture(scope="module")
def failures(cloud: Cloud) -> dict[str, dict[str, str]]:
    """Provoke one real failure per kind and keep the values its alert (or its records) carries."""
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

    alerts = Alerts(cloud)
    found: dict[str, dict[str, str]] = {}

    cloud.client("s3").put_object(Bucket=cloud.bucket, Key="docs/installer.exe", Body=b"MZ")
    assert kbsync("--endpoint-url", cloud.endpoint, "sync", "--kb", cloud.kb, "--ds", cloud.ds, *WAIT)[0] == 3
    found["PARTIAL"] = alerts.wait_for("PARTIAL", cloud.kb)
    cloud.quiesce()

    agent = cloud.client("bedrock-agent")
    missing_kb = seed_knowledge_base(agent, name="runbook-missing-bucket")
    missing_ds = seed_data_source(missing_kb, "runbook-no-such-bucket", "docs/", agent, name="runbook-missing")
    assert kbsync("--endpoint-url", cloud.endpoint, "sync", "--kb", missing_kb, "--ds", missing_ds, *WAIT)[0] == 4
    found["FAILED"] = alerts.wait_for("FAILED", missing_kb)
    cloud.quiesce()

    faults().hang_next_jobs(1)
    assert kbsync("--endpoint-url", cloud.endpoint, "sync", "--kb", cloud.kb, "--ds", cloud.ds)[0] == 0
    _running_job(cloud)
    assert (
        kbsync(
            "--endpoint-url",
            cloud.endpoint,
            "stop",
            "--kb",
            cloud.kb,
            "--ds",
            cloud.ds,
            "--interval",
            "0.05",
            "--timeout",
            "60",
        )[0]
        == 0
    )
    found["STOPPED"] = alerts.wait_for("STOPPED", cloud.kb)
    # The alert is sent before the sync-gate execution releases the data source's gate: the next sync on the same
    # data source waits for every execution to end, or it is refused as "already running" (seen under load).
    cloud.quiesce()

    killed = _killed_execution(cloud)
    found["EXECUTION_DIED"] = alerts.wait_for("EXECUTION_DIED", cloud.kb)
    assert found["EXECUTION_DIED"]["EXECUTION_ARN"] == killed["EXECUTION_ARN"]
    found["TARGET"] = {"KB_ID": cloud.kb, "DS_ID": cloud.ds}
    cloud.quiesce()
    _register_target(cloud)
    return found


def _register_target(cloud: Cloud) -> None:
    """The seeded data source as a registered sync target (pause-nightly-syncs.md works on the registry)."""
    assert "TargetsTableName" in cloud.outputs, sorted(cloud.outputs)
    code, _, err = kbsync("--endpoint-url", cloud.endpoint, "targets", "add", "--kb", cloud.kb, "--ds", cloud.ds)
    assert code == 0, err


def _running_job(cloud: Cloud) -> str:
    agent = cloud.client("bedrock-agent")

    def running() -> str | None:
        jobs = agent.list_ingestion_jobs(
            knowledgeBaseId=cloud.kb,
            dataSourceId=cloud.ds,
            filters=[{"attribute": "STATUS", "operator": "EQ", "values": ["IN_PROGRESS"]}],
        )["ingestionJobSummaries"]
        return jobs[0]["ingestionJobId"] if jobs else None

    job: str = poll(running, "the hanging job to run")
    return job


def _execution_of_job(cloud: Cloud, job: str) -> str:
    """The ingestion-sync execution running `job`, as `kbsync status` shows it."""

    def execution() -> str | None:
        code, out, err = kbsync(
            "--endpoint-url", cloud.endpoint, "status", "--kb", cloud.kb, "--ds", cloud.ds, "--json"
        )
        assert code == 0, err
        return next((row["execution_arn"] for row in json.loads(out) if row["job_id"] == job), None)

    found: str = poll(execution, f"job {job} in `kbsync status`")
    return found


def _killed_execution(cloud: Cloud) -> dict[str, str]:
    """An execution stopped mid-job from outside (the catch-all alerts EXECUTION_DIED); its orphaned job is then
    stopped too, as the runbook tells on-call to do, so the data source can be synced again."""
    from kbsync_localcloud.bedrock import faults

    faults().hang_next_jobs(1)
    code, _, err = kbsync("--endpoint-url", cloud.endpoint, "sync", "--kb", cloud.kb, "--ds", cloud.ds, "--json")
    assert code == 0, err
    job = _running_job(cloud)
    arn = _execution_of_job(cloud, job)  # the gate's ingestion-sync execution, the one that holds the job
    sfn, agent = cloud.client("stepfunctions"), cloud.client("bedrock-agent")
    sfn.stop_execution(executionArn=arn, error="Operator.Killed", cause="runbook test: killed mid-job")
    agent.stop_ingestion_job(knowledgeBaseId=cloud.kb, dataSourceId=cloud.ds, ingestionJobId=job)
    poll(
        lambda: (
            agent.get_ingestion_job(knowledgeBaseId=cloud.kb, dataSourceId=cloud.ds, ingestionJobId=job)[
                "ingestionJob"
            ]["status"]
            == "STOPPED"
        ),
        "the orphaned job to stop",
    )
    return {"KB_ID": cloud.kb, "DS_ID": cloud.ds, "JOB_ID": job, "EXECUTION_ARN": arn}


#: Which real failure each runbook is read with (a TIMED_OUT job is a job stopped by kbsync: the stopped one).
BINDINGS = {
    "sync-failed.md": "FAILED",
    "sync-partial.md": "PARTIAL",
    "sync-stopped.md": "STOPPED",
    "sync-timed-out.md": "STOPPED",
    "execution-died.md": "EXECUTION_DIED",
    # The reconciler's alert carries the same values (execution, kb, ds, job) as the killed execution's.
    "record-reconciled.md": "EXECUTION_DIED",
}


# --------------------------------------------------------------------------- running a runbook


def _uses_shell(text: str) -> bool:
    """True if `text` has unquoted shell operators (a pipe, a redirection, a subshell)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return any(token and set(token) <= set("();<>|&") for token in lexer)
    except ValueError:
        return True


@functools.cache
def _aws_driver() -> Any:
    """One AWS CLI driver for the module: building it loads every service's command table (seconds)."""
    from awscli.clidriver import create_clidriver

    return create_clidriver()


def _aws_in_process(argv: list[str], where: str) -> str:
    """Run the AWS CLI's driver in this process; its stdout, or fail with its stderr.

    Its environment is this process's (the module fixture set the endpoint; the server set credentials and region):
    never swap os.environ here — the in-process Lambda handlers of the server read it from other threads."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _aws_driver().main(argv)
    assert code == 0, f"{where}\nexit {code}\n{out.getvalue()}\n{err.getvalue()}"
    return out.getvalue()


#: awscli 1.x takes SQS's endpoint from --queue-url (moto's CloudFormation queue URLs name AWS's host) and ignores
#: AWS_ENDPOINT_URL for some services: on the local cloud every `aws` gets the endpoint explicitly, as users do.
_PRELUDE = 'set -eo pipefail\naws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }\n'


class Shell:
    """Runs one runbook's commands in order, keeping the variables it binds."""

    def __init__(self, cloud: Cloud, runbook: Runbook, alert: dict[str, str]) -> None:
        self.cloud = cloud
        self.runbook = runbook
        self.alert = alert
        self.variables: dict[str, str] = {}

    def where(self, command: Command) -> str:
        return f"{self.runbook.name}:{command.line}: {command.text}"

    def bash(self, script: str, command: Command) -> str:
        done = subprocess.run(
            ["bash", "-c", _PRELUDE + script],
            env={**self.cloud.env(), **self.variables},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"{self.where(command)}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def argv(self, text: str, command: Command) -> list[str]:
        """The words bash would pass for `text` (quotes, variables and $(...) expanded by bash itself)."""
        words = self.bash(f'set -- {text}\nprintf "%s\\0" "$@"', command)
        return words.split("\0")[:-1]

    def aws(self, text: str, command: Command) -> str:
        """An `aws ...` command: in this process (awscli's own driver, no interpreter start-up) unless it uses the
        shell (pipes, redirections), then through bash."""
        if _uses_shell(text):
            return self.bash(text, command)
        argv = ["--endpoint-url", self.cloud.endpoint, *self.argv(text[len("aws ") :], command)]
        return _aws_in_process(argv, self.where(command))

    def run(self, command: Command) -> None:
        if "hang-next-job" in command.directives:
            from kbsync_localcloud.bedrock import faults

            faults().hang_next_jobs(1)
        if command.assignment:
            self.bind(command, *command.assignment)
        elif command.is_kbsync:
            self.kbsync(command)
        elif command.text.startswith("aws "):
            self.aws(command.text, command)
        else:
            self.bash(command.text, command)

    def bind(self, command: Command, name: str, value: str) -> None:
        if name in self.alert:
            self.variables[name] = self.alert[name]
            return
        output = re.search(r"OutputKey=='(\w+)'", value)
        assert output is None or output[1] in self.cloud.outputs, (
            f"{self.where(command)}: the deployed stack has no output {output[1] if output else ''}"
            f" (outputs: {', '.join(sorted(self.cloud.outputs))})"
        )
        inner = re.fullmatch(r"\$\((aws .*)\)", value, re.DOTALL)
        if inner and not _uses_shell(inner[1]):
            bound = self.aws(inner[1], command).rstrip("\n")
        else:
            bound = self.bash(f'{name}={value}\nprintf %s "${name}"', command)
        assert bound and bound != "None", f"{self.where(command)}: bound {name} to {bound!r}"
        self.variables[name] = bound

    def kbsync(self, command: Command) -> None:
        argv = self.argv(command.text[len("kbsync ") :], command)
        allowed = OUTCOME_CODES if "--wait" in argv else {0}
        if "--wait" in argv:
            argv += ["--interval", "0.05", "--timeout", "120"]
        code, out, err = kbsync("--endpoint-url", self.cloud.endpoint, *argv)
        assert code in allowed, f"{self.where(command)}\nexit {code}\n{out}\n{err}"


@pytest.mark.parametrize("runbook", all_runbooks(), ids=lambda r: r.name)
def test_runbook_commands_run(cloud: Cloud, failures: dict[str, dict[str, str]], runbook: Runbook) -> None:
    assert runbook.commands, f"{runbook.name} has no console commands"
    cloud.quiesce()
    alert = failures[BINDINGS.get(runbook.name, "TARGET")]
    if runbook.name in BINDINGS:
        assert set(ALERT_VARIABLES) <= set(alert), alert
    shell = Shell(cloud, runbook, alert)
    for command in runbook.commands:
        shell.run(command)


def test_every_alert_types_runbook_is_among_those_run() -> None:
    from kbsync_alerts import catalogue

    from kbsync.cli.outcome import OTHER_RUNBOOKS

    expected = {alert.runbook for alert in catalogue().values()} | {*OTHER_RUNBOOKS, "README.md"}
    assert expected <= {r.name for r in all_runbooks()}
    assert set(BINDINGS) <= expected


def test_every_stack_output_a_runbook_reads_is_declared_in_the_template() -> None:
    """The runbooks' `--query "Stacks[0].Outputs[?OutputKey=='X']..."` bindings name outputs template.yaml declares
    (static twin of the check in Shell.bind: a renamed output fails here without deploying anything)."""
    from kbsync_localcloud.sam import load_template

    declared = set(load_template(REPO / "template.yaml").get("Outputs", {}))
    read = {
        f"{runbook.name}: {match}": match
        for runbook in all_runbooks()
        for command in runbook.commands
        for match in re.findall(r"OutputKey=='(\w+)'", command.text)
    }
    assert read, "no runbook reads a stack output: the pattern above no longer matches the runbooks"
    assert {where: name for where, name in read.items() if name not in declared} == {}


@pytest.mark.parametrize("alert_type", ["FAILED", "PARTIAL", "STOPPED"])
def test_the_rerun_commands_printed_in_alerts_run(
    cloud: Cloud, failures: dict[str, dict[str, str]], alert_type: str
) -> None:
    """The alert's own "Rerun:" commands (kbsync and AWS CLI), pasted as they are, each start one sync-gate execution
    of the right target with the manual gate input."""
    body = failures[alert_type]["BODY"]
    commands = [line.strip() for line in body.split("\nRerun:\n", 1)[1].splitlines() if line.strip()]
    assert [c.split()[0] for c in commands] == ["kbsync", "aws"], commands
    cloud.quiesce()
    shell = Shell(cloud, Runbook(RUNBOOKS / "README.md"), {})
    sfn = cloud.client("stepfunctions")
    gate = cloud.outputs["SyncGateStateMachineArn"]
    for text in commands:
        before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=gate)["executions"]}
        shell.run(Command(text, 0))
        started = [e for e in sfn.list_executions(stateMachineArn=gate)["executions"]
                   if e["executionArn"] not in before]  # fmt: skip
        assert len(started) == 1, text
        gate_input = json.loads(sfn.describe_execution(executionArn=started[0]["executionArn"])["input"])
        assert (gate_input["settleSeconds"], gate_input["ifBusy"]) == (0, "skip"), text
        request = gate_input["request"]
        assert (request["knowledgeBaseId"], request["dataSourceId"]) == (failures[alert_type]["KB_ID"],
                                                                         failures[alert_type]["DS_ID"])  # fmt: skip
        assert request["reason"].startswith("rerun of")
        cloud.quiesce()
