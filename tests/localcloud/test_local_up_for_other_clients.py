"""Against `kbsync local up` (a subprocess), through the AWS CLI v1 and the kbsync CLI as commands:

- the banner's lines, pasted into a shell with no AWS configuration, are all the AWS CLI and kbsync need;
- queue URLs (CreateQueue, GetQueueUrl, ListQueues, the stack's DeadLetterQueueUrl) name the local endpoint;
- the template's topic policy, queue policy, alarm and asynchronous-invocation configurations exist (no "No Moto
  CloudFormation support" line);
- a failing sync leaves no warning, traceback or interpreter "Exception=" line on the server's stderr.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.local_up import KBSYNC, REPO, LocalUp, aws_json, clean_env, poll, serve, shell

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("local-up"))


def banner_shell_lines(up: LocalUp) -> list[str]:
    """The lines of the banner meant to be pasted into a shell (exports and the aws function)."""
    return [line.strip() for line in up.banner if line.strip().startswith(("export ", "aws() "))]


# --- the banner exports what the AWS CLI v1 and kbsync read --------------------------------------------------


def test_the_banner_exports_what_the_aws_cli_v1_and_kbsync_need_in_a_clean_shell(up: LocalUp, tmp_path: Path) -> None:
    lines = banner_shell_lines(up)
    exported = dict(line[len("export ") :].split("=", 1) for line in lines if line.startswith("export "))
    assert exported["AWS_ENDPOINT_URL"] == up.endpoint
    assert exported["AWS_DEFAULT_REGION"] == exported["AWS_REGION"] == "us-east-1"
    assert exported["AWS_ACCESS_KEY_ID"] and exported["AWS_SECRET_ACCESS_KEY"]
    home = tmp_path / "home"  # no ~/.aws: nothing but what the banner says
    home.mkdir()
    script = "\n".join(
        [
            *lines,
            "aws cloudformation describe-stacks --stack-name kbsync --query 'Stacks[0].StackStatus' --output text",
            "aws stepfunctions list-state-machines --query 'length(stateMachines)' --output text",
            "DLQ_URL=$(aws cloudformation describe-stacks --stack-name kbsync --query "
            "\"Stacks[0].Outputs[?OutputKey=='DeadLetterQueueUrl'].OutputValue\" --output text)",
            'aws sqs get-queue-attributes --queue-url "$DLQ_URL" --attribute-names ApproximateNumberOfMessages '
            "--output text",
            "kbsync status",
        ]
    )
    done = shell(script, clean_env(home))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == ["CREATE_COMPLETE", "3"], done.stdout
    assert re.search(r"^ATTRIBUTES\s+\d+$", done.stdout, re.MULTILINE), done.stdout
    assert done.stdout.rstrip().endswith("nothing running"), done.stdout


def test_without_the_banner_the_aws_cli_v1_has_no_region(up: LocalUp, tmp_path: Path) -> None:
    """The control: AWS_ENDPOINT_URL alone (what the banner printed before) is not enough for the AWS CLI v1."""
    home = tmp_path / "home"
    home.mkdir()
    done = shell(
        f"export AWS_ENDPOINT_URL={up.endpoint} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x\n"
        "aws stepfunctions list-state-machines",
        clean_env(home),
    )
    assert done.returncode != 0 and "region" in done.stderr.lower(), done.stderr


# --- queue URLs name the local endpoint ----------------------------------------------------------------------


def test_queue_urls_point_at_the_local_endpoint(up: LocalUp) -> None:
    prefix = f"{up.endpoint}/123456789012/"
    created = aws_json(up, "sqs", "create-queue", "--queue-name", "lc-urls")["QueueUrl"]
    assert created == prefix + "lc-urls"
    assert aws_json(up, "sqs", "get-queue-url", "--queue-name", "lc-urls")["QueueUrl"] == created
    listed = aws_json(up, "sqs", "list-queues")["QueueUrls"]
    assert created in listed and all(url.startswith(prefix) for url in listed), listed
    stacks = aws_json(up, "cloudformation", "describe-stacks", "--stack-name", "kbsync")["Stacks"]
    dlq_url = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}["DeadLetterQueueUrl"]
    assert dlq_url.startswith(prefix) and dlq_url in listed, dlq_url
    attributes = aws_json(up, "sqs", "get-queue-attributes", "--queue-url", dlq_url, "--attribute-names", "QueueArn")
    assert attributes["Attributes"]["QueueArn"].endswith(":" + dlq_url.rsplit("/", 1)[1])


# --- the template's policies, alarm and async configurations exist --------------------------------------------


def test_no_template_resource_type_is_skipped(up: LocalUp) -> None:
    assert "No Moto CloudFormation support" not in up.stderr(), up.stderr()


def test_policies_alarm_and_event_invoke_configs_are_recorded(up: LocalUp) -> None:
    outputs = up.outputs()
    topic_arn, dlq_url = outputs["AlertsTopicArn"], outputs["DeadLetterQueueUrl"]
    alarms = aws_json(up, "cloudwatch", "describe-alarms")["MetricAlarms"]
    dlq_alarms = [alarm for alarm in alarms if "DeadLetterQueueAlarm" in alarm["AlarmName"]]
    assert len(dlq_alarms) == 1, alarms
    alarm = dlq_alarms[0]
    assert alarm["AlarmActions"] == []  # the alarm relay notifies (AlarmRelayRule)
    assert (alarm["Namespace"], alarm["MetricName"], alarm["ComparisonOperator"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "GreaterThanThreshold",
    )
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq_url.rsplit("/", 1)[1]}]
    assert "dead-letter-queue.md" in alarm["AlarmDescription"]

    topic_policy = json.loads(
        aws_json(up, "sns", "get-topic-attributes", "--topic-arn", topic_arn)["Attributes"]["Policy"]
    )
    # no AWS service publishes to the topic (the alarm relay does, with its role): the template declares no topic policy
    assert "cloudwatch.amazonaws.com" not in json.dumps(topic_policy)
    queue = aws_json(up, "sqs", "get-queue-attributes", "--queue-url", dlq_url, "--attribute-names", "All")
    queue_policy = json.loads(queue["Attributes"]["Policy"])
    assert [s["Sid"] for s in queue_policy["Statement"]] == declared_sids(
        "AWS::SQS::QueuePolicy", "TriggersDeadLetterQueuePolicy"
    )
    dlq_arn = queue["Attributes"]["QueueArn"]
    for function in (outputs["UploadRouterFunctionName"], outputs["CatchAllFunctionName"]):
        config = aws_json(up, "lambda", "get-function-event-invoke-config", "--function-name", function)
        assert config["MaximumRetryAttempts"] == 2
        assert config["DestinationConfig"] == {"OnFailure": {"Destination": dlq_arn}}


def declared_sids(resource_type: str, logical_id: str | None = None) -> list[str]:
    """The statement ids of the template's resource of this type (the one named `logical_id` if several), as
    template.yaml declares them."""
    from kbsync_localcloud.sam import load_template

    resources = load_template(REPO / "template.yaml")["Resources"]
    [resource] = [r for k, r in resources.items() if r["Type"] == resource_type and logical_id in (None, k)]
    return [statement["Sid"] for statement in resource["Properties"]["PolicyDocument"]["Statement"]]


# --- a failing sync is quiet on the server's stderr -----------------------------------------------------------


def test_a_failing_sync_leaves_no_warning_traceback_or_exception_line_on_stderr(up: LocalUp) -> None:
    from kbsync_localcloud.bedrock.seed import seed_data_source, seed_knowledge_base

    agent = up.client("bedrock-agent")
    kb = seed_knowledge_base(agent, name="lc-noise")
    ds = seed_data_source(kb, "lc-no-such-bucket", "docs/", agent, name="lc-noise")
    before = len(up.stderr())
    done = subprocess.run(
        [str(KBSYNC), "--endpoint-url", up.endpoint, "sync", "--kb", kb, "--ds", ds, "--wait", "--json", "--interval",
         "0.2", "--timeout", "120"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 4, (done.returncode, done.stdout[-2000:], done.stderr)
    assert json.loads(done.stdout)["outcome"] == "FAILED"
    assert done.stderr == ""
    sfn = up.client("stepfunctions")

    def quiet() -> bool:  # the catch-all and the gate's release run after the CLI saw the end
        machines = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
        return not any(sfn.list_executions(stateMachineArn=m, statusFilter="RUNNING")["executions"] for m in machines)

    poll(quiet, "every execution ended")
    time.sleep(0.5)
    noise = [
        line for line in up.stderr()[before:].splitlines() if re.search(r"Warning|Traceback|Exception=|^\s+File ", line)
    ]
    assert noise == [], "\n".join(noise[:20])
