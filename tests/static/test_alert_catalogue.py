"""The alert catalogue (schemas/alert-catalogue.json) is the one definition of the alert kinds: it satisfies its
schema; every kind the workflow and the functions raise is in it, and every kind in it is raised; no second mapping of
a kind to its severity, headline or runbook appears in the product code; docs/alerts.md and runbooks/README.md say
what it says. No network."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kbsync_alerts
import kbsync_contracts
from jsonschema import Draft202012Validator

from tests.helpers.functions import load_function, load_module

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
RUNBOOKS = REPO / "runbooks"
#: Product code that could hold a second definition: the functions, the CLI and the shared core (the local cloud
#: emulates AWS and raises no kbsync alert).
PRODUCT_CODE = ("functions", "kbsync", "schemas")
KB, DS = "KB12345678", "DS12345678"
EXECUTION = f"arn:aws:states:us-east-1:123456789012:execution:kbsync-IngestionSync:manual-{KB}-{DS}-x"


def catalogue() -> dict[str, kbsync_alerts.AlertKind]:
    return dict(kbsync_alerts.catalogue())


def test_the_catalogue_satisfies_its_schema() -> None:
    schema = json.loads((SCHEMAS / "alert-catalogue.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    document = json.loads((SCHEMAS / "alert-catalogue.json").read_text(encoding="utf-8"))
    assert kbsync_contracts.problems("alert-catalogue", document) == []
    assert list(catalogue()) == list(document["alerts"])


def test_the_catalogue_refuses_an_entry_without_a_runbook() -> None:
    document = json.loads((SCHEMAS / "alert-catalogue.json").read_text(encoding="utf-8"))
    del document["alerts"]["FAILED"]["runbook"]
    document["alerts"]["PARTIAL"]["severity"] = "NOTICE"
    assert kbsync_contracts.problems("alert-catalogue", document) == [
        "/alerts/FAILED/runbook: required: 'runbook' is a required property",
        "/alerts/PARTIAL/severity: enum: 'NOTICE' is not one of ['CRITICAL', 'WARNING', 'INFO']",
    ]


def test_an_unknown_kind_is_refused_with_the_known_ones() -> None:
    try:
        kbsync_alerts.alert_kind("RUNNING")
    except KeyError as error:
        assert "unknown alert kind 'RUNNING'" in str(error) and "RECORD_RECONCILED" in str(error)
    else:
        raise AssertionError("RUNNING is no alert kind")


# ---------------------------------------------------------------- every kind raised is catalogued, every kind raised


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def workflow_alert_kinds() -> set[str]:
    """Every alertType the state machines set (Pass states' outcome) or branch on (Choice rules on *.alertType)."""
    kinds: set[str] = set()
    for path in sorted((REPO / "statemachines").glob("*.asl.json")):
        for node in _walk(json.loads(path.read_text(encoding="utf-8"))):
            if isinstance(node.get("alertType"), str):
                kinds.add(node["alertType"])
            if str(node.get("Variable", "")).endswith(".alertType") and "StringEquals" in node:
                kinds.add(str(node["StringEquals"]))
    return kinds


def catch_all_alert() -> dict[str, Any]:
    catch_all = load_function("catch_all")
    detail = {"executionArn": EXECUTION, "status": "TIMED_OUT", "error": "States.Timeout", "cause": "too long"}
    request = {"knowledgeBaseId": KB, "dataSourceId": DS}
    alert: dict[str, Any] = catch_all.build_alert(detail, request, None, "https://runbooks.example", "<gate>")
    return alert


def reconciler_alert() -> dict[str, Any]:
    reconciler = load_function("reconciler")
    settings = reconciler.Settings("jobs", "targets", "arn:aws:sns:us-east-1:1:t", "https://runbooks.example", "<g>")
    record = {"knowledgeBaseId": KB, "dataSourceId": DS, "status": "IN_PROGRESS", "executionArn": EXECUTION}
    values = {"status": "EXECUTION_FAILED", "executionStatus": "FAILED"}
    alert: dict[str, Any] = reconciler.build_alert(record, values, settings)
    return alert


def freshness_alerts() -> list[dict[str, Any]]:
    """One alert of each verdict the freshness check can reach (functions/freshness)."""
    logic = load_module("freshness", "freshness_logic")
    settings = load_module("freshness", "freshness_settings").Settings(runbook_base_url="https://runbooks.example")
    target = {"knowledgeBaseId": KB, "dataSourceId": DS, "registeredAt": "2026-11-20T00:00:00Z"}
    lagging = {**target, "pendingSince": "2026-11-21T21:00:00Z", "lastChangeAt": "2026-11-21T21:00:00Z"}
    now = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
    synced = {"status": "COMPLETE", "startedAt": "2026-11-21T01:00:00Z", "updatedAt": "2026-11-21T02:00:00Z"}
    verdicts = [
        logic.assess(target, None, None, now, settings),  # never synced for 51 h: stale
        logic.assess(lagging, synced, None, now, settings),  # a change waiting 6 h: lagging
        logic.assess(target, synced, None, now, settings),  # fresh
    ]
    return [logic.build_alert(v, "STALE" if v.state == "FRESH" else "FRESH", settings) for v in verdicts]


def alarm_relay_alerts() -> list[dict[str, Any]]:
    """One notice of each alarm kind the relay can send, then a recovery notice (functions/alarm_relay)."""
    from tests.alarms.test_alarm_relay_units import event as alarm_event
    from tests.alarms.test_alarm_relay_units import relayed

    kinds = [k for k in kbsync_alerts.kinds_raised_by(kbsync_alerts.ALARM_RELAY) if k != "ALARM_RECOVERED"]
    names = {f"kbsync-{kind}": kind for kind in kinds}
    settings = load_module("alarm_relay", "alarm_relay_settings").Settings(
        runbook_base_url="https://runbooks.example", alarm_kinds=json.dumps(names)
    )
    changes = [alarm_event("ALARM", "OK", name=name) for name in names] + [
        alarm_event("OK", "ALARM", name=next(iter(names)))
    ]
    return [alert for change in changes for alert, _ in relayed(change, settings)[1]]


def attributes(alert: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in alert["messageAttributes"].items()}


def test_every_kind_the_workflow_sends_is_catalogued_as_the_workflows() -> None:
    kinds = workflow_alert_kinds()
    assert kinds, "no alertType found in statemachines/*.asl.json"
    assert kinds == set(kbsync_alerts.kinds_raised_by(kbsync_alerts.WORKFLOW))


def test_every_kind_the_functions_raise_is_catalogued_as_theirs() -> None:
    assert [attributes(catch_all_alert())["alertType"]] == list(kbsync_alerts.kinds_raised_by("catch-all"))
    assert [attributes(reconciler_alert())["alertType"]] == list(kbsync_alerts.kinds_raised_by("reconciler"))
    assert [attributes(a)["alertType"] for a in freshness_alerts()] == list(kbsync_alerts.kinds_raised_by("freshness"))
    assert [attributes(a)["alertType"] for a in alarm_relay_alerts()] == list(
        kbsync_alerts.kinds_raised_by(kbsync_alerts.ALARM_RELAY)
    )


def test_every_catalogued_kind_is_raised() -> None:
    raised = workflow_alert_kinds() | {
        attributes(alert)["alertType"]
        for alert in (catch_all_alert(), reconciler_alert(), *freshness_alerts(), *alarm_relay_alerts())
    }
    assert raised == set(catalogue())


def test_every_sender_takes_severity_headline_and_runbook_from_the_catalogue() -> None:
    send_alert = load_function("send_alert")
    now = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
    alerts = [
        send_alert.build_alert(send_alert.AlertFacts(kind, KB, DS, EXECUTION), "https://runbooks.example", now)
        for kind in kbsync_alerts.kinds_raised_by(kbsync_alerts.WORKFLOW)
    ] + [catch_all_alert(), reconciler_alert(), *freshness_alerts()]
    for alert in alerts:
        kind = catalogue()[attributes(alert)["alertType"]]
        assert attributes(alert)["severity"] == kind.severity
        assert alert["subject"] == f"[{kind.severity}] kbsync {kind.kind}: kb {KB} / ds {DS}"
        assert f"\nRunbook: https://runbooks.example/{kind.runbook}" in alert["message"]
    for alert in alerts[: len(kbsync_alerts.kinds_raised_by(kbsync_alerts.WORKFLOW))]:
        kind = catalogue()[attributes(alert)["alertType"]]
        assert alert["message"].startswith(f"kbsync {kind.kind} ({kind.severity}): {kind.headline}.\n")


def test_the_alert_contract_allows_exactly_the_catalogued_kinds_and_severities() -> None:
    """schemas/alert.schema.json lists the kinds and severities for subscribers: it must list the catalogue's."""
    properties = kbsync_contracts.schema("alert")["properties"]["messageAttributes"]["properties"]
    enum_of = {
        name: set(properties[name]["allOf"][1]["properties"]["StringValue"]["enum"])
        for name in properties
        if "allOf" in properties[name]
    }
    assert enum_of["alertType"] == set(catalogue())
    severities = kbsync_contracts.schema("alert-catalogue")["$defs"]["alert"]["properties"]["severity"]["enum"]
    assert enum_of["severity"] == set(severities) == {kind.severity for kind in catalogue().values()}


# ---------------------------------------------------------------- no second definition


def second_definitions(source: str, filename: str) -> list[str]:
    """Where `source` writes part of the catalogue again: a string (docstrings aside) that is a catalogued severity,
    runbook or headline, or a subject's '[SEVERITY]'."""
    kinds = catalogue().values()
    severities = {kind.severity for kind in kinds}
    owned = severities | {kind.runbook for kind in kinds} | {kind.headline for kind in kinds}
    bracketed = re.compile(r"\[(" + "|".join(sorted(severities)) + r")\]")
    tree = ast.parse(source, filename)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings = sorted(
        (node.lineno, node.col_offset, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    )
    return [
        f"{filename}:{line}: {value[:60]!r}" for line, _, value in strings if value in owned or bracketed.search(value)
    ]


def product_sources() -> Iterator[tuple[str, str]]:
    for top in PRODUCT_CODE:
        for path in sorted((REPO / top).rglob("*.py")):
            name = path.relative_to(REPO).as_posix()
            if name == "schemas/kbsync_alerts.py":
                continue
            yield name, path.read_text(encoding="utf-8")


def test_no_second_definition_of_the_catalogue_in_the_product_code() -> None:
    sources = list(product_sources())
    assert any(name == "functions/send_alert/app.py" for name, _ in sources)
    assert [hit for name, source in sources for hit in second_definitions(source, name)] == []


def test_the_second_definition_check_finds_the_copies_it_replaced() -> None:
    """Not vacuous: the catalogue as the functions and the CLI used to write it is found."""
    copies = '''
"""Docstrings may name CRITICAL and sync-failed.md: '[CRITICAL] kbsync FAILED: kb <id>'."""
SEVERITY = {"FAILED": "CRITICAL", "PARTIAL": "WARNING"}
ALERTS = {"STOPPED": ("WARNING", "sync-stopped.md")}
HEADLINE = {"STOPPED": "the ingestion job was stopped by someone else"}
RUNBOOK_FILE = "record-reconciled.md"
subject = f"[CRITICAL] kbsync EXECUTION_DIED: kb {kb} / ds {ds}"
'''
    assert [hit.split(": ", 1)[1] for hit in second_definitions(copies, "copy.py")] == [
        "'CRITICAL'",
        "'WARNING'",
        "'WARNING'",
        "'sync-stopped.md'",
        "'the ingestion job was stopped by someone else'",
        "'record-reconciled.md'",
        "'[CRITICAL] kbsync EXECUTION_DIED: kb '",
    ]


# ---------------------------------------------------------------- the documents say what the catalogue says


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the Markdown table whose header line starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_docs_alerts_table_is_the_catalogue() -> None:
    doc = (REPO / "docs" / "alerts.md").read_text(encoding="utf-8")
    rows = table_rows(doc, "| Alert type | Severity | Raised when |")
    documented = {}
    for kind, severity, condition, _record_status, runbook in rows:
        documented[kind.strip("`")] = (severity, condition, runbook)
    assert len(documented) == len(rows), "a kind documented twice"
    assert documented == {
        kind.kind: (kind.severity, kind.condition, f"[{kind.runbook}](../runbooks/{kind.runbook})")
        for kind in catalogue().values()
    }


def test_the_runbook_index_rows_are_the_catalogue() -> None:
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for kind in catalogue().values():
        row = f"| {kind.kind} — {kind.headline} | {kind.severity} | [{kind.runbook}]({kind.runbook}) |"
        assert index.count(row) == 1, row
    listed = {row[0].split(" — ")[0] for row in table_rows(index, "| Alert (subject") if " — " in row[0]}
    assert listed == set(catalogue())


def test_every_catalogued_runbook_exists() -> None:
    for kind in catalogue().values():
        assert (RUNBOOKS / kind.runbook).is_file(), kind.runbook
