"""botocore's bedrock-agent model as the single source of truth for shapes, inputs and errors.

The emulator validates every request against the model's input shape (the way the real service rejects
a malformed id with ValidationException) and the fidelity tests validate every response body, as it is
on the wire, against the output shape. One walker serves both, so "what the model says" is written once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StringShape, StructureShape

SERVICE_NAME = "bedrock-agent"

#: Members the rest-json protocol may add to an error body besides the modelled ones.
_ERROR_PROTOCOL_MEMBERS = frozenset({"__type", "code"})


@functools.cache
def service_model() -> ServiceModel:
    """The installed botocore's bedrock-agent model (cached: loading it costs ~50 ms)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


@functools.cache
def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def success_status(operation: str) -> int:
    """The HTTP status the model gives a successful call (200, or 202 for the asynchronous ones)."""
    return int(operation_model(operation).http.get("responseCode", 200))


def error_status(code: str) -> int:
    """The HTTP status the model gives an error code, e.g. ServiceQuotaExceededException -> 402."""
    shape = service_model().shape_for(code)
    return int(shape.metadata["error"]["httpStatusCode"])


def error_codes(operation: str) -> set[str]:
    return {shape.name for shape in operation_model(operation).error_shapes}


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def shape_problems(shape: Shape, value: Any, path: str = "", *, strict: bool = True) -> list[str]:
    """Every way `value` (a decoded JSON value as on the wire) violates `shape`.

    strict: also report members the shape does not have (responses must not invent fields).
    Timestamps are as the shape's timestampFormat says (iso8601 strings for bedrock-agent), else epoch numbers.
    """
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is None:
        return []
    return checker(shape, value, path or shape.name, strict)


