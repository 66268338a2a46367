"""Invoice and SalesReceipt: DocNumber, currency, dates, addresses, totals, void (QBO.md §4.3, §4.4, §5)."""

from __future__ import annotations

import calendar
import copy
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..company import Company
from ..errors import business_error, duplicate_doc_number, malformed_request, required_param
from ..money import ZERO, cents, decimal_field
from ..store import Record
from .balances import invoice_balance
from .base import EntityType, WriteContext, base_render, boolean, date_field, enum, field_prop, make_ref, text

_SALES_FIELDS = frozenset(
    {
        "Line",
        "CustomerRef",
        "CurrencyRef",
        "ExchangeRate",
        "GlobalTaxCalculation",
        "DocNumber",
        "ProjectRef",
        "BillEmail",
        "BillEmailCc",
        "BillEmailBcc",
        "TxnDate",
        "ShipDate",
        "TrackingNum",
        "ClassRef",
        "PrintStatus",
        "TxnSource",
        "DepositToAccountRef",
        "PrivateNote",
        "CustomerMemo",
        "EmailStatus",
        "TxnTaxDetail",
        "CustomField",
        "ShipAddr",
        "ShipFromAddr",
        "BillAddr",
        "DepartmentRef",
        "ShipMethodRef",
        "ApplyTaxAfterDiscount",
        "TransactionLocationType",
        "FreeFormAddress",
    }
)
_SALES_READ_ONLY = frozenset(
    {
        "TotalAmt",
        "Balance",
        "HomeBalance",
        "HomeTotalAmt",
        "DeliveryInfo",
        "LinkedTxn",
        "RecurDataRef",
        "TaxExemptionRef",
        "InvoiceLink",
        "TxnStatus",
    }
)
_EMAIL_FIELDS = ("BillEmail", "BillEmailCc", "BillEmailBcc")
_ADDRESS_FIELDS = ("BillAddr", "ShipAddr", "ShipFromAddr")


def resolve_currency(ctx: WriteContext, data: dict[str, Any], customer: Record) -> None:
    """Multicurrency rules (QBO.md §4.9): CurrencyRef required when on and equal to the customer's currency;
    only the home currency when off. ExchangeRate = home units per foreign unit."""
    settings = ctx.company.settings
    requested = data.get("CurrencyRef")
    if requested is not None and (
        not isinstance(requested, dict) or not isinstance(requested.get("value"), str)
    ):
        raise malformed_request('CurrencyRef must be an object like {"value": "USD"}')
    code = requested["value"].upper() if requested else None
    customer_currency = customer.data["CurrencyRef"]["value"]
    if not settings.multicurrency:
        if code is not None and code != settings.home_currency:
            raise business_error(
                f"Multicurrency is not enabled: only {settings.home_currency} is accepted",
                element="CurrencyRef",
            )
        if data.get("ExchangeRate") is not None and decimal_field(data["ExchangeRate"], "ExchangeRate") != 1:
            raise business_error("ExchangeRate must be 1 without multicurrency", element="ExchangeRate")
        data.pop("ExchangeRate", None)
        data["CurrencyRef"] = ctx.company.currency_ref(settings.home_currency)
        return
    if code is None:
        raise required_param("CurrencyRef")
    if code != customer_currency:
        raise business_error(
            f"The transaction currency {code} must match the customer's currency {customer_currency}",
            element="CurrencyRef",
        )
    raw_rate = data.get("ExchangeRate")
    if code == settings.home_currency:
        if raw_rate is not None and decimal_field(raw_rate, "ExchangeRate") != 1:
            raise business_error("ExchangeRate must be 1 for the home currency", element="ExchangeRate")
        rate = Decimal(1)
    else:
        if raw_rate is None:
            # Stricter choice: QBO may look up a market rate; the emulator makes the client send one.
            raise required_param("ExchangeRate")
        rate = decimal_field(raw_rate, "ExchangeRate")
        if rate <= 0:
            raise business_error("ExchangeRate must be positive", element="ExchangeRate")
    data["CurrencyRef"] = ctx.company.currency_ref(code)
    data["ExchangeRate"] = rate


def next_doc_number(company: Company, entity: str) -> str:
    used = {r.data.get("DocNumber") for r in company.store.live(entity)}
    counter = max(1001, company.doc_counters.get(entity, 1001))
    while str(counter) in used:
        counter += 1
    company.doc_counters[entity] = counter + 1
    return str(counter)


def resolve_doc_number(ctx: WriteContext, entity: str, data: dict[str, Any], existing: Record | None) -> None:
    company = ctx.company
    doc = text(data, "DocNumber", 21)
    if doc is None:
        if company.settings.custom_txn_numbers:
            # Stricter choice: with custom transaction numbers on, the client must number its documents.
            raise required_param("DocNumber")
        doc = existing.data["DocNumber"] if existing is not None else next_doc_number(company, entity)
    if not ctx.allow_duplicate_docnum:
        for other in company.store.live(entity):
            if (existing is None or other.id != existing.id) and other.data.get("DocNumber") == doc:
                raise duplicate_doc_number(doc, entity, other.id)
    data["DocNumber"] = doc


