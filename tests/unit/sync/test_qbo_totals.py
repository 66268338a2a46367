"""The prediction of QBO's own totals (QBO.md §4.3, §4.6, §11) and the money helpers behind it. Each case
is a QBO body and the cents QBO computes for it; the numbers are chosen so that the wrong rounding rule
(per line instead of per rate, unpooled instead of pooled, before instead of after the discount) gives a
different answer."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from qbsync.sync.money import cents, decimal_places, line_amount, net_unit_price
from qbsync.sync.qbo_totals import ExpectedTotals, predict_totals


def sale(amount: str, qty: str = "1", price: str | None = None, code: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"ItemRef": {"value": "1"}, "Qty": D(qty), "UnitPrice": D(price or amount)}
    if code is not None:
        detail["TaxCodeRef"] = {"value": code}
    return {"DetailType": "SalesItemLineDetail", "Amount": D(amount), "SalesItemLineDetail": detail}


def percent_off(percent: str) -> dict[str, Any]:
    return {"DetailType": "DiscountLineDetail", "Amount": D(0),
            "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": D(percent)}}


def amount_off(amount: str) -> dict[str, Any]:
    return {"DetailType": "DiscountLineDetail", "Amount": D(amount),
            "DiscountLineDetail": {"PercentBased": False}}


def non_us(lines: list[dict[str, Any]], mode: str = "TaxExcluded", **fields: Any) -> dict[str, Any]:
    return {"Line": lines, "GlobalTaxCalculation": mode, **fields}


CASES = [
    # name, body, us_company, automated_sales_tax, tax_rates, (subtotal, discount, tax, total)
    ("percent discount rounds half-up on the subtotal",
     non_us([sale("0.50", code="z"), percent_off("5")]),
     False, False, {"z": [D(0)]}, ("0.50", "0.03", "0.00", "0.47")),
    ("an amount discount is taken as sent",
     non_us([sale("10.00", code="z"), amount_off("2.50")]), False, False, {"z": []},
     ("10.00", "2.50", "0.00", "7.50")),
    ("exclusive tax is rounded once per rate, not per line",
     non_us([sale("0.34", code="g")] * 3), False, False, {"g": [D(10)]}, ("1.02", "0.00", "0.10", "1.12")),
    ("codes sharing a TaxRate id pool their base",
     non_us([sale("0.10", code="gst"), sale("0.10", code="gst+pst")]), False, False,
     {"gst": [("r1", D(5))], "gst+pst": [("r1", D(5)), ("r2", D(7))]},
     ("0.20", "0.00", "0.02", "0.22")),  # GST on 0.20 = 0.01; PST on 0.10 = 0.007 → 0.01
    ("distinct TaxRate ids with the same percent are not pooled",
     non_us([sale("0.10", code="a"), sale("0.10", code="b")]), False, False,
     {"a": [("r1", D(5))], "b": [("r9", D(5))]}, ("0.20", "0.00", "0.02", "0.22")),  # 0.005 → 0.01 twice
    ("bare percents are pooled by value",
     non_us([sale("0.10", code="a"), sale("0.10", code="b")]), False, False,
     {"a": [D(5)], "b": [D("5.00")]}, ("0.20", "0.00", "0.01", "0.21")),
    ("inclusive tax is taken out once per code and not added to the total",
     non_us([sale("0.16", code="v")] * 2, "TaxInclusive"), False, False, {"v": [D(10)]},
     # 0.32 − cents(0.32 / 1.1 = 0.2909) = 0.03; per line it would be 2 × (0.16 − 0.15) = 0.02
     ("0.32", "0.00", "0.03", "0.32")),
    ("tax after discount scales the base",
     non_us([sale("100.00", code="g"), percent_off("10")], ApplyTaxAfterDiscount=True), False, False,
     {"g": [D(10)]}, ("100.00", "10.00", "9.00", "99.00")),
    ("tax before discount when not asked",
     non_us([sale("100.00", code="g"), percent_off("10")]), False, False, {"g": [D(10)]},
     ("100.00", "10.00", "10.00", "100.00")),
    ("US automated sales tax: TotalTax as sent",
     {"Line": [sale("100.00", code="TAX")], "TxnTaxDetail": {"TotalTax": D("7.43")}}, True, True, {},
     ("100.00", "0.00", "7.43", "107.43")),
    ("US without it: the code's rates apply to TAX lines only",
     {"Line": [sale("100.00", code="TAX"), sale("50.00", code="NON")],
      "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "11"}}}, True, False, {"11": [D("8.25")]},
     ("150.00", "0.00", "8.25", "158.25")),
    ("US without it and without a code: no tax, whatever TotalTax says",
     {"Line": [sale("100.00", code="TAX")], "TxnTaxDetail": {"TotalTax": D("5.00")}}, True, False, {},
     ("100.00", "0.00", "0.00", "100.00")),
]


@pytest.mark.parametrize(("name", "body", "us", "ast", "rates", "totals"), CASES,
                         ids=[case[0] for case in CASES])
def test_predicted_totals(name, body, us, ast, rates, totals):
    predicted = predict_totals(body, us_company=us, automated_sales_tax=ast, tax_rates=rates)
    assert predicted == ExpectedTotals(*(D(value) for value in totals))


def test_net_is_subtotal_minus_discount():
    assert ExpectedTotals(D("10.00"), D("2.50"), D("1.00"), D("8.50")).net == D("7.50")


def test_a_line_qbo_would_refuse_is_a_mapper_bug_not_a_prediction():
    with pytest.raises(ValueError, match="Qty × UnitPrice"):
        predict_totals(non_us([sale("1.00", qty="3", price="0.335", code="z")]), us_company=False,
                       automated_sales_tax=False, tax_rates={"z": []})
    with pytest.raises(ValueError, match="no tax rates"):
        predict_totals(non_us([sale("1.00", code="unknown")]), us_company=False, automated_sales_tax=False,
                       tax_rates={})


# --- money helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "rounded"), [("2.345", "2.35"), ("2.344", "2.34"), ("-2.345", "-2.35"),
                                                ("1.005", "1.01"), ("0", "0.00")])
def test_cents_round_half_up(value, rounded):
    assert str(cents(D(value))) == rounded


@pytest.mark.parametrize(("value", "places"), [("2.50", 1), ("100", 0), ("1E+2", 0), ("0.335", 3), ("0", 0)])
def test_decimal_places(value, places):
    assert decimal_places(D(value)) == places


@pytest.mark.parametrize(("qty", "target", "price"), [
    ("3", "27.00", "9.00"),      # the simple case keeps 2 decimals
    ("3", "29.00", "9.667"),     # 9.67 × 3 = 29.01, 9.66 × 3 = 28.98: 3 decimals needed
    ("7", "10.00", "1.429"),     # 1.43 × 7 = 10.01, 1.429 × 7 = 10.003 → 10.00
    ("0.5", "49.99", "99.98"),
    ("0", "0.00", "0.00"),
    ("1000000", "999999.99", None),  # would need 8 decimals
    ("0", "1.00", None),
])
def test_net_unit_price_reproduces_the_amount_with_qbos_own_rounding(qty, target, price):
    found = net_unit_price(D(qty), D(target))
    if price is None:
        assert found is None
        return
    assert line_amount(D(qty), found) == D(target)
    assert decimal_places(found) <= decimal_places(D(price))
