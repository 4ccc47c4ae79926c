"""The contracts of kbsync (the JSON Schemas beside this file), for functions and CLI alike.

Imports only the standard library and jsonschema. Lambda functions get it from the Contracts layer
(template.yaml, ContentUri: schemas/); the CLI gets it from the installed package.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_NAMES = ("sync-request", "job-record", "alert")


class ContractError(ValueError):
    """A document does not satisfy its contract; the message names the field and the rule."""

    def __init__(self, contract: str, problems: list[str]) -> None:
        self.contract = contract
        self.problems = problems
        super().__init__(f"invalid {contract}: " + "; ".join(problems))


@cache
def schema(name: str) -> dict[str, Any]:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown contract {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=FormatChecker())


def statistic_names() -> tuple[str, ...]:
    """Bedrock's eight ingestion statistics, in the order the job-record contract lists them."""
    return tuple(schema("job-record")["properties"]["statistics"]["properties"])


def _field(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


def problems(name: str, document: Any) -> list[str]:
    """Every way `document` breaks contract `name`, each naming the field; [] if it is valid."""
    found = []
    for error in sorted(_validator(name).iter_errors(document), key=lambda e: list(e.absolute_path)):
        if error.validator == "additionalProperties" and isinstance(document, dict):
            extra = sorted(set(document) - set(error.schema.get("properties", {})))
            found.append(f"{_field(error.absolute_path)}: unexpected field(s) {', '.join(map(repr, extra))}")
        elif error.validator == "required":
            found.append(f"{_field(error.absolute_path)}: {error.message}")
        else:
            shown = error.message if len(error.message) <= 200 else error.message[:197] + "..."
            found.append(f"{_field(error.absolute_path)}: {shown}")
    return found


def validate(name: str, document: Any) -> None:
    """Raise ContractError naming every bad field."""
    found = problems(name, document)
    if found:
        raise ContractError(name, found)
