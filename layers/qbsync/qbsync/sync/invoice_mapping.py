"""CRM invoice → QBO Invoice bodies (SPEC F12-F16, G5), and the customer and item bodies an invoice needs.

Pure: no AWS, no HTTP. Amounts stay `Decimal` (the QBO client writes them as JSON numbers). Every body
comes with the totals QBO will compute for it (`qbo_totals.predict_totals`), and `map_invoice` compares
them with the CRM's own totals before anything is written, so an invoice QBO would total differently
fails here with both numbers instead of landing a cent off. Every refusal is an `InvoiceMappingError`
(a permanent `ValidationFailedError`: dead-lettered at once with its code and details).

Rules chosen where SPEC and QBO.md are silent (the README lists them for the CRM vendor and tenants):
- Lines: Description = name, then the CRM description on the next line. A per-line discount is folded
  into the unit price: Qty stays, UnitPrice becomes the net rate with the fewest decimals (≤ 7) for which
  QBO's cents(Qty × UnitPrice) equals the CRM's discounted line; the description says which discount.
  No such rate → `unrepresentable_invoice`. A line discount is the CRM's arithmetic: percentage =
  cents(gross × value / 100), fixed = min(cents(value), gross).
- Invoice discount: one DiscountLineDetail after the sales lines. A percentage with ≤ 2 decimals goes as
  PercentBased (QBO keeps 2); a finer one goes as its amount cents(base × value / 100), which is what QBO
  would compute anyway. A fixed discount larger than the lines is capped at their sum (the CRM caps it
  too). `ApplyTaxAfterDiscount: true` whenever there is a discount, because the CRM taxes discounted
  amounts.
- Tax (F15):
  - US with automated sales tax: lines with any CRM tax → `TAX`, others → `NON`;
    `TxnTaxDetail.TotalTax` = the CRM's `totals.tax`.
  - US without it: same TAX/NON per line, and `TxnTaxDetail.TxnTaxCodeRef` = the tenant's mapping of the
    taxed lines' tax key (below). QBO applies one code per US invoice, so taxed lines with different tax
    sets are `unrepresentable_invoice`; a missing mapping is `tax_code_unmapped` (stricter than sending
    the CRM total as TotalTax, which QBO would not honour without a code).
  - Elsewhere: every line gets `TaxCodeRef` = `settings.tax_codes[<tax key>]`; lines without taxes use
    `settings.tax_codes["exempt"]`. `GlobalTaxCalculation` = TaxInclusive when the taxes are inclusive,
    else TaxExcluded; both kinds on one invoice → `mixed_tax_inclusion`.
  - The tax key of a line is its tax names joined with "+" in the CRM's order ("GST+PST"); the key with
    the names sorted alphabetically is tried next, so a tenant maps a combination once.
  - When the caller passes QBO's rates for a code (`tax_rates`), their sum must equal the sum of the CRM
    rates it stands for, else `tax_rate_mismatch`; without them the CRM's rates predict QBO's tax.
  - Inclusive taxes on a US company → `unrepresentable_invoice` (US QBO has no inclusive tax).
- Currency: CurrencyRef whenever multicurrency is on (QBO requires it then), ExchangeRate only when the
  caller passes one (home units per foreign unit; the CRM snapshot carries none). Another currency with
  multicurrency off → `currency_not_enabled`.
- DocNumber (F16): the CRM number when the company uses custom transaction numbers, never truncated
  (> 21 chars → `doc_number_too_long`); otherwise none, and QBO numbers the invoice.
- F14: TxnDate = issue date; DueDate = issue date + `payment_terms_days` when set, else the CRM due
  date; BillEmail, BillAddr and CustomerMemo per `invoice_fields`; CustomField values from their
  sources. Text QBO would refuse as too long (Description 4000, CustomerMemo 1000, custom field value
  31) is cut, and the cut is reported in `warnings`: it is wording, not money.
- PrivateNote carries "[qbsync crm_invoice_id=<id>]" so people and `crm_id_in_private_note` can find the
  invoice after an uncertain write (QBO prepends "Voided - " on void; the tag survives).
- Tax id: a QBO invoice has no tax-id field. The CRM customer's tax id goes on the QBO customer as
  `PrimaryTaxIdentifier` (when `invoice_fields.tax_id` says so): `MappedInvoice.customer_tax_id` hands it
  to the customer step and `map_customer` writes it.
- Customers: DisplayName from `invoice_fields.recipient`; ':' becomes '-', tabs and line breaks become
  spaces, runs of spaces collapse, ≤ 500 chars. GivenName = first word of the name, FamilyName = the
  rest. PrimaryEmailAddr is always set (qbsync matches customers by e-mail); BillAddr only when
  `billing_address` says so. A 6240 clash with a different e-mail → `display_name_with_suffix`: the name
  plus " (<lower-cased e-mail>)", or " (<8 hex of its SHA-256>)" when the e-mail would take more than
  half of the 500 characters.
- Items: a Service item named after the CRM product (same sanitising, ≤ 100 chars), Sku, UnitPrice,
  IncomeAccountRef. A phone over QBO's 30 characters or a SKU over 100 is left out, never cut (a cut
  one would look valid and match nothing).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from qbsync.errors import ValidationFailedError
from qbsync.models.connection_records import CompanyFacts
from qbsync.models.crm_events import (
    Address,
    Customer,
    Discount,
    InvoiceLine,
    InvoiceSnapshot,
    SucceededPayment,
    Tax,
    Totals,
)
from qbsync.models.tenant_settings import TenantSettings

from .money import (
    HUNDRED,
    MAX_PERCENT_PLACES,
    MAX_QTY_PRICE_PLACES,
    ZERO,
    cents,
    decimal_places,
    has_cents_only,
    line_amount,
    money_text,
    net_unit_price,
    percent_text,
)
from .qbo_totals import ExpectedTotals, TaxRateEntry, predict_totals, rate_percent

EXEMPT_TAX_KEY = "exempt"
"""`settings.tax_codes[EXEMPT_TAX_KEY]`: the QBO tax code for untaxed lines on non-US companies."""
TAX_KEY_SEPARATOR = "+"
DOC_NUMBER_MAX = 21
DESCRIPTION_MAX = 4000
CUSTOMER_MEMO_MAX = 1000
CUSTOM_FIELD_VALUE_MAX = 31
DISPLAY_NAME_MAX = 500
PERSON_NAME_MAX = 100
ITEM_NAME_MAX = 100
SKU_MAX = 100
PHONE_MAX = 30
TAXABLE_LINE_LIMIT = 750  # QBO.md §4.3: taxable invoices are limited to 750 lines
US_COUNTRIES = frozenset({"US", "USA", "UNITED STATES"})
US_TAXABLE, US_NON_TAXABLE = "TAX", "NON"


class InvoiceMappingError(ValidationFailedError):
    """A CRM invoice, receipt or payment QBO cannot hold exactly as the CRM has it. Permanent: retrying
    cannot help, so the worker dead-letters it at once with `code` and `details`."""

    code = "unrepresentable_invoice"


@dataclass(frozen=True)
class MappedTransaction:
    """A QBO sales-transaction body, the totals QBO will compute for it, and what was cut to fit."""

    body: dict[str, Any]
    expected: ExpectedTotals
    crm_id: str
    warnings: tuple[str, ...] = ()
    doc_number: str | None = None
    customer_tax_id: str | None = None
    """For the customer step: QBO keeps the tax id on the customer (PrimaryTaxIdentifier), not the sale."""
    line_ids: tuple[str, ...] = ()
    """CRM line ids in the order of the body's sales lines."""


