"""Log keys for every line of a management API request (SPEC F22): the tenant from the path, and whatever a
route adds (`event_id` for a dry-run replay). The correlation id (API Gateway's request id) is set by
`logger.inject_lambda_context` on the handler.

Keys are reset when a request *starts*, not when it ends: the resolver's exception handlers log a refused
request after the middlewares have returned, and that line must still carry its tenant. Resetting first
also means one request's tenant never labels the next request's lines in a reused Lambda container.
"""

from __future__ import annotations

from typing import Any

from qbsync.api.http import HttpRouter, NextMiddleware

from qbsync.models.identifiers import is_crm_id
from qbsync.observability import annotate, logger

REQUEST_KEYS = ("tenant_id", "event_id", "realm_id")


def request_log_keys(app: HttpRouter, next_middleware: NextMiddleware) -> Any:
    logger.remove_keys(list(REQUEST_KEYS))
    tenant_id = (app.current_event.path_parameters or {}).get("tenant_id")
    if is_crm_id(tenant_id):  # never log (or trace) a malformed id verbatim
        logger.append_keys(tenant_id=tenant_id)
        annotate(tenant_id=tenant_id)
    return next_middleware(app)
