"""Decimal money rules: cents, half-up rounding, and strict parsing of request amounts."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .errors import business_error

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """Round half-up to cents (QBO rounds 2.345 to 2.35)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_field(value: object, field: str) -> Decimal:
    """A request number as Decimal. Strings and booleans are refused: QBO's schema types them as numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise business_error(f"{field} must be a number, got {value!r}", element=field)
    return Decimal(value)


def amount_field(value: object, field: str) -> Decimal:
    """A money amount: a number with at most two decimals, returned quantized to cents."""
    number = decimal_field(value, field)
    if number != cents(number):
        raise business_error(f"{field} {number} has more than 2 decimal places", element=field)
    return cents(number)
