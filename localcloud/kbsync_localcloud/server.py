"""``kbsync local up``: the local cloud as a long-running HTTP server any AWS client can use.

    run_server(port=4566, time_scale=0.01, template=Path("template.yaml"), stack_name="kbsync", seed=True)

moto's ThreadedMotoServer on 127.0.0.1 with the same adapters and config as the in-process LocalCloud
(``install_all()``, executing Step Functions, Lambda without Docker), plus:

- the sample data (seed.py) and the template deployed as a stack (deploy.py; template parameters named like
  the seeded ids — KnowledgeBaseId, DataSourceId, DocumentBucketName — are filled from the seed);
- ``POST /_kbsync/schedules/<group>/<name>/fire[?force=true]``: fire a schedule now (scheduler.py), for
  ``kbsync local fire-schedule`` (``scheduler.fire_schedule_remote``);
- the CloudWatch alarm evaluator (adapters/alarm_evaluator.py), running until ``stop()``: alarms change state and
  tell EventBridge, as on AWS;
- ``GET /_kbsync/info``: the endpoint, stack outputs and seeded ids, as printed at start-up.

``start_server`` returns a handle (for tests and embedding); ``run_server`` prints what another shell needs (the
exports, the time scale, the seeded ids, two commands to try, where alerts can be read) and blocks until
SIGINT/SIGTERM, then stops cleanly. It is quiet: moto's per-request log only with ``verbose=True`` (``--verbose``).
A port that is taken raises ``PortInUse`` (the CLI turns it into one line and exit code 12).
"""

from __future__ import annotations

import errno
import inspect
import json
import os
import signal
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from moto.moto_server import threaded_moto_server
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from kbsync_localcloud import scheduler
from kbsync_localcloud.adapters import MotoInternalsChanged, install_all
from kbsync_localcloud.adapters.alarm_evaluator import AlarmEvaluator, evaluation_enabled
from kbsync_localcloud.clock import CLOCK
from kbsync_localcloud.cloud import ACCOUNT_ID, MOTO_CONFIG, REGION, configure_logging
from kbsync_localcloud.deploy import deploy_stack, install_cloudformation_support
from kbsync_localcloud.sam import load_template
from kbsync_localcloud.schedule_runner import DEFAULT_PREFIXES, ScheduleRunner
from kbsync_localcloud.seed import SeededData, seed_local_cloud

HOST = "127.0.0.1"
#: `kbsync local up`'s port when none is given: LocalStack's, the local-AWS convention (kbsync.cli.app uses it too).
DEFAULT_PORT = 4566
ROUTE_PREFIX = "/_kbsync/"
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}

#: A shell function giving every `aws` command the endpoint (awscli 1.x overrides AWS_ENDPOINT_URL for sqs, rds, docdb,
#: neptune and health with the service's legacy host).
AWS_CLI_FUNCTION = 'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }'

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CannotServe(OSError):
    """The server could not listen on its port."""

    def __init__(self, port: int, reason: BaseException) -> None:
        super().__init__(f"cannot serve on {HOST}:{port}: {reason}")
        self.port = port
        self.reason = reason


class PortInUse(CannotServe):
    """Something already listens on the port (another `kbsync local up`, a LocalStack, moto_server...)."""


#: Where `kbsync alerts` reads the alerts topic (the stack's alert inbox queue, subscribed to the topic).
ALERTS_COMMAND = "kbsync alerts --follow"


def describe_time_scale(scale: float) -> str:
    """'1 virtual second lasts 10 ms (100x faster)': what --time-scale means, for the banner and the docs."""
    real = f"{scale * 1000:g} ms" if scale < 1 else f"{scale:g} s"
    if scale < 1:
        pace = f"{1 / scale:g}x faster"
    elif scale > 1:
        pace = f"{scale:g}x slower"
    else:
        pace = "real time"
    return f"1 virtual second lasts {real} ({pace})"