@dataclass(frozen=True)
class MappedInvoice(MappedTransaction):
    """An Invoice create or sparse-update body (`map_invoice`, `map_invoice_update`)."""


# --- invoices -----------------------------------------------------------------------------------------


def map_invoice(snapshot: InvoiceSnapshot, *, company: CompanyFacts, settings: TenantSettings,
                customer_ref: str, item_refs: Mapping[str, str],
                tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None = None,
                exchange_rate: Decimal | None = None, verify_totals: bool = True) -> MappedInvoice:
    """The QBO Invoice create body for a CRM invoice snapshot.

    `item_refs` maps each CRM line id to its QBO Item Id; `tax_rates` maps QBO TaxCode Ids to their sales
    rates (as read from QBO) so the predicted tax is QBO's; `exchange_rate` is home units per foreign unit.
    With `verify_totals` (the default) the prediction must equal the CRM totals (`check_totals`)."""
    return _map_invoice(snapshot, company=company, settings=settings, customer_ref=customer_ref,
                        item_refs=item_refs, tax_rates=tax_rates, exchange_rate=exchange_rate,
                        verify_totals=verify_totals, update=None)


def map_invoice_update(snapshot: InvoiceSnapshot, *, qbo_invoice_id: str, sync_token: str,
                       company: CompanyFacts, settings: TenantSettings, customer_ref: str,
                       item_refs: Mapping[str, str],
                       tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None = None,
                       exchange_rate: Decimal | None = None, verify_totals: bool = True) -> MappedInvoice:
    """The sparse-update body for `invoice.updated`: everything the snapshot can change (customer, lines,
    discount, tax, dates, e-mail, address, memo, custom fields, number), mapped exactly as on create.

    QBO replaces the whole Line list in a sparse update (lines left out are deleted), so all lines are
    sent. Fields the tenant maps but the snapshot no longer fills are sent empty so the old value goes."""
    return _map_invoice(snapshot, company=company, settings=settings, customer_ref=customer_ref,
                        item_refs=item_refs, tax_rates=tax_rates, exchange_rate=exchange_rate,
                        verify_totals=verify_totals, update=(qbo_invoice_id, sync_token))


