"""The contracts of kbsync (the JSON Schemas beside this file), for functions and CLI alike.

Imports only the standard library and jsonschema. Lambda functions get it from the Contracts layer
(template.yaml, ContentUri: schemas/); the CLI gets it from the installed package.

Every problem names the field as a JSON pointer (RFC 6901, relative to the document the caller validates, or to
`base` when the document sits inside a larger one: ``/request/reason``) and the rule it breaks
(``/reason: text: contains a control character U+0000 at index 3``). Free text (``reason``, ``requestedBy`` and any
text kbsync builds from S3 keys or schedule payloads) must be storable in DynamoDB and publishable in SNS: see
``text_problem`` (reject) and ``normalize_text`` (what kbsync does to text it builds itself).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent
SCHEMA_NAMES = (
    "sync-request",
    "job-record",
    "alert",
    "alert-catalogue",
    # The alert as Amazon Q Developer in chat applications shows it (kbsync_chat; the "https" entry of the alert):
    "chat-notification",
    # The messages between the states and the functions (each function's input), docs/contracts.md:
    "validate-request-input",
    "get-job-status-input",
    "send-alert-input",
    "sync-gate-input",
    "pacer-input",
    "nightly-plan-input",
    "upload-event",
    "execution-status-event",
    "reconcile-schedule-input",
    "freshness-schedule-input",
    "alarm-state-change-event",
    # Push completion (docs/push-completion.md): the knowledge base's application log events (functions/job_events),
    # the job watch's input (WaitForJobEnd's wait, the JobWatchSchedule) and the wake it sends the waiting execution:
    "log-subscription-event",
    "kb-log-event",
    "job-watch-input",
    "job-wake",
    # The TargetsTable's items (kbsync_pacer, kbsync/targets.py):
    "pacer-item",
    "target-item",
    "gate-item",
)

#: What free text may not contain: C0 controls, DEL, C1 controls (SNS refuses most of them, and they break one-line
#: history and logs), lone surrogates (UTF-8 cannot encode them: DynamoDB and SNS refuse the whole request) and the
#: noncharacters U+FFFE/U+FFFF (outside the characters SNS accepts). The schemas' free-text fields carry the same
#: class as ``"not": {"pattern": FORBIDDEN_TEXT_PATTERN}``: a search for one forbidden character, without anchors,
#: whose meaning differs between regex dialects (Python's $ also matches before a final newline).
FORBIDDEN_TEXT_PATTERN = "[\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff\\ufffe\\uffff]"
FORBIDDEN_TEXT = re.compile(FORBIDDEN_TEXT_PATTERN)
#: A problem message quotes at most this many characters of the offending value.
_QUOTED = 60
#: A rejection lists at most this many problems (a Fail state's Cause holds 32,768 characters; a document with
#: thousands of extra fields must still give a short, complete-enough answer).
MAX_LISTED = 20


def listing(problems: list[str]) -> str:
    """Problems joined with "; ", at most MAX_LISTED of them, then how many more there are."""
    shown = "; ".join(problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return f"{shown}; ... and {more} more problem(s)" if more > 0 else shown


class ContractError(ValueError):
    """A document does not satisfy its contract; the message names the field and the rule."""

    def __init__(self, contract: str, problems: list[str]) -> None:
        self.contract = contract
        self.problems = problems
        super().__init__(f"invalid {contract}: " + listing(problems))


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field (a JSON pointer, "" = the whole document), the rule's name, a sentence."""

    pointer: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '(document)'}: {self.rule}: {self.message}"


@cache
def schema(name: str) -> dict[str, Any]:
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown contract {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry[Any]:
    """Every contract by its $id, so one can $ref another ("sync-request.schema.json")."""
    return Registry().with_resources(
        (schema(name)["$id"], Resource.from_contents(schema(name), default_specification=DRAFT202012))
        for name in SCHEMA_NAMES
    )


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), registry=_registry(), format_checker=FormatChecker())


