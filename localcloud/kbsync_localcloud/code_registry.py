"""Where a Lambda function's code really lives on this machine.

The deployer uploads each function's code zip to the local S3 and tells this registry which source
directory the zip was built from. At invoke time the in-process Lambda adapter looks up the function's
``Code.S3Bucket``/``Code.S3Key`` here and loads the handler from that directory, so tracebacks point at
the repo's own files. Unregistered code (e.g. a zip passed as ``ZipFile``) is extracted to a temp dir instead.

    register_code("kbsync-local-artifacts", "functions/router.zip", Path("functions/router"))
"""

from __future__ import annotations

import threading
from pathlib import Path

_LOCK = threading.Lock()
_REGISTRY: dict[tuple[str, str], Path] = {}


def register_code(bucket: str, key: str, source_dir: str | Path) -> None:
    """Declare that s3://bucket/key is the zip of `source_dir` (a directory holding the handler module)."""
    path = Path(source_dir).resolve()
    if not path.is_dir():
        raise ValueError(f"register_code: {path} is not a directory")
    with _LOCK:
        _REGISTRY[(bucket, key)] = path


def source_dir_for(bucket: str | None, key: str | None) -> Path | None:
    """The registered source dir of s3://bucket/key, or None if nobody registered it."""
    if not bucket or not key:
        return None
    with _LOCK:
        return _REGISTRY.get((bucket, key))


def unregister_code(bucket: str, key: str) -> None:
    with _LOCK:
        _REGISTRY.pop((bucket, key), None)


def clear() -> None:
    """Forget every registration (tests)."""
    with _LOCK:
        _REGISTRY.clear()
