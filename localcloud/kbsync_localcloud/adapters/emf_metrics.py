"""CloudWatch Logs' metric extraction for the in-process Lambdas: the embedded-metric-format (EMF) lines a handler
prints become metrics in moto's CloudWatch, with the timestamp, namespace, unit and dimensions of the document.

On AWS a function's stdout goes to its log group, and CloudWatch Logs extracts a metric from every log event that is
an EMF document
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a JSON object whose ``_aws`` member holds ``Timestamp`` (epoch milliseconds) and ``CloudWatchMetrics``, a list of
directives ``{Namespace, Dimensions: [[dimension name, ...], ...], Metrics: [{Name, Unit?, StorageResolution?}]}``;
each metric's value is the root member of its name (a number, or an array of up to 100 numbers) and each dimension's
value the root member of its name (a string). Each dimension set of a directive is one metric.

Here ``inprocess_lambda.invoke_function`` runs each handler inside ``collected(fn)``: what the handler's thread writes
to ``sys.stdout`` still goes where it went (the terminal, pytest's capture) and is also kept; after the call every
line is parsed and its metrics put into the function's account and region (``put_metric_data`` of moto's backend).
A line that is not an EMF document is ordinary log output; an EMF document that breaks the spec is dropped whole, as
CloudWatch Logs drops it (it never reaches the function: extraction happens after the fact).

Not emulated: high-resolution storage (``StorageResolution: 1`` is stored like any datum; moto keeps raw values),
the 1 MB event limit, the AWS/Logs ``EMFValidationErrors`` metric.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged

_log = logging.getLogger(__name__)

#: The spec's limits on one document.
MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100


@dataclass(frozen=True)
class Datum:
    """One metric of one dimension set of an EMF document, as PutMetricData takes it."""

    namespace: str
    name: str
    unit: str | None
    dimensions: tuple[tuple[str, str], ...]
    values: tuple[float, ...]
    timestamp: datetime  # naive UTC, as moto stores its own

    def as_metric_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "MetricName": self.name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in self.dimensions],
            "Values": list(self.values),
            "Timestamp": self.timestamp,
        }
        if self.unit:
            data["Unit"] = self.unit
        return data


class InvalidDocument(ValueError):
    """An EMF document that breaks the spec: CloudWatch Logs extracts nothing from it."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse(line: str) -> list[Datum]:
    """The metrics of one log line: [] for a line that is not an EMF document; InvalidDocument for one that claims to
    be (a JSON object with ``_aws``) but breaks the spec."""
    line = line.strip()
    if not line.startswith("{"):
        return []
    try:
        root = json.loads(line)
    except ValueError:
        return []
    if not isinstance(root, dict) or "_aws" not in root:
        return []
    meta = root["_aws"]
    if not isinstance(meta, dict) or not isinstance(meta.get("CloudWatchMetrics"), list):
        raise InvalidDocument("_aws.CloudWatchMetrics must be an array")
    stamp: Any = meta.get("Timestamp")
    if not _number(stamp) or stamp < 0:
        raise InvalidDocument("_aws.Timestamp must be a number of epoch milliseconds")
    timestamp = datetime.fromtimestamp(stamp / 1000, tz=UTC).replace(tzinfo=None)
    found: list[Datum] = []
    for directive in meta["CloudWatchMetrics"]:
        found.extend(_directive(root, directive, timestamp))
    return found


