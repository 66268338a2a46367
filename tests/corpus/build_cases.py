"""Writes `tests/corpus/cases/*.json`, the accounting corpus (issue 9 §1). Run it after changing a case:

    .venv/bin/python tests/corpus/build_cases.py

The JSON files are the corpus: they state each company, each CRM invoice or payment with the totals the CRM
shows, the payments, and what QuickBooks must end up holding (or the permanent error qbsync must refuse
with). `test_accounting_corpus.py` reads only the JSON; this script is how the numbers were worked out.

Independent on purpose: standard library only, nothing from qbsync or the emulators. Two small models:
- the CRM's arithmetic, as the CRM vendor documents it (crm_emulator.builders.compute_totals docstring):
  half-up to cents per line; tax per line and per tax on the discounted line;
- QuickBooks' arithmetic, as QBO.md §4.3, §4.6 and §11 describe it: a line's Amount is cents(Qty ×
  UnitPrice); tax is pooled per tax *rate* over the whole transaction and rounded once (exclusive), or
  backed out of each tax code's gross (inclusive); `ApplyTaxAfterDiscount` scales the taxable bases.
A case is expected to sync only when QuickBooks would show exactly the CRM's total and tax; otherwise the
expected outcome is qbsync's documented refusal (`total_mismatch`, `unrepresentable_invoice`, ...).
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ZERO = Decimal("0.00")
OUT = Path(__file__).parent / "cases"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def D(value: Any) -> Decimal:  # noqa: N802 - reads like a literal
    return value if isinstance(value, Decimal) else Decimal(str(value))


def text(value: Decimal) -> str:
    return format(value, "f")


def places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


# --- building blocks ------------------------------------------------------------------------------------


def T(name: str, rate: str) -> dict[str, Any]:  # noqa: N802
    return {"name": name, "rate": rate, "inclusive": False}


def TI(name: str, rate: str) -> dict[str, Any]:  # noqa: N802
    return {"name": name, "rate": rate, "inclusive": True}


def pct(value: str) -> dict[str, str]:
    return {"type": "percentage", "value": value}


def fixed(value: str) -> dict[str, str]:
    return {"type": "fixed", "value": value}


def L(
    name: str,
    quantity: Any,
    unit_price: Any,
    *taxes: dict[str, Any],  # noqa: N802
    discount: dict[str, str] | None = None,
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "name": name,
        "quantity": str(quantity),
        "unit_price": str(unit_price),
        "taxes": list(taxes),
    }
    if discount:
        line["discount"] = discount
    return line


# --- the CRM's arithmetic -------------------------------------------------------------------------------


def _discount_amount(discount: dict[str, str] | None, base: Decimal) -> Decimal:
    if not discount:
        return ZERO
    if discount["type"] == "percentage":
        return cents(base * D(discount["value"]) / HUNDRED)
    return min(cents(D(discount["value"])), base)


def _allocate(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    total = sum(weights, Decimal(0))
    shares = [ZERO] * len(weights)
    if amount == 0 or total == 0:
        return shares
    last = max(i for i, w in enumerate(weights) if w != 0)
    for i, weight in enumerate(weights):
        if i != last:
            shares[i] = cents(amount * weight / total)
    shares[last] = amount - sum(shares, Decimal(0))
    return shares


def crm_totals(lines: list[dict[str, Any]], discount: dict[str, str] | None) -> dict[str, Any]:
    gross = [cents(D(l["quantity"]) * D(l["unit_price"])) for l in lines]
    line_off = [_discount_amount(l.get("discount"), g) for l, g in zip(lines, gross)]
    net = [g - o for g, o in zip(gross, line_off)]
    invoice_off = _discount_amount(discount, sum(net, ZERO))
    shares = _allocate(invoice_off, net)
    tax = exclusive = ZERO
    for line, amount, share in zip(lines, net, shares):
        base = amount - share
        inclusive_rates = sum((D(t["rate"]) for t in line["taxes"] if t["inclusive"]), Decimal(0))
        for entry in line["taxes"]:
            if entry["inclusive"]:
                tax += cents(base * D(entry["rate"]) / (HUNDRED + inclusive_rates))
            else:
                portion = cents(base * D(entry["rate"]) / HUNDRED)
                tax += portion
                exclusive += portion
    subtotal = sum(gross, ZERO)
    discount_total = sum(line_off, ZERO) + invoice_off
    return {
        "subtotal": subtotal,
        "discount": discount_total,
        "tax": tax,
        "total": subtotal - discount_total + exclusive,
        "net": net,
        "invoice_discount": invoice_off,
    }


# --- QuickBooks' arithmetic -----------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, code: str, why: str, qbo_code: str | None = None) -> None:
        super().__init__(why)
        self.code = code
        self.qbo_code = qbo_code


def _net_price_exists(quantity: Decimal, amount: Decimal) -> bool:
    """Some unit price with at most 7 decimals makes cents(quantity × price) == amount (QBO keeps 7)."""
    if quantity == 0:
        return amount == 0
    for p in range(2, 8):
        step = Decimal(1).scaleb(-p)
        near = (amount / quantity).quantize(step, rounding=ROUND_HALF_UP)
        if any(cents(quantity * c) == amount for c in (near - step, near, near + step)):
            return True
    return False


def qbo_tax(company: dict[str, Any], lines: list[dict[str, Any]], crm: dict[str, Any]) -> Decimal:
    """What QuickBooks computes as the transaction's tax for the body qbsync documents it sends."""
    net = crm["net"]
    subtotal = sum(net, ZERO)
    discount = crm["invoice_discount"]
    factor = (subtotal - discount) / subtotal if discount > 0 and subtotal else Decimal(1)
    codes = company["qbo_tax_codes"]  # QBO code name -> [(rate id, percent)]
    mapping = company.get("tax_map", {})
    if company["country"] == "US":
        if company["ast"]:
            return crm["tax"]
        taxable = sum((n for l, n in zip(lines, net) if l["taxes"]), ZERO)
        keys = {"+".join(t["name"] for t in l["taxes"]) for l in lines if l["taxes"]}
        if not keys:
            return ZERO
        (key,) = keys
        return sum((cents(cents(taxable * factor) * p / HUNDRED) for _, p in codes[mapping[key]]), ZERO)
    by_code: dict[str, Decimal] = {}
    for line, amount in zip(lines, net):
        key = "+".join(t["name"] for t in line["taxes"]) or "exempt"
        by_code[mapping[key]] = by_code.get(mapping[key], ZERO) + amount
    inclusive = any(t["inclusive"] for l in lines for t in l["taxes"])
    if inclusive:
        tax = ZERO
        for code, amount in by_code.items():
            gross = cents(amount * factor)
            combined = sum((p for _, p in codes[code]), Decimal(0))
            tax += gross - cents(gross * HUNDRED / (HUNDRED + combined))
        return tax
    bases: dict[str, tuple[Decimal, Decimal]] = {}
    for code, amount in by_code.items():
        for rate_id, percent in codes[code]:
            _, base = bases.get(rate_id, (percent, ZERO))
            bases[rate_id] = (percent, base + amount)
    return sum((cents(cents(base * factor) * p / HUNDRED) for p, base in bases.values()), ZERO)


