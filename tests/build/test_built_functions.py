"""What `sam build` produced is what deploys: fresh, free of the runtime's SDK, importable and working in a clean
Lambda-like interpreter (only the package, its layers and the runtime's boto3: tests/build/built.py).

`make test` runs `make build` first; a missing or stale build fails here with the command to run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kbsync_localcloud.sam import load_template
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.build.built import (
    BUILD_DIR,
    MAX_UNZIPPED_BYTES,
    NOT_BUILT,
    REPO,
    RUNTIME_PROVIDED,
    RUNTIME_SDK,
    BuiltFunction,
    built_functions,
    built_layers,
    run_built,
    tree_bytes,
)

LAMBDA_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}


def import_failures(functions: list[BuiltFunction], **kwargs: Any) -> list[str]:
    """One line per function that the clean runtime cannot import: the function and the missing module."""
    failures = []
    for fn in functions:
        reply = run_built(fn, LAMBDA_ENV, invoke=False, **kwargs)
        if "errorType" in reply:
            failures.append(f"{fn.logical_id}: {reply['errorType']}: {reply['errorMessage']}")
    return failures


def test_the_build_is_fresh() -> None:
    """Every built handler and layer module is byte for byte the source: the tests run what deploys."""
    source = load_template(REPO / "template.yaml")
    stale = []
    for fn in built_functions():
        code_uri = source["Resources"][fn.logical_id]["Properties"]["CodeUri"]
        for src in (REPO / code_uri).glob("*.py"):
            built = fn.code_dir / src.name
            if not built.is_file() or built.read_bytes() != src.read_bytes():
                stale.append(str(built.relative_to(REPO)))
    contracts = BUILD_DIR / "ContractsLayer" / "python" / "kbsync_contracts.py"
    if contracts.read_bytes() != (REPO / "schemas" / "kbsync_contracts.py").read_bytes():
        stale.append(str(contracts.relative_to(REPO)))
    assert not stale, f"{NOT_BUILT}; stale: {stale}"


def test_every_function_is_built_with_both_layers() -> None:
    functions = built_functions()
    assert {fn.logical_id for fn in functions} == {
        logical_id
        for logical_id, resource in load_template(REPO / "template.yaml")["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    for fn in functions:
        assert fn.layers == ("ContractsLayer", "PowertoolsLayer"), fn.logical_id
        assert all(d.is_dir() for d in fn.layer_dirs()), fn.logical_id


def test_packages_ship_no_runtime_sdk_and_fit_lambdas_quota() -> None:
    """boto3/botocore come from the runtime; a function and its layers stay under 250 MB unzipped."""
    layers = built_layers()
    for path in [fn.code_dir for fn in built_functions()] + [p / "python" for p in layers.values()]:
        shipped = sorted(name for name in RUNTIME_PROVIDED if (path / name).exists())
        assert not shipped, f"{path.relative_to(REPO)} ships {shipped}: the Lambda runtime provides them"
    for fn in built_functions():
        total = tree_bytes(fn.code_dir) + sum(tree_bytes(d) for d in fn.layer_dirs())
        assert total < MAX_UNZIPPED_BYTES, f"{fn.logical_id}: {total} bytes unzipped with its layers"


def test_every_built_function_imports_in_a_clean_runtime() -> None:
    assert import_failures(built_functions()) == []


def test_a_dependency_missing_from_a_layer_is_named(tmp_path: Path) -> None:
    """The check above is not vacuous: drop one module of the Powertools layer's closure and it names it."""
    layer = tmp_path / "PowertoolsLayer" / "python"
    shutil.copytree(BUILD_DIR / "PowertoolsLayer" / "python", layer)
    for path in list(layer.glob("wrapt*")):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    sync_gate = next(fn for fn in built_functions() if fn.logical_id == "SyncGateFunction")
    failures = import_failures([sync_gate], layer_dirs=[BUILD_DIR / "ContractsLayer" / "python", layer])
    assert failures == [
        "SyncGateFunction: Runtime.ImportModuleError: Unable to import module 'app': No module named 'wrapt'"
    ]


#: The Lambda runtime's platform, for the environment markers of Requires-Dist (python3.12 on x86_64 Linux).
LAMBDA_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}


