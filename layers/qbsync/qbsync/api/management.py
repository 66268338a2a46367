"""Shared plumbing of the API-key-protected management routes."""

from __future__ import annotations

from typing import Any

from qbsync.api.http import HttpRouter, NextMiddleware

from qbsync.api.routes import PUBLIC_MANAGEMENT_ROUTES
from qbsync.errors import BadRequestError
from qbsync.models.identifiers import is_crm_id
from qbsync.secrets import api_key_digest
from qbsync.security.api_key import verify_api_key
from qbsync.settings import get_settings
from qbsync.utils.jsonio import loads


def require_api_key(app: HttpRouter, next_middleware: NextMiddleware) -> Any:
    if (app.current_event.http_method, app.current_event.path) in PUBLIC_MANAGEMENT_ROUTES:
        return next_middleware(app)  # the API's own documentation: no key, no secret in it
    digest = api_key_digest(get_settings()).api_key_sha256.get_secret_value()
    verify_api_key(app.current_event.headers, expected_sha256=digest)
    tenant_id = (app.current_event.path_parameters or {}).get("tenant_id")
    if tenant_id is not None and not is_crm_id(tenant_id):
        raise BadRequestError("tenant_id is malformed", code="invalid_tenant_id")
    return next_middleware(app)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(app: HttpRouter, *, optional: bool = False,
              allowed_keys: frozenset[str] | None = None) -> dict[str, Any]:
    """The request's JSON object. NaN/Infinity are refused (not JSON, RFC 8259), and with `allowed_keys` so
    is any other key: a request that says more than the route understands is refused, never half-obeyed."""
    import json
    from decimal import Decimal

    raw = app.current_event.decoded_body if app.current_event.body else ""
    if not raw or not raw.strip():
        if optional:
            return {}
        raise BadRequestError("a JSON body is required", code="missing_body")
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise BadRequestError("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(value, dict):
        raise BadRequestError("the body must be a JSON object", code="malformed_json")
    if allowed_keys is not None:
        unknown = sorted(set(value) - allowed_keys)
        if unknown:
            raise BadRequestError(f"unknown field(s): {', '.join(unknown)}", code="validation_failed",
                                  details={"fields": [{"field": name, "reason": "not allowed"} for name in unknown]})
    return value


def public_base_url(app: HttpRouter) -> str:
    settings = get_settings()
    if settings.public_url:
        return str(settings.public_url).rstrip("/")
    return f"https://{app.current_event.request_context.domain_name}"


def tenant_realm(app: HttpRouter, tenant_id: str) -> str:
    """The company a management call is about: `?realm_id=` or the tenant's default (404 when none)."""
    from qbsync.composition import connections_repository
    from qbsync.errors import NotFoundError
    from qbsync.models.identifiers import is_qbo_id

    realm_id = (app.current_event.query_string_parameters or {}).get("realm_id")
    if realm_id is not None and not is_qbo_id(realm_id):
        raise BadRequestError("realm_id must be a QuickBooks company id", code="invalid_realm_id")
    repository = connections_repository()
    if realm_id is not None:
        # Only one of the tenant's own companies: another tenant's realm id is simply not found here.
        if repository.get(tenant_id, realm_id) is None:
            raise NotFoundError("this tenant has no connection to that company", code="connection_not_found")
        return realm_id
    realm_id = repository.default_realm(tenant_id)
    if realm_id is None:
        raise NotFoundError("unknown tenant: it has never connected QuickBooks", code="tenant_not_found")
    return realm_id
