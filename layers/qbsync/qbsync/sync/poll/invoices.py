"""QBO invoices → the CRM's invoice bodies (F8, F9) and a deal's roll-up. Pure.

The status of a live invoice comes from `qbsync.sync.invoice_status` (computed when reported, in the
company's time zone, so an invoice already past due is `overdue` the first time it is reported). A deleted
invoice is a bare stub in CDC: its body is the last one reported, with status `deleted`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from qbsync.models.crm_api import DealAccounting, InvoiceAccounting, LatestInvoice, QboInvoice, QboInvoiceLine
from qbsync.models.poll_messages import DealInvoice, DealRollup
from qbsync.sync.invoice_status import email_status, invoice_status, qbo_invoice_url
from qbsync.sync.poll.qbo_objects import amount, qbo_id, ref_name, ref_value

_INACTIVE_STATUSES = frozenset({"deleted", "voided"})


def deleted_accounting(last: Mapping[str, Any] | None, *, invoice_id: str, realm_id: str, home_currency: str,
                       environment: str, deleted_at: str) -> InvoiceAccounting:
    if last:
        return InvoiceAccounting.model_validate({**last, "status": "deleted", "updated_at": deleted_at})
    return InvoiceAccounting(
        realm_id=realm_id, qbo_invoice_id=invoice_id, doc_number=None, status="deleted",
        email_status="not_sent", total=Decimal("0"), balance=Decimal("0"), amount_paid=Decimal("0"),
        currency=home_currency, due_date=None,
        qbo_url=qbo_invoice_url(environment, invoice_id), updated_at=deleted_at,
    )


def _line(line: Mapping[str, Any]) -> QboInvoiceLine | None:
    kind = line.get("DetailType")
    if kind == "SalesItemLineDetail":
        detail = line.get("SalesItemLineDetail") or {}
        quantity = detail.get("Qty")
        price = detail.get("UnitPrice")
        return QboInvoiceLine(description=line.get("Description"),
                              quantity=Decimal(str(quantity)) if quantity is not None else None,
                              unit_price=Decimal(str(price)) if price is not None else None,
                              amount=amount(line, "Amount"))
    if kind == "DiscountLineDetail":
        return QboInvoiceLine(description=line.get("Description") or "Discount", quantity=None,
                              unit_price=None, amount=-amount(line, "Amount"))
    if kind == "DescriptionOnly" and line.get("Amount") is not None:
        return QboInvoiceLine(description=line.get("Description"), quantity=None, unit_price=None,
                              amount=amount(line, "Amount"))
    return None  # the subtotal line QBO adds, group headers: nothing the CRM should add up


def qbo_invoice_body(invoice: Mapping[str, Any], *, realm_id: str, crm_contact_id: str | None,
                     home_currency: str, environment: str, today: date) -> QboInvoice:
    total, balance = amount(invoice, "TotalAmt"), amount(invoice, "Balance")
    lines = [mapped for mapped in (_line(line) for line in invoice.get("Line") or []) if mapped is not None]
    return QboInvoice(
        realm_id=realm_id,
        doc_number=invoice.get("DocNumber"),
        qbo_customer_id=ref_value(invoice, "CustomerRef") or "",
        crm_contact_id=crm_contact_id,
        status=invoice_status(dict(invoice), today=today),  # type: ignore[arg-type]
        email_status=email_status(dict(invoice)),  # type: ignore[arg-type]
        total=total,
        balance=balance,
        amount_paid=max(total - balance, Decimal("0")),
        currency=ref_value(invoice, "CurrencyRef") or home_currency,
        txn_date=invoice.get("TxnDate"),
        due_date=invoice.get("DueDate"),
        lines=lines,
        qbo_url=qbo_invoice_url(environment, qbo_id(invoice)),
    )


def deal_entry(accounting: InvoiceAccounting, *, crm_invoice_id: str, invoice: Mapping[str, Any],
               previous: DealInvoice | None) -> DealInvoice:
    """The deal's view of one invoice. A deleted stub has no customer: the recipient stays as it was."""
    recipient = ref_name(invoice, "CustomerRef") or (previous.recipient if previous else None)
    return DealInvoice(
        crm_invoice_id=crm_invoice_id, qbo_invoice_id=accounting.qbo_invoice_id,
        doc_number=accounting.doc_number, recipient=recipient, status=accounting.status,
        due_date=accounting.due_date,
        total=format(accounting.total, "f"), currency=accounting.currency,
        updated_at=accounting.updated_at,
    )


def deal_accounting(rollup: DealRollup, *, realm_id: str) -> DealAccounting | None:
    """Total invoiced (live invoices in the latest invoice's currency) and the most recently updated
    invoice's recipient, number, status and due date (issue 6 §6)."""
    if not rollup.invoices:
        return None
    latest = max(rollup.invoices.values(), key=lambda entry: (entry.updated_at, entry.crm_invoice_id))
    live = [entry for entry in rollup.invoices.values()
            if entry.currency == latest.currency and entry.status not in _INACTIVE_STATUSES]
    total = sum((Decimal(entry.total) for entry in live), Decimal("0"))
    return DealAccounting(
        realm_id=realm_id, total_invoiced=total, currency=latest.currency,
        latest_invoice=LatestInvoice(crm_invoice_id=latest.crm_invoice_id,
                                     qbo_invoice_id=latest.qbo_invoice_id, doc_number=latest.doc_number,
                                     recipient=latest.recipient,
                                     status=latest.status,  # type: ignore[arg-type]
                                     due_date=latest.due_date),
    )
