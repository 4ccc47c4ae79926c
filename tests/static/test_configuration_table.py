"""Every tunable is in the README's configuration tables, with the default the code or the template really uses:
each template parameter in "Deploy to AWS", each environment variable a function reads with a default in the
table below it (what a function reads without a default is a resource the template always sets)."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from tests.helpers.functions import load_module
from tests.helpers.sam import load_template

REPO = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(?P<names>[^|]+?)`(?: \((?P<fn>[a-z_]+(?:, [a-z_]+)*)\))? \| (?P<default>[^|]+?) \|", re.M)


def readme_rows() -> dict[str, str]:
    """First-column name(s) -> the Default column, for every table row of the README."""
    rows: dict[str, str] = {}
    for match in ROW.finditer((REPO / "README.md").read_text(encoding="utf-8")):
        names = [n.strip(" `") for n in match["names"].split(" / ")]
        defaults = [d.strip(" `") for d in match["default"].split(" / ")]
        for i, name in enumerate(names):
            rows[name] = defaults[i] if len(defaults) == len(names) else match["default"].strip()
    return rows


def readme_readers() -> dict[str, set[str]]:
    """Variable -> the functions its row names in parentheses (`JOB_SLOTS` (pacer, nightly_plan))."""
    return {
        match["names"].strip(" `"): set(match["fn"].split(", "))
        for match in ROW.finditer((REPO / "README.md").read_text(encoding="utf-8"))
        if match["fn"]
    }


def function_readers() -> dict[str, set[str]]:
    """NAME -> the functions (functions/<dir>) whose code reads it with a default."""
    readers: dict[str, set[str]] = {}
    for path in sorted((REPO / "functions").glob("*/*.py")):
        for name in _defaults_in(path):
            readers.setdefault(name, set()).add(path.parent.name)
    return readers


def function_defaults() -> dict[str, set[str]]:
    """NAME -> the defaults of every `os.environ.get("NAME", "default")` / `env.get("NAME", "default")` in functions/
    (every module of every function: handlers read their settings module once, at cold start)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "functions").glob("*/*.py")):
        for name, default in _defaults_in(path).items():
            found.setdefault(name, set()).add(default)
    return found


def _defaults_in(path: Path) -> dict[str, str]:
    """NAME -> default of every `.get("NAME", "default")` call and every settings field
    `field(default=X, metadata=env("NAME"))` (kbsync_handlers.read_settings) in one module."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and len(node.args) == 2
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
            and re.fullmatch(r"[A-Z][A-Z0-9_]+", str(node.args[0].value))  # type: ignore[attr-defined]
        ):
            found[str(node.args[0].value)] = str(node.args[1].value)  # type: ignore[attr-defined]
        setting = _settings_field(node)
        if setting is not None:
            found[setting[0]] = setting[1]
    return found


def _settings_field(node: ast.AST) -> tuple[str, str] | None:
    """(NAME, default as the environment spells it) of `field(default=X, metadata=env("NAME"))`, else None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "field"):
        return None
    keywords = {k.arg: k.value for k in node.keywords}
    default, metadata = keywords.get("default"), keywords.get("metadata")
    if not (
        isinstance(default, ast.Constant)
        and isinstance(metadata, ast.Call)
        and isinstance(metadata.func, ast.Name)
        and metadata.func.id == "env"
        and isinstance(metadata.args[0], ast.Constant)
    ):
        return None
    value = default.value
    shown = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return str(metadata.args[0].value), shown


def test_settings_fields_are_read_as_their_variables_with_their_defaults() -> None:
    """The scan sees the settings dataclasses (not only `.get` calls): a tunable moved into one is still checked."""
    found = _defaults_in(REPO / "functions" / "pacer" / "pacer_settings.py")
    assert {"JOB_SLOTS": "5", "START_SPACING_SECONDS": "10", "TARGETS_TABLE": ""}.items() <= found.items()
    nightly = _defaults_in(REPO / "functions" / "nightly_plan" / "nightly_plan_settings.py")
    assert nightly["BEDROCK_HISTORY_SECONDS"] == "10"


def test_every_template_parameter_is_in_the_readme_with_its_default() -> None:
    rows = readme_rows()
    parameters = load_template(REPO / "template.yaml")["Parameters"]
    missing = sorted(set(parameters) - set(rows))
    assert missing == [], f"README 'Deploy to AWS' lacks {missing}"
    for name, spec in parameters.items():
        default = str(spec.get("Default", ""))
        if default and default.isdigit():  # numbers must match exactly; text defaults are described in words
            assert rows[name].split()[0] == default, (name, rows[name], default)


def test_every_environment_tunable_of_the_functions_is_in_the_readme_with_its_default() -> None:
    rows = readme_rows()
    template_set = {
        variable
        for resource in load_template(REPO / "template.yaml")["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for variable in ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables", {})
    }
    tunables = {name: defaults for name, defaults in function_defaults().items() if name not in template_set}
    assert {"JOB_SLOTS", "LANE_TARGETS_PER_EXECUTION"} <= set(tunables)  # the scan sees them, in every module
    readers, documented = function_readers(), readme_readers()
    for name, defaults in tunables.items():
        assert len(defaults) == 1, f"{name} has a different default in different functions: {sorted(defaults)}"
        (default,) = defaults
        assert name in rows, f"README lacks the tunable {name} (default {default})"
        assert rows[name].split()[0] == default, (name, rows[name], default)
        assert documented.get(name) == readers[name], f"README names {documented.get(name)} for {name}: {readers[name]}"


@pytest.mark.parametrize("path", sorted((REPO / "functions").glob("*/*_settings.py")), ids=lambda p: p.parent.name)
def test_a_functions_settings_cannot_change_after_its_cold_start(path: Path) -> None:
    """Read once at cold start, then fixed: assigning a setting raises instead of changing it for later calls."""
    settings = load_module(path.parent.name, path.stem).Settings()
    name = dataclasses.fields(settings)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(settings, name, getattr(settings, name))
