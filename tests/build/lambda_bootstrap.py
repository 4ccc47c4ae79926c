"""Runs ONE Lambda handler the way the Lambda Python runtime does, in a clean interpreter (python -I -S).

Started by tests/build/built.py as ``python3.12 -I -S lambda_bootstrap.py`` (no site-packages, no PYTHON* variables,
not even this file's directory on sys.path). It reads one JSON request on stdin:

    {"sys_path": [...], "handler": "app.lambda_handler", "env": {...}, "event": ..., "function_name": "..."}

puts ``sys_path`` in front of the standard library (the function's package = /var/task, each layer's python/ =
/opt/python, the runtime's SDK = /var/runtime: https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html),
replaces the environment with ``env``, imports the handler module by name as the runtime does, invokes it (when
``event`` is present) and prints one line, ``KBSYNC-RESULT <json>``, after whatever the handler logs:
{"result": ...} or {"errorType": ..., "errorMessage": ...}. An import failure is reported as the runtime
reports it: ``Runtime.ImportModuleError``, naming the missing module.
"""

import importlib
import json
import os
import sys
import uuid

MARKER = "KBSYNC-RESULT "


def reply(payload: dict) -> None:
    print(MARKER + json.dumps(payload, default=str), flush=True)


class Context:
    """The attributes of the runtime's context object that handlers and Powertools read."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def main() -> int:
    request = json.loads(sys.stdin.read())
    sys.path[0:0] = request["sys_path"]
    os.environ.clear()
    os.environ.update(request["env"])
    module_name, _, function_name = request["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
    except ImportError as exc:  # ModuleNotFoundError included
        missing = getattr(exc, "name", None) or str(exc)
        message = f"Unable to import module '{module_name}': No module named '{missing}'"
        reply({"errorType": "Runtime.ImportModuleError", "errorMessage": message, "module": missing})
        return 0
    if "event" not in request:
        reply({"result": "imported"})
        return 0
    try:
        result = handler(request["event"], Context(request["function_name"]))
    except Exception as exc:  # reported as the runtime reports an unhandled error
        reply({"errorType": type(exc).__name__, "errorMessage": str(exc)})
        return 0
    reply({"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
