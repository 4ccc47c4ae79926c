"""S3 -> EventBridge notifications with the real event shape, from the API and from CloudFormation.

moto 5.2.5 already calls ``moto.s3.notifications._send_event_bridge_message`` for buckets whose notification
configuration has ``EventBridgeConfiguration``, but the event differs from S3's: ``eTag`` instead of ``etag``,
``reason`` = ``ObjectCreated`` instead of the API name, a numeric ``time``, fixed ids and sequencer, a
``version-id`` of null on unversioned buckets, delivery to every bus instead of the default bus, and every
error swallowed. CloudFormation's ``NotificationConfiguration.EventBridgeConfiguration`` is ignored.

This adapter replaces that function (module attribute, so ``send_event`` picks it up) with one that puts the
event on the account's default bus through ``EventsBackend.put_events`` — so rule matching, archives and the
targets adapter all apply — with S3's documented shape:

    source aws.s3, detail-type "Object Created" | "Object Deleted", resources [bucket ARN],
    detail: version "0", bucket.name, object.key/size/etag[/version-id]/sequencer, request-id, requester,
            source-ip-address, reason (PutObject | POST Object | CopyObject | CompleteMultipartUpload |
            DeleteObject), deletion-type ("Permanently Deleted") for deletions.

and wraps ``FakeBucket``'s CloudFormation create/update to honour ``EventBridgeConfiguration.EventBridgeEnabled``.
Deletions through DeleteObjects reach the same path (moto's delete_objects calls delete_object); a delete that
creates a delete marker (versioned bucket) emits "Object Deleted" with deletion-type "Delete Marker Created",
and CompleteMultipartUpload emits only its own event (moto's inner put_object notification is suppressed).
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from moto.s3 import models as s3_models
from moto.s3 import notifications

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.clock import CLOCK

LOG = logging.getLogger(__name__)

FakeBucket = s3_models.FakeBucket
Event = notifications.S3NotificationEvent
_INSTALLED_MARK = "_kbsync_s3_eventbridge"

#: S3 notification event -> (detail-type, reason), per the S3 user guide's EventBridge event list.
_EVENT_SHAPES: dict[str, tuple[str, str]] = {
    Event.OBJECT_CREATED_PUT_EVENT.value: ("Object Created", "PutObject"),
    Event.OBJECT_CREATED_POST_EVENT.value: ("Object Created", "POST Object"),
    Event.OBJECT_CREATED_COPY_EVENT.value: ("Object Created", "CopyObject"),
    Event.OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT.value: ("Object Created", "CompleteMultipartUpload"),
    Event.OBJECT_REMOVED_DELETE_EVENT.value: ("Object Deleted", "DeleteObject"),
    Event.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT.value: ("Object Deleted", "DeleteObject"),
}

_sequence = itertools.count(1)
_sequence_lock = threading.Lock()
#: moto's complete_multipart_upload stores the object through put_object, which notifies a PutObject too;
#: S3 sends only CompleteMultipartUpload. Set while a completion runs on this thread.
_completing = threading.local()


def _sequencer() -> str:
    """S3's sequencer: a hex string that grows with each event for a key (we make it grow globally)."""
    with _sequence_lock:
        return f"{int(CLOCK.wall_now() * 1000):012X}{next(_sequence):06X}"


def _request_id() -> str:
    return secrets.token_hex(8).upper()


def _event_value(event_name: Any) -> str:
    return str(getattr(event_name, "value", event_name))  # a str Enum's str() is "S3NotificationEvent.X"


def s3_event_detail(bucket: Any, key: Any, event_name: str, account_id: str) -> tuple[str, dict[str, Any]] | None:
    """(detail-type, detail) for a created/deleted object, or None for events this adapter does not emit."""
    name = _event_value(event_name)
    shape = _EVENT_SHAPES.get(name)
    if shape is None:
        return None
    detail_type, reason = shape
    obj: dict[str, Any] = {"key": key.name}
    if detail_type == "Object Created":
        obj["size"] = key.size
        obj["etag"] = key.etag.replace('"', "")
    version_id = getattr(key, "version_id", None)
    if getattr(bucket, "is_versioned", False) and version_id and version_id != "null":
        obj["version-id"] = version_id
    obj["sequencer"] = _sequencer()
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": obj,
        "request-id": _request_id(),
        "requester": account_id,
        "source-ip-address": "127.0.0.1",
        "reason": reason,
    }
    if detail_type == "Object Deleted":
        detail["deletion-type"] = (
            "Delete Marker Created"
            if name == Event.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT.value
            else "Permanently Deleted"
        )
    return detail_type, detail


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    """Replacement for moto's: the real shape, on the default bus, through put_events."""
    from moto.events.models import events_backends

    if getattr(_completing, "active", False) and _event_value(event_name) == Event.OBJECT_CREATED_PUT_EVENT.value:
        return
    shaped = s3_event_detail(bucket, key, event_name, account_id)
    if shaped is None:
        return
    detail_type, detail = shaped
    entry = {
        "Source": "aws.s3",
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": [bucket.arn],
        "EventBusName": "default",
    }
    try:
        results = events_backends[account_id][bucket.region_name].put_events([entry])
    except Exception:  # S3 delivers asynchronously: a broken bus never fails the S3 call.
        LOG.exception("S3 -> EventBridge delivery failed for s3://%s/%s", bucket.name, key.name)
        return
    for result in results:
        if "ErrorCode" in result:
            LOG.error("S3 -> EventBridge event rejected: %s", result)