def _map_invoice(snapshot: InvoiceSnapshot, *, company: CompanyFacts, settings: TenantSettings,
                 customer_ref: str, item_refs: Mapping[str, str],
                 tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None,
                 exchange_rate: Decimal | None, verify_totals: bool,
                 update: tuple[str, str] | None) -> MappedInvoice:
    warnings: list[str] = []
    for_update = update is not None
    doc_number = invoice_doc_number(snapshot, company)
    body = sale_header(update=update, customer_ref=customer_ref, doc_number=doc_number,
                       txn_date=snapshot.issue_date)
    body["DueDate"] = due_date(snapshot, settings).isoformat()
    body.update(bill_to_fields(snapshot.customer, settings))
    if settings.invoice_fields.memo == "message":
        memo = _cut(snapshot.message or "", CUSTOMER_MEMO_MAX, "CustomerMemo", warnings)
        if memo or for_update:
            body["CustomerMemo"] = {"value": memo}
    body["PrivateNote"] = private_note("crm_invoice_id", snapshot.id, f"CRM invoice {snapshot.number}")
    custom = custom_field_entries(_invoice_field_values(snapshot), settings, for_update, warnings)
    if custom:
        body["CustomField"] = custom
    sales = map_sales_lines(
        snapshot.lines, snapshot.discount, currency=snapshot.currency, crm_tax=snapshot.totals.tax,
        company=company, settings=settings, item_refs=item_refs, tax_rates=tax_rates,
        exchange_rate=exchange_rate, for_update=for_update, crm_id=snapshot.id, warnings=warnings)
    body.update(sales.fields)
    mapped = MappedInvoice(
        body=body, expected=sales.expected, crm_id=snapshot.id, warnings=tuple(warnings),
        doc_number=doc_number, customer_tax_id=customer_tax_id(snapshot.customer, settings),
        line_ids=tuple(line.id for line in snapshot.lines))
    if verify_totals:
        check_totals(mapped, snapshot)
    return mapped


def sale_header(*, update: tuple[str, str] | None, customer_ref: str, doc_number: str | None,
                txn_date: date) -> dict[str, Any]:
    """How every Invoice and SalesReceipt body starts: the sparse-update identity (Id, SyncToken) when
    `update` is given, the customer, the number when there is one, the date."""
    body: dict[str, Any] = {}
    if update is not None:
        body.update({"Id": update[0], "SyncToken": update[1], "sparse": True})
    body["CustomerRef"] = {"value": customer_ref}
    if doc_number is not None:
        body["DocNumber"] = doc_number
    body["TxnDate"] = txn_date.isoformat()
    return body


def bill_to_fields(customer: Customer, settings: TenantSettings) -> dict[str, Any]:
    """F14: the CRM customer's e-mail and address on the sale, when the tenant wants them there."""
    fields: dict[str, Any] = {}
    if settings.invoice_fields.email == "customer.email":
        fields["BillEmail"] = {"Address": customer.email}
    if settings.invoice_fields.billing_address == "customer.address":
        fields["BillAddr"] = qbo_address(customer.address)
    return fields


def invoice_doc_number(snapshot: InvoiceSnapshot, company: CompanyFacts) -> str | None:
    """F16: the CRM number when the company numbers its own documents; never truncated."""
    if not company.custom_txn_numbers:
        return None
    if len(snapshot.number) > DOC_NUMBER_MAX:
        raise InvoiceMappingError(
            f"CRM invoice number {snapshot.number!r} has {len(snapshot.number)} characters; QBO's DocNumber "
            f"holds {DOC_NUMBER_MAX}", code="doc_number_too_long",
            details={"crm_invoice_id": snapshot.id, "number": snapshot.number, "length": len(snapshot.number),
                     "max_length": DOC_NUMBER_MAX})
    return snapshot.number


def due_date(snapshot: InvoiceSnapshot, settings: TenantSettings) -> date:
    days = settings.invoice_fields.payment_terms_days
    due = snapshot.issue_date + timedelta(days=days) if days is not None else snapshot.due_date
    if due < snapshot.issue_date:
        raise InvoiceMappingError(
            f"CRM invoice {snapshot.number} is due {due} before its issue date {snapshot.issue_date}; QBO "
            "refuses a DueDate before the TxnDate", code="due_date_before_issue_date",
            details={"crm_invoice_id": snapshot.id, "issue_date": snapshot.issue_date.isoformat(),
                     "due_date": due.isoformat()})
    return due


