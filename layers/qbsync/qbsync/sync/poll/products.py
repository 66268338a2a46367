"""QBO Item → CRM product (`ProductUpsert`, SPEC F7). Pure.

`type` is QBO's own spelling (Service, NonInventory, Inventory, Category, Group); a price or a taxable
flag goes only when QBO has one, so the CRM can tell "no price" from "free".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbsync.models.crm_api import ProductUpsert
from qbsync.sync.poll.qbo_objects import amount, qbo_id, updated_at_text


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def product_upsert(item: Mapping[str, Any], *, realm_id: str) -> ProductUpsert:
    identifier = qbo_id(item)
    taxable = item.get("Taxable")
    return ProductUpsert(
        qbo_item_id=identifier,
        realm_id=realm_id,
        name=(_text(item.get("Name")) or _text(item.get("FullyQualifiedName"))
              or f"QuickBooks item {identifier}"),
        sku=_text(item.get("Sku")),
        description=_text(item.get("Description")),
        type=_text(item.get("Type")) or "Service",
        unit_price=amount(item, "UnitPrice") if item.get("UnitPrice") is not None else None,
        taxable=taxable if isinstance(taxable, bool) else None,
        active=item.get("Active") is not False,
        qbo_updated_at=updated_at_text(item) or _text((item.get("MetaData") or {}).get("CreateTime")),
    )
