"""Money the CRM received → QBO: a SalesReceipt for `payment.succeeded` (F11) and a Payment linked to the
invoice for `invoice.paid` / `invoice.partially_paid` (F13). Pure, like invoice_mapping, whose line, tax,
discount and currency rules a SalesReceipt shares.

Rules chosen where SPEC and QBO.md are silent:
- TxnDate is the day `paid_at` falls on in the company's time zone (`CompanyFacts.time_zone`), or in UTC
  when the zone is unknown: QBO dates are company-local.
- PaymentRefNum is the CRM `reference` when it fits QBO's 21 characters. A longer one is left out rather
  than cut (a cut reference looks valid and matches nothing); the full reference is always in
  PrivateNote, with the CRM payment id tag "[qbsync crm_payment_id=<id>]".
- `method` is not mapped: QBO wants a PaymentMethod Id, and the CRM sends free text.
- SalesReceipt DocNumber: only when the company uses custom transaction numbers (as for invoices); the
  payment has no number of its own, so it is the CRM payment id when that fits 21 characters, else
  "P" + the first 20 hex digits of its SHA-256 (deterministic, so a retry finds the same receipt).
- A SalesReceipt is paid in full: besides the totals check, the payment `amount` must equal the CRM
  total (`total_mismatch`, field "amount").
- A Payment amount must be a positive cents amount (`invalid_payment_amount`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qbsync.models.connection_records import CompanyFacts
from qbsync.models.crm_events import Payment, SucceededPayment
from qbsync.models.tenant_settings import TenantSettings

from .invoice_mapping import (
    DOC_NUMBER_MAX,
    InvoiceMappingError,
    MappedTransaction,
    bill_to_fields,
    check_totals,
    currency_fields,
    custom_field_entries,
    customer_tax_id,
    map_sales_lines,
    private_note,
    sale_header,
)
from .money import has_cents_only, money_text
from .qbo_totals import TaxRateEntry

PAYMENT_REF_MAX = 21


@dataclass(frozen=True)
class MappedReceipt(MappedTransaction):
    """A SalesReceipt create or sparse-update body (`map_sales_receipt`)."""


def map_sales_receipt(payment: SucceededPayment, *, company: CompanyFacts, settings: TenantSettings,
                      customer_ref: str, item_refs: Mapping[str, str],
                      tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None = None,
                      exchange_rate: Decimal | None = None, qbo_receipt: tuple[str, str] | None = None,
                      verify_totals: bool = True) -> MappedReceipt:
    """The QBO SalesReceipt body for a CRM `payment.succeeded` (F11). `qbo_receipt` = (Id, SyncToken) of the
    receipt an earlier delivery created makes it a sparse update of that receipt (a changed repeat)."""
    warnings: list[str] = []
    doc_number = receipt_doc_number(payment, company)
    body = sale_header(update=qbo_receipt, customer_ref=customer_ref, doc_number=doc_number,
                       txn_date=company_date(payment.paid_at, company))
    reference = payment_ref_num(payment.reference)
    if reference is not None:
        body["PaymentRefNum"] = reference
    body.update(bill_to_fields(payment.customer, settings))
    body["PrivateNote"] = _payment_note(payment)
    # A payment has no number, deal or message: only the customer's fields can fill custom fields.
    sources = {"customer.company": payment.customer.company,
               "customer.crm_contact_id": payment.customer.crm_contact_id}
    custom = custom_field_entries(sources, settings, qbo_receipt is not None, warnings)
    if custom:
        body["CustomField"] = custom
    # The contract gives a succeeded payment no invoice-level discount; line discounts ride on its lines.
    sales = map_sales_lines(
        payment.lines, None, currency=payment.currency, crm_tax=payment.totals.tax, company=company,
        settings=settings, item_refs=item_refs, tax_rates=tax_rates, exchange_rate=exchange_rate,
        for_update=qbo_receipt is not None, crm_id=payment.id, warnings=warnings)
    body.update(sales.fields)
    mapped = MappedReceipt(body=body, expected=sales.expected, crm_id=payment.id, warnings=tuple(warnings),
                           doc_number=doc_number, customer_tax_id=customer_tax_id(payment.customer, settings),
                           line_ids=tuple(line.id for line in payment.lines))
    if verify_totals:
        check_totals(mapped, payment)
        if payment.amount != payment.totals.total:
            raise InvoiceMappingError(
                f"CRM payment {payment.id} is {money_text(payment.amount)} but its lines total "
                f"{money_text(payment.totals.total)}; a sales receipt is paid in full", code="total_mismatch",
                details={"crm_id": payment.id, "field": "amount", "qbo": money_text(mapped.expected.total),
                         "crm": money_text(payment.amount)})
    return mapped


def map_payment(payment: Payment, *, invoice_qbo_id: str, customer_ref: str, company: CompanyFacts,
                exchange_rate: Decimal | None = None) -> dict[str, Any]:
    """The QBO Payment create body for one CRM payment on an invoice (F13): `TotalAmt` = the payment, all
    of it applied to `invoice_qbo_id`. When the CRM event carries no payment, the caller builds a
    `Payment` for the rise in `amount_paid` (its id names the event, so the note still finds it)."""
    amount = payment.amount
    if amount <= 0 or not has_cents_only(amount):
        raise InvoiceMappingError(
            f"CRM payment {payment.id} amount {money_text(amount)} is not a positive cents amount",
            code="invalid_payment_amount",
            details={"crm_payment_id": payment.id, "amount": money_text(amount)})
    warnings: list[str] = []  # only "no exchange rate": QBO then uses its own, which is what we want
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer_ref},
        "TotalAmt": amount,
        "TxnDate": company_date(payment.paid_at, company).isoformat(),
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_qbo_id, "TxnType": "Invoice"}]}],
    }
    reference = payment_ref_num(payment.reference)
    if reference is not None:
        body["PaymentRefNum"] = reference
    body.update(currency_fields(payment.currency, company, exchange_rate, crm_id=payment.id,
                                warnings=warnings))
    body["PrivateNote"] = _payment_note(payment)
    return body


def payment_ref_num(reference: str | None) -> str | None:
    """The CRM reference as QBO's PaymentRefNum, or None when it would not fit (never cut)."""
    reference = (reference or "").strip()
    return reference if reference and len(reference) <= PAYMENT_REF_MAX else None


def receipt_doc_number(payment: SucceededPayment, company: CompanyFacts) -> str | None:
    if not company.custom_txn_numbers:
        return None
    if len(payment.id) <= DOC_NUMBER_MAX:
        return payment.id
    return "P" + hashlib.sha256(payment.id.encode("utf-8")).hexdigest()[:DOC_NUMBER_MAX - 1]


def company_date(moment: datetime, company: CompanyFacts) -> date:
    """The calendar day `moment` falls on for the QBO company (QBO dates are company-local)."""
    zone: Any = UTC
    if company.time_zone:
        try:
            zone = ZoneInfo(company.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
    return moment.astimezone(zone).date()


def _payment_note(payment: Payment) -> str:
    human = f"CRM payment {payment.id}"
    if payment.reference:
        human += f", reference {payment.reference}"
    if isinstance(payment, SucceededPayment):
        human += f" ({payment.source.replace('_', ' ')})"
    return private_note("crm_payment_id", payment.id, human)

