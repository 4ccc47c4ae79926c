"""SNS Publish with MessageStructure=json, as AWS does it: checked at Publish, one entry delivered per protocol.

AWS (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html, ``MessageStructure`` and ``Message``): with
MessageStructure=json the message must be a syntactically valid JSON object with a top-level "default" key whose value
is a string; duplicate keys are not allowed; "failure to parse or validate any key or value in the message will cause
the Publish call to return an error (no partial delivery)". Keys naming a protocol carry that protocol's message;
"non-string values will cause the key to be ignored"; "values have a minimum length of 0 (the empty string, "", is
allowed)". A subscriber gets its protocol's entry, else "default".

moto 5.2.5 differs, and kbsync publishes every alert this way (kbsync_alerts.publish):

- it checks the structure only while delivering, subscription by subscription: a topic without subscriptions
  accepts a message that is not JSON or has no "default" (AWS refuses the Publish);
- it picks ``entries.get(protocol) or entries["default"]``: an empty entry ("", allowed) is replaced by the default,
  and a non-string entry (ignored by AWS) is delivered as is -- an SQS subscriber gets a JSON object where the
  envelope's Message is always a string;
- a non-string "default" is delivered instead of refused.

The replacement checks the structure in ``Topic.publish`` (before any delivery, with or without subscriptions), with
the errors AWS answers (InvalidParameter, "Invalid parameter: Message Structure - JSON message body failed to parse" /
"- No default entry in JSON message body", the texts AWS emulators such as LocalStack answer with), and delivers
each subscription its protocol's string entry, else "default". Proven by tests/localcloud/test_sns_message_structure.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

#: sha256[:16] of the moto 5.2.5 sources this adapter wraps or replaces (scaled_time.source_fingerprint).
EXPECTED_SOURCES: dict[str, str] = {
    "Topic.publish": "8a3b92494536599f",
    "Subscription._parse_message_structure": "f10898dbc83c6aec",
}
PARSE_ERROR = "Invalid parameter: Message Structure - JSON message body failed to parse"
NO_DEFAULT_ERROR = "Invalid parameter: Message Structure - No default entry in JSON message body"
DEFAULT_KEY = "default"

_INSTALL_LOCK = threading.Lock()
#: Marks this adapter's replacements (another adapter may wrap the same moto function).
_FLAG = "__kbsync_sns_message_structure__"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def entries(message: str) -> dict[str, str]:
    """The string entries of a MessageStructure=json message (non-string ones are ignored, as AWS ignores them);
    InvalidParameter with AWS's text when it is not a JSON object, repeats a key or has no string "default"."""
    from moto.sns.exceptions import InvalidParameterValue

    try:
        document = json.loads(message, object_pairs_hook=_no_duplicates)
    except (ValueError, TypeError):
        raise InvalidParameterValue(PARSE_ERROR) from None
    if not isinstance(document, dict):
        raise InvalidParameterValue(PARSE_ERROR)
    strings = {key: value for key, value in document.items() if isinstance(value, str)}
    if DEFAULT_KEY not in strings:
        raise InvalidParameterValue(NO_DEFAULT_ERROR)
    return strings


def entry_for(message: str, protocol: str) -> str:
    """What a subscriber of `protocol` receives: its protocol's string entry (even ""), else "default"."""
    found = entries(message)
    return found.get(protocol, found[DEFAULT_KEY])


def _topic_publish(original: Callable[..., Any]) -> Callable[..., Any]:
    def publish(self: Any, message: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("message_structure") == "json":
            entries(message)  # refused before any delivery, with or without subscriptions
        return original(self, message, *args, **kwargs)

    return mark_patch(publish, original)


def _parse_message_structure(original: Callable[..., Any]) -> Callable[..., Any]:
    def parse(self: Any, message: str, protocol: str) -> str:
        return entry_for(message, str(self.protocol))

    return mark_patch(parse, original)


def _targets() -> dict[str, tuple[Any, str]]:
    from moto.sns.models import Subscription, Topic

    return {
        "Topic.publish": (Topic, "publish"),
        "Subscription._parse_message_structure": (Subscription, "_parse_message_structure"),
    }


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "Topic.publish": _topic_publish,
    "Subscription._parse_message_structure": _parse_message_structure,
}


def install() -> None:
    """Apply the replacements (idempotent, process-wide: decorator and server mode)."""
    with _INSTALL_LOCK:
        for name, (owner, attribute) in _targets().items():
            current = owner.__dict__[attribute]
            if getattr(current, _FLAG, False):
                continue
            replacement = _WRAPPERS[name](current)
            setattr(replacement, _FLAG, True)
            setattr(owner, attribute, replacement)


def verify_moto_internals() -> None:
    targets = {name: owner.__dict__[attribute] for name, (owner, attribute) in _targets().items()}
    check_fingerprints("sns_message_structure", targets, EXPECTED_SOURCES)
