"""What the CRM is told about a QBO invoice (SPEC F8): status, e-mail status, amounts, a link.

Status is computed when reported (SPEC "Contract details"): an invoice already past its due date with money
owed is `overdue` the first time it is reported, in the company's own time zone. Precedence: deleted,
voided, paid, overdue, partially paid, open.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qbsync.models.crm_api import InvoiceAccounting

QBO_APP_URL = {"production": "https://app.qbo.intuit.com", "sandbox": "https://app.sandbox.qbo.intuit.com"}


def company_today(now: datetime, time_zone: str | None) -> date:
    try:
        zone = ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    return now.astimezone(zone).date() if zone else now.date()


def _amount(invoice: dict[str, Any], name: str) -> Decimal:
    return Decimal(str(invoice.get(name, 0) or 0))


def is_voided(invoice: dict[str, Any]) -> bool:
    # QBO keeps a voided invoice with every amount zeroed and "Voided" prepended to PrivateNote (QBO.md §5).
    return _amount(invoice, "TotalAmt") == 0 and str(invoice.get("PrivateNote", "")).startswith("Voided")


def invoice_status(invoice: dict[str, Any], *, today: date, deleted: bool = False) -> str:
    if deleted:
        return "deleted"
    if is_voided(invoice):
        return "voided"
    total, balance = _amount(invoice, "TotalAmt"), _amount(invoice, "Balance")
    if balance <= 0:
        return "paid"
    due = invoice.get("DueDate")
    if due and date.fromisoformat(str(due)) < today:
        return "overdue"
    return "partially_paid" if balance < total else "open"


def email_status(invoice: dict[str, Any]) -> str:
    # QBO.md §5: some answers (a void's) spell enums in upper snake case (EMAIL_SENT); parse leniently.
    status = str(invoice.get("EmailStatus") or "").replace("_", "").lower()
    return "sent" if status == "emailsent" else "not_sent"


def qbo_invoice_url(environment: str, invoice_id: str) -> str:
    return f"{QBO_APP_URL.get(environment, QBO_APP_URL['production'])}/app/invoice?txnId={invoice_id}"


def invoice_accounting(invoice: dict[str, Any], *, realm_id: str, home_currency: str, environment: str,
                       today: date, deleted: bool = False) -> InvoiceAccounting:
    total, balance = _amount(invoice, "TotalAmt"), _amount(invoice, "Balance")
    currency = (invoice.get("CurrencyRef") or {}).get("value") or home_currency
    updated = (invoice.get("MetaData") or {}).get("LastUpdatedTime")
    return InvoiceAccounting(
        realm_id=realm_id,
        qbo_invoice_id=str(invoice["Id"]),
        doc_number=invoice.get("DocNumber"),
        status=invoice_status(invoice, today=today, deleted=deleted),  # type: ignore[arg-type]
        email_status=email_status(invoice),  # type: ignore[arg-type]
        total=total,
        balance=balance,
        amount_paid=max(total - balance, Decimal("0")),
        currency=currency,
        due_date=invoice.get("DueDate"),
        qbo_url=qbo_invoice_url(environment, str(invoice["Id"])),
        updated_at=updated or datetime.now().astimezone().isoformat(),
    )
