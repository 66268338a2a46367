"""Idempotency-Keys for our calls to the CRM: they name the operation - tenant, company, target and the QBO
change - not the body (SPEC "Contract details"). The same change sent again reuses its key; a new change gets
a new one even when the body happens to be identical.

A QBO change is the object's id and version (SyncToken, or the time of its deletion) *and* the digest of
what we derive from it: some of what the CRM sees moves without a new SyncToken (a customer's Balance is
computed from its invoices; a contact id appears once the customer is paired), and reusing a key for a
different body would be refused by the CRM (409) and dead-letter the poll. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from qbsync.sync.poll.qbo_objects import qbo_id, version_of


def changes_digest(changes: Iterable[tuple[Mapping[str, Any], str]]) -> str:
    """Which QBO changes a batch carries, in its order: `id@version#content` of each, hashed."""
    parts = "|".join(f"{qbo_id(obj)}@{version_of(obj)}#{content}" for obj, content in changes)
    return hashlib.sha256(parts.encode("utf-8")).hexdigest()[:32]


def crm_key(tenant_id: str, realm_id: str, *parts: str | int) -> str:
    text = ":".join(["qbsync", tenant_id, realm_id, *(str(part) for part in parts)])
    if len(text) <= 200:
        return text
    # Very long CRM ids: keep a readable prefix, make the rest a digest (the CRM's limit is 255).
    return f"{text[:160]}:{hashlib.sha256(text.encode('utf-8')).hexdigest()[:32]}"
