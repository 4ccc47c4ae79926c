"""The runbooks as documents: one per alert type (names fixed across the team), the four sections, links that
resolve, the alert's values bound before any command uses them, both kbsync and the plain AWS CLI. No network."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from kbsync_alerts import catalogue

from kbsync.cli.outcome import OTHER_RUNBOOKS
from tests.helpers.functions import load_function
from tests.runbooks.runbook_parser import RUNBOOKS, SECTIONS, Runbook, all_runbooks, parse

PROCEDURES = {"rerun-a-sync.md", "pause-nightly-syncs.md"}
ALERT_RUNBOOKS = sorted({alert.runbook for alert in catalogue().values()})
EXPECTED_FILES = {*ALERT_RUNBOOKS, *OTHER_RUNBOOKS, "README.md"}


def test_every_alert_type_has_its_runbook_and_nothing_is_stray() -> None:
    present = {path.name for path in RUNBOOKS.glob("*.md")}
    assert present == EXPECTED_FILES


def test_the_alert_formatter_links_existing_runbooks_for_every_alert_type() -> None:
    send_alert = load_function("send_alert")
    now = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
    for kind, alert in catalogue().items():
        facts = send_alert.AlertFacts(kind, "KB12345678", "DS12345678", "arn:aws:states:us-east-1:1:execution:m:n")
        assert f"\nRunbook: https://runbooks.example/{alert.runbook}\n" in send_alert.message_of(
            facts, "https://runbooks.example", now
        )
        assert (RUNBOOKS / alert.runbook).is_file()


def test_the_index_links_every_runbook() -> None:
    index = parse(RUNBOOKS / "README.md")
    assert set(index.links()) >= EXPECTED_FILES - {"README.md"}
    for alert, severity, file in ((a.kind, a.severity, a.runbook) for a in catalogue().values()):
        assert re.search(rf"^\| {alert} — .*\| {severity} \| \[{re.escape(file)}\]", index.text, re.M), alert


@pytest.mark.parametrize("runbook", [r for r in all_runbooks() if r.name != "README.md"], ids=lambda r: r.name)
def test_runbook_has_the_four_sections_in_order(runbook: Runbook) -> None:
    assert [h for h in runbook.headings() if h in SECTIONS] == list(SECTIONS)
    assert runbook.headings()[: len(SECTIONS)] == list(SECTIONS)


@pytest.mark.parametrize("runbook", all_runbooks(), ids=lambda r: r.name)
def test_relative_links_resolve(runbook: Runbook) -> None:
    for link in runbook.links():
        assert (RUNBOOKS / link).resolve().is_file(), f"{runbook.name}: broken link {link}"


@pytest.mark.parametrize("runbook", all_runbooks(), ids=lambda r: r.name)
def test_variables_are_bound_before_use(runbook: Runbook) -> None:
    bound: set[str] = set()
    for command in runbook.commands:
        used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", command.text)) - {"RANDOM"}
        assert used <= bound, f"{runbook.name}:{command.line} uses {sorted(used - bound)} before binding them"
        if command.assignment:
            bound.add(command.assignment[0])


@pytest.mark.parametrize("runbook", [parse(RUNBOOKS / f) for f in ALERT_RUNBOOKS], ids=lambda r: r.name)
def test_alert_runbooks_use_both_kbsync_and_the_aws_cli(runbook: Runbook) -> None:
    texts = [c.text for c in runbook.commands]
    assert any(t.startswith("aws ") for t in texts), runbook.name
    assert any(t.startswith("kbsync ") for t in texts), runbook.name


@pytest.mark.parametrize(
    ("runbook", "reasons"),
    [
        ("sync-partial.md", ["file format was not supported", "exceeded the maximum supported size of 50 MB",
                             "metadata file exceeded the maximum supported size of 10 KB",
                             "metadata file was invalid", "Access Denied"]),
        ("sync-failed.md", ["bucket does not exist", "Access Denied", "AccessDeniedException"]),
    ],
)  # fmt: skip
def test_common_failure_reasons_each_have_a_fix(runbook: str, reasons: list[str]) -> None:
    rows = [line for line in (RUNBOOKS / runbook).read_text().splitlines() if line.startswith("| ")]
    for reason in reasons:
        row = next((r for r in rows if reason in r), None)
        assert row is not None, f"{runbook}: no table row for {reason!r}"
        assert len([cell for cell in row.split("|") if cell.strip()]) == 3, row
