"""`kbsync logs enable|disable|status`: deliver a knowledge base's application logs to kbsync, or stop.

Why a command: a knowledge base's logs are what name the failed documents in the job record and the alert, and what
wake a waiting sync at once (docs/push-completion.md). The stack deployed with ``KnowledgeBaseLogs=on`` owns the log
group and its delivery destination (the output ``KnowledgeBaseLogDestinationArn``); each knowledge base is connected
to it by a delivery source on the knowledge base and a delivery, which this command creates and deletes, so that a
knowledge base created after the deployment (or one whose logs were off) needs no redeploy.

CloudWatch Logs vended delivery (each looked up):
- PutDeliverySource (name, resourceArn = the knowledge base ARN, logType APPLICATION_LOGS) "creates or updates" a
  delivery source; CreateDelivery pairs exactly one delivery source with one delivery destination and answers
  ConflictException when that delivery already exists; DeleteDelivery deletes only the connection; a delivery source
  cannot be deleted while a delivery uses it (DescribeDeliveries, field deliverySourceName, finds them).
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutDeliverySource.html ,
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateDelivery.html ,
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DeleteDeliverySource.html
- The caller needs bedrock:AllowVendedLogDeliveryForResource on the knowledge base, and logs:PutDeliverySource /
  logs:CreateDelivery (on delivery-source, delivery and delivery-destination ARNs):
  https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from kbsync.cli.aws import Client, Stack
from kbsync.cli.errors import CliError, ExitCode, error_code, error_text
from kbsync.cli.registry import AwsCli, plain_aws_cli

#: The stack output naming the delivery destination (kbsync's log group) when deployed with KnowledgeBaseLogs=on.
DESTINATION_OUTPUT = "KnowledgeBaseLogDestinationArn"
#: The log type of a knowledge base's ingestion events (the only one Bedrock knowledge bases deliver).
LOG_TYPE = "APPLICATION_LOGS"
SOURCE_PREFIX = "kbsync-"
#: What turning a knowledge base's logs on or off changes for its syncs, told when it is done.
ON_MEANS = "the next ingestion job's failed documents are named in its record and alert"
OFF_MEANS = "its syncs fall back to polling, alerts no longer name documents"
LOGGING_DOC = "https://docs.aws.amazon.com/bedrock/latest/userguide/knowledge-bases-logging.html"
#: What `--json` shows of a delivery (DescribeDeliveries' Delivery shape): which, from where, to where.
DELIVERY_FIELDS = ("id", "arn", "deliverySourceName", "deliveryDestinationArn", "deliveryDestinationType")
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ResourceNotFound"})


@dataclass(frozen=True)
class LogDelivery:
    """What CloudWatch Logs holds for one knowledge base: kbsync's delivery source and its deliveries."""

    knowledge_base_id: str
    knowledge_base_arn: str
    source_name: str
    destination_arn: str | None  # the stack's output; None when the stack was deployed with KnowledgeBaseLogs=off
    source: dict[str, Any] | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def to_kbsync(self) -> list[dict[str, Any]]:
        """The deliveries into kbsync's destination (the stack's log group)."""
        return [d for d in self.deliveries if d.get("deliveryDestinationArn") == self.destination_arn]

    @property
    def state(self) -> str:
        """on: delivered to kbsync; off: nothing of kbsync's; incomplete: a source without a delivery to kbsync (an
        interrupted enable, or a delivery deleted by hand); stack-off: the stack has no destination."""
        if self.destination_arn is None:
            return "stack-off"
        if self.to_kbsync:
            return "on"
        return "incomplete" if self.source or self.deliveries else "off"

    def emptied(self) -> LogDelivery:
        """The same knowledge base once its deliveries and delivery source are deleted (what `disable` leaves)."""
        return replace(self, source=None, deliveries=[])

    def to_dict(self) -> dict[str, Any]:
        return {
            "knowledgeBaseId": self.knowledge_base_id,
            "knowledgeBaseArn": self.knowledge_base_arn,
            "state": self.state,
            "deliverySourceName": self.source_name,
            "deliverySource": self.source,
            "deliveries": [{name: d[name] for name in DELIVERY_FIELDS if name in d} for d in self.deliveries],
            "destinationArn": self.destination_arn,
        }


def source_name(knowledge_base_id: str) -> str:
    """'kbsync-<knowledge base id>': kbsync's delivery source of one knowledge base (at most 60 characters of
    [A-Za-z0-9_-]: a knowledge base id is 10)."""
    return f"{SOURCE_PREFIX}{knowledge_base_id}"


