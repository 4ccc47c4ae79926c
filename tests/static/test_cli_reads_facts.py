"""The CLI reads facts, not traces: what it shows comes from the job records, the TargetsTable's items and the public
API outputs (DescribeExecution's status, input and output; Bedrock's jobs), never from an execution's history (state
names, event order: internal to the state machines, and a moto difference once needed a workaround there) or from an
execution's name (a label for people; the facts it carries are in the input and the records)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLI_SOURCES = sorted((REPO / "kbsync").rglob("*.py"))

#: What reading a trace looks like in code: the history API, the sync gate's state names, listing executions to
#: find one by its name.
TRACE_READERS = ("get_execution_history", "reverseOrder", "list_executions", "parse_execution_name")
STATE_NAMES = ("BeginRound", "EnterGate", "AcquireSlot", "RunIngestionSync", "ReleaseGate")


def _names_and_strings(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.keyword) and node.arg:
            found.add(node.arg)
    return found


def test_there_is_cli_code_to_check() -> None:
    assert len(CLI_SOURCES) >= 10 and REPO / "kbsync" / "cli" / "service.py" in CLI_SOURCES


@pytest.mark.parametrize("path", CLI_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_cli_module_reads_execution_histories_or_names(path: Path) -> None:
    used = _names_and_strings(path)
    assert not used & set(TRACE_READERS), f"{path.relative_to(REPO)} reads a trace: {sorted(used & set(TRACE_READERS))}"
    assert not used & set(STATE_NAMES), f"{path.relative_to(REPO)} names a state: {sorted(used & set(STATE_NAMES))}"


def test_the_check_sees_a_history_read_and_a_state_name(tmp_path: Path) -> None:
    """The check itself can fail: the code the CLI once had is caught."""
    old = tmp_path / "old.py"
    old.write_text(
        "def f(sfn, arn):\n    page = sfn.get_execution_history(executionArn=arn, reverseOrder=True)\n"
        '    return [e for e in page["events"] if e["name"] == "BeginRound"]\n',
        encoding="utf-8",
    )
    used = _names_and_strings(old)
    assert {"get_execution_history", "reverseOrder", "BeginRound"} <= used
