"""Every route of the HTTP API, as infra/template.yaml declares it (a test keeps the two equal).

The health function also serves API Gateway's `$default` route, and uses this table to tell an unknown path
(404) from a known path called with the wrong method (405): API Gateway alone would answer both with a
bare `{"message": "Not Found"}`.
"""

from __future__ import annotations

import re
from functools import lru_cache

ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/health"),
    ("GET", "/connect"),
    ("GET", "/oauth/callback"),
    ("GET", "/oauth/disconnected"),
    ("POST", "/webhooks/crm"),
    ("POST", "/webhooks/qbo"),
    ("POST", "/tenants/{tenant_id}/disconnect"),
    ("GET", "/tenants/{tenant_id}/settings"),
    ("PUT", "/tenants/{tenant_id}/settings"),
    ("GET", "/tenants/{tenant_id}/status"),
    ("POST", "/tenants/{tenant_id}/sync"),
    ("GET", "/tenants/{tenant_id}/failures"),
    ("POST", "/tenants/{tenant_id}/failures/redrive"),
    ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"),
    ("GET", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/pdf"),
    ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"),
    ("DELETE", "/tenants/{tenant_id}/links/{object}/{crm_id}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
)
# The management function's routes that need no API key: its own documentation (no secret in it).
PUBLIC_MANAGEMENT_ROUTES = frozenset({("GET", "/openapi.json"), ("GET", "/docs")})


def path_pattern(template_path: str) -> re.Pattern[str]:
    """`/tenants/{tenant_id}/x` → a regex where each `{name}` matches one non-empty path segment."""
    parts = re.split(r"(\{[^}/]+\})", template_path)
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((method, path_pattern(path)) for method, path in ROUTES)


def allowed_methods(path: str) -> list[str]:
    """The methods the API serves on `path` (empty when the path itself is unknown)."""
    return sorted({method for method, pattern in _compiled() if pattern.match(path)})