def destination_of(stack: Stack) -> str | None:
    return stack.outputs.get(DESTINATION_OUTPUT) or None


def stack_off_message(stack: Stack) -> str:
    return (
        f"stack {stack.name!r} has no output {DESTINATION_OUTPUT} (deployed with KnowledgeBaseLogs=off, or by a "
        "kbsync without it): redeploy it with `sam deploy --parameter-overrides KnowledgeBaseLogs=on` (kbsync's log "
        "group and its delivery destination), then run this again"
    )


def knowledge_base_arn(bedrock: Client, knowledge_base_id: str, aws_cli: AwsCli = plain_aws_cli) -> str:
    """The knowledge base's ARN (GetKnowledgeBase); NOT_FOUND naming the command that lists the real ones."""
    try:
        found = bedrock.get_knowledge_base(knowledgeBaseId=knowledge_base_id)["knowledgeBase"]
    except ClientError as exc:
        if error_code(exc) not in _NOT_FOUND:
            raise
        listing = aws_cli("bedrock-agent list-knowledge-bases", "bedrock-agent")
        raise CliError(
            f"knowledge base {knowledge_base_id} not found: check the id (`{listing}`) and the region",
            ExitCode.NOT_FOUND,
        ) from exc
    return str(found["knowledgeBaseArn"])


def deliveries_of(logs: Client, name: str) -> list[dict[str, Any]]:
    """Every delivery of the delivery source `name` (DescribeDeliveries, every page, filtered by name here as well:
    the filter parameter is recent, and some endpoints ignore it)."""
    return [d for d in _pages(logs, deliverySourceNames=[name]) if d.get("deliverySourceName") == name]


