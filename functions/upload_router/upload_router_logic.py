"""Upload routing: an S3 "Object Created/Deleted" event (EventBridge) -> the sync gate of each registered target that
covers the object, one gated sync per burst per data source.

Each upload counts on the data source's gate (kbsync_gate, the shared core: the same gate the sync-gate state
machine enters); only the upload that creates the gate starts a sync-gate execution, which settles, then runs one
ingestion sync, and one more round if uploads arrived after its job started (changeSeq).
"""

from __future__ import annotations

from typing import Any

import kbsync_contracts
import kbsync_gate
import kbsync_names
import kbsync_values
import upload_router_data
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from upload_router_settings import Settings

#: The contract of the events this function receives (AWS's shape: schemas/upload-event.schema.json).
CONTRACT = "upload-event"

InvalidRequest = kbsync_gate.InvalidRequest


def parse_s3_event(event: Any) -> tuple[str, str, str]:
    """(detail-type, bucket, key) of an EventBridge S3 event (schemas/upload-event.schema.json); raise InvalidRequest
    naming what is wrong."""
    problems = kbsync_contracts.problems(CONTRACT, event)
    if problems:
        raise InvalidRequest("S3 event", problems)
    # Powertools' event source data class for S3 notifications delivered by EventBridge
    # (https://docs.aws.amazon.com/powertools/python/latest/api/utilities/data_classes/s3_event.html),
    # read once the contract holds. The key is taken as S3 sent it, not through `.object.key` (which URL-decodes
    # it): prefix_matches tries both forms, and the reason shows the key as it arrived.
    s3_event = S3EventBridgeNotificationEvent(event)
    detail_type, bucket, key = s3_event.detail_type, s3_event.detail.bucket.name, s3_event.detail.object["key"]
    # A bucket name is not free text: one that could not be stored is refused. The key is normalized where it is
    # shown (upload_reason), never refused: S3 keys may hold control characters, and such an upload must still sync.
    problems = kbsync_gate.text_problems("/detail/bucket/name", bucket, 255, required=True)
    if problems:
        raise InvalidRequest("S3 event", problems)
    return str(detail_type), str(bucket), str(key)


def upload_reason(detail_type: str, bucket: str, key: str) -> str:
    """The sync request's `reason` for an upload: the S3 URI, normalized to the contract's free text (forbidden
    characters escaped, at most 500 characters)."""
    return kbsync_contracts.normalize_text(f"{detail_type}: s3://{bucket}/{key}", 500)


def route_upload(event: Any, targets_table: Any, sfn: Any, settings: Settings, now: int) -> dict[str, Any]:
    """Count the upload on each matching target's gate; start a gated sync only where this event created the gate."""
    detail_type, bucket, key = parse_s3_event(event)
    started, queued = [], []
    for target in upload_router_data.targets_for_object(targets_table, bucket, key):
        kb, ds = target["knowledgeBaseId"], target["dataSourceId"]
        # The freshness check's lag: when the target last changed, and since when a change waits (functions/freshness).
        upload_router_data.stamp_change(targets_table, kb, ds, kbsync_values.utc_seconds(now))
        name = kbsync_names.execution_name("s3", kb, ds)
        arn = kbsync_names.execution_arn(settings.sync_gate_arn, name)
        entry = kbsync_gate.enter(targets_table, kb, ds, name, arn, "s3", "queue", now, settings.gate_lease_seconds)
        if entry.outcome != kbsync_gate.ACQUIRED:
            queued.append({"knowledgeBaseId": kb, "dataSourceId": ds, "heldBy": entry.holder})
            continue
        request = {
            "knowledgeBaseId": kb,
            "dataSourceId": ds,
            "trigger": "s3",
            "requestedBy": "s3-upload",
            "reason": upload_reason(detail_type, bucket, key),
        }
        gate_input = kbsync_gate.gate_input(request, settings.settle_seconds, "queue")
        try:
            upload_router_data.start_gated_sync(sfn, settings.sync_gate_arn, name, gate_input)
        except Exception:
            # Nothing half-held: give the gate back so the retried event (or the next upload) can start the sync.
            kbsync_gate.release_holder(targets_table, kb, ds, name)
            raise
        started.append({"knowledgeBaseId": kb, "dataSourceId": ds, "executionArn": arn})
    return {"bucket": bucket, "key": key, "started": started, "queued": queued}
