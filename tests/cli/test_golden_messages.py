"""Golden messages: the exact line the real `kbsync` binary prints for each error a user meets first, from a fresh
shell (a temporary HOME with no AWS configuration) against `kbsync local up`. Each names the thing that is wrong and
says what to do; none is a stack trace; each exits with its documented code (`kbsync --help`). The hints that are
commands are run as printed, and must work.

(The "port in use" message of `kbsync local up` is pinned by tests/cli/test_cli_local_up.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kbsync.cli.errors import ExitCode
from tests.cli.local_up_support import DataSource, Ran, bash, fresh_home, kbsync, new_data_source, serve, user_env
from tests.localcloud.local_up import LocalUp, free_port

pytestmark = pytest.mark.e2e

LOCAL_HINT = "for the local cloud, start `kbsync local up` and pass the endpoint it prints with --endpoint-url"
POINT_AT_IT = "or point kbsync at it: --stack-name (KBSYNC_STACK) for its name, --region (AWS_REGION) for its region"
DUMMY = "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("golden"), time_scale="0.1")


@pytest.fixture(scope="module")
def source(up: LocalUp) -> DataSource:
    return new_data_source(up, {"a.md": b"# a\n"})


def one_line(ran: Ran, code: ExitCode) -> str:
    """The one error line (without 'kbsync: '), after checking the exit code, that nothing else was printed and that
    no traceback leaked."""
    assert ran.code == code, ran
    assert ran.out == "" and ran.err.count("\n") == 1 and "Traceback" not in ran.err, ran
    assert ran.err.startswith("kbsync: "), ran.err
    return ran.err[len("kbsync: ") : -1]


def hint_of(message: str) -> str:
    """The command between the last pair of backticks."""
    return message.rsplit("`", 2)[-2]


def test_unknown_knowledge_base_names_it_and_its_hint_lists_the_real_ones(
    up: LocalUp, source: DataSource, tmp_path: Path
) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint)
    message = one_line(kbsync(env, "sync", "--kb", "ZZZZZZZZZZ", "--ds", source.ds), ExitCode.NOT_FOUND)
    assert message == (
        f"unknown knowledge base ZZZZZZZZZZ: list them with `{DUMMY} aws bedrock-agent list-knowledge-bases "
        "--region us-east-1`"
    )
    listed = bash(env, hint_of(message))
    assert listed.code == 0, listed.err
    assert source.kb in listed.out


def test_unknown_data_source_names_it_and_its_hint_lists_the_real_ones(
    up: LocalUp, source: DataSource, tmp_path: Path
) -> None:
    """The same with the endpoint given as an option: the hint carries it (the AWS CLI would not find it)."""
    env = user_env(fresh_home(tmp_path))
    ran = kbsync(env, "--endpoint-url", up.endpoint, "history", "--kb", source.kb, "--ds", "ZZZZZZZZZZ")
    message = one_line(ran, ExitCode.NOT_FOUND)
    assert message == (
        f"unknown data source ZZZZZZZZZZ of knowledge base {source.kb}: list them with `{DUMMY} aws bedrock-agent "
        f"list-data-sources --knowledge-base-id {source.kb} --region us-east-1 --endpoint-url {up.endpoint}`"
    )
    listed = bash(env, hint_of(message))
    assert listed.code == 0, listed.err
    assert source.ds in listed.out


def test_with_credentials_and_region_configured_the_hint_needs_nothing_added(
    up: LocalUp, source: DataSource, tmp_path: Path
) -> None:
    """A user who configured the AWS CLI (here by variables, as the `kbsync local up` banner exports them) gets the
    plain command: kbsync adds only the region it used."""
    env = user_env(
        fresh_home(tmp_path),
        AWS_ENDPOINT_URL=up.endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    message = one_line(kbsync(env, "status", "--kb", source.kb, "--ds", "ZZZZZZZZZZ"), ExitCode.NOT_FOUND)
    listing = f"aws bedrock-agent list-data-sources --knowledge-base-id {source.kb} --region us-east-1"
    assert message == f"unknown data source ZZZZZZZZZZ of knowledge base {source.kb}: list them with `{listing}`"
    listed = bash(env, hint_of(message))
    assert listed.code == 0 and source.ds in listed.out, listed


def test_no_credentials(tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_REGION="eu-west-1")
    assert one_line(kbsync(env, "status"), ExitCode.AWS) == (
        "no AWS credentials found for profile 'default': run `aws configure` (or `aws sso login`), set AWS_PROFILE to "
        f"a profile that has some, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; {LOCAL_HINT}"
    )


def test_no_region(tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret")
    assert one_line(kbsync(env, "status"), ExitCode.AWS) == (
        "no AWS region: pass --region, set AWS_REGION (or AWS_DEFAULT_REGION), or set one for profile 'default' in "
        f"~/.aws/config (`aws configure set region REGION`); {LOCAL_HINT}"
    )


def test_unknown_profile(tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_REGION="eu-west-1")
    assert one_line(kbsync(env, "status", "--profile", "nope"), ExitCode.AWS) == (
        "AWS profile 'nope' not found in ~/.aws/config: list the profiles with `aws configure list-profiles`, then fix "
        "--profile or AWS_PROFILE (or create it with `aws configure --profile NAME`)"
    )


def test_wrong_region_names_the_region_and_where_it_came_from(up: LocalUp, tmp_path: Path) -> None:
    """The stack is deployed in us-east-1; AWS_REGION says eu-west-1."""
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint, AWS_REGION="eu-west-1")
    assert one_line(kbsync(env, "status"), ExitCode.NOT_FOUND) == (
        f"stack 'kbsync' not found in region eu-west-1 (from AWS_REGION) at {up.endpoint}: the local cloud deploys "
        f"the stack `kbsync local up --stack-name NAME` names (default kbsync), {POINT_AT_IT}"
    )


def test_stack_not_deployed_under_that_name(up: LocalUp, tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint)
    assert one_line(kbsync(env, "status", "--stack-name", "nope"), ExitCode.NOT_FOUND) == (
        f"stack 'nope' not found in region us-east-1 (the local cloud's default) at {up.endpoint}: the local cloud "
        f"deploys the stack `kbsync local up --stack-name NAME` names (default kbsync), {POINT_AT_IT}"
    )


def test_stack_whose_deployment_has_not_finished(up: LocalUp, tmp_path: Path) -> None:
    """A stack created by a change set never executed (REVIEW_IN_PROGRESS): it exists but is not deployed."""
    up.client("cloudformation").create_change_set(
        StackName="half",
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody='{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}',
    )
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint)
    assert one_line(kbsync(env, "history", "--kb", "AB12CD34EF", "--ds", "GH56IJ78KL", "--stack-name", "half"),
                    ExitCode.NOT_FOUND) == (
        f"stack 'half' in region us-east-1 (the local cloud's default) at {up.endpoint} is REVIEW_IN_PROGRESS, not "
        "deployed: finish or fix its deployment (`sam deploy`; see `aws cloudformation describe-stack-events "
        "--stack-name half`), then retry"
    )  # fmt: skip


def test_stack_not_found_on_aws_says_how_to_deploy_it() -> None:
    """Off the local cloud the next step is `sam deploy` (the AWS case, without AWS: the message's builder)."""
    import boto3
    from botocore.stub import Stubber

    from kbsync.cli.aws import load_stack
    from kbsync.cli.errors import CliError

    cfn = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cfn) as stub, pytest.raises(CliError) as caught:
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id kbsync does not exist", 400)
        load_stack(cfn, "kbsync", "region eu-west-1 (from profile prod in ~/.aws/config)")
    assert caught.value.message == (
        "stack 'kbsync' not found in region eu-west-1 (from profile prod in ~/.aws/config): deploy it (`sam deploy "
        f"--guided`), {POINT_AT_IT}"
    )


def test_an_endpoint_nothing_listens_on(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    env = user_env(fresh_home(tmp_path), AWS_MAX_ATTEMPTS="1")
    assert one_line(kbsync(env, "--endpoint-url", endpoint, "status"), ExitCode.AWS) == (
        f"cannot reach {endpoint}/: check the network, or start the local cloud with `kbsync local up`"
    )
