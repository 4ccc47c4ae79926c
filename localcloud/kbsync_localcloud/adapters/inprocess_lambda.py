"""Lambda invocations run the repo's own handler, in this process.

moto 5.2.5 with ``{"lambda": {"use_docker": false}}`` answers every Invoke by echoing the input. This adapter
replaces that with a real call of the function's handler, for the Invoke API and for Step Functions'
``arn:aws:states:::lambda:invoke`` / plain function ARN tasks (both reach moto through ``lambda.invoke``):

- code: the function's ``Code.S3Bucket``/``S3Key`` -> the source dir the deployer registered in
  ``code_registry``; otherwise the function's zip is extracted to a temp dir. The handler file is loaded by
  path under a unique module name (every function has ``app.py``: ``import app`` would mix them up) and cached.
- environment: the function's ``Environment.Variables`` plus the variables the Lambda runtime sets
  (AWS_LAMBDA_FUNCTION_NAME... read by Powertools) are applied for the call and restored afterwards.
  ``os.environ`` is process-wide and executions run on threads, so invocations are serialized by a lock.
  In server mode ``AWS_ENDPOINT_URL`` points the handler's boto3 at the moto server.
- errors: an exception becomes what AWS returns, ``X-Amz-Function-Error: Unhandled`` with the payload
  ``{"errorMessage", "errorType", "requestId", "stackTrace"}``, so Step Functions' Retry/Catch match the
  exception's class name (``ValueError``, a custom exception) as on AWS.

- asynchronous invocations (``InvocationType=Event``: the Invoke API, EventBridge targets) follow the function's
  event invoke configuration (``AWS::Lambda::EventInvokeConfig``, cfn_resources.py; Lambda's defaults without one):
  the first attempt runs at once; after a function error Lambda's retries (``MaximumRetryAttempts``, default 2,
  1 and 2 virtual minutes apart on the scaled clock, bounded by ``MaximumEventAgeInSeconds``) run on a background
  thread; then the invocation record (``version``, ``timestamp``, ``requestContext`` with ``condition`` and
  ``approximateInvokeCount``, ``requestPayload``, ``responseContext``, ``responsePayload`` — the shape of AWS's
  "Capturing records of Lambda asynchronous invocations") goes to the ``OnFailure`` (or, on success, ``OnSuccess``)
  destination: an SQS queue, an SNS topic or another function;
- warnings a handler raises (e.g. Powertools Metrics' "No application metrics to publish") are part of the
  function's log (the invocation's log tail), as on Lambda, never the local cloud's own stderr.
- what a handler prints still goes to this process's stdout, and its embedded-metric-format lines become CloudWatch
  metrics (adapters/emf_metrics.py), as CloudWatch Logs extracts them from the function's log.

Not emulated: the function Timeout (handlers are not interrupted), concurrency limits.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kbsync_localcloud import code_registry
from kbsync_localcloud.adapters import MotoInternalsChanged, emf_metrics
from kbsync_localcloud.adapters.scaled_time import check_fingerprints, mark_patch
from kbsync_localcloud.clock import CLOCK

_INSTALL_LOCK = threading.Lock()
_ENVIRON_LOCK = threading.Lock()
_installed = False

#: One invocation at a time: os.environ is process-wide. Re-entrant so a handler may invoke another function.
INVOKE_LOCK = threading.RLock()

EXPECTED_SOURCES: dict[str, str] = {
    "LambdaSimpleBackend.invoke": "1b029265c71d5ae0",
    "lambda_eval_utils.exec_lambda_function": "26ae15132de11b87",
    "lambda_eval_utils._invoke_lambda_function": "0ebcddb746e422b0",
}

_MODULES: dict[tuple[str, str, float], ModuleType] = {}
_EXTRACTED: dict[str, Path] = {}
_CACHE_LOCK = threading.Lock()


# --------------------------------------------------------------------------- code


def _extract_zip(code_bytes: bytes, digest: str) -> Path:
    """Extract a function zip once per content digest (fallback when the deployer did not register it)."""
    with _CACHE_LOCK:
        target = _EXTRACTED.get(digest)
        if target is None:
            target = Path(tempfile.mkdtemp(prefix=f"kbsync-lambda-{digest[:12]}-"))
            with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
                archive.extractall(target)
            _EXTRACTED[digest] = target
    return target


def source_dir_of(fn: Any) -> Path:
    """Where the code of moto's LambdaFunction `fn` is: the registered source dir, else its extracted zip."""
    code = getattr(fn, "code", {}) or {}
    registered = code_registry.source_dir_for(code.get("S3Bucket"), code.get("S3Key"))
    if registered is not None:
        return registered
    code_bytes: bytes = getattr(fn, "code_bytes", b"") or b""
    if not code_bytes:
        raise RuntimeError(
            f"Lambda {fn.function_name}: no code (S3 object missing and s3://{code.get('S3Bucket')}/"
            f"{code.get('S3Key')} not registered with code_registry.register_code)"
        )
    return _extract_zip(code_bytes, hashlib.sha256(code_bytes).hexdigest())


