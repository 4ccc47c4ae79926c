"""`kbsync logs enable|disable|status`: a knowledge base's application logs delivered to kbsync's log group.

Against the local cloud (moto's CloudWatch Logs implements the delivery APIs: PutDeliverySource, CreateDelivery with
its ConflictException, DescribeDeliveries, DeleteDelivery, DeleteDeliverySource) with a stack reduced to the outputs
the command reads (tests/cli/minimal_stack.py); the errors moto does not produce (access denied, a delivery created
between the read and the create) with botocore's Stubber, which checks every request and response against the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from kbsync.cli import logs
from kbsync.cli.aws import Stack
from kbsync.cli.errors import CliError, ExitCode
from tests.cli.minimal_stack import MinimalStack, minimal_stack
from tests.cli.support import REPO, Result, cli


@pytest.fixture(scope="module")
def stack() -> Iterator[MinimalStack]:
    with minimal_stack() as deployed:
        yield deployed


def new_kb(stack: MinimalStack) -> str:
    from kbsync_localcloud.bedrock.seed import seed_knowledge_base

    return seed_knowledge_base(stack.client("bedrock-agent"), name="logs-test-kb")


def run(*argv: str) -> Result:
    return cli("logs", *argv)


def state(kb: str) -> dict[str, Any]:
    result = run("status", "--knowledge-base-id", kb, "--json")
    assert result.code == ExitCode.OK, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def kb_arn(kb: str) -> str:
    return f"arn:aws:bedrock:us-east-1:123456789012:knowledge-base/{kb}"


def test_enable_creates_the_delivery_source_and_one_delivery_to_the_stacks_destination(stack: MinimalStack) -> None:
    kb = new_kb(stack)
    assert state(kb)["state"] == "off"
    result = run("enable", "--knowledge-base-id", kb)
    assert result.code == ExitCode.OK, result.err
    assert result.out.startswith(f"logs on for knowledge base {kb}: delivery source kbsync-{kb} -> ")
    cloudwatch = stack.client("logs")
    source = cloudwatch.get_delivery_source(name=f"kbsync-{kb}")["deliverySource"]
    assert (source["resourceArns"], source["logType"]) == ([kb_arn(kb)], "APPLICATION_LOGS")
    ours = [d for d in cloudwatch.describe_deliveries()["deliveries"] if d["deliverySourceName"] == f"kbsync-{kb}"]
    assert [d["deliveryDestinationArn"] for d in ours] == [stack.destination_arn]
    shown = state(kb)
    assert (shown["state"], shown["knowledgeBaseArn"], shown["destinationArn"]) == ("on", kb_arn(kb),
                                                                                    stack.destination_arn)  # fmt: skip
    assert [d["id"] for d in shown["deliveries"]] == [ours[0]["id"]]


def test_a_second_enable_says_already_on_and_creates_nothing(stack: MinimalStack) -> None:
    kb = new_kb(stack)
    assert run("enable", "--knowledge-base-id", kb).code == ExitCode.OK
    again = run("enable", "--kb", kb)
    assert again.code == ExitCode.OK, again.err
    assert (
        again.out.strip()
        == f"logs already on for knowledge base {kb}: delivery source kbsync-{kb} -> kbsync's log group"
    )
    assert len(state(kb)["deliveries"]) == 1


def test_status_in_words_names_the_source_the_delivery_and_the_destination(stack: MinimalStack) -> None:
    kb = new_kb(stack)
    off = run("status", "--knowledge-base-id", kb)
    assert off.code == ExitCode.OK
    assert off.out.splitlines()[0] == f"knowledge base {kb}: logs off: its application logs are not delivered to kbsync"
    assert f"  turn them on: kbsync logs enable --knowledge-base-id {kb}" in off.out
    run("enable", "--knowledge-base-id", kb)
    on = run("status", "--knowledge-base-id", kb).out.splitlines()
    assert on[0].startswith(f"knowledge base {kb}: logs on: ")
    assert on[1] == f"  delivery source  kbsync-{kb} (APPLICATION_LOGS of {kb_arn(kb)})"
    assert on[2].startswith("  delivery         ") and on[2].endswith(
        f" -> {stack.destination_arn} (kbsync's log group)"
    )
    assert on[3] == f"  destination      {stack.destination_arn} (stack output KnowledgeBaseLogDestinationArn)"


def test_a_source_without_its_delivery_is_incomplete_and_enable_completes_it(stack: MinimalStack) -> None:
    kb = new_kb(stack)
    stack.client("logs").put_delivery_source(name=f"kbsync-{kb}", resourceArn=kb_arn(kb), logType="APPLICATION_LOGS")
    assert state(kb)["state"] == "incomplete"
    assert "logs incomplete: kbsync's delivery source exists" in run("status", "--knowledge-base-id", kb).out
    assert run("enable", "--knowledge-base-id", kb).code == ExitCode.OK
    assert state(kb)["state"] == "on"


def test_disable_deletes_the_delivery_then_the_source_and_a_second_disable_says_already_off(
    stack: MinimalStack,
) -> None:
    kb = new_kb(stack)
    run("enable", "--knowledge-base-id", kb)
    delivery_id = state(kb)["deliveries"][0]["id"]
    result = run("disable", "--knowledge-base-id", kb, "--json")
    assert result.code == ExitCode.OK, result.err
    document = json.loads(result.out)
    assert (document["state"], document["changed"], document["deletedDeliveries"]) == ("off", True, [delivery_id])
    cloudwatch = stack.client("logs")
    assert all(d["deliverySourceName"] != f"kbsync-{kb}" for d in cloudwatch.describe_deliveries()["deliveries"])
    with pytest.raises(cloudwatch.exceptions.ResourceNotFoundException):
        cloudwatch.get_delivery_source(name=f"kbsync-{kb}")
    again = run("disable", "--knowledge-base-id", kb)
    assert again.code == ExitCode.OK
    assert again.out.strip() == f"logs already off for knowledge base {kb}: no delivery source kbsync-{kb}"


def test_an_unknown_knowledge_base_is_not_found_naming_how_to_list_them(stack: MinimalStack) -> None:
    result = run("status", "--knowledge-base-id", "ZZZZZZZZZZ")
    assert result.code == ExitCode.NOT_FOUND
    assert result.err.startswith("kbsync: knowledge base ZZZZZZZZZZ not found: check the id (`aws bedrock-agent ")
    assert "list-knowledge-bases" in result.err and result.out == ""


def test_an_invalid_id_is_refused_before_any_call() -> None:
    result = run("enable", "--knowledge-base-id", "kb-1")
    assert result.code == ExitCode.USAGE


def test_on_a_stack_deployed_with_logs_off_status_says_so_and_enable_fails_naming_the_parameter(
    stack: MinimalStack,
) -> None:
    off = stack.logs_off("kbsync-logs-off")
    kb = new_kb(stack)
    status = cli("logs", "status", "--knowledge-base-id", kb, "--stack-name", off)
    assert status.code == ExitCode.OK, status.err
    assert status.out.startswith(
        f"knowledge base {kb}: logs off: stack 'kbsync-logs-off' has no output KnowledgeBaseLogDestinationArn"
    )
    assert json.loads(cli("logs", "status", "--kb", kb, "--stack-name", off, "--json").out)["state"] == "stack-off"
    enable = cli("logs", "enable", "--knowledge-base-id", kb, "--stack-name", off)
    assert enable.code == ExitCode.NOT_FOUND
    assert "KnowledgeBaseLogs=off" in enable.err and "KnowledgeBaseLogs=on" in enable.err
    assert enable.err.count("\n") == 1  # one line
    assert enable.out == ""
    disable = cli("logs", "disable", "--knowledge-base-id", kb, "--stack-name", off)
    assert disable.code == ExitCode.OK  # cleaning up needs no destination


def test_the_template_declares_the_output_the_command_reads() -> None:
    """The stack output `kbsync logs` reads is the one template.yaml declares, on the same condition as the log
    group (KnowledgeBaseLogs=on)."""
    from kbsync_localcloud.sam import load_template

    outputs = load_template(REPO / "template.yaml")["Outputs"]
    assert logs.DESTINATION_OUTPUT in outputs
    assert outputs[logs.DESTINATION_OUTPUT].get("Condition") == "UsesKnowledgeBaseLogs"


# --------------------------------------------------------------------------- errors moto does not produce


KB = "KB12345678"
DESTINATION = "arn:aws:logs:us-east-1:123456789012:delivery-destination:kbsync-kb-logs"
STACK = Stack("kbsync", "sm", "jobs", {logs.DESTINATION_OUTPUT: DESTINATION}, {})


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Any, Stubber, Stubber]]:
    def client(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    cloudwatch, bedrock = client("logs"), client("bedrock-agent")
    with Stubber(cloudwatch) as logs_stub, Stubber(bedrock) as bedrock_stub:
        yield cloudwatch, bedrock, logs_stub, bedrock_stub
        logs_stub.assert_no_pending_responses()
        bedrock_stub.assert_no_pending_responses()


def nothing_yet(logs_stub: Stubber, bedrock_stub: Stubber) -> None:
    """GetKnowledgeBase, then no delivery source and no delivery (what `read` asks first)."""
    the_knowledge_base(bedrock_stub)
    logs_stub.add_client_error("get_delivery_source", "ResourceNotFoundException", "no such source")
    logs_stub.add_response("describe_deliveries", {"deliveries": []}, {"deliverySourceNames": [f"kbsync-{KB}"]})


def the_knowledge_base(bedrock_stub: Stubber) -> None:
    """GetKnowledgeBase's answer for KB."""
    bedrock_stub.add_response(
        "get_knowledge_base",
        {
            "knowledgeBase": {
                "knowledgeBaseId": KB,
                "name": "kb",
                "knowledgeBaseArn": kb_arn(KB),
                "roleArn": "arn:aws:iam::123456789012:role/kb",
                "knowledgeBaseConfiguration": {"type": "VECTOR"},
                "status": "ACTIVE",
                "createdAt": "2026-12-01T00:00:00Z",
                "updatedAt": "2026-12-01T00:00:00Z",
            }
        },
        {"knowledgeBaseId": KB},
    )


