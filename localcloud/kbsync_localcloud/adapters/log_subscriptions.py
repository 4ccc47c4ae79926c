"""CloudWatch Logs subscription filters that deliver to a Lambda function, as AWS delivers them.

moto 5.2.5 stores subscription filters and, on every PutLogEvents, hands *all* the batch's events to each filter's
destination, synchronously, inside the PutLogEvents call; for a Lambda destination it calls
``LambdaFunction.invoke``, which needs Docker (the in-process Lambda of inprocess_lambda.py replaces only the
backend's Invoke). This adapter makes the path AWS's:

- **the filter pattern applies** (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):
  an empty pattern matches every event; a JSON pattern ``{ $.a.b = "x*" && ($.n > 3 || $.c NOT EXISTS) }`` is
  evaluated on the event's message parsed as JSON (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` on strings with ``*``
  wildcards, numbers and booleans; ``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``NOT EXISTS``; ``&&``, ``||``,
  parentheses); a message that is not JSON matches no JSON pattern. Other (term) patterns keep moto's matching;
- **delivery is asynchronous**: "CloudWatch Logs invokes your function asynchronously with an event that contains
  log data" (https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchlogs.html). PutLogEvents returns at
  once; one delivery thread, first in first out, runs each delivery through the in-process Lambda's asynchronous
  invocation (its retries and destinations apply);
- **the event is AWS's**: ``{"awslogs": {"data": base64(gzip(json))}}`` with ``messageType`` DATA_MESSAGE,
  ``owner``, ``logGroup``, ``logStream``, ``subscriptionFilters`` and ``logEvents[]`` (``id``, ``timestamp``,
  ``message``) (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html); a batch whose
  encoded event would exceed ``MAX_DELIVERY_BYTES`` is split, so each invocation stays within Lambda's
  asynchronous payload limit.

``wait_for_deliveries(timeout)`` lets a caller (a test, a benchmark) wait until every queued delivery has run.
"""

from __future__ import annotations

import base64
import fnmatch
import gzip
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch

LOG = logging.getLogger(__name__)

#: Lambda's payload limit for an asynchronous invocation (256 KB):
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
MAX_DELIVERY_BYTES = 262_144

EXPECTED_SOURCES: dict[str, str] = {
    "LogStream.put_log_events": "b07b0d5ae328f7dd",
    "LambdaBackend.send_log_event": "7fd9b7504236de17",
}

_INSTALL_LOCK = threading.Lock()
_STREAM_LOCK = threading.RLock()  # moto: "to be thread safe this would need a lock"


# --------------------------------------------------------------------------- filter patterns


class _Missing:
    """A selector that names nothing in the message."""


