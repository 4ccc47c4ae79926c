"""Lambda functions whose handler is a source string in the test (``app.lambda_handler``), made with the real
CreateFunction API on the local cloud: one place for the archive and the function settings the tests share."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from tests.localcloud.lambda_fixtures.sfn_helpers import lambda_role


def zipped(source: str) -> bytes:
    """A deployment package holding `source` as app.py."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def create_inline_function(lam: Any, iam: Any, name: str, source: str, **settings: Any) -> str:
    """Create function `name` running `source` (python3.12, 30 s timeout, a fresh role); `settings` are further
    CreateFunction parameters (Environment, MemorySize, ...). Returns its ARN."""
    response = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role(iam),
        Handler="app.lambda_handler",
        Code={"ZipFile": zipped(source)},
        Timeout=30,
        **settings,
    )
    return str(response["FunctionArn"])
