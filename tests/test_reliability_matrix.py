"""The reliability matrix (docs/reliability.md) cannot drift from the test suite — plus the faults only it covers.

1. The matrix: every required fault has a row, every row names at least one test, and every named test exists
   (parsed from the test files, not guessed) and carries no skip/xfail mark. The suite itself proves they pass.
2. Faults no other suite exercises end to end, on the real template deployed on the local cloud: StartIngestionJob
   quota exceeded and internal errors, a Lambda task crashing, an execution killed from outside.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
MATRIX = REPO / "docs" / "reliability.md"
REQUIRED_FAULTS = (
    "throttling",
    "quota exceeded",
    "conflict with an outside job",
    "internal errors",
    "job failed",
    "job stopped",
    "job never finishing",
    "dynamodb write failures",
    "sns publish failures",
    "execution killed",
    "burst of duplicate events",
    "lambda crash",
    "bad input",
)
NODE_ID = re.compile(r"`(tests/[\w/]+\.py)::([\w]+)(?:::(\w+))?(\[[^\]`]*\])?`")
DISABLING_MARKS = ("skip", "skipif", "xfail")


# ====================================================================== 1. the matrix


@dataclass(frozen=True)
class Row:
    fault: str
    promise: str
    tests: tuple[tuple[str, str, str | None], ...]  # (file, function or class, method)


def matrix_rows(text: str) -> list[Row]:
    """The rows of the table under '## Matrix' (columns: Fault | How it is caused | Promised outcome | Proved by)."""
    section = text.split("## Matrix", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or set(cells[0]) <= {"-", ":", " "} or cells[0].lower() == "fault":
            continue
        tests = tuple((m.group(1), m.group(2), m.group(3)) for m in NODE_ID.finditer(cells[-1]))
        rows.append(Row(fault=re.sub(r"[*_`]", "", cells[0]).strip(), promise=cells[2], tests=tests))
    return rows


def _mark_names(decorators: list[ast.expr]) -> set[str]:
    """pytest.mark.<name> (called or not) among decorators."""
    names = set()
    for decorator in decorators:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "mark":
            names.add(node.attr)
    return names


def _module_marks(tree: ast.Module) -> set[str]:
    """Marks applied to the whole module through `pytestmark = ...`."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            value = node.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            return _mark_names(list(items))
    return set()


def node_problem(file: str, name: str, method: str | None, root: Path = REPO) -> str | None:
    """Why the node id does not name a runnable test (None: it does)."""
    path = root / file
    if not path.is_file():
        return f"{file} does not exist"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    disabled = _module_marks(tree) & set(DISABLING_MARKS)
    if disabled:
        return f"{file} is marked {sorted(disabled)} as a whole"
    found = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    node = found.get(name)
    if method is not None and isinstance(node, ast.ClassDef):
        node = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == method), None)
    if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
        return f"{file}::{name}{'::' + method if method else ''} is not a test function in that file"
    disabled = _mark_names(node.decorator_list) & set(DISABLING_MARKS)
    if disabled:
        return f"{file}::{node.name} is marked {sorted(disabled)}"
    return None


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return matrix_rows(MATRIX.read_text(encoding="utf-8"))


def test_every_required_fault_has_a_row(rows: list[Row]) -> None:
    covered = {row.fault.lower() for row in rows}
    missing = [fault for fault in REQUIRED_FAULTS if not any(fault in c for c in covered)]
    assert missing == []


def test_every_row_promises_an_outcome_and_names_tests(rows: list[Row]) -> None:
    assert [row.fault for row in rows if not row.tests or len(row.promise) < 20] == []


def test_every_named_test_exists_and_is_not_skipped_or_xfailed(rows: list[Row]) -> None:
    problems = [
        f"{row.fault}: {problem}"
        for row in rows
        for file, name, method in row.tests
        if (problem := node_problem(file, name, method)) is not None
    ]
    assert problems == []


def test_the_checker_catches_missing_skipped_and_xfailed_tests(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_disabled.py").write_text(
        "import pytest\n\n\n@pytest.mark.xfail(reason='known bug')\ndef test_known_bug():\n    assert False\n",
        encoding="utf-8",
    )
    text = "\n".join(
        [
            "## Matrix",
            "| Fault | How | Promised outcome | Proved by |",
            "|---|---|---|---|",
            "| Throttling | x | retried, one job, one record | `tests/test_reliability_matrix.py::test_nope` |",
            "| Bad input | x | refused, nothing written at all | `tests/test_disabled.py::test_known_bug` |",
            "## Next",
        ]
    )
    found = matrix_rows(text)
    assert [row.fault for row in found] == ["Throttling", "Bad input"]
    assert "not a test function" in str(node_problem(*found[0].tests[0]))
    assert "xfail" in str(node_problem(*found[1].tests[0], root=tmp_path))


# ====================================================================== 2. faults only this file covers

TIME_SCALE = 0.002
PARAMETERS = {"PollIntervalSeconds": "5", "MaxPollIntervalSeconds": "30", "PollBudget": "6", "MaxStartAttempts": "2"}
DOCS = {"docs/guide.md": b"# Guide\n\nHow to sync.\n"}
#: Deadlines (real seconds) generous enough for a loaded 2-core machine; they bound waits, they are not sleeps.
ALERT_DEADLINE_S = 120.0
#: After the expected alerts arrived, how long (real s) a duplicate gets to show up before we count.
DUPLICATE_GRACE_S = 0.5