def check_representable(company: dict[str, Any], case: dict[str, Any], crm: dict[str, Any]) -> None:
    """The refusals qbsync documents (invoice_mapping / receipt_mapping docstrings, README), in its order."""
    lines = case["lines"]
    if company.get("custom_numbers") and case["type"] == "invoice" and len(case["number"]) > 21:
        raise Refused("doc_number_too_long", "DocNumber holds 21 characters")
    if case.get("due_date_offset", 30) < 0:
        raise Refused("due_date_before_issue_date", "QBO refuses a DueDate before the TxnDate")
    if not lines:
        raise Refused("unrepresentable_invoice", "a QBO sale needs a line")
    for line, amount in zip(lines, crm["net"]):
        quantity, price = D(line["quantity"]), D(line["unit_price"])
        if places(quantity) > 7:
            raise Refused("unrepresentable_invoice", "QBO keeps 7 decimals in Qty")
        if (line.get("discount") or places(price) > 7) and not _net_price_exists(quantity, amount):
            raise Refused("unrepresentable_invoice", "no 7-decimal unit price gives the discounted amount")
    inclusive = sorted({t["name"] for l in lines for t in l["taxes"] if t["inclusive"]})
    exclusive = sorted({t["name"] for l in lines for t in l["taxes"] if not t["inclusive"]})
    us = company["country"] == "US"
    if inclusive and us:
        raise Refused("unrepresentable_invoice", "US QBO has no tax-inclusive prices")
    if inclusive and exclusive:
        raise Refused("mixed_tax_inclusion", "one GlobalTaxCalculation per transaction")
    mapping = company.get("tax_map", {})
    if us and not company["ast"]:
        keys = sorted({"+".join(t["name"] for t in l["taxes"]) for l in lines if l["taxes"]})
        if len(keys) > 1:
            raise Refused("unrepresentable_invoice", "one tax code per US invoice")
        if keys and keys[0] not in mapping:
            raise Refused("tax_code_unmapped", f"{keys[0]} is not mapped")
    elif not us:
        seen: dict[str, Decimal] = {}
        for line in lines:
            key = "+".join(t["name"] for t in line["taxes"]) or "exempt"
            if key not in mapping:
                raise Refused("tax_code_unmapped", f"{key} is not mapped")
            rate = sum((D(t["rate"]) for t in line["taxes"]), Decimal(0))
            if seen.setdefault(mapping[key], rate) != rate:
                raise Refused("tax_rate_mismatch", "one QBO code mapped from two CRM rates")
    if len(lines) > 750 and any(l["taxes"] for l in lines):
        raise Refused("unrepresentable_invoice", "QBO holds 750 taxed lines")
    currency = case.get("currency", company["home_currency"])
    if currency != company["home_currency"]:
        if not company.get("multicurrency"):
            raise Refused("currency_not_enabled", "multicurrency is off")
        if currency not in company.get("currencies", []):
            raise Refused(
                "currency_not_enabled",
                "QBO has no exchange rate for a currency it has not enabled",
                qbo_code="610",
            )


