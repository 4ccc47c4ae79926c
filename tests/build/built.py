"""What `sam build` produced (.aws-sam/build), and running one built function in a clean Lambda-like interpreter.

The clean interpreter is the Lambda runtime's Python (scripts/lambda-python.sh) started with -I -S: no
site-packages, no PYTHON* variables. Its sys.path holds only the function's built package, its layers' python/
directories in template order and the SDK the runtime provides (.lambda-runtime, requirements/lambda-runtime.txt).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbsync_localcloud.sam import load_template

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO / ".aws-sam" / "build"
BUILT_TEMPLATE = BUILD_DIR / "template.yaml"
RUNTIME_SDK = REPO / ".lambda-runtime"
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
MARKER = "KBSYNC-RESULT "
NOT_BUILT = "no fresh `sam build` output: run `make build` (make test does) before these tests"

#: Lambda's quota on a function's unzipped package, layers included
#: (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: What the runtime provides: shipping it again only costs size and pins a second SDK.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    code_dir: Path
    handler: str
    layers: tuple[str, ...]  # layer logical ids, in template order

    def layer_dirs(self) -> list[Path]:
        return [BUILD_DIR / layer / "python" for layer in self.layers]


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, Mapping) else None


def built_template() -> dict[str, Any]:
    if not BUILT_TEMPLATE.is_file() or not RUNTIME_SDK.is_dir():
        raise AssertionError(NOT_BUILT)
    return load_template(BUILT_TEMPLATE)


def built_functions() -> list[BuiltFunction]:
    template = built_template()
    globals_fn = template.get("Globals", {}).get("Function", {})
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **resource["Properties"]}
        layers = tuple(ref for ref in (_ref(layer) for layer in props.get("Layers", [])) if ref)
        found.append(BuiltFunction(logical_id, BUILD_DIR / props["CodeUri"], props["Handler"], layers))
    return found


def built_layers() -> dict[str, Path]:
    template = built_template()
    return {
        logical_id: BUILD_DIR / resource["Properties"]["ContentUri"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    }


def lambda_python() -> str:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "lambda-python.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_built(
    fn: BuiltFunction,
    env: Mapping[str, str],
    event: Any = None,
    *,
    invoke: bool = True,
    layer_dirs: Sequence[Path] | None = None,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Import (and invoke, with `event`) `fn` as built, in a clean interpreter; the bootstrap's reply."""
    request: dict[str, Any] = {
        "sys_path": [str(fn.code_dir), *(str(d) for d in (layer_dirs or fn.layer_dirs())), str(RUNTIME_SDK)],
        "handler": fn.handler,
        "env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **env},
        "function_name": fn.logical_id,
    }
    if invoke:
        request["event"] = event
    done = subprocess.run(
        [lambda_python(), "-I", "-S", "-B", str(BOOTSTRAP)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    replies = [line[len(MARKER) :] for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not replies:
        raise AssertionError(
            f"{fn.logical_id}: the clean runtime crashed (exit {done.returncode}): {done.stderr[-2000:]}"
        )
    reply: dict[str, Any] = json.loads(replies[-1])
    return reply


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
