"""QBO Customer → CRM contact (`ContactUpsert`, SPEC F5). Pure.

QBO returns only the properties that have values (QBO.md §2.3): everything but the id, the name and
`Active` may be missing. The display name falls back to the fully qualified name, then to the id, because
the contract requires one. A billing address goes only when QBO has one; its missing parts are empty strings
(the contract's address has required keys, QBO addresses are often partial).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbsync.models.crm_api import BillingAddress, ContactUpsert
from qbsync.sync.poll.qbo_objects import amount, qbo_id, updated_at_text


def _text(obj: Mapping[str, Any], name: str, inner: str | None = None) -> str | None:
    value = obj.get(name)
    if inner is not None:
        value = value.get(inner) if isinstance(value, Mapping) else None
    text = str(value).strip() if value is not None else ""
    return text or None


def billing_address(customer: Mapping[str, Any]) -> BillingAddress | None:
    address = customer.get("BillAddr")
    if not isinstance(address, Mapping):
        return None
    parts = {
        "line1": _text(address, "Line1"), "line2": _text(address, "Line2"), "city": _text(address, "City"),
        "region": _text(address, "CountrySubDivisionCode"), "postal_code": _text(address, "PostalCode"),
        "country": _text(address, "Country"),
    }
    if not any(parts.values()):
        return None
    return BillingAddress(line1=parts["line1"] or "", line2=parts["line2"], city=parts["city"] or "",
                          region=parts["region"] or "", postal_code=parts["postal_code"] or "",
                          country=parts["country"] or "")


def contact_upsert(customer: Mapping[str, Any], *, realm_id: str) -> ContactUpsert:
    identifier = qbo_id(customer)
    return ContactUpsert(
        qbo_customer_id=identifier,
        realm_id=realm_id,
        display_name=(_text(customer, "DisplayName") or _text(customer, "FullyQualifiedName")
                      or f"QuickBooks customer {identifier}"),
        given_name=_text(customer, "GivenName"),
        family_name=_text(customer, "FamilyName"),
        company_name=_text(customer, "CompanyName"),
        email=_text(customer, "PrimaryEmailAddr", "Address"),
        phone=_text(customer, "PrimaryPhone", "FreeFormNumber"),
        mobile=_text(customer, "Mobile", "FreeFormNumber"),
        billing_address=billing_address(customer),
        active=customer.get("Active") is not False,
        balance=amount(customer, "Balance") if customer.get("Balance") is not None else None,
        qbo_updated_at=updated_at_text(customer) or _text(customer.get("MetaData") or {}, "CreateTime"),
    )