def customer_tax_id(customer: Customer, settings: TenantSettings) -> str | None:
    if settings.invoice_fields.tax_id != "customer.tax_id":
        return None
    return customer.tax_id or None


def _invoice_field_values(snapshot: InvoiceSnapshot) -> dict[str, str | None]:
    return {"number": snapshot.number, "deal_id": snapshot.deal_id, "message": snapshot.message,
            "customer.company": snapshot.customer.company,
            "customer.crm_contact_id": snapshot.customer.crm_contact_id}


# --- the totals check (G5) ----------------------------------------------------------------------------


def check_totals(mapped: MappedTransaction, snapshot: InvoiceSnapshot | SucceededPayment | Totals) -> None:
    """Refuse, before any write, a body whose QBO totals would differ from the CRM's by even a cent.

    `snapshot` is anything with CRM `totals` (an invoice snapshot or a succeeded payment) or the `Totals`
    themselves. Compared: the total, the tax, and subtotal − discount (QBO's subtotal has line discounts
    folded in, so the two subtotals alone are not comparable)."""
    crm = snapshot if isinstance(snapshot, Totals) else snapshot.totals
    qbo = mapped.expected
    for name, qbo_value, crm_value in (("total", qbo.total, crm.total), ("tax", qbo.tax, crm.tax),
                                       ("subtotal_after_discount", qbo.net, crm.subtotal - crm.discount)):
        if qbo_value != crm_value:
            raise InvoiceMappingError(
                f"QBO would compute {name} {money_text(qbo_value)} for CRM record {mapped.crm_id} but the "
                f"CRM says {money_text(crm_value)}", code="total_mismatch",
                details={"crm_id": mapped.crm_id, "field": name, "qbo": money_text(qbo_value),
                         "crm": money_text(crm_value), "qbo_totals": _totals_text(qbo),
                         "crm_totals": _totals_text(crm)})


def check_written_total(qbo_entity: Mapping[str, Any],
                        snapshot: InvoiceSnapshot | SucceededPayment | Totals) -> None:
    """After a write: QBO's answered TotalAmt must be the CRM total (the last line of defence; the
    pre-write check should make this unreachable)."""
    crm = snapshot if isinstance(snapshot, Totals) else snapshot.totals
    written = cents(Decimal(qbo_entity.get("TotalAmt", ZERO)))
    if written != crm.total:
        raise InvoiceMappingError(
            f"QBO {qbo_entity.get('Id')} has TotalAmt {money_text(written)} but the CRM total is "
            f"{money_text(crm.total)}", code="total_mismatch",
            details={"qbo_id": qbo_entity.get("Id"), "field": "total", "qbo": money_text(written),
                     "crm": money_text(crm.total)})


def _totals_text(totals: ExpectedTotals | Totals) -> dict[str, str]:
    return {"subtotal": money_text(totals.subtotal), "discount": money_text(totals.discount),
            "tax": money_text(totals.tax), "total": money_text(totals.total)}


# --- what invoices and sales receipts share: lines, discount, tax, currency ---------------------------


@dataclass(frozen=True)
class MappedSales:
    fields: dict[str, Any]
    """Line, CurrencyRef/ExchangeRate, GlobalTaxCalculation, TxnTaxDetail, ApplyTaxAfterDiscount."""
    expected: ExpectedTotals


def map_sales_lines(lines: Sequence[InvoiceLine], discount: Discount | None, *, currency: str,
                    crm_tax: Decimal, company: CompanyFacts, settings: TenantSettings,
                    item_refs: Mapping[str, str], tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None,
                    exchange_rate: Decimal | None, for_update: bool, crm_id: str,
                    warnings: list[str]) -> MappedSales:
    """The money part of an Invoice or SalesReceipt body and the totals QBO will compute for it."""
    if not lines:
        raise InvoiceMappingError(f"CRM record {crm_id} has no lines; a QBO sale needs at least one",
                                  details={"crm_id": crm_id, "reason": "no_lines"})
    sales = [_sales_line(line, _item_ref(item_refs, line), warnings) for line in lines]
    plan = _tax_plan(lines, company=company, settings=settings, tax_rates=tax_rates, crm_tax=crm_tax,
                     for_update=for_update)
    for line, code in zip(sales, plan.line_codes, strict=True):
        line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": code}
    if len(lines) > TAXABLE_LINE_LIMIT and any(line.taxes for line in lines):
        raise InvoiceMappingError(
            f"CRM record {crm_id} has {len(lines)} taxed lines; QBO holds at most {TAXABLE_LINE_LIMIT}",
            details={"crm_id": crm_id, "lines": len(lines), "max_lines": TAXABLE_LINE_LIMIT})
    discount_line = _discount_line(discount, sum((line["Amount"] for line in sales), ZERO))
    fields: dict[str, Any] = {"Line": sales + ([discount_line] if discount_line else [])}
    fields.update(currency_fields(currency, company, exchange_rate, crm_id=crm_id, warnings=warnings))
    fields.update(plan.header)
    if discount_line is not None:
        # The CRM taxes discounted amounts; QBO does only when asked.
        fields["ApplyTaxAfterDiscount"] = True
    expected = predict_totals(fields, us_company=is_us_company(company),
                              automated_sales_tax=company.automated_sales_tax, tax_rates=plan.rates)
    return MappedSales(fields=fields, expected=expected)


