"""A content hash of what we send the CRM for a QBO object, kept in the mapping state: a change that does
not change what the CRM would see (an overlap, a re-save, a replayed job) sends nothing. Pure."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel

# Changes on every save, even when nothing the CRM shows changed.
VOLATILE_FIELDS = frozenset({"qbo_updated_at"})


def content_hash(body: BaseModel) -> str:
    data = body.model_dump(mode="json", exclude=set(VOLATILE_FIELDS))
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
