"""Record bedrock-agent responses as they are on the wire and judge them against botocore's model.

A ``WireRecorder`` registered on a boto3 client's ``before-parse`` event sees the raw status, headers
and body before botocore's lenient parser drops unknown members or coerces types, so a response that
only *parses* cannot pass for one that *validates*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kbsync_localcloud.bedrock.shapes import (
    error_codes,
    error_problems,
    error_status,
    output_problems,
    success_status,
)


@dataclass(frozen=True)
class WireResponse:
    operation: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error_code(self) -> str | None:
        if self.status < 300:
            return None
        header = {k.lower(): v for k, v in self.headers.items()}.get("x-amzn-errortype", "")
        return header.split(":")[0] or None

    def problems(self) -> list[str]:
        """Everything about this response that the model does not allow."""
        where = f"{self.operation} (HTTP {self.status})"
        try:
            decoded: Any = json.loads(self.body) if self.body else {}
        except ValueError:
            return [f"{where}: body is not JSON: {self.body[:200]!r}"]
        if self.status < 300:
            found = (
                []
                if self.status == success_status(self.operation)
                else [f"expected HTTP {success_status(self.operation)}"]
            )
            return [f"{where}: {p}" for p in found + output_problems(self.operation, decoded)]
        return [f"{where}: {p}" for p in self._error_problems(decoded)]

    def _error_problems(self, decoded: Any) -> list[str]:
        code = self.error_code
        if code is None:
            return ["error response without an x-amzn-ErrorType header"]
        if code not in error_codes(self.operation):
            return [f"{code} is not an error the model lists for {self.operation}"]
        found = [] if self.status == error_status(code) else [f"{code} must be HTTP {error_status(code)}"]
        return found + error_problems(code, decoded)


@dataclass
class WireRecorder:
    """Collects every response of the operations in `operations` (all when empty)."""

    operations: frozenset[str] = frozenset()
    responses: list[WireResponse] = field(default_factory=list)

    def __call__(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        name = str(operation_model.name)
        if self.operations and name not in self.operations:
            return
        body = response_dict.get("body") or b""
        headers = {str(k): str(v) for k, v in dict(response_dict.get("headers") or {}).items()}
        self.responses.append(WireResponse(name, int(response_dict["status_code"]), headers, bytes(body)))

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parse.bedrock-agent.*", self)
        return client

    def problems(self) -> list[str]:
        return [problem for response in self.responses for problem in response.problems()]
