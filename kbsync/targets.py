"""The registry of sync targets and manual syncs through the sync gate (what `kbsync targets ...` / `kbsync sync` call).

A target is one Bedrock data source kbsync keeps in sync: knowledge base id, data source id, and what Bedrock says it
reads — S3 bucket and inclusion prefixes — discovered with bedrock-agent GetDataSource, never typed by hand, plus
`nightly` on/off. Targets live in the stack's TargetsTable (output ``TargetsTableName``) as
``pk = DS#<kb>#<ds>, sk = TARGET``; the upload router finds them by bucket (GSI ``byBucket``), the nightly fan-out
scans those with nightly on.

Guarantees: adding is idempotent (the same target twice = one item, ``changed=False``); an unknown knowledge base
or data source, or a data source that is not S3, raises :class:`TargetError` with a clear message and writes
nothing; the item is written in one PutItem after discovery succeeded, so nothing is ever half-registered.

Every function takes its boto3 clients/resources as arguments (no globals), so the CLI, the runbooks' tests and the
local cloud all call the same code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import kbsync_keys  # the shared core (schemas/, installed with this package)
import kbsync_names
import kbsync_values
from botocore.exceptions import ClientError

ID_PATTERN = re.compile(r"[0-9a-zA-Z]{10}")
TARGET_SK = kbsync_keys.TARGET_SK


class TargetError(ValueError):
    """The target cannot be registered or found; the message says why and what to check."""


@dataclass(frozen=True)
class Target:
    knowledge_base_id: str
    data_source_id: str
    bucket_name: str
    inclusion_prefixes: tuple[str, ...] = ()
    nightly: bool = True
    data_source_name: str = ""
    registered_at: str = ""
    #: The longest time without a successful sync before the freshness check alerts TARGET_STALE; None = the stack's
    #: FreshnessMaxAgeHours.
    max_age_hours: int | None = None

    @property
    def pk(self) -> str:
        return kbsync_keys.ds_pk(self.knowledge_base_id, self.data_source_id)

    def to_item(self) -> dict[str, Any]:
        """The target item (schemas/target-item.schema.json)."""
        item: dict[str, Any] = {
            **kbsync_keys.target_key(self.knowledge_base_id, self.data_source_id),
            "knowledgeBaseId": self.knowledge_base_id,
            "dataSourceId": self.data_source_id,
            "dataSourceName": self.data_source_name,
            "bucketName": self.bucket_name,
            "inclusionPrefixes": list(self.inclusion_prefixes),
            "nightly": self.nightly,
            "registeredAt": self.registered_at,
        }
        if self.max_age_hours is not None:
            item["maxAgeHours"] = self.max_age_hours
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Target:
        return cls(
            knowledge_base_id=str(item["knowledgeBaseId"]),
            data_source_id=str(item["dataSourceId"]),
            bucket_name=str(item["bucketName"]),
            inclusion_prefixes=tuple(str(p) for p in item.get("inclusionPrefixes") or ()),
            nightly=bool(item.get("nightly", True)),
            data_source_name=str(item.get("dataSourceName", "")),
            registered_at=str(item.get("registeredAt", "")),
            max_age_hours=int(item["maxAgeHours"]) if item.get("maxAgeHours") is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON view for `kbsync targets list --json`: the stored item without its table keys."""
        return {key: value for key, value in self.to_item().items() if key not in ("pk", "sk")}


@dataclass(frozen=True)
class AddResult:
    target: Target
    created: bool  # a new target
    changed: bool  # the item was written (new, or its nightly flag / discovered bucket/prefixes changed)


def _check_ids(kb: str, ds: str) -> None:
    bad = [
        f"{name} {value!r}"
        for name, value in (("knowledge base id", kb), ("data source id", ds))
        if not ID_PATTERN.fullmatch(value or "")
    ]
    if bad:
        raise TargetError(f"invalid {' and '.join(bad)}: Bedrock ids are 10 letters or digits")


def bucket_of(bucket_arn: str) -> str:
    """`arn:aws:s3:::my-bucket` -> `my-bucket`."""
    if not bucket_arn.startswith("arn:") or ":::" not in bucket_arn:
        raise TargetError(f"data source bucket ARN {bucket_arn!r} is not an S3 bucket ARN")
    return bucket_arn.split(":::", 1)[1]