def test_put_delivery_source_denied_names_the_vended_log_permission(stubbed: Any) -> None:
    cloudwatch, bedrock, logs_stub, bedrock_stub = stubbed
    nothing_yet(logs_stub, bedrock_stub)
    logs_stub.add_client_error("put_delivery_source", "AccessDeniedException", "not authorized", 400)
    with pytest.raises(CliError) as raised:
        logs.enable(cloudwatch, bedrock, STACK, KB)
    assert raised.value.code == ExitCode.AWS
    message = raised.value.message
    assert message.startswith("access denied for PutDeliverySource (AccessDeniedException): the caller needs ")
    assert "bedrock:AllowVendedLogDeliveryForResource" in message and kb_arn(KB) in message
    assert "https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html" in message


def test_create_delivery_denied_names_logs_create_delivery(stubbed: Any) -> None:
    cloudwatch, bedrock, logs_stub, bedrock_stub = stubbed
    nothing_yet(logs_stub, bedrock_stub)
    logs_stub.add_response("put_delivery_source", {"deliverySource": {"name": f"kbsync-{KB}"}})
    logs_stub.add_client_error("create_delivery", "AccessDeniedException", "not authorized", 400)
    with pytest.raises(CliError) as raised:
        logs.enable(cloudwatch, bedrock, STACK, KB)
    assert "the caller needs logs:CreateDelivery on " + DESTINATION in raised.value.message


