"""One factory for the HTTP API resolvers, so every function maps errors to HTTP the same way.

Body of every error: `{"error": {"code", "message", ...}}`. An unexpected exception answers 500 with the
request's correlation id and nothing else: no stack trace, no exception text (it may hold a secret).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from qbsync.api.http import APPLICATION_JSON, HttpRequest, HttpRouter, NotFoundError, Response
from qbsync.api.routes import allowed_methods
from qbsync.errors import QbsyncError
from qbsync.observability import logger
from qbsync.utils.jsonio import dumps


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=APPLICATION_JSON,
        body=dumps(body),
        headers=headers or {},
    )


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": {"code": code, "message": message, **extra}})


def build_resolver() -> HttpRouter:
    resolver = HttpRouter()

    @resolver.exception_handler(QbsyncError)
    def _domain_error(error: QbsyncError) -> Response:
        log = logger.warning if error.http_status < 500 else logger.error
        log("request refused", extra={"error_code": error.code, "status": error.http_status})
        return json_response(error.http_status, error.to_body())

    @resolver.not_found
    def _not_found(_: NotFoundError) -> Response:
        path = resolver.current_event.raw_path
        methods = allowed_methods(path)
        if methods:
            return json_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"error": {"code": "method_not_allowed", "message": f"use one of {', '.join(methods)}"}},
                headers={"Allow": ", ".join(methods)},
            )
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")

    @resolver.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        correlation_id = resolver.current_event.request_context.request_id
        # Log the type only: exception text can carry tokens or request bodies.
        logger.error("unhandled error", extra={"error_type": type(error).__name__,
                                               "correlation_id": correlation_id})
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            "internal_error",
            "qbsync failed to handle the request; quote the correlation id to the operator",
            correlation_id=correlation_id,
        )

    return resolver


def raw_body(event: HttpRequest | dict[str, Any]) -> bytes:
    """The request body exactly as sent (signatures are computed over these bytes)."""
    return (event if isinstance(event, HttpRequest) else HttpRequest(event)).raw_body()