def _directive(root: dict[str, Any], directive: Any, timestamp: datetime) -> list[Datum]:
    if not isinstance(directive, dict):
        raise InvalidDocument("a MetricDirective must be an object")
    namespace, dimension_sets, metrics = (
        directive.get("Namespace"),
        directive.get("Dimensions"),
        directive.get("Metrics"),
    )
    if not isinstance(namespace, str) or not namespace:
        raise InvalidDocument("Namespace must be a non-empty string")
    if not isinstance(dimension_sets, list) or not isinstance(metrics, list):
        raise InvalidDocument("Dimensions and Metrics must be arrays")
    if len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        raise InvalidDocument(f"at most {MAX_METRICS_PER_DIRECTIVE} metrics per directive")
    sets: list[tuple[tuple[str, str], ...]] = []
    for names in dimension_sets:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS_PER_SET:
            raise InvalidDocument(f"a dimension set is an array of at most {MAX_DIMENSIONS_PER_SET} names")
        pairs: list[tuple[str, str]] = []
        for name in names:
            if not isinstance(name, str) or not isinstance(root.get(name), str):
                raise InvalidDocument(f"dimension {name!r} must name a string member of the root")
            pairs.append((name, root[name]))
        sets.append(tuple(pairs))
    if not sets:
        sets = [()]  # a directive without dimension sets: the metric without dimensions
    found = []
    for metric in metrics:
        if not isinstance(metric, dict) or not isinstance(metric.get("Name"), str):
            raise InvalidDocument("a MetricDefinition must be an object with a Name")
        name, unit = metric["Name"], metric.get("Unit")
        if unit is not None and not isinstance(unit, str):
            raise InvalidDocument(f"{name}: Unit must be a string")
        value = root.get(name)
        values: list[Any] = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_VALUES_PER_METRIC or not all(_number(v) for v in values):
            raise InvalidDocument(f"{name}: the value must be a number or an array of up to 100 numbers")
        for dimensions in sets:
            found.append(Datum(namespace, name, unit, dimensions, tuple(float(v) for v in values), timestamp))
    return found


def put(account: str, region: str, data: list[Datum]) -> None:
    """Store `data` in moto's CloudWatch of `account` / `region`, one PutMetricData per namespace."""
    if not data:
        return
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account][region]
    for namespace in sorted({datum.namespace for datum in data}):
        backend.put_metric_data(namespace, [d.as_metric_data() for d in data if d.namespace == namespace])


def extract(account: str, region: str, text: str) -> int:
    """Put the metrics of every EMF line of `text`; how many data were put. Never raises: a document that breaks
    the spec is dropped (logged at debug level), as CloudWatch Logs drops it."""
    data: list[Datum] = []
    for line in text.splitlines():
        try:
            data.extend(parse(line))
        except InvalidDocument as error:
            _log.debug("EMF document dropped: %s", error)
    try:
        put(account, region, data)
    except Exception as error:  # what moto refuses is what CloudWatch would not store: never the function's problem
        _log.debug("EMF metrics not stored: %s", error)
        return 0
    return len(data)


# --------------------------------------------------------------------------- the handler's stdout

_ACTIVE = threading.local()


class _Tee:
    """sys.stdout while a handler runs: every write goes on to `target`; the handler thread's writes are also kept
    (only by the innermost collection, when invocations nest)."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.owner = threading.get_ident()
        self.kept: list[str] = []

    def write(self, text: str) -> int:
        if threading.get_ident() == self.owner and getattr(_ACTIVE, "tee", None) is self:
            self.kept.append(text)
        return int(self.target.write(text) or 0)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


@contextmanager
def collected(fn: Any) -> Iterator[None]:
    """Keep what the handler of moto LambdaFunction `fn` prints; afterwards, its EMF metrics go into CloudWatch."""
    tee, previous_tee, previous_stdout = _Tee(sys.stdout), getattr(_ACTIVE, "tee", None), sys.stdout
    sys.stdout, _ACTIVE.tee = tee, tee
    try:
        yield
    finally:
        if sys.stdout is tee:
            sys.stdout = previous_stdout
        _ACTIVE.tee = previous_tee
        parts = str(fn.function_arn).split(":")
        extract(parts[4], parts[3], "".join(tee.kept))


def install() -> None:
    """Nothing to patch: inprocess_lambda.invoke_function runs every handler inside ``collected``."""


def verify_moto_internals() -> None:
    import inspect

    from moto.cloudwatch.models import CloudWatchBackend

    parameters = list(inspect.signature(CloudWatchBackend.put_metric_data).parameters)
    if parameters[:3] != ["self", "namespace", "metric_data"]:
        raise MotoInternalsChanged(
            f"CloudWatchBackend.put_metric_data{parameters} is not (self, namespace, metric_data): "
            "the EMF intake (adapters/emf_metrics.py) puts metrics through it"
        )
