"""Finding or creating the QBO customer for a CRM contact (issue 5 §2).

mapping → QBO query by e-mail → create. A DisplayName clash (6240) with a customer of the same e-mail
links that customer; with a different e-mail, the new customer gets a deterministic, readable suffix.
Each path ends with a conditional mapping write, so two workers racing for one contact use one customer.
"""

from __future__ import annotations

from qbsync.clients.qbo.errors import QboDuplicateNameError
from qbsync.clients.qbo.query import select
from qbsync.models.crm_events import Customer
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.crm_events.context import ApplyContext
from qbsync.sync.invoice_mapping import display_name_with_suffix, map_customer


def _email(customer: dict) -> str:
    return str((customer.get("PrimaryEmailAddr") or {}).get("Address", "")).strip().lower()


def _link(ctx: ApplyContext, crm_contact_id: str, qbo_id: str) -> str:
    try:
        return ctx.mappings.create(ctx.tenant_id, ctx.realm_id, "customers", crm_contact_id, qbo_id,
                                   state={"origin": "crm"}).qbo_id
    except MappingExistsError as race:
        return race.existing.qbo_id


def resolve_customer(ctx: ApplyContext, customer: Customer, *, currency: str | None = None) -> str:
    mapping = ctx.mappings.get(ctx.tenant_id, ctx.realm_id, "customers", customer.crm_contact_id)
    if mapping is not None:
        return mapping.qbo_id
    email = customer.email.strip().lower()
    found = ctx.qbo.query(select("Customer", conditions=[("PrimaryEmailAddr", "=", customer.email)],
                                 max_results=1))
    if found:
        return _link(ctx, customer.crm_contact_id, str(found[0]["Id"]))

    body = map_customer(customer, settings=ctx.settings, company=ctx.company, currency=currency)
    try:
        created = ctx.qbo.create("Customer", body,
                                 request_key=ctx.request_key("customer", customer.crm_contact_id))
    except QboDuplicateNameError as clash:
        existing = ctx.qbo.read("Customer", clash.existing_id) if clash.existing_id else None
        if existing is not None and _email(existing) == email:
            return _link(ctx, customer.crm_contact_id, str(existing["Id"]))
        body = {**body, "DisplayName": display_name_with_suffix(body["DisplayName"], customer.email)}
        created = ctx.qbo.create("Customer", body,
                                 request_key=ctx.request_key("customer", customer.crm_contact_id, "suffixed"))
    return _link(ctx, customer.crm_contact_id, str(created["Id"]))