def is_us_company(company: CompanyFacts) -> bool:
    return company.country.strip().upper() in US_COUNTRIES


def _item_ref(item_refs: Mapping[str, str], line: InvoiceLine) -> str:
    try:
        return item_refs[line.id]
    except KeyError:
        raise InvoiceMappingError(
            f"no QBO item resolved for CRM line {line.id} ({line.name})", code="item_unmapped",
            details={"line_id": line.id, "name": line.name, "sku": line.sku, "product_id": line.product_id},
        ) from None


def _sales_line(line: InvoiceLine, item_ref: str, warnings: list[str]) -> dict[str, Any]:
    quantity, unit_price = line.quantity, line.unit_price
    if decimal_places(quantity) > MAX_QTY_PRICE_PLACES:
        raise InvoiceMappingError(
            f"CRM line {line.id} has quantity {money_text(quantity)}; QBO keeps {MAX_QTY_PRICE_PLACES} "
            "decimals",
            details={"line_id": line.id, "quantity": money_text(quantity),
                     "max_places": MAX_QTY_PRICE_PLACES})
    gross = line_amount(quantity, unit_price)
    line_discount = crm_line_discount(line.discount, gross)
    amount = gross - line_discount
    description = line.name if not line.description else f"{line.name}\n{line.description}"
    if line_discount:
        words = _discount_words(line.discount)
        description += f"\n{words} ({money_text(line_discount)}) included in the rate"
    if line_discount or decimal_places(unit_price) > MAX_QTY_PRICE_PLACES:
        # QBO checks Amount == cents(Qty × UnitPrice): find the rate that makes its own product our amount.
        net_price = net_unit_price(quantity, amount)
        if net_price is None:
            finest = Decimal(1).scaleb(-MAX_QTY_PRICE_PLACES)
            closest = line_amount(quantity, (amount / quantity).quantize(finest)) if quantity else ZERO
            raise InvoiceMappingError(
                f"CRM line {line.id}: no QBO unit price with at most {MAX_QTY_PRICE_PLACES} decimals makes "
                f"{money_text(quantity)} × price = {money_text(amount)} (closest {money_text(closest)})",
                details={"line_id": line.id, "quantity": money_text(quantity),
                         "unit_price": money_text(unit_price), "crm_amount": money_text(amount),
                         "closest_qbo_amount": money_text(closest)})
        if not line_discount:
            warnings.append(f"line {line.id}: unit price {money_text(unit_price)} sent as "
                            f"{money_text(net_price)} (QBO keeps {MAX_QTY_PRICE_PLACES} decimals; the amount "
                            "is unchanged)")
        unit_price = net_price
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "Description": _cut(description, DESCRIPTION_MAX, f"line {line.id} Description", warnings),
        "SalesItemLineDetail": {"ItemRef": {"value": item_ref}, "Qty": quantity, "UnitPrice": unit_price},
    }


def crm_line_discount(discount: Discount | None, gross: Decimal) -> Decimal:
    """The CRM's own arithmetic (crm_emulator.builders.compute_totals documents it for the vendor)."""
    if discount is None:
        return ZERO
    if discount.type == "percentage":
        return cents(gross * discount.value / HUNDRED)
    return min(cents(discount.value), gross)


def _discount_words(discount: Discount | None) -> str:
    assert discount is not None
    if discount.type == "percentage":
        return f"Discount {percent_text(discount.value)}%"
    return f"Discount {money_text(cents(discount.value))}"


