"""The JSON log lines a function's Powertools logger writes, read back in a test.

Powertools' Logger writes to the stream it was given when the module was loaded, so pytest's capsys cannot see it; a
second handler with the logger's own formatter (where the level, the message and the `extra` keys are laid out)
writes the same lines into a buffer the test reads.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


@contextmanager
def log_lines(module: ModuleType) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Within the block, a function that returns every line `module.logger` wrote so far, as JSON objects."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(module.logger.registered_formatter)
    module.logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        module.logger.removeHandler(handler)
