"""Decimal money rules shared by the QBO mappers: cents, half-up rounding, decimal places, and the
net unit price that lets QBO's own `Qty × UnitPrice` reproduce a discounted line amount.

QBO stores line amounts, subtotals, discounts and taxes in cents and rounds half-up (QBO.md §11, 2.345 →
2.35); Qty and UnitPrice keep up to 7 decimal places (Breadwinner's help centre, "QuickBooks Online can
handle seven decimal places in the Line Quantity and Unit Price fields"; not in QBO.md, so it is one
named constant here).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
MAX_QTY_PRICE_PLACES = 7
"""QBO keeps 7 decimals in SalesItemLineDetail.Qty and .UnitPrice; more would be cut and change Amount."""
MAX_PERCENT_PLACES = 2
"""QBO keeps 2 decimals in DiscountLineDetail.DiscountPercent (12.75 %)."""


def cents(value: Decimal) -> Decimal:
    """Round half-up to cents, as QBO and the CRM both do (negative halves round away from zero)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_places(value: Decimal) -> int:
    """Significant decimal places: `Decimal("2.50")` has 1, `Decimal("100")` has 0."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite: the CRM models refuse NaN and Infinity
    return max(0, -exponent)


def has_cents_only(value: Decimal) -> bool:
    return decimal_places(value) <= 2


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """What QBO demands as a sales line's Amount: Qty × UnitPrice rounded half-up to cents."""
    return cents(quantity * unit_price)


def net_unit_price(quantity: Decimal, target_amount: Decimal) -> Decimal | None:
    """The unit price with the fewest decimals (2 to 7) such that `cents(quantity × price)` is exactly
    `target_amount`, or None when no such price exists.

    This is how a per-line discount reaches QBO without a second line: the quantity stays what the
    customer bought and the rate becomes the discounted one, so QBO's own Qty × UnitPrice check passes
    and its line total equals the CRM's discounted line. The three candidates around the rounded quotient
    cover the case where rounding the quotient overshoots the target cent."""
    if quantity == 0:
        return ZERO if target_amount == 0 else None
    quotient = target_amount / quantity
    for places in range(2, MAX_QTY_PRICE_PLACES + 1):
        step = Decimal(1).scaleb(-places)
        nearest = quotient.quantize(step, rounding=ROUND_HALF_UP)
        for candidate in (nearest, nearest - step, nearest + step):
            if line_amount(quantity, candidate) == target_amount:
                return candidate
    return None


def money_text(value: Decimal) -> str:
    """Fixed-point text for error details and notes ("12.50", never "1.25E+1")."""
    return format(value, "f")


def percent_text(value: Decimal) -> str:
    """A rate without trailing zeros: "5", "8.25", "9.975"."""
    return format(value.normalize(), "f")