def _discount_line(discount: Discount | None, base: Decimal) -> dict[str, Any] | None:
    """One DiscountLineDetail on the sum of the (already line-discounted) sales lines, or None."""
    if discount is None:
        return None
    amount = crm_line_discount(discount, base)
    if amount <= 0:
        return None
    if discount.type == "percentage" and decimal_places(discount.value) <= MAX_PERCENT_PLACES:
        detail = {"PercentBased": True, "DiscountPercent": discount.value}
    else:
        # A fixed discount, or a percentage finer than QBO keeps: the amount is exact either way.
        detail = {"PercentBased": False}
    return {"DetailType": "DiscountLineDetail", "Amount": amount, "DiscountLineDetail": detail}


def currency_fields(currency: str, company: CompanyFacts, exchange_rate: Decimal | None, *, crm_id: str,
                    warnings: list[str]) -> dict[str, Any]:
    """F15: the home currency, or another one when multicurrency is on (then CurrencyRef is required)."""
    home = company.home_currency.upper()
    currency = currency.upper()
    if not company.multicurrency:
        if currency != home:
            raise InvoiceMappingError(
                f"CRM record {crm_id} is in {currency} but the QBO company works only in {home} "
                "(multicurrency is off)", code="currency_not_enabled",
                details={"crm_id": crm_id, "currency": currency, "home_currency": home})
        return {}
    fields: dict[str, Any] = {"CurrencyRef": {"value": currency}}
    if currency != home:
        if exchange_rate is None:
            warnings.append(f"no exchange rate for {currency}: QBO applies its own rate for the date")
        elif exchange_rate <= 0:
            raise InvoiceMappingError(
                f"exchange rate {money_text(exchange_rate)} for {currency} is not positive",
                details={"crm_id": crm_id, "exchange_rate": money_text(exchange_rate)})
        else:
            fields["ExchangeRate"] = exchange_rate
    return fields


# --- tax (F15) ----------------------------------------------------------------------------------------


@dataclass
class _TaxPlan:
    line_codes: list[str]
    header: dict[str, Any] = field(default_factory=dict)
    rates: dict[str, list[TaxRateEntry]] = field(default_factory=dict)


def tax_key(taxes: Sequence[Tax]) -> str:
    """The `settings.tax_codes` key for a line's taxes: names joined by "+" in the CRM's order."""
    return TAX_KEY_SEPARATOR.join(tax.name.strip() for tax in taxes) if taxes else EXEMPT_TAX_KEY


def _tax_plan(lines: Sequence[InvoiceLine], *, company: CompanyFacts, settings: TenantSettings,
              tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None, crm_tax: Decimal,
              for_update: bool) -> _TaxPlan:
    inclusive = _inclusion(lines, us_company=is_us_company(company))
    if is_us_company(company):
        codes = [US_TAXABLE if line.taxes else US_NON_TAXABLE for line in lines]
        if company.automated_sales_tax:
            if not has_cents_only(crm_tax):
                raise InvoiceMappingError(f"CRM tax {money_text(crm_tax)} is not a cents amount",
                                          details={"tax": money_text(crm_tax)})
            return _TaxPlan(codes, {"TxnTaxDetail": {"TotalTax": crm_tax}})
        return _us_manual_plan(lines, codes, settings, tax_rates, for_update)
    rates = _RateBook(tax_rates)
    codes = []
    for line in lines:
        code = _mapped_code(settings, line.taxes, line.id)
        rates.add(code, line.taxes, line.id)
        codes.append(code)
    header = {"GlobalTaxCalculation": "TaxInclusive" if inclusive else "TaxExcluded"}
    return _TaxPlan(codes, header, rates.rates)


def _inclusion(lines: Sequence[InvoiceLine], *, us_company: bool) -> bool:
    inclusive = sorted({tax.name for line in lines for tax in line.taxes if tax.inclusive})
    exclusive = sorted({tax.name for line in lines for tax in line.taxes if not tax.inclusive})
    if inclusive and us_company:
        raise InvoiceMappingError(
            f"tax-inclusive prices ({', '.join(inclusive)}) cannot be represented on a US QBO company",
            details={"reason": "inclusive_tax_on_us_company", "inclusive_taxes": inclusive})
    if inclusive and exclusive:
        raise InvoiceMappingError(
            f"the invoice mixes tax-inclusive ({', '.join(inclusive)}) and tax-exclusive "
            f"({', '.join(exclusive)}) taxes; QBO applies one GlobalTaxCalculation per transaction",
            code="mixed_tax_inclusion",
            details={"inclusive_taxes": inclusive, "exclusive_taxes": exclusive})
    return bool(inclusive)


