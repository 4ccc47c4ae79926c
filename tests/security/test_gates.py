"""The static gates' own machinery (scripts/gates.sh + gates/prepare.py): the skips file and how skips apply.

The gates themselves run in `make test` (scripts/gates.sh). These tests prove the skip mechanism skips exactly
what it names, refuses skips without reasons, and that cfn-lint on the deployed form has teeth.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.security import properties as p

REPO = Path(__file__).resolve().parents[2]
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def _load_prepare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kbsync_gates_prepare", REPO / "gates" / "prepare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


prepare = _load_prepare()


def test_skips_file_is_valid_and_every_skip_names_an_existing_resource() -> None:
    skips = prepare.load_skips(REPO / "gates" / "skips.yaml")
    forms = {"deployed": p.deployed(), "source": prepare_source()}
    prepare.apply_skips(forms, skips)  # raises on a stale skip


def prepare_source() -> dict[str, Any]:
    from kbsync_localcloud.sam import load_template

    return load_template(p.TEMPLATE)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "skips.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "entry",
    [
        "{tool: cfn-lint, check: W1, resource: X}",
        "{tool: cfn-lint, check: W1, reason: short}",
        "{tool: bandit, check: B1, reason: a reason that is long enough to read}",
        "{tool: checkov, reason: a reason that is long enough to read}",
        "{tool: checkov, check: C1, reason: a reason that is long enough to read, until: never}",
        "{tool: checkov, check: C1, reason: a reason that is long enough to read, resources: []}",
        "{tool: checkov, check: C1, reason: a reason that is long enough to read, resource: A, resources: [B]}",
    ],
)
def test_skip_without_reason_tool_or_check_is_refused(tmp_path: Path, entry: str) -> None:
    with pytest.raises(prepare.SkipsError):
        prepare.load_skips(_write(tmp_path, f"skips:\n  - {entry}\n"))


def test_stale_skip_is_refused() -> None:
    skip = prepare.Skip("checkov", "CKV_AWS_1", "a reason that is long enough", ("NoSuchResource",))
    with pytest.raises(prepare.SkipsError, match="stale"):
        prepare.apply_skips({"deployed": {"Resources": {"A": {"Type": "T"}}}}, [skip])


def test_skip_listing_resources_applies_to_each(tmp_path: Path) -> None:
    (skip,) = prepare.load_skips(
        _write(
            tmp_path,
            "skips:\n  - {tool: checkov, check: C1, reason: a reason long enough to read, resources: [A, B]}\n",
        )
    )
    forms: dict[str, dict[str, Any]] = {"deployed": {"Resources": {"A": {"Type": "T"}, "B": {"Type": "T"}}}}
    assert prepare.apply_skips(forms, [skip]) == {"cfn-lint": [], "checkov": []}
    assert all("checkov" in r["Metadata"] for r in forms["deployed"]["Resources"].values())


def test_resource_skip_becomes_that_resource_metadata_and_global_skip_an_argument() -> None:
    forms: dict[str, dict[str, Any]] = {"deployed": {"Resources": {"A": {"Type": "T"}, "B": {"Type": "T"}}}}
    skips = [
        prepare.Skip("cfn-lint", "WS5000", "a reason that is long enough", ("A",)),
        prepare.Skip("checkov", "CKV_AWS_1", "a reason that is long enough", ("A",)),
        prepare.Skip("checkov", "CKV_AWS_2", "a reason that is long enough"),
    ]
    arguments = prepare.apply_skips(forms, skips)
    assert forms["deployed"]["Resources"]["A"]["Metadata"] == {
        "cfn-lint": {"config": {"ignore_checks": ["WS5000"]}},
        "checkov": {"skip": [{"id": "CKV_AWS_1", "comment": "a reason that is long enough"}]},
    }
    assert "Metadata" not in forms["deployed"]["Resources"]["B"]
    assert arguments == {"cfn-lint": [], "checkov": ["--skip-check", "CKV_AWS_2"]}


def _cfn_lint(tmp_path: Path, template: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "deployed.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return subprocess.run(
        [str(CFN_LINT), "-a", "cfn_lint_serverless.rules", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cfn_lint_on_deployed_form_catches_a_broken_state_machine_and_honours_a_named_skip(tmp_path: Path) -> None:
    template = p.deployed()
    machine_id, machine = next(iter(p.resources(template, "AWS::StepFunctions::StateMachine").items()))
    machine["Properties"].pop("TracingConfiguration", None)
    broken = _cfn_lint(tmp_path, template)
    assert broken.returncode != 0
    assert f"WS5000 Step Functions state machine {machine_id}" in broken.stdout
    prepare.apply_skips({"deployed": template}, [prepare.Skip("cfn-lint", "WS5000", "x" * 20, (machine_id,))])
    skipped = _cfn_lint(tmp_path, template)
    assert "WS5000" not in skipped.stdout


def test_each_state_machine_is_scanned_as_its_whole_asl_and_cfn_lint_still_reads_inside_it(tmp_path: Path) -> None:
    """The inlined definitions are folded to one string (cfn-lint overflows its stack resolving a ~1,000-item
    Fn::Join): the string is exactly the ASL file, and a broken state type inside it is still an E3601 finding."""
    template = prepare.fold_literal_joins(p.deployed())
    machines = p.resources(template, "AWS::StepFunctions::StateMachine")
    files = {json.loads(f.read_text(encoding="utf-8"))["Comment"]: f for f in REPO.glob("statemachines/*.json")}
    assert len(machines) == len(files) == 3
    for machine in machines.values():
        definition = json.loads(machine["Properties"]["DefinitionString"])
        assert definition == json.loads(files[definition["Comment"]].read_text(encoding="utf-8"))
    kept = {"Fn::Join": ["", ["a", {"Ref": "AWS::Region"}]]}  # not literal: left as it is
    assert prepare.fold_literal_joins({"Resources": {"M": {"Properties": {"DefinitionString": kept}}}}) == {
        "Resources": {"M": {"Properties": {"DefinitionString": kept}}}
    }
    machine = next(iter(machines.values()))
    machine["Properties"]["DefinitionString"] = machine["Properties"]["DefinitionString"].replace(
        '"Type": "Pass"', '"Type": "Passs"', 1
    )
    assert "E3601 'Passs' is not one of" in _cfn_lint(tmp_path, template).stdout
