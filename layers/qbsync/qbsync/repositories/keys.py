"""Key layout of our tables, in one place. Every partition key starts with the tenant it belongs to."""

from __future__ import annotations


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def connection_sk(realm_id: str) -> str:
    return f"CONNECTION#{realm_id}"


CONNECTION_SK_PREFIX = "CONNECTION#"