def _us_manual_plan(lines: Sequence[InvoiceLine], codes: list[str], settings: TenantSettings,
                    tax_rates: Mapping[str, Sequence[TaxRateEntry]] | None, for_update: bool) -> _TaxPlan:
    taxed = [line for line in lines if line.taxes]
    if not taxed:
        # On update an empty TxnTaxDetail clears a tax code the invoice had before.
        return _TaxPlan(codes, {"TxnTaxDetail": {}} if for_update else {})
    keys = sorted({tax_key(line.taxes) for line in taxed})
    if len(keys) > 1:
        raise InvoiceMappingError(
            f"taxed lines carry different taxes ({'; '.join(keys)}); a US QBO company without automated "
            "sales tax applies one tax code to the whole invoice",
            details={"reason": "several_us_tax_codes", "tax_keys": keys})
    code = _mapped_code(settings, taxed[0].taxes, taxed[0].id)
    rates = _RateBook(tax_rates)
    for line in taxed:
        rates.add(code, line.taxes, line.id)
    return _TaxPlan(codes, {"TxnTaxDetail": {"TxnTaxCodeRef": {"value": code}}}, rates.rates)


def _mapped_code(settings: TenantSettings, taxes: Sequence[Tax], line_id: str) -> str:
    key = tax_key(taxes)
    sorted_key = TAX_KEY_SEPARATOR.join(sorted(tax.name.strip() for tax in taxes)) if taxes else key
    code = settings.tax_codes.get(key) or settings.tax_codes.get(sorted_key)
    if code is None:
        rates = [percent_text(tax.rate) for tax in taxes]
        what = (f"tax {key!r} ({' + '.join(rate + '%' for rate in rates)})" if taxes
                else f"untaxed lines (key {EXEMPT_TAX_KEY!r})")
        raise InvoiceMappingError(
            f"no QBO tax code mapped for {what} on line {line_id}: add it to the tenant's tax_codes",
            code="tax_code_unmapped",
            details={"tax": key, "rates": rates, "line_id": line_id,
                     "inclusive": [tax.inclusive for tax in taxes]})
    return code


class _RateBook:
    """The rates each QBO tax code will apply, checked against the CRM rates it stands for."""

    def __init__(self, qbo_rates: Mapping[str, Sequence[TaxRateEntry]] | None) -> None:
        self.qbo_rates = qbo_rates or {}
        self.rates: dict[str, list[TaxRateEntry]] = {}
        self._crm_sums: dict[str, tuple[Decimal, str]] = {}

    def add(self, code: str, taxes: Sequence[Tax], line_id: str) -> None:
        crm_sum = sum((tax.rate for tax in taxes), Decimal(0))
        key = tax_key(taxes)
        if code in self.qbo_rates:
            qbo_sum = sum((rate_percent(entry) for entry in self.qbo_rates[code]), Decimal(0))
            if qbo_sum != crm_sum:
                raise InvoiceMappingError(
                    f"CRM tax {key!r} on line {line_id} is {percent_text(crm_sum)}% but the mapped QBO tax "
                    f"code {code} charges {percent_text(qbo_sum)}%", code="tax_rate_mismatch",
                    details={"tax": key, "line_id": line_id, "crm_rate": percent_text(crm_sum),
                             "qbo_tax_code": code, "qbo_rate": percent_text(qbo_sum)})
            self.rates[code] = list(self.qbo_rates[code])
            return
        seen = self._crm_sums.get(code)
        if seen is not None and seen[0] != crm_sum:
            raise InvoiceMappingError(
                f"QBO tax code {code} is mapped from {seen[1]!r} ({percent_text(seen[0])}%) and from {key!r} "
                f"({percent_text(crm_sum)}%) on line {line_id}; one code has one rate",
                code="tax_rate_mismatch",
                details={"tax": key, "line_id": line_id, "crm_rate": percent_text(crm_sum),
                         "qbo_tax_code": code, "other_tax": seen[1], "other_crm_rate": percent_text(seen[0])})
        self._crm_sums[code] = (crm_sum, key)
        self.rates[code] = [tax.rate for tax in taxes]


# --- field preferences (F14) --------------------------------------------------------------------------


def qbo_address(address: Address) -> dict[str, str]:
    built = {"Line1": address.line1, "Line2": address.line2, "City": address.city,
             "CountrySubDivisionCode": address.region, "PostalCode": address.postal_code,
             "Country": address.country}
    return {key: value for key, value in built.items() if value}


def custom_field_entries(values: Mapping[str, str | None], settings: TenantSettings, for_update: bool,
                         warnings: list[str]) -> list[dict[str, Any]]:
    """QBO CustomField entries from the tenant's mapping; on update an emptied source clears the field."""
    fields = []
    for mapping in settings.invoice_fields.custom_fields:
        value = values.get(mapping.source) or ""
        if not value and not for_update:
            continue
        value = _cut(value, CUSTOM_FIELD_VALUE_MAX, f"custom field {mapping.name}", warnings)
        fields.append({"DefinitionId": mapping.qbo_definition_id, "Name": mapping.name, "Type": "StringType",
                       "StringValue": value})
    return fields