def _pages(logs: Client, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        page = logs.describe_deliveries(**kwargs)
        yield from page.get("deliveries", [])
        token = page.get("nextToken")
        if not token:
            return
        kwargs["nextToken"] = token


def delivery_source(logs: Client, name: str) -> dict[str, Any] | None:
    """The delivery source `name` (GetDeliverySource), None when there is none."""
    try:
        found: dict[str, Any] = logs.get_delivery_source(name=name)["deliverySource"]
    except ClientError as exc:
        if error_code(exc) not in _NOT_FOUND:
            raise
        return None
    return found


def read(
    logs: Client, bedrock: Client, stack: Stack, knowledge_base_id: str, aws_cli: AwsCli = plain_aws_cli
) -> LogDelivery:
    """The knowledge base's delivery as CloudWatch Logs holds it now."""
    name = source_name(knowledge_base_id)
    return LogDelivery(
        knowledge_base_id=knowledge_base_id,
        knowledge_base_arn=knowledge_base_arn(bedrock, knowledge_base_id, aws_cli),
        source_name=name,
        destination_arn=destination_of(stack),
        source=delivery_source(logs, name),
        deliveries=deliveries_of(logs, name),
    )


def _denied(exc: ClientError, operation: str, permissions: str, arn: str) -> CliError:
    return CliError(
        f"access denied for {operation} ({error_code(exc)}): the caller needs {permissions} on {arn} "
        f"(see {LOGGING_DOC})",
        ExitCode.AWS,
    )


def enable(
    logs: Client, bedrock: Client, stack: Stack, knowledge_base_id: str, aws_cli: AwsCli = plain_aws_cli
) -> tuple[LogDelivery, bool]:
    """Deliver the knowledge base's application logs to kbsync's destination; (the delivery, whether anything was
    created). Idempotent: a delivery already there is left as it is ("already on")."""
    if destination_of(stack) is None:
        raise CliError(stack_off_message(stack), ExitCode.NOT_FOUND)
    current = read(logs, bedrock, stack, knowledge_base_id, aws_cli)
    if current.state == "on":
        return current, False
    destination = str(current.destination_arn)
    try:
        logs.put_delivery_source(name=current.source_name, resourceArn=current.knowledge_base_arn, logType=LOG_TYPE)
    except ClientError as exc:
        if error_code(exc) in _ACCESS_DENIED:
            raise _denied(
                exc,
                "PutDeliverySource",
                "logs:PutDeliverySource and bedrock:AllowVendedLogDeliveryForResource",
                current.knowledge_base_arn,
            ) from exc
        if error_code(exc) == "ConflictException":
            raise CliError(
                f"cannot create the delivery source {current.source_name} for knowledge base {knowledge_base_id}: "
                f"{error_text(exc)}; see its delivery sources with "
                f"`{aws_cli('logs describe-delivery-sources', 'logs')}`",
                ExitCode.AWS,
            ) from exc
        raise
    try:
        logs.create_delivery(deliverySourceName=current.source_name, deliveryDestinationArn=destination)
    except ClientError as exc:
        if error_code(exc) in _ACCESS_DENIED:
            raise _denied(exc, "CreateDelivery", "logs:CreateDelivery", destination) from exc
        if error_code(exc) != "ConflictException":  # the same delivery, created since the read: on
            raise
        return read(logs, bedrock, stack, knowledge_base_id, aws_cli), False
    return read(logs, bedrock, stack, knowledge_base_id, aws_cli), True


def disable(
    logs: Client, bedrock: Client, stack: Stack, knowledge_base_id: str, aws_cli: AwsCli = plain_aws_cli
) -> tuple[LogDelivery, bool]:
    """Delete kbsync's deliveries of the knowledge base, then its delivery source (a source cannot be deleted while a
    delivery uses it); (what was there, whether anything was deleted). Works on a stack deployed with logs off too,
    to clean up after it. Idempotent: what is already gone is not an error."""
    current = read(logs, bedrock, stack, knowledge_base_id, aws_cli)
    deleted = False
    for delivery in current.deliveries:
        deleted |= _deleted(logs.delete_delivery, "DeleteDelivery", "logs:DeleteDelivery", id=delivery["id"])
    if current.source is not None:
        deleted |= _deleted(
            logs.delete_delivery_source, "DeleteDeliverySource", "logs:DeleteDeliverySource", name=current.source_name
        )
    return current, deleted


def _deleted(call: Callable[..., Any], operation: str, permission: str, **params: str) -> bool:
    """Run one delete; False when the thing was already gone; an access error names the permission."""
    try:
        call(**params)
    except ClientError as exc:
        if error_code(exc) in _NOT_FOUND:
            return False
        if error_code(exc) in _ACCESS_DENIED:
            raise CliError(
                f"access denied for {operation} ({error_code(exc)}): the caller needs {permission} (see {LOGGING_DOC})",
                ExitCode.AWS,
            ) from exc
        raise
    return True


# --------------------------------------------------------------------------- text


def status_text(found: LogDelivery, stack: Stack) -> str:
    """What `kbsync logs status` prints: the state in one line, then the source and the deliveries, then what to do
    when it is not on."""
    kb = found.knowledge_base_id
    headline = {
        "on": "on: its application logs are delivered to kbsync (failed documents are named, syncs wake at once)",
        "off": "off: its application logs are not delivered to kbsync",
        "incomplete": "incomplete: kbsync's delivery source exists but no delivery to kbsync's log group",
        "stack-off": f"off: {stack_off_message(stack)}",
    }[found.state]
    lines = [f"knowledge base {kb}: logs {headline}"]
    if found.source:
        arns = ", ".join(found.source.get("resourceArns") or [])
        lines.append(f"  delivery source  {found.source_name} ({found.source.get('logType', '?')} of {arns})")
    for delivery in found.deliveries:
        mark = "kbsync's log group" if delivery.get("deliveryDestinationArn") == found.destination_arn else "elsewhere"
        lines.append(f"  delivery         {delivery.get('id')} -> {delivery.get('deliveryDestinationArn')} ({mark})")
    if found.destination_arn:
        lines.append(f"  destination      {found.destination_arn} (stack output {DESTINATION_OUTPUT})")
    if found.state in ("off", "incomplete"):
        lines.append(f"  turn them on: kbsync logs enable --knowledge-base-id {kb}")
    return "\n".join(lines)


def enable_text(found: LogDelivery, created: bool) -> str:
    if created:
        return _logs_line(found, "on", f"delivery source {found.source_name} -> {found.destination_arn}; {ON_MEANS}")
    return _logs_line(found, "already on", f"delivery source {found.source_name} -> kbsync's log group")


def disable_text(found: LogDelivery, deleted: bool) -> str:
    if deleted:
        deleted_what = f"deleted {len(found.deliveries)} delivery(ies) and the delivery source {found.source_name}"
        return _logs_line(found, "off", f"{deleted_what}; {OFF_MEANS}")
    return _logs_line(found, "already off", f"no delivery source {found.source_name}")


def _logs_line(found: LogDelivery, state: str, detail: str) -> str:
    """One wording for what enable and disable did (or found already done), so the two answers read alike."""
    return f"logs {state} for knowledge base {found.knowledge_base_id}: {detail}"
