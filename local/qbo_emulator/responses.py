"""Building HTTP responses: JSON with exact Decimals, QBO faults, gateway faults, the XML throttle body."""

from __future__ import annotations

import secrets
from typing import Any

from werkzeug.wrappers import Response

from . import jsonio
from .errors import GatewayError, QboFault, throttle_xml


def new_tid() -> str:
    """An intuit_tid-like transaction id (QBO.md §2.1): log it, quote it to support."""
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        jsonio.dumps(body).encode("utf-8"),
        status=status,
        headers=headers,
        content_type="application/json;charset=UTF-8",
    )


def fault_response(fault: QboFault, time_text: str) -> Response:
    return json_response({"Fault": fault.fault(), "time": time_text}, status=fault.http_status)


def gateway_response(error: GatewayError, epoch_millis: int) -> Response:
    headers = {}
    if error.http_status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="Intuit", error="invalid_token"'
    return json_response(error.body(epoch_millis), status=error.http_status, headers=headers)


def throttle_response(time_text: str) -> Response:
    # No Retry-After: QBO.md §6.3 marks it unconfirmed, and the client must wait 60 s without it anyway.
    return Response(throttle_xml(time_text), status=429, content_type="application/xml")


def control_error(status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> Response:
    return json_response({"error": {"code": code, "message": message}, **(extra or {})}, status=status)