def test_a_delivery_created_meanwhile_is_already_on(stubbed: Any) -> None:
    """CreateDelivery's ConflictException ("already exists"): another enable won the race; nothing to do."""
    cloudwatch, bedrock, logs_stub, bedrock_stub = stubbed
    nothing_yet(logs_stub, bedrock_stub)
    logs_stub.add_response(
        "put_delivery_source",
        {"deliverySource": {"name": f"kbsync-{KB}"}},
        {"name": f"kbsync-{KB}", "resourceArn": kb_arn(KB), "logType": "APPLICATION_LOGS"},
    )
    logs_stub.add_client_error("create_delivery", "ConflictException", "The specified Delivery already exists", 400)
    nothing_yet(logs_stub, bedrock_stub)  # the re-read (its answers do not matter here)
    found, created = logs.enable(cloudwatch, bedrock, STACK, KB)
    assert created is False and found.knowledge_base_arn == kb_arn(KB)


def test_delivery_pages_are_all_read_and_only_this_sources_kept(stubbed: Any) -> None:
    cloudwatch, _, logs_stub, _ = stubbed
    first = {"id": "a1", "deliverySourceName": "kbsync-KB12345678", "deliveryDestinationArn": DESTINATION}
    other = {"id": "b2", "deliverySourceName": "someone-else", "deliveryDestinationArn": DESTINATION}
    logs_stub.add_response("describe_deliveries", {"deliveries": [other], "nextToken": "t"})
    logs_stub.add_response(
        "describe_deliveries", {"deliveries": [first]}, {"deliverySourceNames": [f"kbsync-{KB}"], "nextToken": "t"}
    )
    assert logs.deliveries_of(cloudwatch, f"kbsync-{KB}") == [first]


# --------------------------------------------------------------------------- what the mutation run asked for


def test_a_delivery_source_taken_by_another_resource_names_the_source_and_how_to_see_it(stubbed: Any) -> None:
    """PutDeliverySource's ConflictException (the name is kbsync's, the source another resource's) is a one-line
    AWS error naming the source and the command that lists them; any other refusal is not dressed up as one."""
    cloudwatch, bedrock, logs_stub, bedrock_stub = stubbed
    nothing_yet(logs_stub, bedrock_stub)
    logs_stub.add_client_error("put_delivery_source", "ConflictException", "in use by another resource", 400)
    with pytest.raises(CliError) as raised:
        logs.enable(cloudwatch, bedrock, STACK, KB)
    assert raised.value.code == ExitCode.AWS
    assert raised.value.message.startswith(f"cannot create the delivery source kbsync-{KB} for knowledge base {KB}: ")
    assert "in use by another resource" in raised.value.message
    assert "logs describe-delivery-sources" in raised.value.message

    nothing_yet(logs_stub, bedrock_stub)
    logs_stub.add_client_error("put_delivery_source", "ValidationException", "bad resource arn", 400)
    with pytest.raises(cloudwatch.exceptions.ValidationException):
        logs.enable(cloudwatch, bedrock, STACK, KB)