def unmet_requirements(dirs: list[Path]) -> list[str]:
    """Every distribution installed in `dirs` (a function's package and its layers) whose declared dependencies
    (Requires-Dist, markers evaluated for the Lambda runtime, no extras) are absent from `dirs` and the runtime's SDK.

    The import check above only sees the modules a handler imports at cold start; a dependency used later (an
    optional code path of Powertools, say) would fail only on that path, on AWS. This is `pip check` on what deploys.
    """
    from importlib.metadata import distributions

    search = [str(d) for d in (*dirs, RUNTIME_SDK)]
    present = {canonicalize_name(dist.metadata["Name"]) for dist in distributions(path=search)}
    unmet = []
    for directory in dirs:
        for dist in distributions(path=[str(directory)]):
            for line in dist.requires or []:
                requirement = Requirement(line)
                if requirement.marker is not None and not requirement.marker.evaluate(LAMBDA_MARKERS):
                    continue
                if canonicalize_name(requirement.name) not in present:
                    unmet.append(f"{directory.parent.name}: {dist.metadata['Name']} requires {requirement}")
    return sorted(set(unmet))


def test_every_declared_dependency_of_what_deploys_is_shipped() -> None:
    """Each function with its layers, and each layer alone (a layer is its own versioned artifact: a function
    attached to it alone must work too), holds the closure of what it ships."""
    missing = {fn.logical_id: unmet_requirements([fn.code_dir, *fn.layer_dirs()]) for fn in built_functions()}
    missing |= {layer: unmet_requirements([path / "python"]) for layer, path in built_layers().items()}
    assert {name: lines for name, lines in missing.items() if lines} == {}


def test_a_declared_dependency_missing_from_a_layer_is_named(tmp_path: Path) -> None:
    """typing-extensions is imported by no handler at cold start (the import check passes without it), yet
    aws-lambda-powertools declares it: dropping it from layers/powertools/requirements.txt must still fail."""
    layer = tmp_path / "PowertoolsLayer" / "python"
    shutil.copytree(BUILD_DIR / "PowertoolsLayer" / "python", layer)
    for path in list(layer.glob("typing_extensions*")):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    unmet = unmet_requirements([layer])
    assert unmet and all(line.startswith("PowertoolsLayer: ") for line in unmet)
    assert any("aws_lambda_powertools requires typing-extensions" in line for line in unmet), unmet


def test_the_clean_runtime_has_no_development_packages() -> None:
    """The interpreter the checks use sees none of .venv: moto (the local cloud) is not importable there."""
    fn = built_functions()[0]
    probe = fn.code_dir.parent / "_probe_build_check"
    probe.mkdir(exist_ok=True)
    try:
        (probe / "app.py").write_text("import moto\n\ndef lambda_handler(event, context):\n    return None\n")
        reply = run_built(BuiltFunction("Probe", probe, "app.lambda_handler", fn.layers), LAMBDA_ENV, invoke=False)
    finally:
        shutil.rmtree(probe)
    assert reply["errorType"] == "Runtime.ImportModuleError" and reply["module"] == "moto"


@pytest.mark.e2e
def test_built_functions_handle_the_events_the_stack_sends_them() -> None:
    """Each function's first real event from a deployed stack, replayed in the built package: same outcome."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.build.record_replay"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["unknownFunctions"] == []
    for logical_id, seen in report["functions"].items():
        assert seen["recorded"] is not None, f"{logical_id} never ran: the drive no longer reaches it"
        recorded, replayed = seen["recorded"], seen["replayed"]
        assert recorded["functionError"] is None, f"{logical_id} failed in the local cloud: {recorded['payload']}"
        assert "errorType" not in replayed, f"{logical_id} as built: {replayed}"
        assert set(replayed["result"]) == set(recorded["payload"]), logical_id
    functions = report["functions"]
    # Deterministic steps give the very same answer; the rest answer as a second delivery should.
    assert (
        functions["ValidateRequestFunction"]["replayed"]["result"]
        == functions["ValidateRequestFunction"]["recorded"]["payload"]
    )
    assert functions["SendAlertFunction"]["replayed"]["result"]["duplicate"] is True  # one alert per job
    assert functions["GetJobStatusFunction"]["replayed"]["result"]["status"] == "COMPLETE"