@dataclass
class Stack:
    rig: Any
    faults: Any


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The real template deployed on one local cloud for this module's scenarios (they run one after another)."""
    from kbsync_localcloud.bedrock import faults
    from kbsync_localcloud.cloud import LocalCloud
    from kbsync_localcloud.deploy import deploy_stack
    from kbsync_localcloud.workflow import AlertInbox, WorkflowRig

    with LocalCloud(time_scale=TIME_SCALE) as cloud:
        outputs = deploy_stack(REPO / "template.yaml", "kbsync", PARAMETERS)
        clients = {n: cloud.client(n) for n in ("stepfunctions", "dynamodb", "s3", "sns", "sqs", "bedrock-agent")}
        inbox = AlertInbox(clients["sns"], clients["sqs"], outputs["AlertsTopicArn"], name="kbsync-matrix-alerts")
        injected = faults()
        injected.reset()
        try:
            yield Stack(WorkflowRig(clients=clients, outputs=outputs, inbox=inbox, timeout=ALERT_DEADLINE_S), injected)
        finally:
            injected.reset()


def _run(stack: Stack) -> tuple[Any, dict[str, Any]]:
    source = stack.rig.new_source(DOCS)
    return source, stack.rig.wait(stack.rig.start(stack.rig.request(source)))


def _alerts(stack: Stack, source: Any, expected: int) -> list[dict[str, Any]]:
    """The data source's alerts once `expected` arrived (deadline), then once more to catch any duplicate."""
    from kbsync_localcloud.workflow import wait_until

    if expected:
        wait_until(
            lambda: len(stack.rig.inbox.alerts_for(source.knowledge_base_id)) >= expected,
            ALERT_DEADLINE_S,
            f"{expected} alert(s) for {source.knowledge_base_id}",
            interval=0.1,
        )
        time.sleep(DUPLICATE_GRACE_S)
    return stack.rig.inbox.alerts_for(source.knowledge_base_id)


@pytest.mark.e2e
@pytest.mark.parametrize("error", ["ServiceQuotaExceededException", "InternalServerException"])
def test_start_refused_for_quota_or_internal_error_is_retried_into_one_job(stack: Stack, error: str) -> None:
    stack.faults.fail_next_calls("StartIngestionJob", count=3, error=error)
    source, description = _run(stack)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert [job["status"] for job in stack.rig.jobs(source)] == ["COMPLETE"]
    assert [(r["status"], r["attempt"]) for r in stack.rig.records(source)] == [("COMPLETE", 1)]
    assert _alerts(stack, source, 0) == []


@pytest.mark.e2e
def test_poll_internal_errors_are_retried_by_the_lambda_task(stack: Stack) -> None:
    stack.faults.fail_next_calls("GetIngestionJob", count=2, error="InternalServerException")
    source, description = _run(stack)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert [r["status"] for r in stack.rig.records(source)] == ["COMPLETE"]


@pytest.mark.e2e
def test_a_poll_no_retry_can_cure_ends_in_exactly_one_poll_failed_alert_and_a_closed_record(stack: Stack) -> None:
    """GetJobStatus fails with an error no Retry covers (AccessDenied): the workflow's own Catch closes the record
    POLL_FAILED and alerts once, CRITICAL, with the error's name and message only (no stack trace); the catch-all sees
    the workflow's own error and stays quiet."""
    stack.faults.fail_next_calls("GetIngestionJob", count=1, error="AccessDeniedException")
    source, description = _run(stack)
    assert description["status"] == "FAILED"
    assert description.get("error") == "KbSync.PollFailed"
    (alert,) = _alerts(stack, source, 1)
    assert alert["attributes"]["alertType"] == "POLL_FAILED"
    assert alert["attributes"]["severity"] == "CRITICAL"
    assert "AccessDenied" in alert["message"]
    assert "Traceback" not in alert["message"] and 'File "' not in alert["message"]
    (record,) = stack.rig.records(source)  # the started job kept its record, closed
    assert record["ingestionJobId"] == stack.rig.jobs(source)[0]["ingestionJobId"]
    assert record["status"] == "POLL_FAILED"


@pytest.mark.e2e
def test_an_execution_killed_from_outside_alerts_once_and_keeps_its_record(stack: Stack) -> None:
    from kbsync_localcloud.workflow import wait_until

    stack.faults.hang_next_jobs(1)
    source = stack.rig.new_source(DOCS)
    arn = stack.rig.start(stack.rig.request(source))
    wait_until(  # killed while it polls its job: the record already names the job
        lambda: any(r.get("ingestionJobId") for r in stack.rig.records(source)), ALERT_DEADLINE_S, "the job's id"
    )
    stack.rig.clients["stepfunctions"].stop_execution(executionArn=arn, error="Operator", cause="killed by the test")
    try:
        assert stack.rig.wait(arn)["status"] == "ABORTED"
        (alert,) = _alerts(stack, source, 1)
        assert alert["attributes"]["alertType"] == "EXECUTION_DIED"
        (record,) = stack.rig.records(source)
        assert record["ingestionJobId"] in alert["message"]
    finally:
        for job in stack.rig.jobs(source):
            if job["status"] in ("STARTING", "IN_PROGRESS"):
                stack.rig.clients["bedrock-agent"].stop_ingestion_job(
                    knowledgeBaseId=source.knowledge_base_id,
                    dataSourceId=source.data_source_id,
                    ingestionJobId=job["ingestionJobId"],
                )