def discover(bedrock_agent: Any, kb: str, ds: str, nightly: bool = True) -> Target:
    """Ask Bedrock what the data source reads (GetDataSource). Unknown ids or non-S3 sources raise TargetError."""
    _check_ids(kb, ds)
    try:
        source = bedrock_agent.get_data_source(knowledgeBaseId=kb, dataSourceId=ds)["dataSource"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        if code in ("ResourceNotFoundException", "ValidationException"):
            raise TargetError(
                f"knowledge base {kb} has no data source {ds} in this account/region ({code}: {message}); "
                "check the ids with `aws bedrock-agent list-data-sources --knowledge-base-id " + kb + "`"
            ) from error
        if code == "AccessDeniedException":
            raise TargetError(
                f"not allowed to read data source {kb}/{ds} (bedrock:GetDataSource): {message}"
            ) from error
        raise
    config = source.get("dataSourceConfiguration") or {}
    if config.get("type") != "S3" or "s3Configuration" not in config:
        raise TargetError(f"data source {kb}/{ds} is of type {config.get('type')!r}: kbsync syncs S3 data sources only")
    s3 = config["s3Configuration"]
    return Target(
        knowledge_base_id=kb,
        data_source_id=ds,
        bucket_name=bucket_of(str(s3["bucketArn"])),
        inclusion_prefixes=tuple(str(p) for p in s3.get("inclusionPrefixes") or ()),
        nightly=nightly,
        data_source_name=str(source.get("name", "")),
    )


def get_target(table: Any, kb: str, ds: str) -> Target | None:
    item = table.get_item(Key=kbsync_keys.target_key(kb, ds), ConsistentRead=True).get("Item")
    return Target.from_item(item) if item else None


def _same_registration(a: Target, b: Target) -> bool:
    return (a.bucket_name, a.inclusion_prefixes, a.nightly, a.data_source_name, a.max_age_hours) == (
        b.bucket_name,
        b.inclusion_prefixes,
        b.nightly,
        b.data_source_name,
        b.max_age_hours,
    )


#: The range of a target's allowed age (schemas/target-item.schema.json maxAgeHours): an hour to a year.
MAX_AGE_HOURS_RANGE = (1, 8760)
#: What the upload router and the freshness check keep on the TARGET item: a new registration of the same target
#: keeps them (the verdict and the changes waiting are facts about the data source, not about its registration).
FRESHNESS_ATTRIBUTES = ("lastChangeAt", "pendingSince", "freshness", "freshnessChangedAt")


def add_target(
    table: Any,
    bedrock_agent: Any,
    kb: str,
    ds: str,
    *,
    nightly: bool = True,
    max_age_hours: int | None = None,
    s3: Any | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AddResult:
    """Register (or refresh) a target from what Bedrock says; idempotent.

    With `s3`, also turns on the bucket's EventBridge notifications (needed for on-upload syncs) before writing.
    `max_age_hours` sets the target's allowed age (None: keep the one it has, or the stack's default).
    """
    low, high = MAX_AGE_HOURS_RANGE
    if max_age_hours is not None and not low <= max_age_hours <= high:
        raise TargetError(f"--max-age-hours {max_age_hours}: give a whole number of hours from {low} to {high}")
    discovered = discover(bedrock_agent, kb, ds, nightly)
    stored = table.get_item(Key=kbsync_keys.target_key(kb, ds), ConsistentRead=True).get("Item")
    existing = Target.from_item(stored) if stored else None
    kept_age = existing.max_age_hours if existing else None
    discovered = replace(discovered, max_age_hours=max_age_hours if max_age_hours is not None else kept_age)
    if existing is not None and _same_registration(existing, discovered):
        return AddResult(existing, created=False, changed=False)
    if s3 is not None:
        enable_bucket_events(s3, discovered.bucket_name)
    registered_at = existing.registered_at if existing else now().strftime(kbsync_values.UTC_SECONDS_FORMAT)
    target = Target(**{**discovered.__dict__, "registered_at": registered_at})
    kept = {name: stored[name] for name in FRESHNESS_ATTRIBUTES if stored and name in stored}
    table.put_item(Item={**kept, **target.to_item()})
    return AddResult(target, created=existing is None, changed=True)


def remove_target(table: Any, kb: str, ds: str) -> bool:
    """Unregister; True if it was registered. A sync already running finishes; no new one starts for it."""
    _check_ids(kb, ds)
    gone = table.delete_item(Key=kbsync_keys.target_key(kb, ds), ReturnValues="ALL_OLD")
    return "Attributes" in gone


def set_nightly(table: Any, kb: str, ds: str, nightly: bool) -> Target:
    """Turn the nightly sync of a registered target on or off."""
    _check_ids(kb, ds)
    try:
        updated = table.update_item(
            Key=kbsync_keys.target_key(kb, ds),
            UpdateExpression="SET nightly = :n",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":n": nightly},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if kbsync_values.is_condition_failure(error):
            raise TargetError(f"{kb}/{ds} is not a registered target (kbsync targets add {kb} {ds})") from error
        raise
    return Target.from_item(updated["Attributes"])


def list_targets(table: Any) -> list[Target]:
    """Every registered target, sorted by knowledge base then data source (all pages)."""
    found: list[Target] = []
    kwargs: dict[str, Any] = {
        "FilterExpression": "sk = :t",
        "ExpressionAttributeValues": {":t": TARGET_SK},
    }
    while True:
        page = table.scan(**kwargs)
        found.extend(Target.from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(found, key=lambda t: (t.knowledge_base_id, t.data_source_id))


def enable_bucket_events(s3: Any, bucket: str) -> None:
    """Turn on S3 -> EventBridge notifications for the bucket, keeping its other notification settings."""
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    if "EventBridgeConfiguration" in current:
        return
    current["EventBridgeConfiguration"] = {}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)


# --- manual syncs through the gate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncAnswer:
    """What `kbsync sync` prints: STARTED (this execution syncs now), QUEUED (one more round after the running sync)
    or NOT_STARTED (a sync is running and the caller asked not to queue)."""

    outcome: str
    execution_arn: str
    held_by: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        if self.outcome == "STARTED":
            return f"sync started: {self.execution_arn}"
        verb = "queued: it runs once more after the current sync" if self.outcome == "QUEUED" else "not started"
        return f"a sync of this data source is already running ({self.held_by}); {verb}"


def sync_execution_name(kb: str, ds: str, trigger: str = "manual") -> str:
    """A fresh execution name for a sync of kb/ds (kbsync_names: `<trigger>-<kb>-<ds>-<UTC stamp>-<4 random>`)."""
    return kbsync_names.execution_name(trigger, kb, ds)


def request_sync(
    sfn: Any,
    gate_state_machine_arn: str,
    kb: str,
    ds: str,
    *,
    ddb: Any,
    targets_table: str,
    reason: str | None = None,
    requested_by: str | None = None,
    queue: bool = True,
    timeout_s: float = 30.0,
    poll_s: float = 0.2,
) -> SyncAnswer:
    """Start a manual sync through the sync gate and report what the gate decided.

    The gate execution's first state decides: it takes the data source's gate (STARTED: the GATE item in the
    TargetsTable names this execution as its holder), or another execution holds it and this one ends at once with
    the holder named in its output (QUEUED when `queue`, else NOT_STARTED). Both are facts: the item (low-level
    client `ddb`) and DescribeExecution's output; nothing is read from the execution's history.
    """
    _check_ids(kb, ds)
    request: dict[str, Any] = {"knowledgeBaseId": kb, "dataSourceId": ds, "trigger": "manual"}
    if reason:
        request["reason"] = reason[:500]
    if requested_by:
        request["requestedBy"] = requested_by[:200]
    gate_input = {"request": request, "settleSeconds": 0, "ifBusy": "queue" if queue else "skip"}
    started = sfn.start_execution(
        stateMachineArn=gate_state_machine_arn, name=sync_execution_name(kb, ds), input=json.dumps(gate_input)
    )
    arn = started["executionArn"]
    gate_key = kbsync_keys.client_key(kbsync_keys.gate_key(kb, ds))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ended = _gate_answer(sfn, arn)
        if ended is not None:
            return ended
        holder = ddb.get_item(TableName=targets_table, Key=gate_key, ConsistentRead=True).get("Item", {})
        if holder.get("holderArn", {}).get("S") == arn:
            return SyncAnswer("STARTED", arn)
        time.sleep(poll_s)
    raise TimeoutError(f"the sync gate did not decide within {timeout_s} s; see execution {arn}")


def _gate_answer(sfn: Any, execution_arn: str) -> SyncAnswer | None:
    """The decision of a gate execution that ended (its output's `gate.entry`); None while it runs."""
    described = sfn.describe_execution(executionArn=execution_arn)
    if described["status"] == "RUNNING":
        return None
    if described["status"] != "SUCCEEDED":
        raise TargetError(
            f"the sync gate execution {execution_arn} ended {described['status']}: "
            f"{described.get('error', '')} {described.get('cause', '')}".strip()
        )
    entry = json.loads(described.get("output") or "{}").get("gate", {}).get("entry")
    if not isinstance(entry, dict):
        raise TargetError(f"the sync gate execution {execution_arn} SUCCEEDED without a gate decision in its output")
    if entry.get("outcome") == "ACQUIRED":  # it held the gate and its sync has already ended
        return SyncAnswer("STARTED", execution_arn, details=entry)
    return SyncAnswer(str(entry.get("outcome")), execution_arn, held_by=str(entry.get("heldBy", "")), details=entry)