def layer_dirs_of(fn: Any) -> list[Path]:
    """The registered source dirs of `fn`'s layers, in order (Lambda puts each layer's python/ on sys.path).

    A layer that is not registered (not deployed from this repo) contributes nothing: its zip is not unpacked.
    """
    from moto.awslambda.models import get_backend  # the simple (no Docker) backend under our config

    backend = get_backend(fn.account_id, fn.region)
    dirs: list[Path] = []
    for layer in getattr(fn, "layers", None) or []:
        version = backend.layers_versions_by_arn(layer["Arn"])
        content = getattr(version, "content", None) or {}
        found = code_registry.source_dir_for(content.get("S3Bucket"), content.get("S3Key"))
        if found is not None:
            dirs.append(found)
    return dirs


def _split_handler(handler: str) -> tuple[str, str]:
    """'app.lambda_handler' -> ('app.py', 'lambda_handler'); 'pkg/mod.fn' and 'pkg.mod.fn' -> 'pkg/mod.py'."""
    module_part, _, func_name = handler.rpartition(".")
    if not module_part or not func_name:
        raise ValueError(f"Bad handler {handler!r}: expected 'module.function'")
    return module_part.replace(".", "/") + ".py", func_name


def load_handler(
    source_dir: Path, handler: str, instance: str = "", layer_dirs: Sequence[Path] = ()
) -> Callable[..., Any]:
    """Load `<source_dir>/<module>.py` by file path under a unique module name; cached until the file changes.

    `instance` (the function ARN) gives each function its own module, as each Lambda function has its own
    runtime: module-level state (Powertools Logger's service name, clients) is initialised under that
    function's environment even when two functions share one code directory.
    """
    rel_file, func_name = _split_handler(handler)
    path = (source_dir / rel_file).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"Lambda handler file {path} not found (handler {handler!r})")
    cache_key = (instance, str(path), path.stat().st_mtime)
    with _CACHE_LOCK:
        module = _MODULES.get(cache_key)
    if module is None:
        module = _load_module_by_path(path, source_dir, instance, layer_dirs)
        with _CACHE_LOCK:
            _MODULES[cache_key] = module
    func = getattr(module, func_name, None)
    if not callable(func):
        raise AttributeError(f"Lambda handler {handler!r}: {path} has no function {func_name!r}")
    return func


