"""Parse each state machine definition once, not once per execution.

moto 5.2.5 runs its ANTLR parser over the whole definition when a state machine is created (to validate it) and
again every time an execution starts (``ExecutionWorker._get_evaluation_entrypoint``). For kbsync's 700-line
ingestion-sync definition that is tens of milliseconds of CPU per start, which at the benchmark's time scale
(1 virtual second = 10 ms) delayed every child execution by many virtual seconds. Here the parse is cached by the
definition text (bounded), so creating the state machine also warms it for its executions. The parsed program is a
tree of components whose evaluation keeps its state in the execution's ``Environment`` (moto itself evaluates one
parsed ItemProcessor concurrently for every Map iteration), so executions can share it. Invalid definitions still
raise on every parse (exceptions are not cached). Nothing observable changes but speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, memoised_patch

#: sha256[:16] of the moto 5.2.5 sources this adapter replaces or relies on (scaled_time.source_fingerprint).
EXPECTED_SOURCES: dict[str, str] = {
    "AmazonStateLanguageParser.parse": "a59a7d18760fb22e",
    "ExecutionWorker._get_evaluation_entrypoint": "2b25949ae855da80",
}

#: Distinct definitions kept parsed; a test session creates a few hundred small state machines, a deployment three.
CACHE_SIZE = 512

_INSTALL_LOCK = threading.Lock()


def _worker_cls() -> Any:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    return ExecutionWorker


def _parser_cls() -> Any:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser


def _patched_targets() -> dict[str, Callable[..., Any]]:
    return {
        "AmazonStateLanguageParser.parse": _parser_cls().parse,
        "ExecutionWorker._get_evaluation_entrypoint": _worker_cls()._get_evaluation_entrypoint,
    }


def install() -> None:
    with _INSTALL_LOCK:
        parser = _parser_cls()
        if getattr(parser.parse, "__kbsync_original__", None) is None:
            parser.parse = staticmethod(memoised_patch(parser.parse, CACHE_SIZE))


def verify_moto_internals() -> None:
    check_fingerprints("asl_program_cache", _patched_targets(), EXPECTED_SOURCES)
    if "AmazonStateLanguageParser" not in _worker_cls()._get_evaluation_entrypoint.__code__.co_names:
        raise MotoInternalsChanged("asl_program_cache: moto's ExecutionWorker no longer parses with the cached parser")
