"""Product code imports nothing from tests or from the local cloud, and the product's wheel holds neither.

What ships (the functions, the kbsync package, the shared core in schemas/) must run without the test tree or the
local cloud beside it. The local cloud is a package of its own (localcloud/pyproject.toml, ``kbsync_localcloud``): a
development dependency that imports the product, never the other way round; it reaches the CLI only through the
``kbsync.cli`` entry point. It imports nothing from tests either (the benchmark and the demo run it without them).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("functions", "kbsync")
LOCAL_CLOUD = REPO / "localcloud" / "kbsync_localcloud"
NOT_FOR_PRODUCT = ("tests", "kbsync_localcloud")
IMPORTERS = {"import_module", "__import__"}


def python_files(*directories: Path) -> list[Path]:
    return [
        path for directory in directories for path in sorted(directory.rglob("*.py")) if "__pycache__" not in path.parts
    ]


def product_files() -> list[Path]:
    return sorted((REPO / "schemas").glob("*.py")) + python_files(*(REPO / name for name in PRODUCT_DIRS))


def _is_one_of(module: str | None, packages: tuple[str, ...]) -> bool:
    return bool(module) and any(module == name or str(module).startswith(name + ".") for name in packages)


def imports_of(source: str, packages: tuple[str, ...] = NOT_FOR_PRODUCT) -> list[str]:
    """`import x...`, `from x... import`, and importlib.import_module / __import__ of a literal name, x in packages."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {alias.name}" for alias in node.names if _is_one_of(alias.name, packages)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_one_of(node.module, packages):
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            value = node.args[0].value
            if called in IMPORTERS and isinstance(value, str) and _is_one_of(value, packages):
                found.append(f"{node.lineno}: {called}({value!r})")
    return found


def test_the_scan_reads_the_product_and_the_local_cloud() -> None:
    names = {path.relative_to(REPO).as_posix() for path in product_files()}
    for expected in (
        "functions/sync_gate/app.py",
        "functions/nightly_plan/nightly_plan_logic.py",
        "schemas/kbsync_gate.py",
        "kbsync/cli/service.py",
        "kbsync/cli/app.py",
        "kbsync/targets.py",
        "schemas/kbsync_contracts.py",
    ):
        assert expected in names
    assert not any("localcloud" in name or "bench" in name or "demo" in name for name in names)
    local = {path.relative_to(LOCAL_CLOUD).as_posix() for path in python_files(LOCAL_CLOUD)}
    assert {"server.py", "cli.py", "demo.py", "bench/__main__.py", "bench/cost.py", "workflow.py"} <= local


def test_product_code_imports_nothing_from_tests_or_the_local_cloud() -> None:
    found = [
        f"{path.relative_to(REPO)}:{hit}" for path in product_files() for hit in imports_of(path.read_text("utf-8"))
    ]
    assert not found, "product code must not import the test tree or the local cloud:\n" + "\n".join(found)


def test_the_local_cloud_imports_nothing_from_tests() -> None:
    found = [
        f"{path.relative_to(REPO)}:{hit}"
        for path in python_files(LOCAL_CLOUD)
        for hit in imports_of(path.read_text("utf-8"), ("tests",))
    ]
    assert not found, "the local cloud (demo and benchmarks too) must not import the tests:\n" + "\n".join(found)


def test_the_product_wheel_holds_no_local_cloud(tmp_path: Path) -> None:
    """Build the root project's wheel (as `pip wheel .` does) from a copy that has localcloud/ beside kbsync/."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("kbsync", "schemas", "localcloud"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(tmp_path / "dist")],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("kbsync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    core = {path.name for path in (REPO / "schemas").glob("kbsync_*.py")}
    assert tops == {"kbsync", "kbsync-0.1.0.dist-info", *core}, sorted(tops)
    assert not [name for name in names if "localcloud" in name or "/bench/" in name or name.endswith("/demo.py")]
    assert "kbsync/cli/app.py" in names


def test_the_cli_finds_the_local_cloud_through_its_entry_point() -> None:
    from importlib import metadata

    (entry,) = [entry for entry in metadata.entry_points(group="kbsync.cli") if entry.name == "local"]
    assert entry.value == "kbsync_localcloud.cli:add_commands"
    assert "kbsync_localcloud" not in (REPO / "kbsync" / "cli" / "app.py").read_text("utf-8")


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("import tests.helpers.sam", True),
        ("from tests.helpers import functions", True),
        ("from tests import conftest", True),
        ("importlib.import_module('tests.helpers.sam')", True),
        ("__import__('tests')", True),
        ("import kbsync_localcloud", True),
        ("from kbsync_localcloud.server import run_server", True),
        ("importlib.import_module('kbsync_localcloud.scheduler')", True),
        ("from testsuite import x", False),
        ("from .tests import x", False),
        ("import kbsync_localcloudy", False),
        ("import kbsync.targets", False),
    ],
)
def test_what_counts_as_importing_tests_or_the_local_cloud(source: str, flagged: bool) -> None:
    assert bool(imports_of(source)) is flagged
