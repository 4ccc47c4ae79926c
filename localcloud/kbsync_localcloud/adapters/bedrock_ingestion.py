"""Adapter: Bedrock data sources and ingestion jobs on moto 5.2.5's own bedrock-agent.

moto's bedrock-agent has knowledge bases but no data sources or ingestion jobs. ``install()`` adds the
ten operations (data sources, ingestion jobs, ListKnowledgeBaseDocuments and GetKnowledgeBaseDocuments) to
moto's ``AgentsforBedrockResponse`` (moto routes rest-json requests by botocore's router, so new methods are
reachable in decorator and server mode alike), puts the fault-injection route first in moto's bedrock-agent
URL map and teaches moto's server dispatcher to send that path to the bedrock-agent app. It also makes moto's
knowledge bases look like Bedrock's (10-character ids, ACTIVE
status) and gives moto's bedrock-agent errors the HTTP status of botocore's model.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any

from kbsync_localcloud.adapters import MotoInternalsChanged

_INSTALL_LOCK = threading.Lock()
_MARKER = "_kbsync_bedrock_ingestion"
_MOTO_CATCH_ALL = "{0}/.*$"
_CONTROL_URL = "{0}/kbsync-local/bedrock/faults$"


def install() -> None:
    """Apply every patch once per process (idempotent)."""
    from moto.bedrockagent.responses import AgentsforBedrockResponse

    with _INSTALL_LOCK:
        if getattr(AgentsforBedrockResponse, _MARKER, False):
            return
        verify_moto_internals()
        _add_operations(AgentsforBedrockResponse)
        _add_control_route()
        _route_control_path_in_server()
        _make_knowledge_bases_bedrock_like()
        _fix_moto_error_statuses()
        setattr(AgentsforBedrockResponse, _MARKER, True)


def _add_operations(response_class: Any) -> None:
    from kbsync_localcloud.bedrock.responses import operation_methods

    for name, method in operation_methods().items():
        setattr(response_class, name, method)


def _add_control_route() -> None:
    """The control route goes first: decorator mode takes the first matching URL regex in dict order."""
    import moto.bedrockagent.urls as urls

    from kbsync_localcloud.bedrock.responses import control_route

    current = dict(urls.url_paths)
    current.pop(_CONTROL_URL, None)
    urls.url_paths.clear()
    urls.url_paths.update({_CONTROL_URL: control_route, **current})


def _route_control_path_in_server() -> None:
    """moto's server picks the service app from Host/Authorization; the control path names no service."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from kbsync_localcloud.bedrock.responses import CONTROL_PATH

    original = DomainDispatcherApplication.get_application

    @functools.wraps(original)
    def get_application(self: Any, environ: dict[str, Any]) -> Any:
        if str(environ.get("PATH_INFO", "")).startswith(CONTROL_PATH):
            with self.lock:
                app = self.app_instances.get("bedrockagent")
                if app is None:
                    app = self.create_app("bedrockagent")
                    self.app_instances["bedrockagent"] = app
                return app
        return original(self, environ)

    DomainDispatcherApplication.get_application = get_application  # type: ignore[method-assign]


def _make_knowledge_bases_bedrock_like() -> None:
    """moto ids a knowledge base ``name + 8 hex`` and reports status "Active"; Bedrock: [0-9A-Z]{10}, ACTIVE."""
    from moto.bedrockagent.models import KnowledgeBase

    from kbsync_localcloud.bedrock.state import new_id

    original_init = KnowledgeBase.__init__

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.knowledge_base_id = new_id()
        prefix = self.knowledge_base_arn.rsplit("/", 1)[0]
        self.knowledge_base_arn = f"{prefix}/{self.knowledge_base_id}"
        self.status = "ACTIVE"

    KnowledgeBase.__init__ = __init__  # type: ignore[method-assign]


def _fix_moto_error_statuses() -> None:
    """moto sends every bedrock-agent error as HTTP 400; the model says 404 / 409."""
    from moto.bedrockagent import exceptions

    from kbsync_localcloud.bedrock.shapes import error_status

    exceptions.ResourceNotFoundException.code = error_status("ResourceNotFoundException")
    exceptions.ConflictException.code = error_status("ConflictException")


