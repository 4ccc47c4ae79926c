"""The product, its definitions and its documentation say why, never "see issue 12".

An issue number is a pointer into a tracker the reader may not have, and it goes stale as soon as the issue closes:
each sentence states the concern itself. Citations of other projects' issues (``aws/aws-sam-cli#5367``,
``https://github.com/owner/repo/issues/N``) are references a reader can follow, and stay.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: What is read: product code (the functions, the kbsync package, the contracts), the local cloud, the state
#: machines (ASL and their README), the template, the README, docs, runbooks, the Makefile and the developer tools.
SCANNED_DIRS = ("functions", "kbsync", "localcloud", "schemas", "statemachines", "docs", "runbooks", "tools")
SCANNED_FILES = ("template.yaml", "README.md", "Makefile")
SUFFIXES = {".py", ".json", ".md", ".yaml", ".yml", ".txt", ".sh"}
SKIPPED_PARTS = {"__pycache__", "node_modules"}

#: "issue 12", "Issue #4", "issues 3 and 12", "issue-17"; not "issues/5367" inside a URL.
ISSUE_NUMBER = re.compile(r"\bissues?(?:\s+#?|-)\d+", re.IGNORECASE)
#: A bare "#12" meaning an issue; "owner/repo#12" (a citation) and "DS#<kb>" keys do not match.
BARE_REFERENCE = re.compile(r"(?<![\w/.#-])#\d+\b")


def scanned_files() -> list[Path]:
    found = [REPO / name for name in SCANNED_FILES]
    for directory in SCANNED_DIRS:
        for path in sorted((REPO / directory).rglob("*")):
            parts = path.relative_to(REPO).parts
            skipped = SKIPPED_PARTS & set(parts) or any(part.endswith(".egg-info") for part in parts)
            if path.is_file() and path.suffix in SUFFIXES and not skipped:
                found.append(path)
    return found


def mentions(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    hits = []
    for number, line in enumerate(text.splitlines(), 1):
        for pattern in (ISSUE_NUMBER, BARE_REFERENCE):
            hits += [f"{path.relative_to(REPO)}:{number}: {match.group(0)!r}" for match in pattern.finditer(line)]
    return hits


def test_the_scan_reads_the_product_and_its_docs() -> None:
    names = {str(path.relative_to(REPO)) for path in scanned_files()}
    for expected in ("template.yaml", "README.md", "statemachines/ingestion-sync.asl.json", "kbsync/cli/service.py"):
        assert expected in names
    assert any(name.startswith("runbooks/") for name in names) and any(name.startswith("docs/") for name in names)


def test_no_issue_numbers_in_code_definitions_or_docs() -> None:
    found = [hit for path in scanned_files() for hit in mentions(path)]
    assert not found, "say why instead of naming an issue:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("(see issues 3 and 12)", True),
        ("Clean causes (issue 12, item 6)", True),
        ("Issue #4 asked for it", True),
        ("for the issue-17 tests", True),
        ("fixed in #12", True),
        ("aws/aws-sam-cli#5367", False),
        ("https://github.com/boxed/mutmut/issues/515", False),
        ("pk = DS#<kb>#<ds>, sk = JOB#2026-11-22T05:04:05Z", False),
        ("this issues the 10 starts", False),
    ],
)
def test_what_counts_as_an_issue_number(text: str, flagged: bool) -> None:
    assert bool(ISSUE_NUMBER.search(text) or BARE_REFERENCE.search(text)) is flagged
