"""One error hierarchy for the CRM's answers, built by one function (`error_from_response`).

Retryable: 429 (`CrmThrottledError`), 5xx (`CrmServerError`), no answer at all (`CrmConnectionError`).
Permanent: every other 4xx (`CrmRejectedError`, with 401/403 as `CrmAuthenticationError` and 409 as
`CrmConflictError`), and a 2xx whose body is not what the contract promises (`CrmInvalidAnswerError`).

Messages and `details` carry the status, the CRM's error code and message (truncated) and the request
id; never our request body, our headers or the signing secret. The raw answer body is kept on
`error.body` (truncated) for a debugger, and is deliberately not part of `str(error)` or `details`.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from qbsync.utils.retry_after import parse_retry_after
from qbsync.errors import RetryableError, UpstreamError

MAX_KEPT_BODY_CHARS = 2000
MAX_CRM_MESSAGE_CHARS = 300
REQUEST_ID_HEADERS = ("request-id", "x-request-id")


class CrmError(UpstreamError):
    code = "crm_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.status = status
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after


class CrmRetryableError(CrmError, RetryableError):
    code = "crm_unavailable"
    http_status = 503
    retryable = True


class CrmThrottledError(CrmRetryableError):
    code = "crm_throttled"


class CrmServerError(CrmRetryableError):
    code = "crm_server_error"


class CrmConnectionError(CrmRetryableError):
    """Timeout or connection failure: the CRM may or may not have applied the call; the
    Idempotency-Key makes the retry safe either way."""

    code = "crm_unreachable"


class CrmRejectedError(CrmError):
    code = "crm_rejected"
    retryable = False


class CrmAuthenticationError(CrmRejectedError):
    """401/403: our outbound secret (or the CRM's copy of it) is wrong, or the clocks are 5+ minutes apart."""

    code = "crm_unauthorized"


class CrmConflictError(CrmRejectedError):
    """409: the Idempotency-Key was used before with a different body (a bug in how the key is derived)."""

    code = "crm_conflict"


class CrmInvalidAnswerError(CrmRejectedError):
    """A 2xx whose body is not the contract's answer; retrying would replay the same answer."""

    code = "crm_invalid_answer"


def _request_id(response: requests.Response) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return value[:200]
    return None


def _crm_error_fields(text: str) -> tuple[str | None, str | None]:
    """The `{"error": {"code", "message"}}` of the CRM's answer, when it sent one."""
    try:
        document = json.loads(text)
    except ValueError:
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        code[:100] if isinstance(code, str) else None,
        message[:MAX_CRM_MESSAGE_CHARS] if isinstance(message, str) else None,
    )


def error_from_response(response: requests.Response, *, now: float, operation: str) -> CrmError:
    """The error for a non-2xx answer. `operation` names the call (`"PUT /tenants/{t}/connection"`)."""
    status = response.status_code
    text = response.text or ""
    crm_code, crm_message = _crm_error_fields(text)
    request_id = _request_id(response)
    details: dict[str, Any] = {"status": status, "operation": operation}
    if crm_code:
        details["crm_code"] = crm_code
    if crm_message:
        details["crm_message"] = crm_message
    if request_id:
        details["crm_request_id"] = request_id

    if status == 429:
        error_class: type[CrmError] = CrmThrottledError
    elif status >= 500:
        error_class = CrmServerError
    elif status in (401, 403):
        error_class = CrmAuthenticationError
    elif status == 409:
        error_class = CrmConflictError
    else:
        error_class = CrmRejectedError

    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
    if retry_after is not None:
        details["retry_after_seconds"] = retry_after
    suffix = f" ({crm_code})" if crm_code else ""
    return error_class(
        f"CRM answered {status} to {operation}{suffix}",
        status=status,
        body=text[:MAX_KEPT_BODY_CHARS],
        request_id=request_id,
        retry_after=retry_after,
        details=details,
    )


# No answer, or half of one: the CRM may or may not have applied the call, and a retry may succeed.
RETRYABLE_TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout,
                              requests.exceptions.ChunkedEncodingError)


def error_from_transport(error: requests.RequestException, *, operation: str) -> CrmError:
    # The exception text can hold the URL with its query; the type name is enough to act on.
    details = {"operation": operation, "transport_error": type(error).__name__}
    if isinstance(error, RETRYABLE_TRANSPORT_ERRORS):
        return CrmConnectionError(f"no answer from the CRM to {operation} ({type(error).__name__})",
                                  details=details)
    # An invalid URL or the like: our configuration, which no retry fixes.
    return CrmError(f"could not call the CRM for {operation} ({type(error).__name__})",
                    code="crm_request_failed", details=details)