_MISSING = _Missing()
_TOKENS = re.compile(
    r"""\s*(?:
        (?P<logic>&&|\|\|)
      | (?P<paren>[()])
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<quoted>"(?:[^"\\]|\\.)*")
      | (?P<selector>\$[^\s()=!<>&|]*)
      | (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)


class FilterPatternError(ValueError):
    """A JSON filter pattern this matcher cannot read (it then matches every event, as moto did)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKENS.match(text, position)
        if match is None or match.end() == position:
            raise FilterPatternError(f"cannot read the filter pattern at {text[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _select(document: Any, selector: str) -> Any:
    """The value at a ``$.a.b[0]`` selector, or _MISSING."""
    value = document
    for part in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", selector[1:]) if selector != "$" else []:
        name, index = part
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(value: Any, op: str, operand: tuple[str, str]) -> bool:
    kind, text = operand
    if isinstance(value, _Missing):
        return False
    number = _number(text) if kind == "word" else None
    if number is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return {
            "=": value == number,
            "!=": value != number,
            "<": value < number,
            "<=": value <= number,
            ">": value > number,
            ">=": value >= number,
        }[op]
    if op not in ("=", "!="):
        return False
    expected = json.loads(text) if kind == "quoted" else text
    if isinstance(value, bool):
        equal = str(value).lower() == str(expected).lower()
    elif isinstance(value, str):
        equal = (
            fnmatch.fnmatchcase(value, str(expected).replace("[", "[[]")) if "*" in str(expected) else value == expected
        )
    else:
        equal = False
    return equal if op == "=" else not equal


class _JsonPattern:
    """A recursive-descent reader of AWS's JSON filter pattern (``||`` binds looser than ``&&``)."""

    def __init__(self, body: str) -> None:
        self._tokens = _tokens(body)
        self._position = 0
        self._tree = self._or()
        if self._position != len(self._tokens):
            raise FilterPatternError(f"unexpected {self._tokens[self._position][1]!r} in the filter pattern")

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._position] if self._position < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterPatternError("the filter pattern ends too early")
        self._position += 1
        return token

    def _or(self) -> Callable[[Any], bool]:
        return self._chain("||", self._and, any)

    def _and(self) -> Callable[[Any], bool]:
        return self._chain("&&", self._atom, all)

    def _chain(
        self, operator: str, operand: Callable[[], Callable[[Any], bool]], combine: Callable[[Iterable[bool]], bool]
    ) -> Callable[[Any], bool]:
        """Operands joined by `operator`, combined by `combine` (any for ||, all for &&: && binds tighter)."""
        parts = [operand()]
        while self._peek() == ("logic", operator):
            self._take()
            parts.append(operand())
        return lambda document: combine(part(document) for part in parts)

    def _atom(self) -> Callable[[Any], bool]:
        kind, text = self._take()
        if (kind, text) == ("paren", "("):
            inner = self._or()
            if self._take() != ("paren", ")"):
                raise FilterPatternError("unbalanced parentheses in the filter pattern")
            return inner
        if kind != "selector":
            raise FilterPatternError(f"expected a $.selector, got {text!r}")
        return self._condition(text)

    def _condition(self, selector: str) -> Callable[[Any], bool]:
        kind, text = self._take()
        if kind == "op":
            operand = self._take()
            if operand[0] not in ("quoted", "word"):
                raise FilterPatternError(f"expected a value after {text}, got {operand[1]!r}")
            return lambda document: _compare(_select(document, selector), text, operand)
        words = [text.upper(), self._take()[1].upper()]
        if words == ["NOT", "EXISTS"]:
            return lambda document: isinstance(_select(document, selector), _Missing)
        expected = {"NULL": None, "TRUE": True, "FALSE": False}
        if words[0] == "IS" and words[1] in expected:
            wanted = expected[words[1]]
            return lambda document: _select(document, selector) is wanted
        raise FilterPatternError(f"unsupported condition {' '.join(words)!r}")

    def matches(self, message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return bool(self._tree(document))


def pattern_matcher(pattern: str | None) -> Callable[[str], bool]:
    """A predicate on log messages for a subscription filter's pattern."""
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{") and text.endswith("}"):
        try:
            return _JsonPattern(text[1:-1]).matches
        except FilterPatternError as error:
            LOG.warning("filter pattern %r not understood (%s): every event matches", pattern, error)
            return lambda message: True
    from moto.logs.utils import EventMessageFilter

    return EventMessageFilter(text).matches


# --------------------------------------------------------------------------- asynchronous delivery


@dataclass(frozen=True)
class _Delivery:
    function: Any
    event: dict[str, Any]


class _Deliveries:
    """One FIFO delivery thread: subscription events reach their functions in the order they were put."""

    def __init__(self) -> None:
        self._queue: queue.Queue[_Delivery] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, delivery: _Delivery) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="kbsync-log-subscriptions", daemon=True)
                self._thread.start()
        self._queue.put(delivery)

    def _serve(self) -> None:
        from kbsync_localcloud.adapters.inprocess_lambda import invoke_async

        while True:
            delivery = self._queue.get()
            try:
                invoke_async(delivery.function, delivery.event)
            except Exception:
                LOG.exception("subscription delivery to %s failed", getattr(delivery.function, "function_name", "?"))
            finally:
                self._queue.task_done()

    def join(self, timeout: float) -> bool:
        """Wait (at most `timeout` real seconds) until every submitted delivery has run; whether they all did."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)


DELIVERIES = _Deliveries()


def wait_for_deliveries(timeout: float = 10.0) -> bool:
    """Block until every queued subscription delivery has been run (at most `timeout` real seconds)."""
    return DELIVERIES.join(timeout)


def awslogs_event(
    owner: str, log_group: str, log_stream: str, filter_name: str, events: Sequence[Any]
) -> dict[str, Any]:
    """The event CloudWatch Logs gives a subscribed Lambda function."""
    data = {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": [filter_name],
        "logEvents": list(events),
    }
    packed = gzip.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"))
    return {"awslogs": {"data": base64.b64encode(packed).decode("ascii")}}


def _chunks(owner: str, group: str, stream: str, name: str, events: Sequence[Any]) -> list[dict[str, Any]]:
    """The events as one or more awslogs events, each within MAX_DELIVERY_BYTES once serialized."""
    event = awslogs_event(owner, group, stream, name, events)
    if len(events) <= 1 or len(json.dumps(event)) <= MAX_DELIVERY_BYTES:
        return [event]
    half = len(events) // 2
    return _chunks(owner, group, stream, name, events[:half]) + _chunks(owner, group, stream, name, events[half:])


def _send_log_event(
    self: Any, function_arn: str, filter_name: str, log_group_name: str, log_stream_name: str, log_events: Any
) -> None:
    """Replacement for LambdaBackend.send_log_event: AWS's event, queued for the in-process asynchronous invoke."""
    function = self.get_function(function_arn)
    for event in _chunks(str(self.account_id), log_group_name, log_stream_name, filter_name, log_events):
        DELIVERIES.submit(_Delivery(function, event))