# --- CloudFormation: NotificationConfiguration.EventBridgeConfiguration ------------------------------------


def eventbridge_enabled(properties: Mapping[str, Any]) -> bool:
    config = (properties.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration")
    if config is None:
        return False
    enabled = config.get("EventBridgeEnabled", True)
    return str(enabled).lower() == "true"


def _apply_notification(bucket: Any, properties: Mapping[str, Any]) -> None:
    current = bucket.notification_configuration
    if eventbridge_enabled(properties):
        if current is None:
            bucket.set_notification_configuration({"EventBridgeConfiguration": {}})
        else:
            current.event_bridge = {}
    elif current is not None:
        current.event_bridge = None


_original_create = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_original_update = FakeBucket.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _create(
    cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kw: Any
) -> Any:
    bucket = _original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kw)
    _apply_notification(bucket, cloudformation_json.get("Properties", {}))
    return bucket


def _update(
    cls: type,
    original_resource: Any,
    new_resource_name: str,
    cloudformation_json: Any,
    account_id: str,
    region_name: str,
) -> Any:
    bucket = _original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name)
    _apply_notification(bucket, cloudformation_json.get("Properties", {}))
    return bucket


_original_complete = s3_models.S3Backend.complete_multipart_upload


def _complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
    _completing.active = True
    try:
        return _original_complete(self, *args, **kwargs)
    finally:
        _completing.active = False


_original_set_delete_marker = s3_models.S3Backend._set_delete_marker


def _set_delete_marker(self: Any, bucket_name: str, key_name: str) -> Any:
    """S3 emits "Object Deleted" (deletion-type "Delete Marker Created") when a delete makes a marker;
    moto notifies nothing there. Only the EventBridge destination is served (moto's other destinations
    would need an ETag the marker does not have)."""
    marker = _original_set_delete_marker(self, bucket_name, key_name)
    bucket = self.get_bucket(bucket_name)
    configuration = bucket.notification_configuration
    if configuration is not None and configuration.event_bridge is not None:
        event = Event.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT.value
        notifications._send_event_bridge_message(self.account_id, bucket, event, marker)
    return marker


def install() -> None:
    """Idempotently patch moto's S3 EventBridge sender and the bucket's CloudFormation hooks."""
    if getattr(FakeBucket, _INSTALLED_MARK, False):
        return
    s3_models.S3Backend.complete_multipart_upload = _complete_multipart_upload  # type: ignore[method-assign]
    s3_models.S3Backend._set_delete_marker = _set_delete_marker  # type: ignore[method-assign]
    notifications._send_event_bridge_message = _send_event_bridge_message
    FakeBucket.create_from_cloudformation_json = classmethod(_create)  # type: ignore[assignment,method-assign]
    FakeBucket.update_from_cloudformation_json = classmethod(_update)  # type: ignore[assignment,method-assign]
    setattr(FakeBucket, _INSTALLED_MARK, True)


def verify_moto_internals() -> None:
    """The moto 5.2.5 pieces this adapter relies on."""
    if not callable(getattr(notifications, "_send_event_bridge_message", None)):
        raise MotoInternalsChanged("moto.s3.notifications._send_event_bridge_message is gone")
    if "_send_event_bridge_message" not in notifications.send_event.__code__.co_names:
        raise MotoInternalsChanged("moto.s3.notifications.send_event no longer calls _send_event_bridge_message")
    for name in _EVENT_SHAPES:
        if name not in Event.events():
            raise MotoInternalsChanged(f"moto S3NotificationEvent lost {name}")
    completion_calls = _original_complete.__code__.co_names
    if "put_object" not in completion_calls or "send_event" not in completion_calls:
        raise MotoInternalsChanged("moto S3Backend.complete_multipart_upload no longer put_object + send_event")
    marker_code = _original_set_delete_marker.__code__
    if marker_code.co_varnames[: marker_code.co_argcount] != ("self", "bucket_name", "key_name"):
        raise MotoInternalsChanged("moto S3Backend._set_delete_marker(self, bucket_name, key_name) changed")
    if not callable(getattr(FakeBucket, "set_notification_configuration", None)):
        raise MotoInternalsChanged("moto FakeBucket.set_notification_configuration is gone")
    configuration = s3_models.NotificationConfiguration(event_bridge={})
    if getattr(configuration, "event_bridge", None) != {}:
        raise MotoInternalsChanged("moto NotificationConfiguration.event_bridge attribute changed")