def _load_module_by_path(path: Path, source_dir: Path, instance: str, layer_dirs: Sequence[Path] = ()) -> ModuleType:
    digest = hashlib.sha1(f"{instance}|{path}".encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"kbsync_lambda_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Sibling modules of the handler first (/var/task), then the layers (/opt/python), as Lambda orders them.
    added = [str(source_dir), *(str(d) for d in layer_dirs)]
    sys.path[0:0] = added
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        for entry in added:
            sys.path.remove(entry)
    return module


# --------------------------------------------------------------------------- context and environment


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_ms: int
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


def _server_endpoint() -> str | None:
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port

    return None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"


def runtime_environment(fn: Any, context: LambdaContext) -> dict[str, str]:
    """The function's own variables plus those the Lambda runtime sets (reserved names: the runtime's win)."""
    env = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
    env |= {
        # Lambda gives every function its execution role's credentials; here moto's fake ones
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_SESSION_TOKEN": os.environ.get("AWS_SESSION_TOKEN", "testing"),
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": context.function_version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(context.memory_limit_in_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time or 'python3.12'}",
        "_HANDLER": fn.handler or "",
        "LAMBDA_TASK_ROOT": "/var/task",
    }
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here; a function may still override it
    endpoint = _server_endpoint()
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


class ThreadLocalEnviron(type(os.environ)):  # type: ignore[misc]
    """``os.environ`` with a per-thread overlay: a handler's environment is visible to its own thread only.

    Executions run on daemon threads while the caller (a test, the demo, another execution) keeps creating boto3
    clients, which iterate os.environ. Mutating the real os.environ per invocation made those iterations fail
    (``KeyError`` for a variable removed mid-iteration); the overlay never mutates shared state. Everything
    Python-level (``os.environ[...]``, ``os.getenv``, boto3, Powertools) sees the overlay on the invoking thread.
    """

    def __init__(self, base: Any) -> None:
        super().__init__(base._data, base.encodekey, base.decodekey, base.encodevalue, base.decodevalue)
        self._local = threading.local()

    def overlay(self) -> dict[str, str] | None:
        found: dict[str, str] | None = getattr(self._local, "overlay", None)
        return found

    def set_overlay(self, overlay: dict[str, str] | None) -> None:
        self._local.overlay = overlay

    def __getitem__(self, key: str) -> str:
        overlay = self.overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        value: str = super().__getitem__(key)
        return value

    def __iter__(self) -> Iterator[str]:
        overlay = self.overlay()
        base = list(super().__iter__())
        if overlay is None:
            yield from base
            return
        yield from (key for key in base if key not in overlay)
        yield from overlay

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        overlay = self.overlay()
        return (overlay is not None and key in overlay) or super().__contains__(key)

    def copy(self) -> dict[str, str]:
        return dict(self)


def _thread_local_environ() -> ThreadLocalEnviron:
    """Install the overlay-capable os.environ once (sharing the real one's data, so nothing is lost)."""
    with _ENVIRON_LOCK:
        if not isinstance(os.environ, ThreadLocalEnviron):
            os.environ = ThreadLocalEnviron(os.environ)  # noqa: B003 - same data, only adds the overlay
        return os.environ


@contextmanager
def applied_environment(variables: dict[str, str]) -> Iterator[None]:
    """Make `variables` the environment of the calling thread for the block (on top of the process's).

    Other threads keep seeing the process environment; nested blocks (a handler invoking another function) stack.
    """
    environ = _thread_local_environ()
    previous = environ.overlay()
    environ.set_overlay({**(previous or {}), **variables})
    try:
        yield
    finally:
        environ.set_overlay(previous)


# --------------------------------------------------------------------------- invocation


@dataclass
class InvocationResult:
    payload: bytes
    function_error: str | None
    log_tail: str
    request_id: str = ""


# --------------------------------------------------------------------------- the function's own log


_INVOCATION = threading.local()
_original_showwarning: Callable[..., Any] | None = None


def _showwarning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """warnings.showwarning: inside a handler, the warning goes to that invocation's log (Lambda sends the runtime's
    stderr to the function's log stream); elsewhere, to wherever it went before."""
    log: list[str] | None = getattr(_INVOCATION, "log", None)
    if log is not None and file is None:
        log.append(warnings.formatwarning(message, category, filename, lineno, line))
        return
    original = _original_showwarning or warnings._showwarning_orig  # type: ignore[attr-defined]
    original(message, category, filename, lineno, file, line)


@contextmanager
def _function_log() -> Iterator[list[str]]:
    previous = getattr(_INVOCATION, "log", None)
    lines: list[str] = []
    _INVOCATION.log = lines
    try:
        yield lines
    finally:
        _INVOCATION.log = previous


def error_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    """The payload AWS's Python runtime returns for an unhandled exception."""
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames[1:] if len(frames) > 1 else frames),
    }


def _make_context(fn: Any, request_id: str) -> LambdaContext:
    return LambdaContext(
        function_name=fn.function_name,
        function_version=str(fn.version),
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size),
        aws_request_id=request_id,
        log_group_name=f"/aws/lambda/{fn.function_name}",
        log_stream_name=f"{time.strftime('%Y/%m/%d')}/[{fn.version}]{uuid.uuid4().hex}",
        timeout_ms=int(fn.timeout) * 1000,
    )