def with_a_delivery(logs_stub: Stubber, bedrock_stub: Stubber) -> None:
    """What `read` asks first, for a knowledge base with kbsync's source and one delivery to kbsync."""
    the_knowledge_base(bedrock_stub)
    logs_stub.add_response(
        "get_delivery_source",
        {"deliverySource": {"name": f"kbsync-{KB}", "resourceArns": [kb_arn(KB)], "logType": "APPLICATION_LOGS"}},
        {"name": f"kbsync-{KB}"},
    )
    delivery = {"id": "d1", "deliverySourceName": f"kbsync-{KB}", "deliveryDestinationArn": DESTINATION}
    logs_stub.add_response("describe_deliveries", {"deliveries": [delivery]}, {"deliverySourceNames": [f"kbsync-{KB}"]})


def test_disable_of_what_is_already_gone_changes_nothing_and_is_no_error(stubbed: Any) -> None:
    """Another disable deleted the delivery and the source between the read and the deletes: both deletes find
    nothing (ResourceNotFoundException), and the result says nothing was deleted."""
    cloudwatch, bedrock, logs_stub, bedrock_stub = stubbed
    with_a_delivery(logs_stub, bedrock_stub)
    logs_stub.add_client_error("delete_delivery", "ResourceNotFoundException", "no such delivery", 400, {"id": "d1"})
    logs_stub.add_client_error(
        "delete_delivery_source", "ResourceNotFoundException", "no such source", 400, {"name": f"kbsync-{KB}"}
    )
    found, deleted = logs.disable(cloudwatch, bedrock, STACK, KB)
    assert deleted is False and found.state == "on"


def test_a_delete_that_is_denied_names_the_permission_and_any_other_refusal_is_raised(stubbed: Any) -> None:
    cloudwatch, bedrock, logs_stub, bedrock_stub = stubbed
    with_a_delivery(logs_stub, bedrock_stub)
    logs_stub.add_client_error("delete_delivery", "AccessDeniedException", "not authorized", 400, {"id": "d1"})
    with pytest.raises(CliError) as raised:
        logs.disable(cloudwatch, bedrock, STACK, KB)
    assert raised.value.code == ExitCode.AWS
    assert raised.value.message.startswith(
        "access denied for DeleteDelivery (AccessDeniedException): the caller needs logs:DeleteDelivery (see "
    )
    with_a_delivery(logs_stub, bedrock_stub)
    logs_stub.add_client_error("delete_delivery", "ThrottlingException", "Rate exceeded", 400, {"id": "d1"})
    with pytest.raises(ClientError) as throttled:
        logs.disable(cloudwatch, bedrock, STACK, KB)
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"


def delivered(*deliveries: dict[str, Any]) -> logs.LogDelivery:
    return logs.LogDelivery(
        knowledge_base_id=KB,
        knowledge_base_arn=kb_arn(KB),
        source_name=f"kbsync-{KB}",
        destination_arn=DESTINATION,
        source={"name": f"kbsync-{KB}", "resourceArns": [kb_arn(KB)], "logType": "APPLICATION_LOGS"},
        deliveries=list(deliveries),
    )


def test_status_names_each_delivery_by_its_id_and_where_it_goes() -> None:
    elsewhere = "arn:aws:logs:us-east-1:123456789012:delivery-destination:someone-elses"
    text = logs.status_text(
        delivered(
            {"id": "d1", "deliveryDestinationArn": DESTINATION},
            {"id": "d2", "deliveryDestinationArn": elsewhere},
        ),
        STACK,
    ).splitlines()
    assert text[2:4] == [
        f"  delivery         d1 -> {DESTINATION} (kbsync's log group)",
        f"  delivery         d2 -> {elsewhere} (elsewhere)",
    ]


def test_the_json_status_names_the_knowledge_base_the_source_and_every_field_of_a_delivery() -> None:
    delivery = {
        "id": "d1",
        "arn": "arn:aws:logs:us-east-1:123456789012:delivery:d1",
        "deliverySourceName": f"kbsync-{KB}",
        "deliveryDestinationArn": DESTINATION,
        "deliveryDestinationType": "CWL",
        "tags": {"not": "shown"},
    }
    found = delivered(delivery)
    assert found.to_dict() == {
        "knowledgeBaseId": KB,
        "knowledgeBaseArn": kb_arn(KB),
        "state": "on",
        "deliverySourceName": f"kbsync-{KB}",
        "deliverySource": found.source,
        "deliveries": [{k: v for k, v in delivery.items() if k != "tags"}],
        "destinationArn": DESTINATION,
    }
