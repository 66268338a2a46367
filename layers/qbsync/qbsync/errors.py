"""The domain error hierarchy. Raise these anywhere; they are mapped to HTTP once (qbsync.api.resolver) and
to queue outcomes once (retryable → the record fails and SQS retries; permanent → dead-letter with reason)."""

from __future__ import annotations

from typing import Any


class QbsyncError(Exception):
    """Base of every error qbsync raises on purpose."""

    code: str = "internal_error"
    http_status: int = 500
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequestError(QbsyncError):
    code = "bad_request"
    http_status = 400


class UnauthorizedError(QbsyncError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(QbsyncError):
    code = "forbidden"
    http_status = 403


class NotFoundError(QbsyncError):
    code = "not_found"
    http_status = 404


class ConflictError(QbsyncError):
    """A conditional write lost (DynamoDB ConditionalCheckFailed, stale version)."""

    code = "conflict"
    http_status = 409


class PreconditionFailedError(QbsyncError):
    """`If-Match` names a version that is no longer current (someone else wrote since it was read)."""

    code = "precondition_failed"
    http_status = 412


class PayloadTooLargeError(QbsyncError):
    code = "payload_too_large"
    http_status = 413


class ValidationFailedError(QbsyncError):
    code = "validation_failed"
    http_status = 422


class NotImplementedYetError(QbsyncError):
    """A route the template declares whose behaviour lands with a later issue."""

    code = "not_implemented"
    http_status = 501


class UpstreamError(QbsyncError):
    """QBO, Intuit OAuth or the CRM failed us."""

    code = "upstream_error"
    http_status = 502


class RetryableError(QbsyncError):
    code = "retryable"
    http_status = 503
    retryable = True
