"""bedrock-agent errors with the HTTP status botocore's model gives each code.

They subclass moto's JsonRESTError so moto's dispatch (decorator and server mode) turns them into an
HTTP response: status from the model, ``X-Amzn-ErrorType`` header and a ``{"message": ...}`` body, which
is what botocore's rest-json parser reads. The status is looked up in the model, never hard-coded.
"""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError

from kbsync_localcloud.bedrock.shapes import error_status, validation_message


class BedrockAgentError(JsonRESTError):
    """Base: subclasses set ``error_code``; the HTTP status comes from the model."""

    error_code = "InternalServerException"

    def __init__(self, message: str) -> None:
        super().__init__(self.error_code, message)
        self.code = error_status(self.error_code)


class ValidationException(BedrockAgentError):
    error_code = "ValidationException"

    @classmethod
    def from_violations(cls, violations: list[str]) -> ValidationException:
        return cls(validation_message(violations))


class ResourceNotFoundException(BedrockAgentError):
    error_code = "ResourceNotFoundException"


class ConflictException(BedrockAgentError):
    error_code = "ConflictException"


class ServiceQuotaExceededException(BedrockAgentError):
    error_code = "ServiceQuotaExceededException"


class ThrottlingException(BedrockAgentError):
    error_code = "ThrottlingException"


class AccessDeniedException(BedrockAgentError):
    error_code = "AccessDeniedException"


class InternalServerException(BedrockAgentError):
    error_code = "InternalServerException"


ERRORS_BY_CODE: dict[str, type[BedrockAgentError]] = {
    cls.error_code: cls
    for cls in (
        ValidationException,
        ResourceNotFoundException,
        ConflictException,
        ServiceQuotaExceededException,
        ThrottlingException,
        AccessDeniedException,
        InternalServerException,
    )
}