def _put_log_events(self: Any, log_events: list[dict[str, Any]]) -> str:
    """Replacement for moto's LogStream.put_log_events: store the events (under a lock), then hand each
    subscription filter the events its pattern matches."""
    from moto.core.utils import unix_time_millis, utcnow
    from moto.logs.models import LogEvent

    with _STREAM_LOCK:
        self.last_ingestion_time = utcnow()
        self.stored_bytes += sum(len(log_event["message"]) for log_event in log_events)
        ingestion_time = int(unix_time_millis(self.last_ingestion_time))
        events = [LogEvent(ingestion_time, log_event) for log_event in log_events]
        self.events += events
        self.upload_sequence_token += 1
        token = f"{self.upload_sequence_token:056d}"
        filters = list(self.log_group.subscription_filters.values())
    for subscription in filters:
        matches = pattern_matcher(subscription.filter_pattern)
        matching = [
            {"id": str(event.event_id), "timestamp": event.timestamp, "message": event.message}
            for event in events
            if matches(event.message)
        ]
        if matching:
            self._send_log_events(
                service=subscription.destination_arn.split(":")[2],
                destination_arn=subscription.destination_arn,
                filter_name=subscription.name,
                log_events=matching,
            )
    return token


# --------------------------------------------------------------------------- contract


#: moto's functions this adapter replaces ("Owner.attribute"), with their replacements.
_REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "LogStream.put_log_events": _put_log_events,
    "LambdaBackend.send_log_event": _send_log_event,
}


def _owners() -> dict[str, type]:
    from moto.awslambda.models import LambdaBackend
    from moto.logs.models import LogStream

    return {"LogStream": LogStream, "LambdaBackend": LambdaBackend}


def _patched_targets() -> dict[str, Any]:
    owners = _owners()
    return {name: getattr(owners[name.split(".")[0]], name.split(".")[1]) for name in _REPLACEMENTS}


def install() -> None:
    """Filter patterns applied, deliveries asynchronous and in-process (idempotent: a target that already is the
    replacement is left alone; process-wide)."""
    with _INSTALL_LOCK:
        owners = _owners()
        for name, current in _patched_targets().items():
            owner, attribute = name.split(".")
            if current is not _REPLACEMENTS[name]:
                setattr(owners[owner], attribute, mark_patch(_REPLACEMENTS[name], current))


def verify_moto_internals() -> None:
    check_fingerprints("log_subscriptions", _patched_targets(), EXPECTED_SOURCES)
    from moto.logs.models import LogEvent, LogStream

    probe = LogStream._send_log_events.__code__.co_varnames
    if probe[1:5] != ("service", "destination_arn", "filter_name", "log_events"):
        raise MotoInternalsChanged("log_subscriptions: moto's LogStream._send_log_events signature changed")
    if "event_id" not in LogEvent.__init__.__code__.co_names:
        raise MotoInternalsChanged("log_subscriptions: moto's LogEvent no longer numbers its events")
