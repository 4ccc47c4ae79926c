"""DynamoDB operations one at a time, as the service answers them: moto's in-memory tables are plain dicts, not safe
across threads.

In the local cloud several threads call moto's DynamoDB backend at once: the test or CLI thread (decorator mode) or
the server's request threads (server mode), and the state machines' executions, whose tasks write job records, gates
and alert markers. A Query or Scan iterating a table while another thread puts a new item there fails with
``RuntimeError: dictionary changed size during iteration`` (a 500 to a client of the server); DynamoDB never does
that: each item operation is atomic and a Query sees a consistent page
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html). This adapter runs
every item operation of moto's backend under one re-entrant lock, process-wide.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged

#: The backend's item operations (read and write) that iterate or change a table's items.
OPERATIONS = (
    "query",
    "scan",
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
    "execute_statement",
)
_LOCK = threading.RLock()
_MARK = "__kbsync_serial__"


def _serial(method: Any) -> Any:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    setattr(run, _MARK, True)
    return run


def _backend_cls() -> Any:
    from moto.dynamodb.models import DynamoDBBackend

    return DynamoDBBackend


def install() -> None:
    backend = _backend_cls()
    for name in OPERATIONS:
        method = getattr(backend, name, None)
        if method is not None and not getattr(method, _MARK, False):
            setattr(backend, name, _serial(method))


def verify_moto_internals() -> None:
    backend = _backend_cls()
    needed = ("query", "scan", "put_item", "update_item", "delete_item")
    missing = [name for name in needed if not hasattr(backend, name)]
    if missing:
        raise MotoInternalsChanged(f"moto DynamoDBBackend no longer has {missing}")