def expectation(company: dict[str, Any], case: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    crm = crm_totals(case["lines"], case.get("discount"))
    totals = {name: text(crm[name]) for name in ("subtotal", "discount", "tax", "total")}
    try:
        check_representable(company, case, crm)
        tax = qbo_tax(company, case["lines"], crm)
        if tax != crm["tax"]:
            raise Refused(
                "total_mismatch",
                f"QBO pools tax to {text(tax)}, the CRM rounds per line to {text(crm['tax'])}",
            )
        if case["type"] == "sales_receipt" and D(case.get("amount", crm["total"])) != crm["total"]:
            raise Refused("total_mismatch", "a sales receipt is paid in full")
        if case.get("clashes"):
            raise Refused(
                "qbo_duplicate_doc_number",
                f"QBO already has an invoice numbered {case['number']}",
                qbo_code="6140",
            )
    except Refused as refusal:
        refused = {"outcome": "refused", "code": refusal.code, "why": str(refusal)}
        if refusal.qbo_code:
            refused["qbo_code"] = refusal.qbo_code
        return totals, refused
    expect: dict[str, Any] = {"outcome": "synced", "total": totals["total"], "tax": totals["tax"]}
    currency = case.get("currency", company["home_currency"])
    if company.get("multicurrency"):
        expect["currency"] = currency
        if currency == company["home_currency"]:
            expect["exchange_rate"] = "1"  # a CRM rate on a home-currency record is ignored
        elif case.get("exchange_rate"):
            expect["exchange_rate"] = case["exchange_rate"]  # the CRM's rate is booked as it is
            expect["home_total"] = text(cents(crm["total"] * D(case["exchange_rate"])))
        else:
            expect["exchange_rate"] = "qbo"  # QBO's own rate for the transaction's date
    if case["type"] == "invoice":
        payments = case.get("payments", [])
        if payments and payments[-1] == "rest":  # the last payment settles what is left
            payments[-1] = text(crm["total"] - sum((D(p) for p in payments[:-1]), ZERO))
        paid = sum((D(p) for p in payments), ZERO)
        expect["balance"] = text(crm["total"] - paid)
        if company.get("custom_numbers"):
            expect["doc_number"] = case["number"]
    else:
        expect["balance"] = "0.00"
        if company.get("custom_numbers"):
            pid = case["payment_id"]
            expect["doc_number"] = (
                pid if len(pid) <= 21 else "P" + hashlib.sha256(pid.encode()).hexdigest()[:20]
            )
    return totals, expect


# --- the companies and their cases ---------------------------------------------------------------------

CA_CODES = {
    "GST": [("GST", D(5))],
    "HST ON": [("HST ON", D(13))],
    "GST/QST QC": [("QC GST", D(5)), ("QC QST", D("9.975"))],
    "Zero-rated": [("Zero-rated", D(0))],
}


def _case(
    cid: str, kinds: list[str], description: str, lines: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {"id": cid, "kinds": kinds, "description": description, "type": "invoice", "lines": lines, **extra}


def _receipt(
    cid: str, kinds: list[str], description: str, lines: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "id": cid,
        "kinds": ["sales_receipt", *kinds],
        "description": description,
        "type": "sales_receipt",
        "lines": lines,
        "source": extra.pop("source", "order_form"),
        **extra,
    }


def us_ast_cases() -> list[dict[str, Any]]:
    st = T("CA sales tax", "8.25")
    state, county, city = T("State", "6.25"), T("County", "1"), T("City", "1.5")
    half_cent_lines = [L(f"Widget {n % 7}", 1, f"{n}.005", st) for n in range(1, 11)]
    long_lines = [
        L(f"Part {n % 5}", (n % 4) + 1, f"{(n * 37) % 1000}.{(n * 13) % 100:02d}5", st) for n in range(1, 251)
    ]
    too_many = [L(f"Part {n % 5}", 1, "1.00", st) for n in range(751)]
    return [
        _case(
            "us-ast-single-taxed-line",
            ["us_ast", "exclusive_tax"],
            "3 × 120.50 at 8.25 %",
            [L("Consulting", 3, "120.50", st)],
        ),
        _case(
            "us-ast-three-lines",
            ["us_ast", "exclusive_tax", "fractional_quantity"],
            "the CRM's default invoice",
            [
                L("Website redesign", 1, "1500.00", st),
                L("Consulting", "2.5", "120.00", st),
                L("Hosting (monthly)", 12, "19.99", st),
            ],
        ),
        _case(
            "us-ast-half-cent-every-line",
            ["us_ast", "half_cent_rounding", "three_decimal_price"],
            "ten lines each ending in half a cent",
            half_cent_lines,
        ),
        _case(
            "us-ast-fractional-quantities",
            ["us_ast", "fractional_quantity"],
            "0.75, 1.333 and 2.5 hours",
            [
                L("Consulting", "0.75", "33.33", st),
                L("Design", "1.333", "15.00", st),
                L("Support", "2.5", "99.99"),
            ],
        ),
        _case(
            "us-ast-three-decimal-prices",
            ["us_ast", "three_decimal_price"],
            "fuel-style prices",
            [L("Fuel", 7, "1.999", st), L("Bolts", 3, "0.125"), L("Cable (m)", "12.5", "2.345", st)],
        ),
        _case(
            "us-ast-percentage-discount-10",
            ["us_ast", "percentage_discount"],
            "10 % off the invoice",
            [L("Consulting", 4, "95.00", st), L("Setup", 1, "49.99")],
            discount=pct("10"),
        ),
        _case(
            "us-ast-percentage-discount-12-5",
            ["us_ast", "percentage_discount", "half_cent_rounding"],
            "12.5 % off an odd subtotal",
            [L("Design", 3, "33.33", st), L("Review", 1, "10.01", st)],
            discount=pct("12.5"),
        ),
        _case(
            "us-ast-percentage-discount-fine",
            ["us_ast", "percentage_discount"],
            "33.333 % (finer than QBO's 2 decimals: sent as an amount)",
            [L("Consulting", 3, "100.00", st)],
            discount=pct("33.333"),
        ),
        _case(
            "us-ast-fixed-discount",
            ["us_ast", "fixed_discount"],
            "25.00 off",
            [L("Consulting", 2, "150.00", st), L("Setup", 1, "45.50")],
            discount=fixed("25"),
        ),
        _case(
            "us-ast-fixed-discount-over-subtotal",
            ["us_ast", "fixed_discount", "zero_total"],
            "a 500.00 voucher on a 120.00 invoice is capped",
            [L("Tune-up", 1, "120.00", st)],
            discount=fixed("500"),
        ),
        _case(
            "us-ast-line-percentage-discount",
            ["us_ast", "line_discount", "percentage_discount"],
            "15 % off one line of 3",
            [L("Consulting", 3, "33.33", st, discount=pct("15")), L("Setup", 1, "20.00")],
        ),
        _case(
            "us-ast-line-fixed-discount",
            ["us_ast", "line_discount", "fixed_discount"],
            "1 cent off 7 × 1.43",
            [L("Stickers", 7, "1.43", st, discount=fixed("0.01"))],
        ),
        _case(
            "us-ast-line-and-invoice-discounts",
            ["us_ast", "line_discount", "percentage_discount", "fixed_discount"],
            "line discounts plus 5 % off the invoice",
            [
                L("Design", "2.5", "80.00", st, discount=fixed("12.34")),
                L("Print", 3, "19.99", st, discount=pct("7.5")),
                L("Delivery", 1, "15.00"),
            ],
            discount=pct("5"),
        ),
        _case(
            "us-ast-zero-priced",
            ["us_ast", "zero_priced", "zero_total"],
            "a free invoice",
            [L("Free consultation", 1, "0.00", st), L("Free sample", 3, "0.00")],
        ),
        _case(
            "us-ast-zero-priced-line",
            ["us_ast", "zero_priced"],
            "a free line among paid ones",
            [L("Consulting", 2, "150.00", st), L("Free sample", 5, "0.00", st)],
        ),
        _case(
            "us-ast-250-lines",
            ["us_ast", "many_lines", "half_cent_rounding", "three_decimal_price"],
            "250 taxed lines, each with a half-cent price",
            long_lines,
        ),
        _case(
            "us-ast-partial-payments-sum",
            ["us_ast", "partial_payments"],
            "three payments make the total",
            [L("Consulting", 3, "120.50", st), L("Setup", 1, "99.99")],
            payments=["100.00", "150.55", "rest"],
        ),
        _case(
            "us-ast-partial-then-paid",
            ["us_ast", "partial_payments"],
            "a deposit, then the rest",
            [L("Kitchen remodel", 1, "12500.00", st)],
            payments=["2500.00", "rest"],
        ),
        _case(
            "us-ast-partial-only",
            ["us_ast", "partial_payments"],
            "one payment leaves a balance",
            [L("Retainer", 1, "2000.00")],
            payments=["333.33"],
        ),
        _case(
            "us-ast-several-taxes-one-line",
            ["us_ast", "several_rates", "exclusive_tax"],
            "state + county + city taxes on each line",
            [L("Lumber", 3, "45.99", state, county, city), L("Nails", 10, "0.99", state, county)],
        ),
        _case(
            "us-ast-inclusive-refused",
            ["us_ast", "inclusive_tax", "refusal"],
            "a tax-inclusive price cannot exist on a US company",
            [L("Consulting", 1, "108.25", TI("CA sales tax", "8.25"))],
        ),
        _case(
            "us-ast-eight-decimal-quantity",
            ["us_ast", "fractional_quantity", "refusal"],
            "QBO keeps 7 decimals in Qty",
            [L("Gas (therms)", "0.33333333", "3.00", st)],
        ),
        _case(
            "us-ast-unreachable-line-discount",
            ["us_ast", "line_discount", "refusal"],
            "1,000,000 × 0.01 less 0.05: no 7-decimal price gives 9999.95",
            [L("Micro-units", 1000000, "0.01", discount=fixed("0.05"))],
        ),
        _case(
            "us-ast-foreign-currency",
            ["us_ast", "multicurrency", "refusal"],
            "EUR on a USD-only company",
            [L("Consulting", 1, "100.00")],
            currency="EUR",
        ),
        _case(
            "us-ast-751-taxed-lines",
            ["us_ast", "many_lines", "refusal"],
            "QBO holds 750 taxed lines",
            too_many,
        ),
        _case("us-ast-no-lines", ["us_ast", "zero_total", "refusal"], "an invoice without lines", []),
        _case(
            "us-ast-due-before-issue",
            ["us_ast", "refusal"],
            "due the day before it was issued",
            [L("Consulting", 1, "100.00")],
            due_date_offset=-1,
        ),
        _receipt(
            "us-ast-receipt-order-form",
            ["us_ast", "exclusive_tax"],
            "an order form payment",
            [L("Monthly membership", 1, "49.00", st)],
            payment_id="pay_us_ast_order",
        ),
        _receipt(
            "us-ast-receipt-subscription",
            ["us_ast", "fractional_quantity", "three_decimal_price"],
            "a metered subscription renewal",
            [L("API calls (k)", "12.345", "0.125", st), L("Base plan", 1, "29.00", st)],
            source="subscription",
            payment_id="pay_us_ast_sub",
        ),
        _receipt(
            "us-ast-receipt-membership-discount",
            ["us_ast", "line_discount", "percentage_discount"],
            "an annual membership with 20 % off",
            [L("Annual membership", 1, "588.00", st, discount=pct("20"))],
            source="membership",
            payment_id="pay_us_ast_member",
        ),
        _receipt(
            "us-ast-receipt-free-booking",
            ["us_ast", "zero_priced", "zero_total"],
            "a free calendar booking",
            [L("Intro call", 1, "0.00")],
            source="calendar",
            payment_id="pay_us_ast_free",
        ),
        _receipt(
            "us-ast-receipt-half-cents",
            ["us_ast", "half_cent_rounding", "three_decimal_price"],
            "three half-cent lines",
            [L("Widget 1", 1, "2.005", st), L("Widget 2", 3, "0.335", st), L("Widget 3", 1, "7.125")],
            payment_id="pay_us_ast_half",
        ),
        _receipt(
            "us-ast-receipt-amount-differs",
            ["us_ast", "refusal"],
            "the payment is not the lines' total",
            [L("Workshop seat", 2, "75.00", st)],
            amount="150.00",
            payment_id="pay_us_ast_short",
        ),
        _receipt(
            "us-ast-receipt-foreign-currency",
            ["us_ast", "multicurrency", "refusal"],
            "a GBP payment on a USD-only company",
            [L("Workshop seat", 1, "75.00")],
            currency="GBP",
            payment_id="pay_us_ast_gbp",
        ),
    ]


def us_manual_cases() -> list[dict[str, Any]]:
    ca, nyc = T("CA sales tax", "8.25"), T("NYC sales tax", "8.875")
    exact_lines = [L(f"Crate {n % 6}", (n % 3) + 1, f"{4 * ((n % 50) + 1)}.00", ca) for n in range(250)]
    return [
        _case(
            "us-manual-single-taxed-line",
            ["us_manual", "exclusive_tax"],
            "one line at 8.25 %",
            [L("Consulting", 3, "120.50", ca)],
        ),
        _case(
            "us-manual-taxed-and-untaxed",
            ["us_manual", "exclusive_tax"],
            "a taxed line and an untaxed one",
            [L("Lamp", 1, "89.99", ca), L("Installation", 2, "45.00")],
        ),
        _case(
            "us-manual-pooled-equals-per-line",
            ["us_manual", "exclusive_tax"],
            "10.00 and 20.00 round alike",
            [L("Mug", 1, "10.00", ca), L("Teapot", 1, "20.00", ca)],
        ),
        _case(
            "us-manual-pooled-differs",
            ["us_manual", "exclusive_tax", "half_cent_rounding"],
            "two 10.00 lines: 0.83 + 0.83 per line, 1.65 pooled",
            [L("Mug", 1, "10.00", ca), L("Saucer", 1, "10.00", ca)],
        ),
        _case(
            "us-manual-three-small-lines-differ",
            ["us_manual", "exclusive_tax", "half_cent_rounding"],
            "three lines each rounding up",
            [L("Pen", 1, "1.00", ca), L("Pencil", 1, "1.00", ca), L("Eraser", 1, "1.00", ca)],
        ),
        _case(
            "us-manual-nyc-discount-one-line",
            ["us_manual", "exclusive_tax", "percentage_discount"],
            "8.875 % after 10 % off",
            [L("Dinner", 1, "86.40", nyc)],
            discount=pct("10"),
        ),
        _case(
            "us-manual-discount-taxed-untaxed",
            ["us_manual", "exclusive_tax", "fixed_discount"],
            "a fixed discount spread over a taxed and an untaxed line",
            [L("Lamp", 1, "89.99", ca), L("Installation", 1, "45.01")],
            discount=fixed("10"),
        ),
        _case(
            "us-manual-two-tax-codes",
            ["us_manual", "several_rates", "refusal"],
            "CA and NYC taxes on one US invoice",
            [L("Lamp", 1, "89.99", ca), L("Dinner", 1, "86.40", nyc)],
        ),
        _case(
            "us-manual-unmapped-tax",
            ["us_manual", "refusal"],
            "Denver tax has no QBO code",
            [L("Ski pass", 1, "99.00", T("Denver tax", "8.81"))],
        ),
        _case(
            "us-manual-rate-mismatch",
            ["us_manual", "refusal"],
            "the tenant mapped a CRM 8.25 % tax to an 8 % QBO code",
            [L("Lamp", 1, "100.00", T("Mislabelled tax", "8.25"))],
        ),
        _case(
            "us-manual-partial-payments",
            ["us_manual", "partial_payments", "exclusive_tax"],
            "two payments make the total",
            [L("Sofa", 1, "1299.00", ca)],
            payments=["500.00", "rest"],
        ),
        _case(
            "us-manual-250-exact-lines",
            ["us_manual", "many_lines", "exclusive_tax"],
            "250 lines whose 8.25 % is a whole number of cents",
            exact_lines,
        ),
        _case(
            "us-manual-fractional-taxed",
            ["us_manual", "fractional_quantity", "exclusive_tax"],
            "2.75 hours at 8.875 %",
            [L("Repair (h)", "2.75", "64.00", nyc)],
        ),
        _case(
            "us-manual-zero-priced-taxed",
            ["us_manual", "zero_priced", "exclusive_tax"],
            "a free taxed line beside a paid one",
            [L("Lamp", 1, "89.99", ca), L("Bulb", 2, "0.00", ca)],
        ),
        _receipt(
            "us-manual-receipt",
            ["us_manual", "exclusive_tax"],
            "a taxed order form",
            [L("Lamp", 1, "89.99", ca)],
            payment_id="pay_us_manual_1",
        ),
        _receipt(
            "us-manual-receipt-differs",
            ["us_manual", "exclusive_tax", "half_cent_rounding"],
            "two 10.00 lines pooled differently",
            [L("Mug", 1, "10.00", ca), L("Saucer", 1, "10.00", ca)],
            payment_id="pay_us_manual_2",
        ),
    ]


def ca_cases() -> list[dict[str, Any]]:
    gst, hst, qst = T("GST", "5"), T("HST", "13"), T("QST", "9.975")
    igst, iqst = TI("GST", "5"), TI("QST", "9.975")
    exact = [L(f"Box {n % 4}", 1, f"{(n % 40) + 1}.{'20' if n % 2 else '40'}", gst) for n in range(250)]
    dimes = [L(f"Screw {n % 4}", 1, "0.10", gst) for n in range(250)]
    return [
        _case(
            "ca-gst-single", ["ca", "exclusive_tax"], "GST on one line", [L("Consulting", 3, "120.50", gst)]
        ),
        _case("ca-hst-single", ["ca", "exclusive_tax"], "HST on one line", [L("Design", 1, "999.99", hst)]),
        _case(
            "ca-gst-qst-single",
            ["ca", "exclusive_tax", "several_rates"],
            "GST + QST on one line",
            [L("Consulting", 1, "100.00", gst, qst)],
        ),
        _case(
            "ca-gst-qst-two-lines-equal",
            ["ca", "exclusive_tax", "several_rates"],
            "GST + QST on two lines that pool alike",
            [L("Consulting", 1, "100.00", gst, qst), L("Travel", 1, "200.00", gst, qst)],
        ),
        _case(
            "ca-gst-qst-two-lines-differ",
            ["ca", "exclusive_tax", "several_rates", "half_cent_rounding"],
            "GST + QST on two lines whose QST rounds up each time",
            [L("Coffee", 1, "2.15", gst, qst), L("Muffin", 1, "2.15", gst, qst)],
        ),
        _case(
            "ca-three-codes-one-invoice",
            ["ca", "exclusive_tax", "several_rates"],
            "GST, HST and a zero-rated line",
            [L("Consulting", 2, "75.00", gst), L("Design", 1, "310.00", hst), L("Groceries", 4, "3.49")],
        ),
        _case(
            "ca-three-codes-differ",
            ["ca", "exclusive_tax", "several_rates", "half_cent_rounding"],
            "two GST and two HST lines, each rounding up",
            [L("A", 1, "0.10", gst), L("B", 1, "0.10", gst), L("C", 1, "0.50", hst), L("D", 1, "0.50", hst)],
        ),
        _case(
            "ca-zero-rated-only",
            ["ca", "exclusive_tax", "zero_priced"],
            "only zero-rated lines",
            [L("Groceries", 4, "3.49"), L("Free sample", 1, "0.00")],
        ),
        _case(
            "ca-hst-percentage-discount-differs",
            ["ca", "exclusive_tax", "percentage_discount"],
            "15 % off two HST lines: the discount's cents land on different lines",
            [L("Design", 1, "310.00", hst), L("Print", 2, "45.00", hst)],
            discount=pct("15"),
        ),
        _case(
            "ca-hst-percentage-discount",
            ["ca", "exclusive_tax", "percentage_discount"],
            "15 % off two odd HST lines that pool alike",
            [L("Design", 1, "310.03", hst), L("Print", 1, "45.01", hst)],
            discount=pct("15"),
        ),
        _case(
            "ca-gst-qst-fixed-discount",
            ["ca", "exclusive_tax", "fixed_discount", "several_rates"],
            "50.00 off one GST + QST line",
            [L("Consulting", 4, "125.00", gst, qst)],
            discount=fixed("50"),
        ),
        _case(
            "ca-gst-line-discounts",
            ["ca", "exclusive_tax", "line_discount"],
            "line discounts, one line",
            [L("Consulting", 3, "120.00", gst, discount=pct("12.5"))],
        ),
        _case(
            "ca-gst-half-cent-lines",
            ["ca", "exclusive_tax", "half_cent_rounding"],
            "two 0.10 lines: 0.01 + 0.01 per line, 0.01 pooled",
            [L("Screw", 1, "0.10", gst), L("Nut", 1, "0.10", gst)],
        ),
        _case(
            "ca-gst-250-exact",
            ["ca", "exclusive_tax", "many_lines"],
            "250 GST lines whose 5 % is exact",
            exact,
        ),
        _case(
            "ca-gst-250-dimes",
            ["ca", "exclusive_tax", "many_lines", "half_cent_rounding"],
            "250 lines of 0.10: 2.50 per line, 1.25 pooled",
            dimes,
        ),
        _case(
            "ca-unmapped-pst",
            ["ca", "refusal"],
            "BC PST has no QBO code mapped",
            [L("Bike", 1, "800.00", gst, T("PST", "7"))],
        ),
        _case(
            "ca-one-code-two-rates",
            ["ca", "refusal", "several_rates"],
            "the tenant mapped GST (5 %) and an old GST (7 %) to one QBO code",
            [L("Bike", 1, "800.00", gst), L("Helmet", 1, "80.00", T("GST (old)", "7"))],
        ),
        _case(
            "ca-gst-inclusive",
            ["ca", "inclusive_tax"],
            "a tax-inclusive GST price",
            [L("Lunch", 1, "10.50", igst)],
        ),
        _case(
            "ca-gst-qst-inclusive",
            ["ca", "inclusive_tax", "several_rates"],
            "GST + QST included",
            [L("Consulting", 1, "114.98", igst, iqst)],
        ),
        _case(
            "ca-gst-qst-inclusive-differs",
            ["ca", "inclusive_tax", "several_rates", "half_cent_rounding"],
            "GST + QST included in 1.10: 0.05 + 0.10 per tax, 0.14 backed out",
            [L("Coffee", 1, "1.10", igst, iqst)],
        ),
        _case(
            "ca-inclusive-two-lines",
            ["ca", "inclusive_tax"],
            "two GST-inclusive lines",
            [L("Lunch", 1, "10.50", igst), L("Dinner", 1, "21.00", igst)],
        ),
        _case(
            "ca-inclusive-two-lines-differ",
            ["ca", "inclusive_tax", "half_cent_rounding"],
            "two GST-inclusive lines: 0.05 + 0.05 per line, 0.11 backed out of 2.21",
            [L("Snack", 1, "1.10", igst), L("Drink", 1, "1.11", igst)],
        ),
        _case(
            "ca-mixed-inclusion",
            ["ca", "inclusive_tax", "exclusive_tax", "refusal"],
            "one inclusive and one exclusive line",
            [L("Lunch", 1, "10.50", igst), L("Consulting", 1, "100.00", hst)],
        ),
        _case(
            "ca-inclusive-discount",
            ["ca", "inclusive_tax", "percentage_discount"],
            "10 % off a GST-inclusive line",
            [L("Lunch", 2, "10.50", igst)],
            discount=pct("10"),
        ),
        _case(
            "ca-hst-partial-payments",
            ["ca", "partial_payments", "exclusive_tax"],
            "three payments on an HST invoice",
            [L("Design", 1, "999.99", hst)],
            payments=["300.00", "300.00", "rest"],
        ),
        _case(
            "ca-gst-qst-partial-only",
            ["ca", "partial_payments", "several_rates"],
            "one payment on a GST + QST invoice",
            [L("Consulting", 1, "100.00", gst, qst)],
            payments=["14.98"],
        ),
        _receipt(
            "ca-receipt-hst",
            ["ca", "exclusive_tax"],
            "an HST order form",
            [L("Design", 1, "310.00", hst)],
            payment_id="pay_ca_hst",
        ),
        _receipt(
            "ca-receipt-gst-qst-inclusive",
            ["ca", "inclusive_tax", "several_rates"],
            "a GST + QST inclusive booking",
            [L("Session", 1, "114.98", igst, iqst)],
            source="calendar",
            payment_id="pay_ca_incl",
        ),
        _receipt(
            "ca-receipt-differs",
            ["ca", "exclusive_tax", "half_cent_rounding"],
            "two 0.10 GST lines",
            [L("Screw", 1, "0.10", gst), L("Nut", 1, "0.10", gst)],
            payment_id="pay_ca_dimes",
        ),
    ]


def au_cases() -> list[dict[str, Any]]:
    g = TI("GST", "10")
    return [
        _case(
            "au-inclusive-single",
            ["au", "inclusive_tax"],
            "110.00 includes 10.00 GST",
            [L("Consulting", 1, "110.00", g)],
        ),
        _case(
            "au-inclusive-exact-lines",
            ["au", "inclusive_tax"],
            "three lines in multiples of 1.10",
            [L("Coffee", 3, "4.40", g), L("Cake", 2, "6.60", g), L("Tea", 1, "3.30", g)],
        ),
        _case(
            "au-inclusive-differs",
            ["au", "inclusive_tax", "half_cent_rounding"],
            "three 1.05 lines: 0.10 each per line, 0.29 pooled",
            [L("Mint", 1, "1.05", g), L("Gum", 1, "1.05", g), L("Candy", 1, "1.05", g)],
        ),
        _case(
            "au-inclusive-with-gst-free",
            ["au", "inclusive_tax"],
            "a GST line and a GST-free line",
            [L("Consulting", 1, "110.00", g), L("Bread", 2, "4.50")],
        ),
        _case(
            "au-inclusive-percentage-discount",
            ["au", "inclusive_tax", "percentage_discount"],
            "10 % off a GST-inclusive line",
            [L("Consulting", 1, "220.00", g)],
            discount=pct("10"),
        ),
        _case(
            "au-inclusive-fixed-discount",
            ["au", "inclusive_tax", "fixed_discount"],
            "22.00 off a GST-inclusive line",
            [L("Consulting", 2, "110.00", g)],
            discount=fixed("22"),
        ),
        _case(
            "au-inclusive-half-cent-price",
            ["au", "inclusive_tax", "three_decimal_price", "half_cent_rounding"],
            "one line with a half-cent price",
            [L("Fuel (L)", "40.5", "2.015", g)],
        ),
        _case(
            "au-exclusive",
            ["au", "exclusive_tax"],
            "GST added on top (TaxExcluded)",
            [L("Consulting", 1, "100.00", T("GST", "10"))],
        ),
        _case(
            "au-inclusive-250",
            ["au", "inclusive_tax", "many_lines"],
            "250 lines of 1.10 including GST",
            [L(f"Item {n % 5}", 1, "1.10", g) for n in range(250)],
        ),
        _case(
            "au-zero-priced-inclusive",
            ["au", "inclusive_tax", "zero_priced"],
            "a free GST-inclusive line",
            [L("Consulting", 1, "110.00", g), L("Free brochure", 1, "0.00", g)],
        ),
        _case(
            "au-partial-payments",
            ["au", "partial_payments", "inclusive_tax"],
            "a deposit and the rest",
            [L("Consulting", 1, "1100.00", g)],
            payments=["550.00", "550.00"],
        ),
        _receipt(
            "au-receipt-inclusive",
            ["au", "inclusive_tax"],
            "a GST-inclusive order form",
            [L("Workshop", 1, "110.00", g)],
            payment_id="pay_au_1",
        ),
        _receipt(
            "au-receipt-membership",
            ["au", "inclusive_tax", "line_discount", "fixed_discount"],
            "a membership with 5.50 off",
            [L("Membership", 1, "55.00", g, discount=fixed("5.5"))],
            source="membership",
            payment_id="pay_au_2",
        ),
    ]


def gb_cases() -> list[dict[str, Any]]:
    vat, reduced = T("VAT", "20"), T("VAT reduced", "5")
    return [
        _case(
            "gb-doc-number-21",
            ["gb", "custom_numbers"],
            "a 21-character number fits",
            [L("Consulting", 1, "100.00", vat)],
            number="GB-2026-000000000-021",
        ),
        _case(
            "gb-doc-number-22",
            ["gb", "custom_numbers", "refusal"],
            "a 22-character number is refused",
            [L("Consulting", 1, "100.00", vat)],
            number="GB-2026-0000000000-022",
        ),
        _case(
            "gb-doc-number-1",
            ["gb", "custom_numbers"],
            "a one-character number",
            [L("Consulting", 1, "100.00", vat)],
            number="7",
        ),
        _case(
            "gb-doc-number-symbols",
            ["gb", "custom_numbers"],
            "slashes and a hash in the number",
            [L("Consulting", 1, "100.00", vat)],
            number="INV/2026/11#004",
        ),
        _case(
            "gb-doc-number-clashes-with-qbo",
            ["gb", "custom_numbers", "clash", "refusal"],
            "a QBO user already typed invoice GB-EXISTING-1",
            [L("Consulting", 1, "100.00", vat)],
            number="GB-EXISTING-1",
            clashes=True,
        ),
        _case(
            "gb-doc-number-first",
            ["gb", "custom_numbers", "clash"],
            "the first CRM invoice numbered GB-TWICE",
            [L("Consulting", 1, "100.00", vat)],
            number="GB-TWICE",
        ),
        _case(
            "gb-doc-number-second",
            ["gb", "custom_numbers", "clash", "refusal"],
            "a later CRM invoice reusing GB-TWICE",
            [L("Design", 1, "250.00", vat)],
            number="GB-TWICE",
            phase=2,
            clashes=True,
        ),
        _case(
            "gb-untaxed-without-exempt-code",
            ["gb", "refusal"],
            "an untaxed line, but the tenant mapped no code for untaxed lines",
            [L("Consulting", 1, "100.00", vat), L("Postage", 1, "2.50")],
            number="GB-1010",
        ),
        _case(
            "gb-vat-two-lines",
            ["gb", "custom_numbers", "exclusive_tax"],
            "two VAT lines that pool alike",
            [L("Consulting", 2, "50.00", vat), L("Design", 1, "75.50", vat)],
            number="GB-1011",
        ),
        _case(
            "gb-vat-two-lines-differ",
            ["gb", "custom_numbers", "exclusive_tax", "half_cent_rounding"],
            "two 0.03 lines: 0.01 + 0.01 per line, 0.01 pooled",
            [L("Pin", 1, "0.03", vat), L("Clip", 1, "0.03", vat)],
            number="GB-1012",
        ),
        _case(
            "gb-two-rates",
            ["gb", "custom_numbers", "several_rates", "exclusive_tax"],
            "standard and reduced VAT on one invoice",
            [L("Consulting", 1, "100.00", vat), L("Child seat", 1, "80.00", reduced)],
            number="GB-1013",
        ),
        _case(
            "gb-zero-rated",
            ["gb", "custom_numbers", "exclusive_tax"],
            "a zero-rated book",
            [L("Book", 2, "12.99", T("VAT zero", "0"))],
            number="GB-1014",
        ),
        _case(
            "gb-partial-payments",
            ["gb", "custom_numbers", "partial_payments"],
            "three instalments",
            [L("Consulting", 3, "400.00", vat)],
            number="GB-1015",
            payments=["480.00", "480.00", "480.00"],
        ),
        _case(
            "gb-percentage-discount",
            ["gb", "custom_numbers", "percentage_discount", "exclusive_tax"],
            "20 % off, one VAT line",
            [L("Consulting", 1, "333.33", vat)],
            number="GB-1016",
            discount=pct("20"),
        ),
        _receipt(
            "gb-receipt-short-id",
            ["gb", "custom_numbers", "exclusive_tax"],
            "the payment id becomes the receipt's number",
            [L("Workshop", 1, "60.00", vat)],
            payment_id="pay_gb_short",
        ),
        _receipt(
            "gb-receipt-long-id",
            ["gb", "custom_numbers", "exclusive_tax"],
            "a 40-character payment id is hashed into the number",
            [L("Workshop", 1, "60.00", vat)],
            payment_id="pay_gb_0123456789abcdef0123456789abcdef",
        ),
    ]


def fr_cases() -> list[dict[str, Any]]:
    tva = T("TVA", "20")
    return [
        _case(
            "fr-eur-home",
            ["fr", "multicurrency", "exclusive_tax"],
            "an EUR invoice on an EUR company",
            [L("Conseil", 2, "450.00", tva)],
        ),
        _case(
            "fr-eur-discount",
            ["fr", "multicurrency", "percentage_discount", "exclusive_tax"],
            "7.5 % off",
            [L("Conseil", 1, "1234.56", tva)],
            discount=pct("7.5"),
        ),
        _case(
            "fr-eur-partial-payments",
            ["fr", "multicurrency", "partial_payments"],
            "two instalments",
            [L("Conseil", 1, "1000.00", tva)],
            payments=["600.00", "600.00"],
        ),
        _case(
            "fr-eur-exempt",
            ["fr", "multicurrency", "exclusive_tax"],
            "an exempt line",
            [L("Formation", 1, "800.00")],
        ),
        _case(
            "fr-eur-rate-ignored",
            ["fr", "multicurrency", "exchange_rate"],
            "a rate on a home-currency invoice means nothing",
            [L("Conseil", 1, "100.00", tva)],
            exchange_rate="2",
        ),
        _case(
            "fr-usd-qbo-rate",
            ["fr", "multicurrency", "exchange_rate"],
            "a USD invoice without a rate: QBO's rate for the issue date",
            [L("Consulting", 1, "500.00", tva)],
            currency="USD",
            customer="usd",
        ),
        _case(
            "fr-gbp-crm-rate",
            ["fr", "multicurrency", "exchange_rate"],
            "a GBP invoice at the CRM's own rate",
            [L("Consulting", 3, "333.33", tva)],
            currency="GBP",
            customer="gbp",
            exchange_rate="1.1725",
        ),
        _case(
            "fr-usd-crm-rate-partial-payments",
            ["fr", "multicurrency", "exchange_rate", "partial_payments"],
            "a USD invoice at the CRM's rate, paid in two parts at that rate",
            [L("Consulting", 2, "199.99", tva)],
            currency="USD",
            customer="usd",
            exchange_rate="0.925926",
            payments=["100.00", "rest"],
        ),
        _case(
            "fr-jpy-not-enabled",
            ["fr", "multicurrency", "refusal"],
            "JPY is not enabled in the company",
            [L("Consulting", 1, "50000", tva)],
            currency="JPY",
            customer="jpy",
        ),
        _receipt(
            "fr-receipt-eur",
            ["fr", "multicurrency", "exclusive_tax"],
            "an EUR order form",
            [L("Atelier", 1, "60.00", tva)],
            payment_id="pay_fr_eur",
        ),
        _receipt(
            "fr-receipt-usd",
            ["fr", "multicurrency", "exchange_rate"],
            "a USD order form at QBO's rate",
            [L("Workshop", 1, "60.00", tva)],
            currency="USD",
            customer="usd",
            payment_id="pay_fr_usd",
        ),
        _receipt(
            "fr-receipt-gbp-crm-rate",
            ["fr", "multicurrency", "exchange_rate"],
            "a GBP order form at the CRM's rate",
            [L("Workshop", 2, "45.50", tva)],
            currency="GBP",
            customer="gbp",
            exchange_rate="1.1725",
            payment_id="pay_fr_gbp",
        ),
        _receipt(
            "fr-receipt-chf-not-enabled",
            ["fr", "multicurrency", "refusal"],
            "CHF is not enabled",
            [L("Workshop", 1, "60.00", tva)],
            currency="CHF",
            customer="chf",
            payment_id="pay_fr_chf",
        ),
    ]


COMPANIES: list[dict[str, Any]] = [
    {
        "group": "us_ast",
        "tenant_id": "loc_corpus_us_ast",
        "company": {
            "country": "US",
            "automated_sales_tax": True,
            "custom_txn_numbers": False,
            "multicurrency": False,
        },
        "model": {"country": "US", "ast": True, "home_currency": "USD", "qbo_tax_codes": {}},
        "tax_codes": {},
        "cases": us_ast_cases,
    },
    {
        "group": "us_manual",
        "tenant_id": "loc_corpus_us_manual",
        "company": {
            "country": "US",
            "automated_sales_tax": False,
            "custom_txn_numbers": False,
            "multicurrency": False,
            "tax_codes": [
                {"name": "CA 8.25", "rate": "8.25"},
                {"name": "NYC 8.875", "rate": "8.875"},
                {"name": "Flat 8", "rate": "8"},
            ],
        },
        "model": {
            "country": "US",
            "ast": False,
            "home_currency": "USD",
            "qbo_tax_codes": {
                "CA 8.25": [("ca", D("8.25"))],
                "NYC 8.875": [("nyc", D("8.875"))],
                "Flat 8": [("flat", D(8))],
            },
        },
        "tax_codes": {"CA sales tax": "CA 8.25", "NYC sales tax": "NYC 8.875", "Mislabelled tax": "Flat 8"},
        "cases": us_manual_cases,
    },
    {
        "group": "ca",
        "tenant_id": "loc_corpus_ca",
        "company": {"country": "CA", "custom_txn_numbers": False, "multicurrency": False},
        "model": {"country": "CA", "home_currency": "CAD", "qbo_tax_codes": CA_CODES},
        "tax_codes": {
            "GST": "GST",
            "HST": "HST ON",
            "GST+QST": "GST/QST QC",
            "exempt": "Zero-rated",
            "GST (old)": "GST",
        },
        "cases": ca_cases,
    },
    {
        "group": "au",
        "tenant_id": "loc_corpus_au",
        "company": {"country": "AU", "custom_txn_numbers": False, "multicurrency": False},
        "model": {
            "country": "AU",
            "home_currency": "AUD",
            "qbo_tax_codes": {"GST": [("gst", D(10))], "GST free": [("free", D(0))]},
        },
        "tax_codes": {"GST": "GST", "exempt": "GST free"},
        "cases": au_cases,
    },
    {
        "group": "gb",
        "tenant_id": "loc_corpus_gb",
        "company": {"country": "GB", "custom_txn_numbers": True, "multicurrency": False},
        "model": {
            "country": "GB",
            "home_currency": "GBP",
            "custom_numbers": True,
            "qbo_tax_codes": {"20.0% S": [("s", D(20))], "5.0% R": [("r", D(5))], "0.0% Z": [("z", D(0))]},
        },
        "tax_codes": {"VAT": "20.0% S", "VAT reduced": "5.0% R", "VAT zero": "0.0% Z"},
        "qbo_invoices": [{"DocNumber": "GB-EXISTING-1", "amount": "42.00", "tax_code": "0.0% Z"}],
        "cases": gb_cases,
    },
    {
        "group": "fr",
        "tenant_id": "loc_corpus_fr",
        "company": {
            "country": "FR",
            "home_currency": "EUR",
            "multicurrency": True,
            "currencies": ["USD", "GBP"],
            "custom_txn_numbers": False,
        },
        "model": {
            "country": "FR",
            "home_currency": "EUR",
            "multicurrency": True,
            "currencies": ["EUR", "USD", "GBP"],
            "qbo_tax_codes": {"Standard": [("std", D(20))], "Zero": [("zero", D(0))]},
        },
        "tax_codes": {"TVA": "Standard", "exempt": "Zero"},
        "cases": fr_cases,
    },
]


def _customers(group: str) -> dict[str, dict[str, Any]]:
    base = {
        "name": "Jane Doe",
        "company": "Doe Design LLC",
        "email": f"jane.{group}@example.com",
        "crm_contact_id": f"con_{group}_jane",
    }
    return {
        "default": base,
        "usd": {
            **base,
            "name": "Sam Dollar",
            "email": f"sam.{group}@example.com",
            "crm_contact_id": f"con_{group}_usd",
        },
        "gbp": {
            **base,
            "name": "Penny Pound",
            "email": f"penny.{group}@example.com",
            "crm_contact_id": f"con_{group}_gbp",
        },
        "jpy": {
            **base,
            "name": "Kenji Yen",
            "email": f"kenji.{group}@example.com",
            "crm_contact_id": f"con_{group}_jpy",
        },
        "chf": {
            **base,
            "name": "Franz Franken",
            "email": f"franz.{group}@example.com",
            "crm_contact_id": f"con_{group}_chf",
        },
    }


def _number(group: str, index: int) -> str:
    return f"{group.upper().replace('_', '')}-{1000 + index}"


def _dump(document: dict[str, Any]) -> str:
    """Readable JSON: one case per block, one invoice line per row."""
    text_ = json.dumps(document, indent=1, ensure_ascii=False)
    # lists of plain strings or numbers (kinds, payments) on one row
    text_ = re.sub(
        r'\[\n\s+("[^"\n]*"(?:,\n\s+"[^"\n]*")*)\n\s+\]',
        lambda m: "[" + re.sub(r",\n\s+", ", ", m.group(1)) + "]",
        text_,
    )
    # collapse each line object ({"name": ...} inside "lines") onto one row
    return re.sub(
        r'\{\n\s+"name": [^{}]*?(?:\{[^{}]*\}[^{}]*?)*\}',
        lambda m: re.sub(r"\s*\n\s*", " ", m.group(0)),
        text_,
    )


def build() -> dict[str, int]:
    OUT.mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    for spec in COMPANIES:
        model = {**spec["model"], "tax_map": spec["tax_codes"]}
        cases = []
        for index, case in enumerate(spec["cases"]()):
            case.setdefault("customer", "default")
            case.setdefault("currency", model["home_currency"])
            if case["type"] == "invoice":
                case.setdefault("number", _number(spec["group"], index))
                case["invoice_id"] = "inv_" + case["id"].replace("-", "_")
            totals, expect = expectation(model, case)
            case["crm_totals"] = totals
            if case["type"] == "sales_receipt":
                case.setdefault("amount", totals["total"])
            case["expect"] = expect
            for kind in case["kinds"]:
                counts[kind] = counts.get(kind, 0) + 1
            cases.append(case)
        document = {
            "group": spec["group"],
            "tenant_id": spec["tenant_id"],
            "company": spec["company"],
            "tax_codes": spec["tax_codes"],
            "customers": _customers(spec["group"]),
            "qbo_invoices": spec.get("qbo_invoices", []),
            "cases": cases,
        }
        (OUT / f"{spec['group']}.json").write_text(_dump(document) + "\n", encoding="utf-8")
    return counts


if __name__ == "__main__":
    for kind, count in sorted(build().items()):
        print(f"{kind:24} {count}")
