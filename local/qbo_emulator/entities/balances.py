"""Derived balances: an invoice's open balance and a customer's balance are computed, never stored,
so they can never drift from the payments that produce them."""

from __future__ import annotations

from decimal import Decimal

from ..company import Company
from ..store import Record

ZERO = Decimal("0.00")


def invoice_balance(company: Company, record: Record) -> Decimal:
    if record.voided or record.deleted:
        return ZERO
    return record.data.get("TotalAmt", ZERO) - company.applied_to(record.id)


def customer_balances(company: Company) -> dict[str, Decimal]:
    """Open invoice balances minus unapplied payment credit, per customer id (cached per store version)."""
    cached = getattr(company, "_balance_cache", None)
    if cached and cached[0] == company.store.version:
        return cached[1]
    balances: dict[str, Decimal] = {}
    for invoice in company.store.live("Invoice"):
        customer_id = invoice.data["CustomerRef"]["value"]
        balances[customer_id] = balances.get(customer_id, ZERO) + invoice_balance(company, invoice)
    for payment in company.store.live("Payment"):
        if payment.voided:
            continue
        customer_id = payment.data["CustomerRef"]["value"]
        balances[customer_id] = balances.get(customer_id, ZERO) - payment.data.get("UnappliedAmt", ZERO)
    company._balance_cache = (company.store.version, balances)
    return balances