def _check_structure(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    assert isinstance(shape, StructureShape)
    if not isinstance(value, Mapping):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    problems = [f"{path}.{name}: required member missing" for name in shape.required_members if name not in value]
    allowed = _ERROR_PROTOCOL_MEMBERS if shape.metadata.get("exception") else frozenset()
    for name, member_value in value.items():
        member = shape.members.get(name)
        if member is None:
            if strict and name not in allowed:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            continue
        if member_value is None:
            problems.append(f"{path}.{name}: null is never sent by the service")
            continue
        problems.extend(shape_problems(member, member_value, f"{path}.{name}", strict=strict))
    return problems


def _check_list(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected a list, got {type(value).__name__}"]
    problems = _check_length(shape, len(value), path, "items")
    member = shape.member  # type: ignore[attr-defined]
    for index, item in enumerate(value):
        problems.extend(shape_problems(member, item, f"{path}[{index}]", strict=strict))
    return problems


def _check_map(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    problems: list[str] = []
    for key, item in value.items():
        problems.extend(shape_problems(shape.key, key, f"{path}<key>", strict=strict))  # type: ignore[attr-defined]
        problems.extend(shape_problems(shape.value, item, f"{path}[{key}]", strict=strict))  # type: ignore[attr-defined]
    return problems


def _check_string(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected a string, got {type(value).__name__}"]
    problems = _check_length(shape, len(value), path, "characters")
    enum = shape.enum if isinstance(shape, StringShape) else []
    if enum and value not in enum:
        problems.append(f"{path}: {value!r} is not one of {enum}")
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        problems.append(f"{path}: {value!r} does not match pattern {pattern}")
    return problems


def _check_integer(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{path}: expected an integer, got {type(value).__name__}"]
    return _check_range(shape, value, path)


def _check_float(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: expected a number, got {type(value).__name__}"]
    return _check_range(shape, value, path)


def _check_boolean(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {type(value).__name__}"]


def _check_timestamp(shape: Shape, value: Any, path: str, strict: bool) -> list[str]:
    """As the shape's ``timestampFormat`` says (bedrock-agent: iso8601 strings), else rest-json's epoch seconds."""
    if shape.serialization.get("timestampFormat") == "iso8601":
        if isinstance(value, str) and _ISO_8601.fullmatch(value):
            return []
        return [f"{path}: expected an ISO 8601 timestamp (timestampFormat iso8601), got {value!r}"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: expected an epoch-seconds timestamp, got {type(value).__name__}"]
    return []


_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _check_length(shape: Shape, length: int, path: str, unit: str) -> list[str]:
    problems = []
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        problems.append(f"{path}: {length} {unit}, minimum {low}")
    if high is not None and length > high:
        problems.append(f"{path}: {length} {unit}, maximum {high}")
    return problems


def _check_range(shape: Shape, value: float, path: str) -> list[str]:
    problems = []
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        problems.append(f"{path}: {value} below minimum {low}")
    if high is not None and value > high:
        problems.append(f"{path}: {value} above maximum {high}")
    return problems


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_float,
    "double": _check_float,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
}


def output_problems(operation: str, body: Any) -> list[str]:
    """Problems of a success body against the operation's output shape (strict)."""
    shape = operation_model(operation).output_shape
    assert shape is not None, f"{operation} has no output shape"
    return shape_problems(shape, body, strict=True)


def error_problems(code: str, body: Any) -> list[str]:
    """Problems of an error body against the model's error shape."""
    return shape_problems(service_model().shape_for(code), body, strict=True)


def input_violations(operation: str, params: Mapping[str, Any]) -> list[str]:
    """AWS-style constraint messages for a request, e.g.

    "Value 'abc' at 'knowledgeBaseId' failed to satisfy constraint: Member must satisfy regular
    expression pattern: [0-9a-zA-Z]{10}" — the wording the service's ValidationException uses.
    """
    shape = operation_model(operation).input_shape
    assert shape is not None, f"{operation} has no input shape"
    return _input_violations(shape, params, "")


def _input_violations(shape: Shape, value: Any, path: str) -> list[str]:
    kind = shape.type_name
    if kind == "structure":
        return _structure_violations(shape, value, path)
    if kind == "list":
        if not isinstance(value, list):
            return [_violation(value, path, "Member must be a list")]
        found = _length_violations(shape, value, path)
        for index, item in enumerate(value):
            found.extend(_input_violations(shape.member, item, f"{path}.{index + 1}.member"))  # type: ignore[attr-defined]
        return found
    if kind == "string":
        return _string_violations(shape, value, path)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [_violation(value, path, "Member must be an integer")]
        return _range_violations(shape, value, path)
    return []


def _structure_violations(shape: Shape, value: Any, path: str) -> list[str]:
    assert isinstance(shape, StructureShape)
    if not isinstance(value, Mapping):
        return [_violation(value, path, "Member must be an object")]
    found = []
    for name in shape.required_members:
        if value.get(name) is None:
            found.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null")
    for name, member in shape.members.items():
        if value.get(name) is not None:
            found.extend(_input_violations(member, value[name], _join(path, name)))
    return found


def _string_violations(shape: Shape, value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [_violation(value, path, "Member must be a string")]
    found = _length_violations(shape, value, path)
    enum = shape.enum if isinstance(shape, StringShape) else []
    if enum and value not in enum:
        found.append(_violation(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
    pattern = shape.metadata.get("pattern")
    if pattern and not _compiled(pattern).fullmatch(value):
        found.append(_violation(value, path, f"Member must satisfy regular expression pattern: {pattern}"))
    return found


def _length_violations(shape: Shape, value: Any, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        return [_violation(value, path, f"Member must have length greater than or equal to {low}")]
    if high is not None and len(value) > high:
        return [_violation(value, path, f"Member must have length less than or equal to {high}")]
    return []


def _range_violations(shape: Shape, value: int, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        return [_violation(value, path, f"Member must have value greater than or equal to {low}")]
    if high is not None and value > high:
        return [_violation(value, path, f"Member must have value less than or equal to {high}")]
    return []


def _violation(value: Any, path: str, constraint: str) -> str:
    shown = value if isinstance(value, str | int | float) else type(value).__name__
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validation_message(violations: list[str]) -> str:
    """Join violations the way AWS does: "2 validation errors detected: ...; ..."."""
    count = len(violations)
    noun = "validation error" if count == 1 else "validation errors"
    return f"{count} {noun} detected: " + "; ".join(violations)