PRIVATE_NOTE_TAG = re.compile(r"\[qbsync (?P<kind>[a-z_]+)=(?P<id>[^\]\s]+)\]")


def private_note(kind: str, crm_id: str, human: str) -> str:
    """"CRM invoice INV-1001 [qbsync crm_invoice_id=inv_123]": readable, and findable after a lost answer."""
    return f"{human} [qbsync {kind}={crm_id}]"


def crm_id_in_private_note(note: str | None, kind: str = "crm_invoice_id") -> str | None:
    for match in PRIVATE_NOTE_TAG.finditer(note or ""):
        if match.group("kind") == kind:
            return match.group("id")
    return None


def _cut(text: str, limit: int, what: str, warnings: list[str]) -> str:
    if len(text) <= limit:
        return text
    warnings.append(f"{what} cut from {len(text)} to {limit} characters")
    return text[:limit]


# --- customers and items an invoice needs -------------------------------------------------------------

_FORBIDDEN_IN_NAMES = str.maketrans({":": "-", "\t": " ", "\n": " ", "\r": " "})


def qbo_name(text: str, limit: int) -> str:
    """A QBO list name: no ':' (QBO's sub-customer separator), no tab or line break, single spaces,
    at most `limit` characters."""
    return " ".join(text.translate(_FORBIDDEN_IN_NAMES).split())[:limit].strip()


def map_customer(customer: Customer, *, settings: TenantSettings, company: CompanyFacts,
                 currency: str | None = None) -> dict[str, Any]:
    """A QBO Customer create body for the CRM contact (F11, F14). `currency` is the invoice's or payment's
    (a QBO customer's currency is fixed at creation and must match its transactions); it defaults to the
    home currency and is only sent when multicurrency is on."""
    fields = settings.invoice_fields
    person = qbo_name(customer.name, DISPLAY_NAME_MAX)
    company_name = qbo_name(customer.company or "", PERSON_NAME_MAX)
    display = ""
    if fields.recipient == "customer.company":
        display = qbo_name(customer.company or "", DISPLAY_NAME_MAX)
    display = display or person or qbo_name(customer.email, DISPLAY_NAME_MAX)
    body: dict[str, Any] = {"DisplayName": display}
    words = person.split(" ")
    if words and words[0]:
        body["GivenName"] = words[0][:PERSON_NAME_MAX]
        if len(words) > 1:
            body["FamilyName"] = " ".join(words[1:])[:PERSON_NAME_MAX].strip()
    if company_name:
        body["CompanyName"] = company_name
    body["PrimaryEmailAddr"] = {"Address": customer.email}
    if customer.phone and len(customer.phone.strip()) <= PHONE_MAX:
        body["PrimaryPhone"] = {"FreeFormNumber": customer.phone.strip()}
    if fields.billing_address == "customer.address":
        body["BillAddr"] = qbo_address(customer.address)
    tax_id = customer_tax_id(customer, settings)
    if tax_id:
        body["PrimaryTaxIdentifier"] = tax_id
    if company.multicurrency:
        body["CurrencyRef"] = {"value": (currency or company.home_currency).upper()}
    body["Notes"] = private_note("crm_contact_id", customer.crm_contact_id, "CRM contact")
    return body


def display_name_with_suffix(name: str, email: str) -> str:
    """The DisplayName to retry with after a 6240 clash with a customer of another e-mail: deterministic
    (the same contact always gets the same name, so a retry finds its own earlier create) and readable."""
    address = email.strip().lower()
    suffix = f" ({qbo_name(address, DISPLAY_NAME_MAX)})"
    if len(suffix) > DISPLAY_NAME_MAX // 2:
        suffix = f" ({hashlib.sha256(address.encode('utf-8')).hexdigest()[:8]})"
    base = qbo_name(name, DISPLAY_NAME_MAX - len(suffix))
    return f"{base}{suffix}"


def map_item(line: InvoiceLine, *, income_account_id: str) -> dict[str, Any]:
    """A Service item for a CRM product QBO does not have yet."""
    name = (qbo_name(line.name, ITEM_NAME_MAX) or qbo_name(line.sku or "", ITEM_NAME_MAX)
            or f"CRM product {line.id}")
    body: dict[str, Any] = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": income_account_id}}
    if line.sku and len(line.sku.strip()) <= SKU_MAX:
        body["Sku"] = line.sku.strip()
    if line.description:
        body["Description"] = line.description[:DESCRIPTION_MAX]
    if decimal_places(line.unit_price) <= MAX_QTY_PRICE_PLACES:
        body["UnitPrice"] = line.unit_price
    return body
