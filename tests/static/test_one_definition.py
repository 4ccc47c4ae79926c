"""Each rule of the shared core is written once: a second definition in the product code fails here.

The rules (schemas/kbsync_*.py, the Contracts layer the functions share and the CLI imports): the record keys
(kbsync_keys), the execution names (kbsync_names), the pacer item's fields (kbsync_pacer), the time stamp format, the
conditional-write check, the Decimal helper and prefix routing (kbsync_values). The scan reads every string the
product code writes (docstrings aside) and every dict literal keyed ``pk``/``sk``; the product code is everything
but the tests and the local cloud. The state machines cannot import Python: their key formats are compared with the
core's instead. No network.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kbsync_keys
import kbsync_names
import kbsync_pacer
import kbsync_values

REPO = Path(__file__).resolve().parents[2]
PRODUCT_CODE = ("functions", "kbsync", "schemas")
KEYS = "schemas/kbsync_keys.py"
NAMES = "schemas/kbsync_names.py"
PACER = "schemas/kbsync_pacer.py"
VALUES = "schemas/kbsync_values.py"
GATE = "schemas/kbsync_gate.py"

#: A fragment of a rule -> the one module that may write it (as part of any string).
FRAGMENTS = {
    "DS#": KEYS,
    "JOB#": KEYS,
    "PLAN#": KEYS,
    "PAGE#": KEYS,
    "ALERT#": KEYS,
    "%Y%m%dT%H%M%S": NAMES,
    "date -u": NAMES,
    "%Y-%m-%dT%H:%M:%S": VALUES,
    "ConditionalCheckFailedException": VALUES,
}
#: Whole strings that are a rule: a key part, a pacer field (exactly the string, or as a word in an expression).
WHOLE = {
    "PACER": KEYS,
    "ACCOUNT": KEYS,
    "CURSOR": KEYS,
    **{
        field: PACER
        for field in (
            kbsync_pacer.SLOTS,
            kbsync_pacer.WAITERS,
            kbsync_pacer.QUEUE_SEQ,
            kbsync_pacer.START_HOLDER,
            kbsync_pacer.START_LEASE_UNTIL,
            kbsync_pacer.SLOT_SEEN_RUNNING,
            kbsync_pacer.WAITER_SEEN_AT,
        )
    },
}
WORDS = {kbsync_pacer.QUEUE_SEQ, kbsync_pacer.START_HOLDER, kbsync_pacer.START_LEASE_UNTIL}
#: Calls that are a rule: only their owner calls them.
CALLS = {"unquote_plus": VALUES}

#: Sites not yet switched to the core, each to be removed from here when it is (this list only shrinks): the CLI
#: (kbsync/cli/) and send_alert are being reworked in parallel.
PENDING: set[str] = set()  # sites still to convert to the core (none left)


def docstring_ids(tree: ast.AST) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def second_definitions(source: str, filename: str) -> list[str]:
    """Where `source` writes a core rule it does not own: `<file>: <what>` (one entry per file and rule)."""
    tree = ast.parse(source, filename)
    docstrings = docstring_ids(tree)
    found: list[str] = []

    def hit(what: str, owner: str) -> None:
        entry = f"{filename}: {what}"
        if filename != owner and entry not in found:
            found.append(entry)

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            for fragment, owner in FRAGMENTS.items():
                if fragment in node.value:
                    hit(repr(fragment), owner)
            if node.value in WHOLE:
                hit(repr(node.value), WHOLE[node.value])
            for word in WORDS:
                if re.search(rf"\b{word}\b", node.value):
                    hit(repr(word), PACER)
        elif isinstance(node, ast.Dict):
            names = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if {"pk", "sk"} <= names:
                hit("a {pk, sk} key built by hand", KEYS)
        elif isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in CALLS:
                hit(f"{name}()", CALLS[name])
    return found


def product_sources() -> Iterator[tuple[str, str]]:
    for top in PRODUCT_CODE:
        for path in sorted((REPO / top).rglob("*.py")):
            name = path.relative_to(REPO).as_posix()
            if "egg-info" in name:
                continue
            yield name, path.read_text(encoding="utf-8")


def test_no_second_definition_of_a_core_rule_in_the_product_code() -> None:
    sources = dict(product_sources())
    assert {KEYS, NAMES, PACER, VALUES, GATE, "functions/pacer/pacer_logic.py", "functions/catch_all/app.py"} <= set(
        sources
    )
    found = {hit for name, source in sources.items() for hit in second_definitions(source, name)}
    assert sorted(found - PENDING) == [], "write these through the shared core (schemas/kbsync_*.py)"
    assert sorted(PENDING - found) == [], "these now use the core: remove them from PENDING"


def test_the_scan_finds_the_copies_the_core_replaced() -> None:
    """Not vacuous: the rules as the trigger functions, functions/catch_all and kbsync/targets.py used to write them."""
    copies = '''
"""A docstring may say DS#<kb>#<ds> and startHolder."""
PACER_KEY = {"pk": "PACER", "sk": "ACCOUNT"}
def ds_pk(kb, ds):
    return f"DS#{kb}#{ds}"
