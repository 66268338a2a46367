"""Server-side totals for Invoice and SalesReceipt: line checks, discount, subtotal, tax, TotalAmt.

Rules (QBO.md §4.3, §4.6, §11):
- a SalesItemLine's Amount must equal Qty x UnitPrice rounded half-up to cents (else 6000);
- one DiscountLineDetail at most, percent- or amount-based, applied to the subtotal;
- the server adds the SubTotalLine; a SubTotalLine sent by the client is dropped and recomputed;
- US companies: lines carry the pseudo codes TAX/NON; with automated sales tax the total tax is taken
  from TxnTaxDetail.TotalTax in the request; without it, TxnTaxDetail.TxnTaxCodeRef names a tax code whose
  rates apply to the TAX lines;
- other countries: every SalesItemLine needs a real TaxCodeRef; tax is computed from the code's rates,
  exclusive or inclusive per GlobalTaxCalculation.
All arithmetic is Decimal; every stored amount is quantized to cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .entities.base import WriteContext, check_properties, date_field, make_ref, ref_value
from .errors import business_error, invalid_enum, invalid_reference, malformed_request, required_param
from .money import ZERO, amount_field, cents, decimal_field
from .store import Record

HUNDRED = Decimal(100)
LINE_KEYS = frozenset(
    {
        "Id",
        "LineNum",
        "Description",
        "Amount",
        "DetailType",
        "SalesItemLineDetail",
        "SubTotalLineDetail",
        "DiscountLineDetail",
        "DescriptionLineDetail",
        "GroupLineDetail",
        "LinkedTxn",
        "ProjectRef",
        "CustomField",
    }
)
SALES_DETAIL_KEYS = frozenset(
    {
        "ItemRef",
        "Qty",
        "UnitPrice",
        "TaxCodeRef",
        "ServiceDate",
        "ClassRef",
        "ItemAccountRef",
        "TaxInclusiveAmt",
        "MarkupInfo",
        "PriceLevelRef",
        "DiscountRate",
        "DiscountAmt",
        "TaxClassificationRef",
    }
)
DISCOUNT_DETAIL_KEYS = frozenset(
    {"PercentBased", "DiscountPercent", "DiscountAccountRef", "ClassRef", "TaxCodeRef"}
)
DETAIL_TYPES = (
    "SalesItemLineDetail",
    "SubTotalLineDetail",
    "DiscountLineDetail",
    "DescriptionOnly",
    "GroupLineDetail",
)
TAX_TXN_KEYS = frozenset({"TxnTaxCodeRef", "TotalTax", "TaxLine"})


@dataclass
class _SalesLine:
    line: dict[str, Any]
    amount: Decimal
    tax_code: Record | None


@dataclass
class Totals:
    lines: list[dict[str, Any]]
    subtotal: Decimal
    discount: Decimal
    tax_detail: dict[str, Any]
    total: Decimal


def compute_totals(ctx: WriteContext, entity: str, data: dict[str, Any], existing: Record | None) -> Totals:
    raw_lines = data.get("Line")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise required_param("Line")
    tax_mode = _tax_mode(ctx, data)
    next_id = _next_line_id(existing)
    used_ids: set[str] = set()
    sales: list[_SalesLine] = []
    kept: list[dict[str, Any]] = []  # item and description lines, in the client's order
    discount_line: dict[str, Any] | None = None
    for index, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise malformed_request(f"Line[{index}] must be an object")
        check_properties("Line", raw, LINE_KEYS)
        detail_type = raw.get("DetailType")
        if detail_type is None:
            raise required_param(f"Line[{index}].DetailType")
        if detail_type not in DETAIL_TYPES:
            raise invalid_enum("DetailType", detail_type)
        if detail_type == "SubTotalLineDetail":
            continue  # computed by the server
        if detail_type == "GroupLineDetail":
            raise business_error("GroupLine (bundles) is not supported by this emulator", element="Line")
        line = dict(raw)
        if detail_type == "DiscountLineDetail":
            if discount_line is not None:
                raise business_error("Only one DiscountLine is allowed per transaction", element="Line")
            discount_line = line
            continue
        line_id = str(line.get("Id") or "")
        if not line_id or line_id in used_ids:
            line_id, next_id = str(next_id), next_id + 1
        used_ids.add(line_id)
        line["Id"] = line_id
        if line.get("Description") is not None and not isinstance(line["Description"], str):
            raise malformed_request("Line.Description must be a string")
        if detail_type == "DescriptionOnly":
            line.pop("Amount", None)
            kept.append(line)
            continue
        sales.append(_sales_line(ctx, line, index, tax_mode))
        kept.append(line)
    if not sales and not kept:
        raise required_param("Line")
    for number, line in enumerate(kept, start=1):
        line["LineNum"] = number
    subtotal = sum((s.amount for s in sales), ZERO)
    discount = ZERO
    if discount_line is not None:
        discount = _discount(ctx, discount_line, subtotal)
    if discount > subtotal:
        raise business_error("The discount is larger than the subtotal", element="Line")
    apply_after_discount = data.get("ApplyTaxAfterDiscount") is True
    factor = (subtotal - discount) / subtotal if apply_after_discount and subtotal else Decimal(1)
    tax_detail, total_tax, inclusive = _tax(ctx, data, sales, factor, tax_mode)
    total = subtotal - discount + (ZERO if inclusive else total_tax)
    if total < 0:
        raise business_error("The transaction total cannot be negative", element="TotalAmt")
    lines = kept + [{"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]
    if discount_line is not None:
        lines.append(discount_line)
    return Totals(
        lines=lines, subtotal=subtotal, discount=discount, tax_detail=tax_detail, total=cents(total)
    )


def _next_line_id(existing: Record | None) -> int:
    if existing is None:
        return 1
    ids = [int(line["Id"]) for line in existing.data.get("Line", []) if str(line.get("Id", "")).isdigit()]
    return max(ids, default=0) + 1


def _tax_mode(ctx: WriteContext, data: dict[str, Any]) -> str:
    """us_ast | us_manual | TaxExcluded | TaxInclusive."""
    company = ctx.company
    if company.is_us:
        # GlobalTaxCalculation is "not applicable to US companies": ignored, as QBO does.
        data.pop("GlobalTaxCalculation", None)
        return "us_ast" if company.settings.automated_sales_tax else "us_manual"
    mode = data.get("GlobalTaxCalculation")
    if mode is None:
        raise required_param("GlobalTaxCalculation")
    if mode not in ("TaxExcluded", "TaxInclusive", "NotApplicable"):
        raise invalid_enum("GlobalTaxCalculation", mode)
    if mode == "NotApplicable":
        # Stricter choice: a non-US company uses sales tax, so every sale states how tax applies.
        raise business_error(
            "GlobalTaxCalculation must be TaxExcluded or TaxInclusive for this company",
            element="GlobalTaxCalculation",
        )
    return mode


def _sales_line(ctx: WriteContext, line: dict[str, Any], index: int, tax_mode: str) -> _SalesLine:
    detail = line.get("SalesItemLineDetail")
    if not isinstance(detail, dict):
        raise required_param(f"Line[{index}].SalesItemLineDetail")
    check_properties("SalesItemLineDetail", detail, SALES_DETAIL_KEYS)
    detail = dict(detail)
    line["SalesItemLineDetail"] = detail
    item = ctx.ref("Item", detail.get("ItemRef"), "SalesItemLineDetail.ItemRef")
    assert item is not None
    detail["ItemRef"] = make_ref(item)
    if line.get("Amount") is None:
        raise required_param(f"Line[{index}].Amount")
    amount = amount_field(line["Amount"], "Line.Amount")
    line["Amount"] = amount
    has_qty, has_price = detail.get("Qty") is not None, detail.get("UnitPrice") is not None
    if has_qty != has_price:
        # Stricter choice: with only one of the two the server would have to guess the other.
        raise business_error("Qty and UnitPrice must be given together (or neither)", element="Line.Amount")
    if has_qty:
        qty = decimal_field(detail["Qty"], "Qty")
        price = decimal_field(detail["UnitPrice"], "UnitPrice")
        if cents(qty * price) != amount:
            raise business_error(
                f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount} "
                f"(expected {cents(qty * price)} = {price} * {qty}, rounded half-up to cents)",
                element="Line.Amount",
            )
    date_field(detail, "ServiceDate")
    detail.pop("TaxInclusiveAmt", None)  # computed below in TaxInclusive mode
    tax_code = _line_tax_code(ctx, detail, item, index, tax_mode)
    if tax_mode == "TaxInclusive":
        detail["TaxInclusiveAmt"] = amount
    return _SalesLine(line=line, amount=amount, tax_code=tax_code)


def _line_tax_code(
    ctx: WriteContext, detail: dict[str, Any], item: Record, index: int, tax_mode: str
) -> Record | None:
    raw = detail.get("TaxCodeRef")
    if tax_mode.startswith("us"):
        if raw is None:
            # Since 2018 a line without a code is taxable if its item is (QBO.md §4.6).
            code = "TAX" if item.data.get("Taxable") else "NON"
        else:
            code = ref_value(raw, "TaxCodeRef").upper()
            if code not in ("TAX", "NON"):
                raise invalid_reference("TaxCode", code, "SalesItemLineDetail.TaxCodeRef")
        detail["TaxCodeRef"] = {"value": code}
        return None
    if raw is None:
        raise required_param(f"Line[{index}].SalesItemLineDetail.TaxCodeRef")
    record = ctx.ref("TaxCode", raw, "SalesItemLineDetail.TaxCodeRef")
    assert record is not None
    if not record.id.isdigit():
        raise invalid_reference("TaxCode", record.id, "SalesItemLineDetail.TaxCodeRef")
    detail["TaxCodeRef"] = {"value": record.id}
    return record


def _discount(ctx: WriteContext, line: dict[str, Any], subtotal: Decimal) -> Decimal:
    detail = line.get("DiscountLineDetail")
    if not isinstance(detail, dict):
        raise required_param("DiscountLineDetail")
    check_properties("DiscountLineDetail", detail, DISCOUNT_DETAIL_KEYS)
    detail = dict(detail)
    line["DiscountLineDetail"] = detail
    percent_based = detail.get("PercentBased") is True
    detail["PercentBased"] = percent_based
    if percent_based:
        if detail.get("DiscountPercent") is None:
            raise required_param("DiscountLineDetail.DiscountPercent")
        percent = decimal_field(detail["DiscountPercent"], "DiscountPercent")
        if not ZERO <= percent <= HUNDRED:
            raise business_error("DiscountPercent must be between 0 and 100", element="DiscountPercent")
        # The server computes a percent discount's Amount; a stale Amount sent back by a full update is ignored.
        amount = cents(subtotal * percent / HUNDRED)
    else:
        detail.pop("DiscountPercent", None)
        if line.get("Amount") is None:
            raise required_param("DiscountLine.Amount")
        amount = amount_field(line["Amount"], "Line.Amount")
        if amount < 0:
            raise business_error("A discount cannot be negative", element="Line.Amount")
    account = ctx.ref(
        "Account",
        detail.get("DiscountAccountRef") or {"value": ctx.company.defaults["discount_account"]},
        "DiscountAccountRef",
    )
    assert account is not None
    detail["DiscountAccountRef"] = make_ref(account)
    line["Amount"] = amount
    line.pop("Id", None)
    line.pop("LineNum", None)
    return amount


def _rates_of(ctx: WriteContext, code: Record) -> list[tuple[Record, Decimal]]:
    rates = []
    for detail in code.data.get("SalesTaxRateList", {}).get("TaxRateDetail", []):
        rate = ctx.company.store.get("TaxRate", detail["TaxRateRef"]["value"])
        if rate is not None:
            rates.append((rate, Decimal(rate.data["RateValue"])))
    return rates


def _tax_line(rate: Record, percent: Decimal, amount: Decimal, net: Decimal) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "TaxLineDetail",
        "TaxLineDetail": {
            "TaxRateRef": make_ref(rate),
            "PercentBased": True,
            "TaxPercent": percent,
            "NetAmountTaxable": net,
        },
    }


def _tax(
    ctx: WriteContext, data: dict[str, Any], sales: list[_SalesLine], factor: Decimal, tax_mode: str
) -> tuple[dict[str, Any], Decimal, bool]:
    requested = data.get("TxnTaxDetail") or {}
    if not isinstance(requested, dict):
        raise malformed_request("TxnTaxDetail must be an object")
    check_properties("TxnTaxDetail", requested, TAX_TXN_KEYS)
    if tax_mode == "us_ast":
        # Automated sales tax: QBO computes it from addresses we do not model, so the emulator takes the
        # client's TotalTax (the brief's rule) and only checks it is a non-negative cents amount.
        total = amount_field(requested.get("TotalTax", 0), "TxnTaxDetail.TotalTax")
        if total < 0:
            raise business_error("TotalTax cannot be negative", element="TxnTaxDetail.TotalTax")
        return {"TotalTax": total}, total, False
    if tax_mode == "us_manual":
        code = ctx.ref(
            "TaxCode", requested.get("TxnTaxCodeRef"), "TxnTaxDetail.TxnTaxCodeRef", required=False
        )
        if code is None:
            return {"TotalTax": ZERO}, ZERO, False
        taxable = sum(
            (s.amount for s in sales if s.line["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"), ZERO
        )
        lines, total = _exclusive(ctx, [(code, taxable)], factor)
        detail: dict[str, Any] = {"TxnTaxCodeRef": make_ref(code), "TotalTax": total}
        if lines:
            detail["TaxLine"] = lines
        return detail, total, False
    by_code: dict[str, tuple[Record, Decimal]] = {}
    for s in sales:
        assert s.tax_code is not None
        code, amount = by_code.get(s.tax_code.id, (s.tax_code, ZERO))
        by_code[s.tax_code.id] = (code, amount + s.amount)
    if tax_mode == "TaxExcluded":
        lines, total = _exclusive(ctx, list(by_code.values()), factor)
    else:
        lines, total = _inclusive(ctx, list(by_code.values()), factor)
    detail = {"TotalTax": total}
    if lines:
        detail["TaxLine"] = lines
    return detail, total, tax_mode == "TaxInclusive"


def _exclusive(
    ctx: WriteContext, groups: list[tuple[Record, Decimal]], factor: Decimal
) -> tuple[list[dict[str, Any]], Decimal]:
    """Net amounts: per tax rate, NetAmountTaxable = the lines' net (after discount if asked), tax = net x rate."""
    bases: dict[str, tuple[Record, Decimal, Decimal]] = {}
    for code, net in groups:
        for rate, percent in _rates_of(ctx, code):
            _, _, base = bases.get(rate.id, (rate, percent, ZERO))
            bases[rate.id] = (rate, percent, base + net)
    lines, total = [], ZERO
    for rate, percent, base in bases.values():
        net = cents(base * factor)
        tax = cents(net * percent / HUNDRED)
        lines.append(_tax_line(rate, percent, tax, net))
        total += tax
    return lines, total


def _inclusive(
    ctx: WriteContext, groups: list[tuple[Record, Decimal]], factor: Decimal
) -> tuple[list[dict[str, Any]], Decimal]:
    """Gross amounts: per tax code, net = gross x 100 / (100 + combined rate); the tax is gross - net, split
    across the code's rates (the last rate takes the rounding remainder so the parts add up)."""
    per_rate: dict[str, tuple[Record, Decimal, Decimal, Decimal]] = {}
    total = ZERO
    for code, gross_raw in groups:
        rates = _rates_of(ctx, code)
        gross = cents(gross_raw * factor)
        combined = sum((p for _, p in rates), ZERO)
        net = cents(gross * HUNDRED / (HUNDRED + combined))
        code_tax = gross - net
        remaining = code_tax
        for position, (rate, percent) in enumerate(rates):
            part = remaining if position == len(rates) - 1 else cents(net * percent / HUNDRED)
            remaining -= part
            _, _, amount, base = per_rate.get(rate.id, (rate, percent, ZERO, ZERO))
            per_rate[rate.id] = (rate, percent, amount + part, base + net)
        total += code_tax
    lines = [_tax_line(rate, percent, amount, base) for rate, percent, amount, base in per_rate.values()]
    return lines, total
