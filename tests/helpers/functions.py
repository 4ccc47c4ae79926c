"""Load a Lambda handler module of functions/<name>/app.py by file path, and its sibling modules by name.

Every function's handler module is called ``app``; importing them by name would make them shadow each other, so each
one is loaded under its own module name (``kbsync_fn_<name>``), the way the local cloud's in-process Lambda does. A
handler's sibling modules (``<name>_logic``, ``<name>_data``, ``<name>_settings``: named after their function, so no
two functions share one) are imported by name, as Lambda imports them from /var/task: the function's directory is put
on sys.path when its handler is loaded, and a test imports them with ``load_module``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


def _on_path(name: str) -> None:
    directory = str(FUNCTIONS_DIR / name)
    if directory not in sys.path:
        sys.path.append(directory)


def load_function(name: str) -> ModuleType:
    """The module of functions/<name>/app.py (loaded once per test session)."""
    module_name = f"kbsync_fn_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    _on_path(name)
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / name / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load functions/{name}/app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def load_module(function: str, module: str) -> ModuleType:
    """functions/<function>/<module>.py, the very module its handler imports (logic, data access, settings)."""
    if not (FUNCTIONS_DIR / function / f"{module}.py").is_file():
        raise ImportError(f"no functions/{function}/{module}.py")
    _on_path(function)
    return importlib.import_module(module)


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' Logger reads from the Lambda context object."""

    function_name: str = "kbsync-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:kbsync-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