@dataclass
class LocalServer:
    """A running local cloud server."""

    endpoint: str
    outputs: dict[str, str] = field(default_factory=dict)
    seeded: SeededData | None = None
    stack_name: str | None = None
    time_scale: float = 0.01
    _server: ThreadedMotoServer | None = None
    _alarms: AlarmEvaluator | None = None
    _schedules: ScheduleRunner | None = None

    def info(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "region": REGION,
            "timeScale": self.time_scale,
            "stackName": self.stack_name,
            "outputs": self.outputs,
            "seeded": self.seeded.to_dict() if self.seeded else None,
        }

    def stop(self) -> None:
        if self._alarms is not None:
            self._alarms.stop()
            self._alarms = None
        if self._schedules is not None:
            self._schedules.stop()
            self._schedules = None
        if self._server is not None:
            self._server.stop()
            self._server = None
            use_queue_endpoint(None)

    def exports(self) -> dict[str, str]:
        """The environment an AWS client needs for this server: the endpoint, the region under both names (the AWS
        CLI v1 and boto3 read AWS_DEFAULT_REGION, other SDKs AWS_REGION) and credentials (any are accepted)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": _FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": _FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }


# --- SQS queue URLs on this endpoint ------------------------------------------------------------------------
#
# moto 5.2.5 (no setting for it) answers CreateQueue/GetQueueUrl/ListQueues with the URL the request came in on, but
# a stack's Ref of an AWS::SQS::Queue (its physical id, e.g. the DeadLetterQueueUrl output) is always
# https://sqs.<region>.amazonaws.com/<account>/<name>: a runbook's `aws sqs ... --queue-url "$DLQ_URL"` then went to
# AWS. While a server runs, every queue URL is <endpoint>/<account>/<name>, whatever host name the request used.

_queue_endpoint: str | None = None


def use_queue_endpoint(endpoint: str | None) -> None:
    """Make queue URLs point at ``endpoint`` (None: moto's own URLs again). Process-wide, idempotent."""
    global _queue_endpoint
    from moto.sqs.models import Queue

    if not getattr(Queue, "_kbsync_queue_urls", False):
        original_url = Queue.url
        original_id = Queue.__dict__["physical_resource_id"]

        def url(self: Any, request_url: Any) -> str:
            if _queue_endpoint:
                return f"{_queue_endpoint}/{self.account_id}/{self.name}"
            return str(original_url(self, request_url))

        def physical_resource_id(self: Any) -> str:
            if _queue_endpoint:
                return f"{_queue_endpoint}/{self.account_id}/{self.name}"
            return str(original_id.fget(self))

        Queue.url = url  # type: ignore[method-assign]
        Queue.physical_resource_id = property(physical_resource_id)  # type: ignore[method-assign,assignment]
        Queue._kbsync_queue_urls = True  # type: ignore[attr-defined]
    _queue_endpoint = endpoint.rstrip("/") if endpoint else None


# --- the /_kbsync routes ------------------------------------------------------------------------------------


def _json_response(start_response: Callable[..., Any], status: str, body: Mapping[str, Any]) -> list[bytes]:
    payload = json.dumps(body, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def _fire_route(path: str, query: str) -> tuple[str, dict[str, Any]]:
    parts = path[len(ROUTE_PREFIX) :].split("/")
    if len(parts) != 4 or parts[0] != "schedules" or parts[3] != "fire":
        return "404 Not Found", {"message": f"no route {path}"}
    group, name = (urllib.parse.unquote(part) for part in parts[1:3])
    force = urllib.parse.parse_qs(query).get("force", ["false"])[0].lower() == "true"
    try:
        result = scheduler.fire_schedule(name, group, force=force)
    except scheduler.ScheduleDisabled as error:
        return "409 Conflict", {"code": "ScheduleDisabled", "message": str(error)}
    except scheduler.UnsupportedScheduleTarget as error:
        return "400 Bad Request", {"code": "UnsupportedTarget", "message": str(error)}
    except Exception as error:  # moto's ResourceNotFound & co.; the CLI shows the message
        status = "404 Not Found" if "not found" in str(error).lower() else "500 Internal Server Error"
        return status, {"code": type(error).__name__, "message": str(error)}
    return "200 OK", result.to_dict()


def kbsync_routes(app: WsgiApp, info: Callable[[], Mapping[str, Any]]) -> WsgiApp:
    """WSGI middleware: ``/_kbsync/*`` handled here, everything else by moto."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(ROUTE_PREFIX):
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if path == ROUTE_PREFIX + "info" and method == "GET":
            return _json_response(start_response, "200 OK", info())
        if path.startswith(ROUTE_PREFIX + "schedules/") and method == "POST":
            status, body = _fire_route(path, environ.get("QUERY_STRING", ""))
            return _json_response(start_response, status, body)
        return _json_response(start_response, "404 Not Found", {"message": f"no route {method} {path}"})

    return middleware


class _QuietRequestHandler(threaded_moto_server.MotoRequestHandler):
    """moto's request handler without werkzeug's one-line-per-request access log on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _KbsyncMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is wrapped with the ``/_kbsync`` routes; one log line per request (werkzeug's,
    on stderr) only when ``verbose``."""

    def __init__(self, port: int, info: Callable[[], Mapping[str, Any]], verbose: bool = False) -> None:
        super().__init__(ip_address=HOST, port=port, verbose=False)
        self._info = info
        self._request_handler = threaded_moto_server.MotoRequestHandler if verbose else _QuietRequestHandler
        self.startup_error: BaseException | None = None

    def _server_entry(self) -> None:
        app = threaded_moto_server.DomainDispatcherApplication(threaded_moto_server.create_backend_app)
        try:
            # Bound here, not by werkzeug: on a taken port werkzeug prints its own advice on stderr and calls
            # sys.exit(1); kbsync says it once, in its own words (PortInUse).
            with listening_socket(self._ip_address, self._port) as listening:
                self._server = threaded_moto_server.make_server(
                    self._ip_address,
                    self._port,
                    kbsync_routes(app, self._info),
                    True,
                    request_handler=self._request_handler,
                    fd=listening.fileno(),  # werkzeug serves a duplicate of it; this one is closed on leaving
                )
        except BaseException as error:  # e.g. the port is taken: moto's start() would wait forever
            self.startup_error = error
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port (0: any free port), bound as werkzeug binds (SO_REUSEADDR: a port in
    TIME_WAIT is no obstacle, one that something listens on is: OSError EADDRINUSE)."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(128)
    except BaseException:
        listening.close()
        raise
    return listening


def verify_moto_internals() -> None:
    """What ``_KbsyncMotoServer`` relies on in moto 5.2.5's ThreadedMotoServer."""
    for name in ("DomainDispatcherApplication", "create_backend_app", "make_server", "MotoRequestHandler"):
        if not hasattr(threaded_moto_server, name):
            raise MotoInternalsChanged(f"moto.moto_server.threaded_moto_server.{name} is gone")
    if "fd" not in inspect.signature(threaded_moto_server.make_server).parameters:
        raise MotoInternalsChanged("werkzeug's make_server (moto's) no longer takes fd= (a socket bound by kbsync)")
    probe = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)
    for attribute in ("_ip_address", "_port", "_server", "_server_ready_event"):
        if not hasattr(probe, attribute):
            raise MotoInternalsChanged(f"ThreadedMotoServer no longer has {attribute}")
    if not callable(getattr(ThreadedMotoServer, "_server_entry", None)):
        raise MotoInternalsChanged("ThreadedMotoServer._server_entry is gone")
    from moto.sqs.models import Queue

    physical_id = Queue.__dict__.get("physical_resource_id")
    if not callable(getattr(Queue, "url", None)) or not isinstance(physical_id, property):
        raise MotoInternalsChanged("moto sqs Queue.url(request_url) / Queue.physical_resource_id changed")
    for attribute in ("account_id", "name"):
        if attribute not in Queue.__init__.__code__.co_names:
            raise MotoInternalsChanged(f"moto sqs Queue no longer sets {attribute!r}")


# --- start / run --------------------------------------------------------------------------------------------


def _configure_process(time_scale: float) -> None:
    """Same adapters and moto config as LocalCloud, process-wide (server mode has no mock context)."""
    from moto.moto_api._internal.models import moto_api_backend

    for key, value in _FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    CLOCK.set_scale(time_scale)
    configure_logging()
    install_all()
    install_cloudformation_support()
    moto_api_backend.set_config({key: MOTO_CONFIG[key] for key in ("stepfunctions", "lambda")})


def template_parameters(template: Path, seeded: SeededData | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Parameters for the stack: the template's declared parameters that the seed (or ``extra``) can fill."""
    declared = load_template(template).get("Parameters", {}) or {}
    available = dict(seeded.as_parameters() if seeded else {})
    available.update(extra or {})
    return {name: available[name] for name in declared if name in available}


def start_server(
    port: int = 0,
    time_scale: float = 0.01,
    template: Path | None = None,
    stack_name: str = "kbsync",
    seed: bool = True,
    parameters: Mapping[str, str] | None = None,
    verbose: bool = False,
    evaluate_alarms: bool | None = None,
) -> LocalServer:
    """Start the server (port 0 = any free port), seed, deploy, evaluate the alarms (unless `evaluate_alarms` is False,
    or None with KBSYNC_LOCAL_ALARMS=off); return once it is ready.

    Raises PortInUse when something listens on `port`, CannotServe when it cannot be bound otherwise."""
    _configure_process(time_scale)
    handle = LocalServer(endpoint="", time_scale=time_scale)
    server = _KbsyncMotoServer(port, handle.info, verbose=verbose)
    server.start()
    error = server.startup_error
    if error is not None:
        in_use = isinstance(error, OSError) and error.errno == errno.EADDRINUSE
        raise (PortInUse if in_use else CannotServe)(port, error) from error
    host, bound_port = server.get_host_and_port()
    handle.endpoint = f"http://{host}:{bound_port}"
    handle._server = server
    if evaluation_enabled(evaluate_alarms):  # moto stores alarms, this evaluates them (KBSYNC_LOCAL_ALARMS=off: not)
        handle._alarms = AlarmEvaluator(ACCOUNT_ID, REGION).start()
    handle._schedules = ScheduleRunner(DEFAULT_PREFIXES, ACCOUNT_ID, REGION).start()  # the job watch's sweep
    # moto's Step Functions tasks (and the aws-sdk/Lambda adapters) call back into the server on MOTO_PORT.
    os.environ["MOTO_PORT"] = str(bound_port)
    use_queue_endpoint(handle.endpoint)
    try:
        if seed:
            handle.seeded = seed_local_cloud(handle.endpoint)
        if template is not None:
            handle.stack_name = stack_name
            stack_parameters = template_parameters(Path(template), handle.seeded, parameters)
            handle.outputs = deploy_stack(Path(template), stack_name, stack_parameters, endpoint_url=handle.endpoint)
    except BaseException:
        handle.stop()
        raise
    return handle


def describe(handle: LocalServer) -> str:
    """What ``kbsync local up`` prints once ready: how to reach it, then what to do next (README "The local cloud")."""
    lines = [f"kbsync local cloud ready at {handle.endpoint} (region {REGION})"]
    lines.append(
        f"  time scale {handle.time_scale:g}: {describe_time_scale(handle.time_scale)} for waits, retries and "
        "Bedrock jobs; dates stay real (--time-scale)"
    )
    lines.append("  # in another shell, for the AWS CLI, boto3 and kbsync (any credentials are accepted):")
    lines.extend(f"  export {name}={value}" for name, value in handle.exports().items())
    lines.append("  # the AWS CLI v1 ignores AWS_ENDPOINT_URL for sqs: give it --endpoint-url with this function")
    lines.append(f"  {AWS_CLI_FUNCTION}")
    if handle.seeded:
        lines.append(f"  knowledge base: {handle.seeded.knowledge_base_id}")
        lines.append(f"  data source:    {handle.seeded.data_source_id}")
        lines.append(
            f"  documents:      s3://{handle.seeded.bucket}/{handle.seeded.prefix} ({len(handle.seeded.documents)})"
        )
    if handle.stack_name:
        lines.append(
            f"  stack {handle.stack_name} deployed; its outputs: aws cloudformation describe-stacks "
            f"--stack-name {handle.stack_name} --query 'Stacks[0].Outputs'"
        )
    lines.append("  # then try:")
    if handle.seeded:
        ids = f"--kb {handle.seeded.knowledge_base_id} --ds {handle.seeded.data_source_id}"
        lines.append(f"  kbsync sync {ids} --wait")
        lines.append(f"  kbsync history {ids}")
    else:
        lines.append("  kbsync status")
        lines.append("  aws stepfunctions list-state-machines")
    if handle.stack_name:
        lines.append("  # alerts, as on-call receives them (the alerts topic's inbox queue):")
        lines.append(f"  {ALERTS_COMMAND}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def run_server(
    port: int,
    time_scale: float,
    template: Path | None,
    stack_name: str,
    seed: bool,
    parameters: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    verbose: bool = False,
) -> int:
    """Start, print the endpoint and what to do next, serve until SIGINT/SIGTERM, stop cleanly; the exit code (0).
    Raises PortInUse / CannotServe before printing anything if the port cannot be bound."""
    stream = out or sys.stdout
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        handle = start_server(port, time_scale, template, stack_name, seed, parameters, verbose=verbose)
        print(describe(handle), file=stream, flush=True)
        while not stop.wait(0.5):
            pass
        print("kbsync local cloud stopping", file=stream, flush=True)
        handle.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