def _due_date(term: Record, txn_date: date) -> date:
    if term.data.get("DueDays") is not None:
        return txn_date + timedelta(days=term.data["DueDays"])
    day = term.data["DayOfMonthDue"]
    year, month = txn_date.year, txn_date.month
    if txn_date.day > day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


class SalesTransaction(EntityType):
    deletable = True
    read_only = _SALES_READ_ONLY
    props_extra: tuple = ()

    def query_props(self, company, settings):  # type: ignore[no-untyped-def]
        props = super().query_props(company, settings)
        for prop in (
            field_prop("CustomerRef", "ref"),
            field_prop("DocNumber", "string"),
            field_prop("TxnDate", "date"),
            field_prop("TotalAmt", "number"),
            *self.props_extra,
        ):
            props[prop.name.lower()] = prop
        return props

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        if existing is not None and existing.voided:
            # Stricter choice: voided transactions are frozen.
            raise business_error("A voided transaction cannot be modified")
        company = ctx.company
        customer = ctx.ref("Customer", data.get("CustomerRef"), "CustomerRef")
        assert customer is not None
        data["CustomerRef"] = make_ref(customer, "DisplayName")
        resolve_currency(ctx, data, customer)
        resolve_doc_number(ctx, self.name, data, existing)
        txn_date = date_field(data, "TxnDate") or company.today(ctx.now)
        data["TxnDate"] = txn_date.isoformat()
        date_field(data, "ShipDate")
        text(data, "PrivateNote", 4000)
        text(data, "TrackingNum", 31)
        memo = data.get("CustomerMemo")
        if memo is not None and (not isinstance(memo, dict) or not isinstance(memo.get("value", ""), str)):
            raise malformed_request('CustomerMemo must be an object like {"value": "..."}')
        custom = data.get("CustomField")
        if custom is not None and (not isinstance(custom, list) or len(custom) > 3):
            raise business_error("At most three CustomField entries are allowed", element="CustomField")
        for key in (*_EMAIL_FIELDS, *_ADDRESS_FIELDS):
            value = data.get(key)
            if value is not None and not isinstance(value, dict):
                raise malformed_request(f"{key} must be an object")
        if existing is None:
            # QBO fills addresses and the bill-to email from the customer when they are omitted.
            for key in ("BillAddr", "ShipAddr"):
                if data.get(key) is None and customer.data.get(key):
                    data[key] = copy.deepcopy(customer.data[key])
            if data.get("BillEmail") is None and customer.data.get("PrimaryEmailAddr", {}).get("Address"):
                data["BillEmail"] = {"Address": customer.data["PrimaryEmailAddr"]["Address"]}
        email_status = enum(data, "EmailStatus", ("NotSet", "NeedToSend", "EmailSent"), "NotSet")
        if email_status == "NeedToSend" and not (data.get("BillEmail") or {}).get("Address"):
            raise business_error("EmailStatus NeedToSend requires BillEmail.Address", element="BillEmail")
        enum(data, "PrintStatus", ("NotSet", "NeedToPrint", "PrintComplete"), "NotSet")
        boolean(data, "ApplyTaxAfterDiscount", False)
        self.validate_specific(ctx, data, existing, customer, txn_date)
        from ..totals import compute_totals  # local import: totals imports entities.base

        totals = compute_totals(ctx, self.name, data, existing)
        data["Line"] = totals.lines
        data["TxnTaxDetail"] = totals.tax_detail
        data["TotalAmt"] = totals.total
        if company.settings.multicurrency:
            data["HomeTotalAmt"] = cents(totals.total * data["ExchangeRate"])
        self.check_against_payments(ctx, data, existing)
        return data

    def validate_specific(
        self,
        ctx: WriteContext,
        data: dict[str, Any],
        existing: Record | None,
        customer: Record,
        txn_date: date,
    ) -> None:
        """Per-type fields (terms and due date for invoices, deposit account for receipts)."""

    def check_against_payments(
        self, ctx: WriteContext, data: dict[str, Any], existing: Record | None
    ) -> None:
        """Refuse changes that would contradict payments already applied."""

    def void(self, ctx: WriteContext, record: Record) -> dict[str, Any]:
        """All amounts and quantities become 0, "Voided" is prepended to PrivateNote (QBO.md §5)."""
        data = copy.deepcopy(record.data)
        for line in data.get("Line", []):
            if "Amount" in line:
                line["Amount"] = ZERO
            detail = line.get("SalesItemLineDetail")
            if detail is not None:
                if "Qty" in detail:
                    detail["Qty"] = 0
                if "TaxInclusiveAmt" in detail:
                    detail["TaxInclusiveAmt"] = ZERO
        data["TxnTaxDetail"] = {"TotalTax": ZERO}
        data["TotalAmt"] = ZERO
        if "HomeTotalAmt" in data:
            data["HomeTotalAmt"] = ZERO
        note = data.get("PrivateNote")
        data["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        return data


class Invoice(SalesTransaction):
    name = "Invoice"
    url = "invoice"
    void_style = "void"
    writable = _SALES_FIELDS | frozenset(
        {
            "SalesTermRef",
            "DueDate",
            "Deposit",
            "AllowOnlineACHPayment",
            "AllowOnlineCreditCardPayment",
            "AllowOnlinePayment",
            "AllowIPNPayment",
        }
    )
    props_extra = (
        field_prop("DueDate", "date"),
        field_prop("SalesTermRef", "ref"),
        field_prop("Balance", "number"),
    )

    def validate_specific(
        self,
        ctx: WriteContext,
        data: dict[str, Any],
        existing: Record | None,
        customer: Record,
        txn_date: date,
    ) -> None:
        term = ctx.ref("Term", data.get("SalesTermRef"), "SalesTermRef", required=False)
        if term is None:
            fallback = customer.data.get("SalesTermRef", {}).get("value") or ctx.company.defaults["term"]
            term = ctx.ref("Term", {"value": fallback}, "SalesTermRef")
        assert term is not None
        data["SalesTermRef"] = make_ref(term)
        due = date_field(data, "DueDate") or _due_date(term, txn_date)
        if due < txn_date:
            raise business_error("DueDate cannot be before TxnDate", element="DueDate")
        data["DueDate"] = due.isoformat()
        deposit = data.get("Deposit")
        if deposit is not None and decimal_field(deposit, "Deposit") != 0:
            raise business_error("Invoice deposits are not supported by this emulator", element="Deposit")
        data["Deposit"] = ZERO
        if data.get("AllowIPNPayment") is True:
            raise business_error("AllowIPNPayment must always be false", element="AllowIPNPayment")
        for key in (
            "AllowOnlineACHPayment",
            "AllowOnlineCreditCardPayment",
            "AllowIPNPayment",
            "AllowOnlinePayment",
        ):
            boolean(data, key)

    def check_against_payments(
        self, ctx: WriteContext, data: dict[str, Any], existing: Record | None
    ) -> None:
        if existing is None:
            return
        applied = ctx.company.applied_to(existing.id)
        if not applied:
            return
        if data["CustomerRef"]["value"] != existing.data["CustomerRef"]["value"]:
            raise business_error(
                "The customer cannot change while payments are applied to this invoice", element="CustomerRef"
            )
        if data["TotalAmt"] < applied:
            raise business_error(
                f"The new total {data['TotalAmt']} is less than the {applied} already paid on this invoice",
                element="TotalAmt",
            )

    def before_delete(self, ctx: WriteContext, record: Record) -> None:
        if ctx.company.applications.get(record.id):
            raise business_error(
                "This invoice has payments linked to it. Remove or unlink the payments before deleting the invoice."
            )

    def void(self, ctx: WriteContext, record: Record) -> dict[str, Any]:
        # Voiding unlinks the invoice's payments: they become unapplied credit (QBO.md §11).
        from .payments import unlink_invoice

        unlink_invoice(ctx, record.id)
        return super().void(ctx, record)

    def render(self, company: Company, record: Record) -> dict[str, Any]:
        body = dict(record.data)
        balance = invoice_balance(company, record)
        body["Balance"] = balance
        body["LinkedTxn"] = [
            {"TxnId": pid, "TxnType": "Payment"} for pid in company.applications.get(record.id, {})
        ]
        if company.settings.multicurrency:
            body["HomeBalance"] = cents(balance * body.get("ExchangeRate", 1))
        return base_render(company, record, body)


class SalesReceipt(SalesTransaction):
    name = "SalesReceipt"
    url = "salesreceipt"
    void_style = "include_void"
    writable = _SALES_FIELDS | frozenset({"PaymentMethodRef", "PaymentRefNum", "CreditCardPayment"})

    def validate_specific(
        self,
        ctx: WriteContext,
        data: dict[str, Any],
        existing: Record | None,
        customer: Record,
        txn_date: date,
    ) -> None:
        account = ctx.ref(
            "Account",
            data.get("DepositToAccountRef") or {"value": ctx.company.defaults["undeposited_funds"]},
            "DepositToAccountRef",
        )
        assert account is not None
        data["DepositToAccountRef"] = make_ref(account)
        text(data, "PaymentRefNum", 21)

    def render(self, company: Company, record: Record) -> dict[str, Any]:
        body = dict(record.data)
        body["Balance"] = ZERO
        return base_render(company, record, body)