def statistic_names() -> tuple[str, ...]:
    """Bedrock's eight ingestion statistics, in the order the job-record contract lists them."""
    return tuple(schema("job-record")["properties"]["statistics"]["properties"])


# --------------------------------------------------------------------------- free text


def safe_text(value: str, limit: int = _QUOTED) -> str:
    """`value` for a message: forbidden characters as escapes (\\x00, \\ud800), at most `limit` characters."""
    shown = FORBIDDEN_TEXT.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def pointer_token(key: Any) -> str:
    """One JSON pointer reference token (RFC 6901: ~ -> ~0, / -> ~1), forbidden characters escaped for display."""
    return safe_text(str(key), 80).replace("~", "~0").replace("/", "~1")


def pointer(path: Any, base: str = "") -> str:
    """The JSON pointer of `path` (keys and indexes) below `base`."""
    return base + "".join("/" + pointer_token(part) for part in path)


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or published as free text (the first forbidden character), None if it can."""
    found = FORBIDDEN_TEXT.search(value)
    if found is None:
        return None
    char = found[0]
    kind = (
        "a lone surrogate"
        if "\ud800" <= char <= "\udfff"
        else "a noncharacter"
        if char in "\ufffe\uffff"
        else "a control character"
    )
    return f"contains {kind} U+{ord(char):04X} at index {found.start()} (free text must be printable UTF-8)"


def normalize_text(value: str, limit: int) -> str:
    """Text kbsync builds itself (from an S3 key, a schedule payload) made storable: forbidden characters become
    visible escapes (a newline becomes the two characters \\n), and text longer than `limit` characters is cut,
    ending in "..." — never rejected: an upload with an odd key must still be synced."""
    shown = FORBIDDEN_TEXT.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), value)
    return shown if len(shown) <= limit else shown[: max(0, limit - 3)] + "..."


# --------------------------------------------------------------------------- schema problems


def _violation(error: Any, base: str) -> list[Violation]:
    where = pointer(error.absolute_path, base)
    rule = str(error.validator)
    if rule == "additionalProperties" and isinstance(error.instance, dict):
        # The extra fields of the object that has them (error.instance), each at its own pointer: not the fields of
        # the top-level document, which differ as soon as the object is nested.
        known = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extra = sorted(
            (str(k) for k in error.instance if k not in known and not any(p.search(str(k)) for p in patterns)),
        )
        return [
            Violation(
                f"{where}/{pointer_token(key)}", rule, f"unexpected field {safe_text(key)!r} (not in the contract)"
            )
            for key in extra
        ]
    if rule == "required":
        missing = [
            name for name in error.validator_value if isinstance(error.instance, dict) and name not in error.instance
        ]
        return [
            Violation(f"{where}/{pointer_token(name)}", rule, f"{name!r} is a required property") for name in missing
        ]
    if (
        rule == "not"
        and error.validator_value == {"pattern": FORBIDDEN_TEXT_PATTERN}
        and isinstance(error.instance, str)
    ):
        return [Violation(where, "text", text_problem(error.instance) or "not printable text")]
    if rule == "maxLength" and isinstance(error.instance, str):
        return [Violation(where, rule, f"{len(error.instance)} characters, at most {error.validator_value} allowed")]
    shown = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return [Violation(where, rule, safe_text(shown, 200))]


def violations(name: str, document: Any, base: str = "") -> list[Violation]:
    """Every way `document` breaks contract `name`, each as a field pointer (below `base`) and a rule."""
    found: list[Violation] = []
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        found.extend(v for v in _violation(error, base) if v not in found)
    return found


def problems(name: str, document: Any, base: str = "") -> list[str]:
    """Every way `document` breaks contract `name`, each naming the field (a JSON pointer) and the rule; [] if valid."""
    return [str(v) for v in violations(name, document, base)]


def validate(name: str, document: Any) -> None:
    """Raise ContractError naming every bad field."""
    found = problems(name, document)
    if found:
        raise ContractError(name, found)