def verify_moto_internals() -> None:
    """Fail loudly if the moto internals this adapter patches or reads are not moto 5.2.5's."""
    problems = _response_problems() + _url_problems() + _backend_problems() + _s3_problems() + _server_problems()
    if problems:
        raise MotoInternalsChanged("bedrock_ingestion adapter: " + "; ".join(problems))


def _response_problems() -> list[str]:
    from moto.bedrockagent.responses import AgentsforBedrockResponse
    from moto.core.responses import BaseResponse

    problems = []
    if "bedrockagent_backend" not in vars(AgentsforBedrockResponse):
        problems.append("AgentsforBedrockResponse.bedrockagent_backend is gone")
    for name in ("_get_action_from_method_and_request_uri", "call_action", "_transform_response"):
        if not hasattr(BaseResponse, name):
            problems.append(f"BaseResponse.{name} is gone (moto no longer routes rest-json by botocore's router?)")
    source = inspect.getsource(BaseResponse._transform_response)
    if 'new_headers.get("status"' not in source:
        problems.append("BaseResponse._transform_response no longer reads the status from the headers")
    if "uri_match" not in inspect.getsource(BaseResponse._get_action_from_method_and_request_uri):
        problems.append("BaseResponse no longer records uri_match (URI parameters)")
    return problems


def _url_problems() -> list[str]:
    import moto.bedrockagent.urls as urls
    from moto.core.base_backend import BaseBackend

    problems = []
    if _MOTO_CATCH_ALL not in urls.url_paths:
        problems.append(f"moto.bedrockagent.urls.url_paths has no {_MOTO_CATCH_ALL!r} catch-all")
    if "_url_module.url_paths" not in inspect.getsource(BaseBackend.__dict__["urls"].fget):
        problems.append("BaseBackend.urls no longer reads the urls module's url_paths on each call")
    return problems


def _backend_problems() -> list[str]:
    from moto.bedrockagent import exceptions, models

    problems = []
    if not hasattr(models, "bedrockagent_backends"):
        problems.append("moto.bedrockagent.models.bedrockagent_backends is gone")
    params = list(inspect.signature(models.KnowledgeBase.__init__).parameters)
    if params[:3] != ["self", "name", "role_arn"]:
        problems.append(f"KnowledgeBase.__init__ signature changed: {params}")
    init_source = inspect.getsource(models.KnowledgeBase.__init__)
    for attribute in ("self.knowledge_base_id", "self.knowledge_base_arn", "self.status"):
        if attribute not in init_source:
            problems.append(f"KnowledgeBase no longer sets {attribute}")
    if "self.knowledge_bases" not in inspect.getsource(models.AgentsforBedrockBackend.__init__):
        problems.append("AgentsforBedrockBackend no longer keeps knowledge_bases")
    for name in ("ResourceNotFoundException", "ConflictException"):
        if not hasattr(exceptions, name):
            problems.append(f"moto.bedrockagent.exceptions.{name} is gone")
    return problems


def _s3_problems() -> list[str]:
    from moto.s3 import models

    problems = []
    for name in ("s3_backends", "FakeKey", "FakeDeleteMarker"):
        if not hasattr(models, name):
            problems.append(f"moto.s3.models.{name} is gone")
    for name in ("size", "etag", "value"):
        if not isinstance(getattr(models.FakeKey, name, None), property):
            problems.append(f"FakeKey.{name} is no longer a property")
    if "self.keys" not in inspect.getsource(models.FakeBucket.__init__):
        problems.append("FakeBucket no longer keeps its objects in self.keys")
    return problems


def _server_problems() -> list[str]:
    from moto.moto_server import werkzeug_app

    source = inspect.getsource(werkzeug_app.DomainDispatcherApplication.get_application)
    if "app_instances" not in source or "create_app" not in source:
        return ["DomainDispatcherApplication.get_application no longer caches apps in app_instances"]
    return []