def invoke_function(fn: Any, event: Any) -> InvocationResult:
    """Run moto LambdaFunction `fn`'s handler on `event` under its environment; never raises for handler errors."""
    request_id = str(uuid.uuid4())
    context = _make_context(fn, request_id)
    started = time.monotonic()
    function_error: str | None = None
    environment = applied_environment(runtime_environment(fn, context))
    # emf_metrics.collected: what the handler prints also feeds CloudWatch, as CloudWatch Logs extracts EMF lines.
    with INVOKE_LOCK, environment, _function_log() as log, emf_metrics.collected(fn):
        try:
            handler = load_handler(source_dir_of(fn), fn.handler, fn.function_arn, layer_dirs_of(fn))
            result = handler(event, context)
        except Exception as exc:
            payload = json.dumps(error_payload(exc, request_id)).encode()
            return _finish(fn, request_id, started, payload, "Unhandled", log)
    try:
        payload = json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        marshal = {"errorMessage": f"Unable to marshal response: {exc}", "errorType": "Runtime.MarshalError"}
        payload, function_error = json.dumps({**marshal, "requestId": request_id}).encode(), "Unhandled"
    return _finish(fn, request_id, started, payload, function_error, log)


def _finish(
    fn: Any,
    request_id: str,
    started: float,
    payload: bytes,
    function_error: str | None,
    log: Sequence[str] = (),
) -> InvocationResult:
    duration_ms = (time.monotonic() - started) * 1000
    log_tail = (
        f"START RequestId: {request_id} Version: {fn.version}\n" + "".join(log) + f"END RequestId: {request_id}\n"
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Memory Size: {fn.memory_size} MB\n"
    )
    return InvocationResult(payload=payload, function_error=function_error, log_tail=log_tail, request_id=request_id)


# --------------------------------------------------------------------------- asynchronous invocation

#: Lambda's delays before the first and the second retry of a failed asynchronous invocation (virtual seconds).
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
DEFAULT_MAXIMUM_EVENT_AGE_S = 21600


def event_invoke_config(fn: Any) -> dict[str, Any]:
    """The function's PutFunctionEventInvokeConfig (empty: Lambda's defaults)."""
    configs = getattr(fn, "event_invoke_config", None) or []
    return dict(configs[0].config) if configs else {}


def invocation_record(fn: Any, event: Any, result: InvocationResult, condition: str, attempts: int) -> dict[str, Any]:
    """The record Lambda sends to an asynchronous invocation's destination."""
    try:
        response: Any = json.loads(result.payload) if result.payload else None
    except ValueError:
        response = result.payload.decode("utf-8", "replace")
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if result.function_error:
        response_context["functionError"] = result.function_error
    return {
        "version": "1.0",
        "timestamp": CLOCK.utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": result.request_id,
            "functionArn": f"{fn.function_arn}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": response_context,
        "responsePayload": response,
    }


def send_to_destination(destination: str, record: Mapping[str, Any]) -> None:
    """Deliver an invocation record to an SQS queue, an SNS topic or a Lambda function (by ARN)."""
    parts = destination.split(":")
    service, region, account = parts[2], parts[3], parts[4]
    body = json.dumps(record)
    if service == "sqs":
        from moto.sqs.models import sqs_backends

        sqs_backends[account][region].send_message(parts[5], body)
    elif service == "sns":
        from moto.sns.models import sns_backends

        sns_backends[account][region].publish(body, arn=destination)
    elif service == "lambda":
        from moto.awslambda.utils import get_backend

        get_backend(account, region).invoke(destination, None, body.encode(), {"X-Amz-Invocation-Type": "Event"}, {})
    else:
        raise ValueError(f"unsupported destination {destination}")


def _deliver_record(fn: Any, event: Any, result: InvocationResult, condition: str, attempts: int) -> None:
    outcome = "OnSuccess" if condition == "Success" else "OnFailure"
    destination = ((event_invoke_config(fn).get("DestinationConfig") or {}).get(outcome) or {}).get("Destination")
    if not destination:
        return  # Lambda discards the event (or it went to a dead-letter queue, not modelled)
    try:
        send_to_destination(str(destination), invocation_record(fn, event, result, condition, attempts))
    except Exception as error:  # Lambda counts a DestinationDeliveryFailures metric; nothing reaches the caller
        logging.getLogger(__name__).debug("invocation record for %s not delivered: %s", fn.function_name, error)


