"""What QBO will compute for an Invoice or SalesReceipt body we are about to send: subtotal, discount, tax,
total. The mappers compare this prediction with the CRM's own totals before any write (G5), so an invoice
that QBO would total differently fails loudly instead of landing a cent off.

QBO's rules, as QBO.md §4.3, §4.6 and §11 state them and our QBO emulator (local/qbo_emulator/totals.py)
implements them; where QBO.md is silent the choice is marked "assumed":
- a sales line's Amount is Qty × UnitPrice rounded half-up to cents; the subtotal is their sum;
- one DiscountLineDetail: PercentBased → cents(subtotal × DiscountPercent / 100), else its Amount;
- `ApplyTaxAfterDiscount: true` scales every tax base by (subtotal − discount) / subtotal (assumed: the
  scaled base is rounded to cents once per rate, not per line);
- US with automated sales tax: the tax is `TxnTaxDetail.TotalTax` as sent;
- US without it: `TxnTaxDetail.TxnTaxCodeRef`'s rates apply to the sum of the TAX lines; no code, no tax;
- other countries, TaxExcluded (assumed): for each tax *rate*, the base is the sum of the lines whose
  code carries it, and the tax is cents(base × rate / 100) — rounded once per rate per transaction,
  never per line;
- other countries, TaxInclusive (assumed): for each tax *code*, gross = the sum of its lines, net =
  cents(gross × 100 / (100 + the code's combined rate)), tax = gross − net; inclusive tax is already in
  the subtotal, so it does not add to the total;
- total = subtotal − discount + exclusive tax.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .money import HUNDRED, ZERO, cents, line_amount

US_PSEUDO_TAXABLE = "TAX"
TaxRateEntry = Decimal | tuple[str, Decimal]
"""One sales rate of a QBO tax code: its percent, or (QBO TaxRate Id, percent) when the caller knows
the Id (then codes sharing a TaxRate pool their base exactly as QBO does)."""


def rate_percent(entry: TaxRateEntry) -> Decimal:
    return Decimal(entry[1]) if isinstance(entry, tuple) else Decimal(entry)


@dataclass(frozen=True)
class ExpectedTotals:
    """The amounts QBO will show, to the cent. `net` = subtotal − discount, the figure comparable with the
    CRM's subtotal − discount (QBO's subtotal already has per-line discounts folded into unit prices)."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal

    @property
    def net(self) -> Decimal:
        return self.subtotal - self.discount


def predict_totals(body: Mapping[str, Any], *, us_company: bool, automated_sales_tax: bool,
                   tax_rates: Mapping[str, Sequence[TaxRateEntry]]) -> ExpectedTotals:
    """The totals QBO will compute for `body` (a create or sparse-update body with its full Line list).

    `tax_rates` maps a QBO TaxCode Id to its sales rates (percent, or (TaxRate Id, percent)); every code
    the body uses must be in it (the mappers guarantee that). Raises ValueError for a body QBO would
    refuse outright (a line whose Amount is not Qty × UnitPrice), which only a mapper bug can produce."""
    sales_lines, discount_line = _split_lines(body.get("Line") or [])
    subtotal = sum((line["Amount"] for line in sales_lines), ZERO)
    discount = _discount(discount_line, subtotal)
    after_discount = body.get("ApplyTaxAfterDiscount") is True and subtotal != 0
    factor = (subtotal - discount) / subtotal if after_discount else Decimal(1)
    tax_detail = body.get("TxnTaxDetail") or {}
    inclusive = False
    if us_company and automated_sales_tax:
        tax = cents(Decimal(tax_detail.get("TotalTax", ZERO)))
    elif us_company:
        code = (tax_detail.get("TxnTaxCodeRef") or {}).get("value")
        taxable = sum((line["Amount"] for line in sales_lines if _line_code(line) == US_PSEUDO_TAXABLE), ZERO)
        tax = _exclusive_tax([(code, taxable)], tax_rates, factor) if code else ZERO
    else:
        inclusive = body.get("GlobalTaxCalculation") == "TaxInclusive"
        by_code: dict[str, Decimal] = {}
        for line in sales_lines:
            code = _line_code(line)
            by_code[code] = by_code.get(code, ZERO) + line["Amount"]
        groups = list(by_code.items())
        tax = (_inclusive_tax(groups, tax_rates, factor) if inclusive
               else _exclusive_tax(groups, tax_rates, factor))
    total = subtotal - discount + (ZERO if inclusive else tax)
    return ExpectedTotals(subtotal=subtotal, discount=discount, tax=tax, total=cents(total))


def _split_lines(
    lines: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], Mapping[str, Any] | None]:
    sales: list[Mapping[str, Any]] = []
    discount_line = None
    for line in lines:
        if line.get("DetailType") == "SalesItemLineDetail":
            detail = line["SalesItemLineDetail"]
            expected = line_amount(Decimal(detail["Qty"]), Decimal(detail["UnitPrice"]))
            if line["Amount"] != expected:
                raise ValueError(f"line Amount {line['Amount']} is not Qty × UnitPrice = {expected}")
            sales.append(line)
        elif line.get("DetailType") == "DiscountLineDetail":
            discount_line = line
    return sales, discount_line


def _discount(line: Mapping[str, Any] | None, subtotal: Decimal) -> Decimal:
    if line is None:
        return ZERO
    detail = line["DiscountLineDetail"]
    if detail.get("PercentBased"):
        return cents(subtotal * Decimal(detail["DiscountPercent"]) / HUNDRED)
    return cents(Decimal(line["Amount"]))


def _line_code(line: Mapping[str, Any]) -> str:
    return str((line["SalesItemLineDetail"].get("TaxCodeRef") or {}).get("value", ""))


def _rate_key(entry: TaxRateEntry) -> str:
    # QBO keeps one TaxLine per TaxRate, pooling the bases of every code that carries it (GST alone and
    # GST+PST share the GST rate). With Ids we pool exactly as QBO does; with bare percents we assume
    # equal percents are the same TaxRate, which is how tax tables are set up in practice.
    return f"id:{entry[0]}" if isinstance(entry, tuple) else f"percent:{Decimal(entry).normalize()}"


def _rates(tax_rates: Mapping[str, Sequence[TaxRateEntry]], code: str) -> Sequence[TaxRateEntry]:
    if code not in tax_rates:
        raise ValueError(f"no tax rates known for QBO tax code {code!r}")
    return tax_rates[code]


def _exclusive_tax(groups: list[tuple[str, Decimal]], tax_rates: Mapping[str, Sequence[TaxRateEntry]],
                   factor: Decimal) -> Decimal:
    bases: dict[str, tuple[Decimal, Decimal]] = {}
    for code, amount in groups:
        for entry in _rates(tax_rates, code):
            percent, base = bases.get(_rate_key(entry), (rate_percent(entry), ZERO))
            bases[_rate_key(entry)] = (percent, base + amount)
    return sum((cents(cents(base * factor) * percent / HUNDRED) for percent, base in bases.values()), ZERO)


def _inclusive_tax(groups: list[tuple[str, Decimal]], tax_rates: Mapping[str, Sequence[TaxRateEntry]],
                   factor: Decimal) -> Decimal:
    total = ZERO
    for code, amount in groups:
        combined = sum((rate_percent(entry) for entry in _rates(tax_rates, code)), ZERO)
        gross = cents(amount * factor)
        total += gross - cents(gross * HUNDRED / (HUNDRED + combined))
    return total
