"""The entity types the emulator serves, by name and by URL segment."""

from __future__ import annotations

from .base import EntityType
from .lists import Account, Item, TaxCode, TaxRate, Term
from .names import Customer, Vendor
from .payments import Payment
from .sales import Invoice, SalesReceipt

ENTITY_TYPES: dict[str, EntityType] = {
    cls.name: cls()
    for cls in (Customer, Vendor, Item, Term, Account, TaxCode, TaxRate, Invoice, SalesReceipt, Payment)
}
BY_URL: dict[str, EntityType] = {entity.url: entity for entity in ENTITY_TYPES.values()}
BY_LOWER_NAME: dict[str, EntityType] = {name.lower(): entity for name, entity in ENTITY_TYPES.items()}


def lookup(name: str) -> EntityType | None:
    """Case-insensitive lookup by entity name (query language, CDC, batch keys, control API)."""
    return BY_LOWER_NAME.get(name.lower())


__all__ = ["BY_URL", "ENTITY_TYPES", "EntityType", "lookup"]
