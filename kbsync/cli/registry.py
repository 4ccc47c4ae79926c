"""`kbsync targets ...`: the registry of sync targets (kbsync.targets) behind one-line answers and exit codes.

The registry code (discovery through GetDataSource, idempotent writes) lives in kbsync.targets and is shared with the
demo and the tests; this module only resolves the stack's TargetsTable, checks the ids against Bedrock first so an
unknown knowledge base and an unknown data source each get their own actionable line (exit 9), and maps the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kbsync import targets
from kbsync.cli.aws import Client, Stack
from kbsync.cli.errors import CliError, ExitCode, error_code

TARGETS_OUTPUT = "TargetsTableName"
#: Builds an AWS CLI hint: (command, service) -> the line to print (kbsync.cli.aws.Clients.aws_cli).
AwsCli = Callable[[str, str], str]


def plain_aws_cli(command: str, _service: str) -> str:
    return f"aws {command}"


@dataclass(frozen=True)
class Registry:
    """The TargetsTable (a boto3 Table resource) and the clients registration needs."""

    table: Any
    bedrock: Client
    s3: Client
    aws_cli: AwsCli = plain_aws_cli  # Clients.aws_cli: hints that reach what kbsync reached


def targets_table_name(stack: Stack) -> str:
    name = stack.outputs.get(TARGETS_OUTPUT)
    if not name:
        raise CliError(
            f"stack {stack.name!r} has no output {TARGETS_OUTPUT}: deploy a kbsync version with triggers "
            "(`sam deploy`), or pass the right --stack-name",
            ExitCode.NOT_FOUND,
        )
    return name


def check_ids_known(bedrock: Client, kb_id: str, ds_id: str, aws_cli: AwsCli = plain_aws_cli) -> None:
    """NOT_FOUND naming which id is unknown (knowledge base or data source) and how to list the real ones."""
    try:
        bedrock.get_data_source(knowledgeBaseId=kb_id, dataSourceId=ds_id)
        return
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        raise unknown_ids(bedrock, kb_id, ds_id, aws_cli) from exc


def unknown_ids(bedrock: Client, kb_id: str, ds_id: str, aws_cli: AwsCli = plain_aws_cli) -> CliError:
    """GetDataSource (or ListIngestionJobs) answered ResourceNotFound: the knowledge base, or only the data source?
    The hint is an AWS CLI command that works as printed (`aws_cli` adds the region, endpoint and profile kbsync
    used): listing the data sources of a knowledge base that does not exist would fail too."""
    try:
        bedrock.get_knowledge_base(knowledgeBaseId=kb_id)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        listing = aws_cli("bedrock-agent list-knowledge-bases", "bedrock-agent")
        return CliError(f"unknown knowledge base {kb_id}: list them with `{listing}`", ExitCode.NOT_FOUND)
    listing = aws_cli(f"bedrock-agent list-data-sources --knowledge-base-id {kb_id}", "bedrock-agent")
    return CliError(
        f"unknown data source {ds_id} of knowledge base {kb_id}: list them with `{listing}`", ExitCode.NOT_FOUND
    )


def add(
    registry: Registry, kb_id: str, ds_id: str, nightly: bool, max_age_hours: int | None = None
) -> targets.AddResult:
    """Register (idempotently) and turn on the bucket's S3 -> EventBridge notifications for on-upload syncs."""
    check_ids_known(registry.bedrock, kb_id, ds_id, registry.aws_cli)
    try:
        return targets.add_target(
            registry.table, registry.bedrock, kb_id, ds_id, nightly=nightly, max_age_hours=max_age_hours, s3=registry.s3
        )
    except targets.TargetError as exc:  # known ids, but not a data source kbsync can sync (not S3)
        raise CliError(str(exc), ExitCode.USAGE) from exc
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            raise CliError(
                f"the bucket of data source {kb_id}/{ds_id} does not exist: create it, or fix the data source's "
                "S3 configuration, then add the target again",
                ExitCode.NOT_FOUND,
            ) from exc
        raise


def remove(registry: Registry, kb_id: str, ds_id: str) -> None:
    if not targets.remove_target(registry.table, kb_id, ds_id):
        raise _not_registered(kb_id, ds_id)


def set_nightly(registry: Registry, kb_id: str, ds_id: str, on: bool) -> targets.Target:
    try:
        return targets.set_nightly(registry.table, kb_id, ds_id, on)
    except targets.TargetError as exc:
        raise _not_registered(kb_id, ds_id) from exc


def _not_registered(kb_id: str, ds_id: str) -> CliError:
    return CliError(
        f"{kb_id}/{ds_id} is not a registered target: see `kbsync targets list`, or register it with "
        f"`kbsync targets add --kb {kb_id} --ds {ds_id}`",
        ExitCode.NOT_FOUND,
    )


def describe(target: targets.Target) -> str:
    """'KB/DS (name): s3://bucket/prefix1, s3://bucket/prefix2, nightly on'."""
    where = ", ".join(f"s3://{target.bucket_name}/{p}" for p in target.inclusion_prefixes) or (
        f"s3://{target.bucket_name} (whole bucket)"
    )
    name = f" ({target.data_source_name})" if target.data_source_name else ""
    return f"{target.knowledge_base_id}/{target.data_source_id}{name}: {where}, nightly {on_off(target.nightly)}"


def on_off(flag: bool) -> str:
    return "on" if flag else "off"


def add_message(result: targets.AddResult) -> str:
    if not result.changed:
        return f"already registered, unchanged: {describe(result.target)}"
    verb = "registered" if result.created else "updated"
    return (
        f"{verb} {describe(result.target)}\n"
        f"  on-upload syncs: S3 EventBridge notifications are on for bucket {result.target.bucket_name}"
    )
