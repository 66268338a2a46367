"""Key layout of our tables, in one place. Partition keys start with the tenant they belong to; the one
exception is the realm claim, whose job is to say which tenant a realm belongs to."""

from __future__ import annotations

CONNECTION_SK_PREFIX = "CONNECTION#"
STATE_SK_PREFIX = "OAUTH_STATE#"
TENANT_SK = "TENANT"


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def connection_sk(realm_id: str) -> str:
    return f"{CONNECTION_SK_PREFIX}{realm_id}"


def oauth_state_sk(nonce: str) -> str:
    return f"{STATE_SK_PREFIX}{nonce}"


def realm_claim_pk(realm_id: str) -> str:
    return f"REALM#{realm_id}"


REALM_CLAIM_SK = "CLAIM"
