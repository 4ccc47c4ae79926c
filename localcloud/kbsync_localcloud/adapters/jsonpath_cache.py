"""Parse each JSONPath once: moto's interpreter builds a new JSONPath parser for every path it evaluates.

moto 5.2.5 calls ``jsonpath_ng.ext.parse`` in ``extract_json`` (InputPath, OutputPath, ``.$`` parameters,
Choice variables, intrinsic arguments) and ``jsonpath_ng.parse`` in ``ResultPath``, and each call constructs a
fresh ply parser (reading its LR tables) before parsing. In a busy night that was a fifth of the local cloud's
CPU. A state machine uses a few dozen distinct paths, so the parsed expressions are cached by their text
(bounded). A parsed expression is not changed by ``find`` or ``update_or_create``, so sharing one between
executions and threads changes no result. Only speed changes; AWS has nothing to be faithful to here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, memoised_patch

#: sha256[:16] of the moto 5.2.5 sources that call the module-level ``parse`` this adapter replaces.
EXPECTED_SOURCES: dict[str, str] = {}

#: Distinct paths kept per parser; kbsync's three state machines use well under a hundred.
CACHE_SIZE = 1024

_INSTALL_LOCK = threading.Lock()


def _json_path_module() -> Any:
    from moto.stepfunctions.parser.asl.utils import json_path

    return json_path


def _result_path_module() -> Any:
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    return result_path


def _modules() -> dict[str, Any]:
    """The moto modules whose global ``parse`` is replaced, by the name of the function that calls it."""
    return {"extract_json": _json_path_module(), "ResultPath._eval_body": _result_path_module()}


def _patched_targets() -> dict[str, Callable[..., Any]]:
    return {
        "extract_json": _json_path_module().extract_json,
        "ResultPath._eval_body": _result_path_module().ResultPath._eval_body,
    }


EXPECTED_SOURCES.update({"extract_json": "932245247973780c", "ResultPath._eval_body": "a6d93b4e5a332fad"})


def install() -> None:
    with _INSTALL_LOCK:
        for module in _modules().values():
            if getattr(module.parse, "__kbsync_original__", None) is None:
                module.parse = memoised_patch(module.parse, CACHE_SIZE)


def verify_moto_internals() -> None:
    check_fingerprints("jsonpath_cache", _patched_targets(), EXPECTED_SOURCES)
    for caller, module in _modules().items():
        parse = getattr(module, "parse", None)
        if parse is None:
            raise MotoInternalsChanged(f"jsonpath_cache: {module.__name__} (used by {caller}) has no global parse()")
        original = getattr(parse, "__kbsync_original__", parse)
        if not original.__module__.startswith("jsonpath_ng"):
            raise MotoInternalsChanged(f"jsonpath_cache: {module.__name__}.parse is not jsonpath_ng's parse")