def release(item, holder):
    if item.get("startHolder") == holder:
        item.pop("startLeaseUntil", None)
    return {**item, "slots": {}, "waiters": {}}
def name(trigger, kb, ds):
    return f"{trigger}-{kb}-{ds}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
def lost(error):
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"
def matches(key, p):
    return urllib.parse.unquote_plus(key).startswith(p)
expression = "SET queueSeq = queueSeq + :one"
logger.info("a log line naming a record's sort key is no key", extra={"sk": record["sk"]})
'''
    assert sorted(second_definitions(copies, "copy.py")) == sorted(
        [
            "copy.py: a {pk, sk} key built by hand",
            "copy.py: 'PACER'",
            "copy.py: 'ACCOUNT'",
            "copy.py: 'DS#'",
            "copy.py: 'startHolder'",
            "copy.py: 'startLeaseUntil'",
            "copy.py: 'slots'",
            "copy.py: 'waiters'",
            "copy.py: '%Y%m%dT%H%M%S'",
            "copy.py: 'ConditionalCheckFailedException'",
            "copy.py: unquote_plus()",
            "copy.py: 'queueSeq'",
        ]
    )


# ---------------------------------------------------------------- the state machines use the core's formats


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def asl_formats() -> list[tuple[str, str, str]]:
    """(file, field, format string) of every States.Format in the state machines that builds a record key."""
    found = []
    for path in sorted((REPO / "statemachines").glob("*.asl.json")):
        for field, value in _walk(json.loads(path.read_text(encoding="utf-8"))):
            match = re.match(r"States\.Format\('([^']*)'", value) if isinstance(value, str) else None
            if match and any(fragment in match[1] for fragment in ("DS#", "JOB#", "PACER", "PLAN#", "ALERT#")):
                found.append((path.name, field, match[1]))
    return found


def test_the_state_machines_build_record_keys_in_the_cores_formats() -> None:
    formats = asl_formats()
    assert ("ingestion-sync.asl.json", "pk.$", kbsync_keys.DS_PK_FORMAT) in formats
    assert ("ingestion-sync.asl.json", "sk.$", kbsync_keys.JOB_SK_FORMAT) in formats
    assert {fmt for _, _, fmt in formats} <= {kbsync_keys.DS_PK_FORMAT, kbsync_keys.JOB_SK_FORMAT}, formats
    assert kbsync_keys.JOB_SK_FORMAT.startswith(kbsync_keys.JOB_SK_PREFIX)


def test_the_core_is_what_the_handlers_use() -> None:
    """The names the handlers and their tests call are the core's functions, not copies."""
    import kbsync_gate

    from kbsync import targets as registry
    from tests.helpers.functions import load_function, load_module

    catch_all = load_function("catch_all")
    assert catch_all.PACER_KEY is kbsync_keys.PACER_KEY
    assert registry.TARGET_SK == kbsync_keys.TARGET_SK
    # The gate's item, written once: the sync gate's steps and the upload router both go through kbsync_gate.
    for function in ("sync_gate", "upload_router"):
        load_function(function)  # its handler imports its logic
        source = (REPO / "functions" / function / f"{function}_logic.py").read_text(encoding="utf-8")
        assert "kbsync_gate.enter(" in source and "update_item" not in source, function
    # Names, routing and values: the core's functions, called through their module (no local copy or alias).
    uses = {
        "upload_router/upload_router_logic.py": (kbsync_names.execution_name, kbsync_names.execution_arn),
        "upload_router/upload_router_data.py": (kbsync_values.plain, kbsync_values.prefix_matches),
        "sync_gate/sync_gate_logic.py": (kbsync_names.execution_name,),
        "nightly_plan/nightly_plan_logic.py": (kbsync_names.execution_name, kbsync_values.now_epoch),
        "nightly_plan/nightly_plan_data.py": (kbsync_values.plain, kbsync_values.is_condition_failure),
    }
    for path, functions in uses.items():
        source = (REPO / "functions" / path).read_text(encoding="utf-8")
        for function in functions:
            assert f"{function.__module__}.{function.__name__}(" in source, (path, function.__name__)
    router = load_module("upload_router", "upload_router_logic")
    assert router.InvalidRequest is kbsync_gate.InvalidRequest
    nightly = load_module("nightly_plan", "nightly_plan_logic")
    assert nightly.InvalidRequest is kbsync_gate.InvalidRequest
