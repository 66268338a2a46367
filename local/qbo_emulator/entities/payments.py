"""Payment: applying money to invoices moves their Balance and LinkedTxn (QBO.md §4.5, §11).

Every change to an application re-saves the invoice (SyncToken + 1, LastUpdatedTime, an Update webhook),
so a client that updates an invoice after a payment must read it again first.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from ..company import Company
from ..errors import business_error, invalid_reference, malformed_request, required_param
from ..money import ZERO, amount_field, cents
from ..store import Record
from .base import (
    EntityType,
    WriteContext,
    base_render,
    check_properties,
    date_field,
    field_prop,
    make_ref,
    text,
)
from .sales import resolve_currency

_LINE_KEYS = frozenset({"Amount", "LinkedTxn", "LineEx", "Id"})
_LINK_KEYS = frozenset({"TxnId", "TxnType", "TxnLineId"})


def set_applications(ctx: WriteContext, payment_id: str, wanted: dict[str, Decimal]) -> None:
    """Make `payment_id` apply exactly `wanted` (invoice id -> amount); re-save every invoice that changes."""
    company = ctx.company
    current = {
        inv: amounts[payment_id] for inv, amounts in company.applications.items() if payment_id in amounts
    }
    for invoice_id in sorted(set(current) | set(wanted)):
        if current.get(invoice_id) == wanted.get(invoice_id):
            continue
        if invoice_id in wanted:
            company.applications.setdefault(invoice_id, {})[payment_id] = wanted[invoice_id]
        else:
            del company.applications[invoice_id][payment_id]
            if not company.applications[invoice_id]:
                del company.applications[invoice_id]
        invoice = company.store.get("Invoice", invoice_id)
        if invoice is not None and not invoice.deleted:
            company.store.touch(invoice, ctx.now)
            ctx.event("Invoice", invoice_id, "Update")


def unlink_invoice(ctx: WriteContext, invoice_id: str) -> None:
    """Voiding an invoice: drop every payment line pointing at it; the money becomes unapplied credit."""
    company = ctx.company
    for payment_id in list(company.applications.get(invoice_id, {})):
        payment = company.store.get("Payment", payment_id)
        assert payment is not None
        remaining = {
            inv: amounts[payment_id]
            for inv, amounts in company.applications.items()
            if payment_id in amounts and inv != invoice_id
        }
        set_applications(ctx, payment_id, remaining)
        payment.data["Line"] = [
            line for line in payment.data.get("Line", []) if line["LinkedTxn"][0]["TxnId"] != invoice_id
        ]
        payment.data["UnappliedAmt"] = payment.data["TotalAmt"] - sum(remaining.values(), ZERO)
        company.store.touch(payment, ctx.now)
        ctx.event("Payment", payment_id, "Update")


class Payment(EntityType):
    name = "Payment"
    url = "payment"
    deletable = True
    void_style = "include_void"
    writable = frozenset(
        {
            "TotalAmt",
            "CustomerRef",
            "CurrencyRef",
            "ExchangeRate",
            "Line",
            "TxnDate",
            "PaymentRefNum",
            "PaymentMethodRef",
            "DepositToAccountRef",
            "ARAccountRef",
            "PrivateNote",
            "ProcessPayment",
            "CreditCardPayment",
            "TxnSource",
            "ProjectRef",
            "TransactionLocationType",
            "TaxExemptionRef",
        }
    )
    read_only = frozenset({"UnappliedAmt", "HomeTotalAmt", "LinkedTxn", "TxnStatus"})
    props = (
        field_prop("CustomerRef", "ref"),
        field_prop("TxnDate", "date"),
        field_prop("TotalAmt", "number"),
        field_prop("PaymentRefNum", "string"),
        field_prop("PaymentMethodRef", "ref"),
    )

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        if existing is not None and existing.voided:
            raise business_error("A voided transaction cannot be modified")
        company = ctx.company
        customer = ctx.ref("Customer", data.get("CustomerRef"), "CustomerRef")
        assert customer is not None
        data["CustomerRef"] = make_ref(customer, "DisplayName")
        resolve_currency(ctx, data, customer)
        if data.get("TotalAmt") is None:
            raise required_param("TotalAmt")
        total = amount_field(data["TotalAmt"], "TotalAmt")
        if total < 0:
            raise business_error("TotalAmt cannot be negative", element="TotalAmt")
        data["TotalAmt"] = total
        data["TxnDate"] = (date_field(data, "TxnDate") or company.today(ctx.now)).isoformat()
        text(data, "PaymentRefNum", 21)
        text(data, "PrivateNote", 4000)
        account = ctx.ref(
            "Account",
            data.get("DepositToAccountRef") or {"value": company.defaults["undeposited_funds"]},
            "DepositToAccountRef",
        )
        assert account is not None
        data["DepositToAccountRef"] = make_ref(account)
        lines, wanted = self._applications(ctx, data.get("Line"), customer, existing)
        applied = sum(wanted.values(), ZERO)
        if applied > total:
            raise business_error(
                f"The lines apply {applied}, more than the payment's TotalAmt {total}", element="Line"
            )
        data["Line"] = lines
        data["UnappliedAmt"] = total - applied
        if company.settings.multicurrency:
            data["HomeTotalAmt"] = cents(total * data["ExchangeRate"])
        ctx.plan["applications"] = wanted
        return data

    def _applications(
        self, ctx: WriteContext, raw_lines: Any, customer: Record, existing: Record | None
    ) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
        company = ctx.company
        if raw_lines is None:
            return [], {}
        if not isinstance(raw_lines, list):
            raise malformed_request("Line must be a list")
        lines: list[dict[str, Any]] = []
        wanted: dict[str, Decimal] = {}
        for index, raw in enumerate(raw_lines):
            if not isinstance(raw, dict):
                raise malformed_request(f"Line[{index}] must be an object")
            check_properties("Line", raw, _LINE_KEYS)
            if raw.get("Amount") is None:
                raise required_param(f"Line[{index}].Amount")
            amount = amount_field(raw["Amount"], "Line.Amount")
            if amount <= 0:
                raise business_error("A payment line must apply a positive amount", element="Line.Amount")
            links = raw.get("LinkedTxn")
            if not isinstance(links, list) or len(links) != 1 or not isinstance(links[0], dict):
                # Stricter choice: one linked transaction per line, so each line says exactly what it pays.
                raise business_error(
                    "Each payment line needs exactly one LinkedTxn", element="Line.LinkedTxn"
                )
            check_properties("LinkedTxn", links[0], _LINK_KEYS)
            txn_id, txn_type = str(links[0].get("TxnId") or ""), links[0].get("TxnType")
            if not txn_id:
                raise required_param("LinkedTxn.TxnId")
            if txn_type != "Invoice":
                raise business_error(
                    f"Linking a payment to {txn_type!r} is not supported (Invoice only)",
                    element="LinkedTxn.TxnType",
                )
            invoice = company.store.get("Invoice", txn_id)
            if invoice is None or invoice.deleted:
                raise invalid_reference("Invoice", txn_id, "LinkedTxn.TxnId")
            if invoice.voided:
                raise business_error(
                    f"Invoice {txn_id} is voided and cannot receive payments", element="LinkedTxn"
                )
            if invoice.data["CustomerRef"]["value"] != customer.id:
                # QBO leaves such a payment unapplied rather than failing (QBO.md §4.5, §8.12).
                continue
            wanted[txn_id] = wanted.get(txn_id, ZERO) + amount
            lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": txn_id, "TxnType": "Invoice"}]})
        for invoice_id, amount in wanted.items():
            invoice = company.store.get("Invoice", invoice_id)
            assert invoice is not None
            already_mine = (
                company.applications.get(invoice_id, {}).get(existing.id, ZERO) if existing else ZERO
            )
            open_balance = invoice.data["TotalAmt"] - company.applied_to(invoice_id) + already_mine
            if amount > open_balance:
                raise business_error(
                    f"The payment applies {amount} to invoice {invoice_id} whose open balance is {open_balance}",
                    element="Line.Amount",
                )
        return lines, wanted

    def commit(self, ctx: WriteContext, record: Record, before: dict[str, Any] | None) -> None:
        set_applications(ctx, record.id, ctx.plan.get("applications", {}))

    def after_delete(self, ctx: WriteContext, record: Record) -> None:
        set_applications(ctx, record.id, {})

    def void(self, ctx: WriteContext, record: Record) -> dict[str, Any]:
        set_applications(ctx, record.id, {})
        data = copy.deepcopy(record.data)
        data["TotalAmt"] = ZERO
        data["UnappliedAmt"] = ZERO
        data["Line"] = []
        if "HomeTotalAmt" in data:
            data["HomeTotalAmt"] = ZERO
        note = data.get("PrivateNote")
        data["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        return data

    def render(self, company: Company, record: Record) -> dict[str, Any]:
        return base_render(company, record, dict(record.data))
