"""The standard AWS configuration chain, through the real `kbsync` binary against `kbsync local up`, from a temporary
HOME with no AWS configuration, each source set in turn.

The precedence is the AWS CLI v2's (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html:
options over environment variables over the config file; AWS_REGION over AWS_DEFAULT_REGION and the profile's region)
and the SDKs' for endpoints (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html:
AWS_ENDPOINT_URL_<SERVICE> over AWS_ENDPOINT_URL over the config file; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ignores
them; --endpoint-url always wins).

The server deploys the stack in us-east-1 only, so which region kbsync used shows: us-east-1 finds the stack
(`status` answers), any other region is named in the "stack not found" line with where it came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kbsync.cli.errors import ExitCode
from tests.cli.local_up_support import DataSource, Ran, fresh_home, kbsync, new_data_source, serve, user_env
from tests.localcloud.local_up import LocalUp, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    yield from serve(tmp_path_factory.mktemp("config-chain"), time_scale="0.1")


def dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


def aws_config(home: Path, text: str, name: str = "config") -> Path:
    folder = home / ".aws"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def found_the_stack(ran: Ran) -> bool:
    assert "Traceback" not in ran.err, ran.err
    return ran.code == 0 and ran.out == "nothing running\n"


def region_used(ran: Ran) -> str:
    """'eu-west-1 (from AWS_REGION)' out of "stack 'kbsync' not found in region eu-west-1 (from AWS_REGION) at ..."."""
    assert ran.code == ExitCode.NOT_FOUND, ran
    head = "kbsync: stack 'kbsync' not found in region "
    assert ran.err.startswith(head), ran.err
    return ran.err[len(head) : ran.err.index(") at ") + 1]


# --------------------------------------------------------------------------- region


def test_with_nothing_configured_the_local_cloud_needs_no_region_or_credentials(up: LocalUp, tmp_path: Path) -> None:
    assert found_the_stack(kbsync(user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint), "status"))


def test_aws_default_region(up: LocalUp, tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint, AWS_DEFAULT_REGION="eu-west-2")
    assert region_used(kbsync(env, "status")) == "eu-west-2 (from AWS_DEFAULT_REGION)"


def test_aws_region_wins_over_aws_default_region(up: LocalUp, tmp_path: Path) -> None:
    env = user_env(
        fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint, AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="us-east-1"
    )
    assert region_used(kbsync(env, "status")) == "eu-west-1 (from AWS_REGION)"
    env["AWS_REGION"] = "us-east-1"
    env["AWS_DEFAULT_REGION"] = "eu-west-2"
    assert found_the_stack(kbsync(env, "status"))


def test_the_region_option_wins_over_the_environment(up: LocalUp, tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=up.endpoint, AWS_REGION="eu-west-1")
    assert found_the_stack(kbsync(env, "--region", "us-east-1", "status"))
    assert found_the_stack(kbsync(env, "status", "--region", "us-east-1"))  # after the command too
    assert region_used(kbsync(env, "status", "--region", "ap-south-1")) == "ap-south-1 (from --region)"


def test_the_default_profiles_region_in_the_config_file(up: LocalUp, tmp_path: Path) -> None:
    home = fresh_home(tmp_path)
    aws_config(home, "[default]\nregion = ap-south-1\n")
    env = user_env(home, AWS_ENDPOINT_URL=up.endpoint)
    assert region_used(kbsync(env, "status")) == "ap-south-1 (from profile default in ~/.aws/config)"
    env["AWS_DEFAULT_REGION"] = "us-east-1"  # the environment wins over the file
    assert found_the_stack(kbsync(env, "status"))


def test_aws_profile_and_the_profile_option(up: LocalUp, tmp_path: Path) -> None:
    home = fresh_home(tmp_path)
    aws_config(home, "[profile team]\nregion = eu-central-1\n\n[profile local]\nregion = us-east-1\n")
    env = user_env(home, AWS_ENDPOINT_URL=up.endpoint, AWS_PROFILE="team")
    assert region_used(kbsync(env, "status")) == "eu-central-1 (from profile team in ~/.aws/config)"
    assert found_the_stack(kbsync(env, "--profile", "local", "status"))  # the option wins over AWS_PROFILE
    env["AWS_REGION"] = "us-east-1"  # and AWS_REGION over the profile's region
    assert found_the_stack(kbsync(env, "status"))


def test_aws_config_file_moves_the_config_file(up: LocalUp, tmp_path: Path) -> None:
    home = fresh_home(tmp_path)
    aws_config(home, "[default]\nregion = us-east-1\n")  # not read: AWS_CONFIG_FILE points elsewhere
    elsewhere = tmp_path / "elsewhere.ini"
    elsewhere.write_text("[default]\nregion = ca-central-1\n")
    env = user_env(home, AWS_ENDPOINT_URL=up.endpoint, AWS_CONFIG_FILE=str(elsewhere))
    assert region_used(kbsync(env, "status")) == f"ca-central-1 (from profile default in {elsewhere})"


# --------------------------------------------------------------------------- endpoint


def test_the_profiles_endpoint_url(up: LocalUp, tmp_path: Path) -> None:
    home = fresh_home(tmp_path)
    aws_config(home, f"[default]\nendpoint_url = {up.endpoint}\n")
    assert found_the_stack(kbsync(user_env(home), "status"))


def test_the_endpoint_option_wins_over_aws_endpoint_url(up: LocalUp, tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=dead_endpoint())
    assert found_the_stack(kbsync(env, "--endpoint-url", up.endpoint, "status"))


#: The service identifiers of what `kbsync status` calls (CloudFormation, DynamoDB, Step Functions, Bedrock Agent):
#: https://docs.aws.amazon.com/sdkref/latest/guide/ss-endpoints-table.html
#: The services `kbsync status` calls when nothing runs (the stack, the records and gates, Bedrock's running jobs):
#: Step Functions is asked only about the executions the records and gates name.
STATUS_SERVICES = {
    "cloudformation": "CLOUDFORMATION",
    "dynamodb": "DYNAMODB",
    "bedrock_agent": "BEDROCK_AGENT",
}


def test_service_specific_endpoint_variables_win_over_aws_endpoint_url(up: LocalUp, tmp_path: Path) -> None:
    env = user_env(fresh_home(tmp_path), AWS_ENDPOINT_URL=dead_endpoint())
    env.update({f"AWS_ENDPOINT_URL_{service}": up.endpoint for service in STATUS_SERVICES.values()})
    assert found_the_stack(kbsync(env, "status"))
    del env["AWS_ENDPOINT_URL_DYNAMODB"]  # DynamoDB alone now goes to the dead endpoint
    refused = kbsync(env, "status")
    assert refused.code == ExitCode.AWS and refused.err.startswith(f"kbsync: cannot reach {env['AWS_ENDPOINT_URL']}")


def test_a_services_section_of_the_config_file(up: LocalUp, tmp_path: Path) -> None:
    home = fresh_home(tmp_path)
    sections = "".join(f"{key} =\n  endpoint_url = {up.endpoint}\n" for key in STATUS_SERVICES)
    aws_config(home, f"[default]\nservices = local-cloud\n\n[services local-cloud]\n{sections}")
    assert found_the_stack(kbsync(user_env(home), "status"))


def test_ignore_configured_endpoint_urls_sends_the_requests_to_aws(up: LocalUp, tmp_path: Path) -> None:
    """With the configured endpoints ignored, kbsync goes to AWS itself, where it has no credentials: said before
    any request leaves."""
    env = user_env(
        fresh_home(tmp_path),
        AWS_ENDPOINT_URL=up.endpoint,
        AWS_REGION="us-east-1",
        AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true",
    )
    ignored = kbsync(env, "status")
    assert ignored.code == ExitCode.AWS and ignored.err.startswith("kbsync: no AWS credentials found"), ignored


# --------------------------------------------------------------------------- credentials, and hints that follow


@pytest.fixture(scope="module")
def source(up: LocalUp) -> DataSource:
    return new_data_source(up, {"a.md": b"# a\n"})


def hint(ran: Ran) -> str:
    assert ran.code == ExitCode.NOT_FOUND, ran
    return ran.err.rsplit("`", 2)[-2]


def test_configured_credentials_are_used_and_the_hint_adds_only_what_the_aws_cli_lacks(
    up: LocalUp, source: DataSource, tmp_path: Path
) -> None:
    """Credentials in ~/.aws/credentials: kbsync uses them (no dummy keys in its hint); a profile given as an option
    and the endpoint given as an option are repeated in the hint, the region always."""
    home = fresh_home(tmp_path)
    aws_config(home, "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n", "credentials")
    aws_config(home, "[profile team]\nregion = us-east-1\naws_access_key_id = A\naws_secret_access_key = B\n")
    env = user_env(home)
    argv = ("history", "--kb", source.kb, "--ds", "ZZZZZZZZZZ", "--endpoint-url", up.endpoint)
    listing = f"aws bedrock-agent list-data-sources --knowledge-base-id {source.kb}"
    assert hint(kbsync(env, *argv, "--region", "us-east-1")) == (
        f"{listing} --region us-east-1 --endpoint-url {up.endpoint}"
    )
    assert hint(kbsync(env, *argv, "--profile", "team")) == (
        f"{listing} --region us-east-1 --endpoint-url {up.endpoint} --profile team"
    )