def _retry_async(fn: Any, event: Any, first: InvocationResult) -> None:
    config = event_invoke_config(fn)
    retries = int(config.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS))
    max_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_S))
    result, attempts, age = first, 1, 0.0
    for delay in ASYNC_RETRY_DELAYS_S[:retries]:
        if age + delay > max_age:
            _deliver_record(fn, event, result, "EventAgeExceeded", attempts)
            return
        CLOCK.sleep(delay)
        age += delay
        result, attempts = invoke_function(fn, event), attempts + 1
        if not result.function_error:
            _deliver_record(fn, event, result, "Success", attempts)
            return
    _deliver_record(fn, event, result, "RetriesExhausted", attempts)


def invoke_async(fn: Any, event: Any) -> None:
    """An asynchronous invocation: the first attempt now, retries and the destination's record as Lambda does them."""
    first = invoke_function(fn, event)
    if not first.function_error:
        _deliver_record(fn, event, first, "Success", 1)
        return
    name = f"kbsync-lambda-async-retry-{fn.function_name}"[:60]
    threading.Thread(target=_retry_async, args=(fn, event, first), name=name, daemon=True).start()


def _header(headers: Any, name: str, default: str) -> str:
    if not headers:
        return default
    for key in (name, name.lower()):
        value = headers.get(key)
        if value:
            return str(value)
    return default


def _parse_event(body: Any) -> Any:
    if body in (None, b"", ""):
        return {}
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8")
    return json.loads(body) if isinstance(body, str) else body


def _backend_invoke(
    self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
) -> bytes | None:
    """Replacement for LambdaSimpleBackend.invoke: run the handler (moto's queued results still take priority)."""
    fn = self.get_function(function_name, qualifier)
    if self.lambda_simple_results_queue:
        return str(self.lambda_simple_results_queue.pop(0)).encode()
    invocation_type = _header(headers, "X-Amz-Invocation-Type", "RequestResponse")
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":
        invoke_async(fn, _parse_event(body))
        response_headers["x-amz-executed-version"] = str(fn.version)
        return b""
    result = invoke_function(fn, _parse_event(body))
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    response_headers["x-amz-executed-version"] = str(fn.version)
    response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail[-4096:].encode()).decode()
    response_headers["Content-Length"] = str(len(result.payload))
    return result.payload


# --------------------------------------------------------------------------- contract


def _simple_backend_cls() -> Any:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    return LambdaSimpleBackend


def _lambda_eval_utils() -> Any:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    return lambda_eval_utils


def _patched_targets() -> dict[str, Any]:
    utils = _lambda_eval_utils()
    return {
        "LambdaSimpleBackend.invoke": _simple_backend_cls().invoke,
        "lambda_eval_utils.exec_lambda_function": utils.exec_lambda_function,
        "lambda_eval_utils._invoke_lambda_function": utils._invoke_lambda_function,
    }


def install() -> None:
    """Route moto's no-docker Lambda Invoke to the in-process handler (idempotent, process-wide)."""
    global _installed, _original_showwarning
    with _INSTALL_LOCK:
        if warnings.showwarning is not _showwarning:  # again each time: warnings.catch_warnings() restores it
            _original_showwarning = warnings.showwarning
            warnings.showwarning = _showwarning
        if _installed:
            return
        targets = _patched_targets()
        _thread_local_environ()
        _simple_backend_cls().invoke = mark_patch(_backend_invoke, targets["LambdaSimpleBackend.invoke"])
        _installed = True


def verify_moto_internals() -> None:
    check_fingerprints("inprocess_lambda", _patched_targets(), EXPECTED_SOURCES)
    from moto.awslambda.models import LambdaFunction

    probe = LambdaFunction.__init__.__code__.co_names + LambdaFunction._set_function_code.__code__.co_names
    missing = [name for name in ("code", "environment_vars", "handler", "code_bytes") if name not in probe]
    if missing or not hasattr(_simple_backend_cls(), "get_function"):
        raise MotoInternalsChanged(f"inprocess_lambda: moto's LambdaFunction no longer sets {missing}")
    from moto.awslambda import models as lambda_models

    if not callable(getattr(lambda_models, "get_backend", None)) or "content" not in (
        lambda_models.LayerVersion.__init__.__code__.co_names
    ):
        raise MotoInternalsChanged(
            "inprocess_lambda: layer loading needs moto.awslambda.models.get_backend and LayerVersion.content"
        )
