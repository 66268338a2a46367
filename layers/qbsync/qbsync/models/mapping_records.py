"""A mapping pairs a CRM record with the QBO object qbsync made or matched for it (SPEC "Words")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

MappedObject = Literal["customers", "items", "invoices", "payments", "sales_receipts", "deals"]


class Mapping(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    object_type: MappedObject
    crm_id: str
    qbo_id: str
    created_at: datetime
    updated_at: datetime
    # What the sync needs to remember per pair: the CRM's `updated_at` last applied (stale snapshots are
    # skipped), the amount paid last applied, a content hash (unchanged records are skipped), ...
    state: dict[str, Any] = {}
    version: int = 1
