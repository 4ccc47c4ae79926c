"""Product code imports nothing from tests: what ships (the functions, the kbsync package, the contracts) must run
without the test tree beside it.

Not scanned: the local cloud (``kbsync/localcloud``, a development tool run by tests and `kbsync local up`) and the
benchmark (``kbsync/bench``, run only by `make bench` from a checkout; it loads ``tests.helpers.cost``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("functions", "kbsync")
NOT_PRODUCT = ("kbsync/localcloud", "kbsync/bench")
IMPORTERS = {"import_module", "__import__"}


def product_files() -> list[Path]:
    found = sorted((REPO / "schemas").glob("*.py"))
    for directory in PRODUCT_DIRS:
        for path in sorted((REPO / directory).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if "__pycache__" not in relative and not relative.startswith(NOT_PRODUCT):
                found.append(path)
    return found


def _is_tests(module: str | None) -> bool:
    return bool(module) and (module == "tests" or str(module).startswith("tests."))


def imports_of_tests(source: str) -> list[str]:
    """`import tests...`, `from tests... import`, and importlib.import_module / __import__ of a literal tests name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {alias.name}" for alias in node.names if _is_tests(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_tests(node.module):
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in IMPORTERS and isinstance(node.args[0].value, str) and _is_tests(node.args[0].value):
                found.append(f"{node.lineno}: {called}({node.args[0].value!r})")
    return found


def test_the_scan_reads_the_product() -> None:
    names = {path.relative_to(REPO).as_posix() for path in product_files()}
    for expected in (
        "functions/targets/app.py",
        "kbsync/cli/service.py",
        "kbsync/targets.py",
        "schemas/kbsync_contracts.py",
    ):
        assert expected in names
    assert not any(name.startswith(NOT_PRODUCT) for name in names)


def test_product_code_imports_nothing_from_tests() -> None:
    found = [
        f"{path.relative_to(REPO)}:{hit}"
        for path in product_files()
        for hit in imports_of_tests(path.read_text(encoding="utf-8"))
    ]
    assert not found, "product code must not import the test tree:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import tests.helpers.cost", True),
        ("from tests.helpers import workflow", True),
        ("from tests import conftest", True),
        ("importlib.import_module('tests.helpers.cost')", True),
        ("__import__('tests')", True),
        ("from testsuite import x", False),
        ("from .tests import x", False),
        ("import kbsync.targets", False),
    ],
)
def test_what_counts_as_importing_tests(source: str, flagged: bool) -> None:
    assert bool(imports_of_tests(source)) is flagged
