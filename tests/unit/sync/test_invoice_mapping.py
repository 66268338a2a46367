"""CRM invoice → QBO Invoice body: lines, discounts, tax, currency, numbering, field preferences, and the
totals check that refuses an invoice QBO would total differently (F12-F16, G5).

Each table case is a small CRM invoice whose totals the CRM emulator computes with the CRM's own
arithmetic; `map_invoice` verifies its QBO prediction against them, so a case that maps at all already
agrees to the cent, and the expected numbers below are worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest
from crm_emulator import builders as b
from qbsync.errors import ValidationFailedError
from qbsync.models.connection_records import CompanyFacts
from qbsync.models.crm_events import InvoiceSnapshot
from qbsync.models.tenant_settings import TenantSettings
from qbsync.sync.invoice_mapping import (
    InvoiceMappingError,
    check_totals,
    check_written_total,
    crm_id_in_private_note,
    display_name_with_suffix,
    map_customer,
    map_invoice,
    map_invoice_update,
    map_item,
    tax_key,
)


def company(country: str = "US", home: str = "USD", *, ast: bool = True, multicurrency: bool = False,
            custom_numbers: bool = False, time_zone: str | None = None) -> CompanyFacts:
    return CompanyFacts(company_name="Acme", country=country, home_currency=home, multicurrency=multicurrency,
                        custom_txn_numbers=custom_numbers, automated_sales_tax=ast, time_zone=time_zone)


US_AST = company()
US_MANUAL = company(ast=False)
CANADA = company("CA", "CAD", ast=False)
UK = company("GB", "GBP", ast=False)

GST = b.tax("GST", "5")
PST = b.tax("PST", "7")
VAT_INCLUSIVE = b.tax("VAT", "20", inclusive=True)
CA_SALES_TAX = b.tax("CA sales tax", "8.25")
CANADA_CODES = {"GST": "4", "GST+PST": "6", "exempt": "2"}
# QBO's rates per tax code, with TaxRate ids: GST alone and GST+PST share the GST rate.
CANADA_RATES = {"4": [("r_gst", D(5))], "6": [("r_gst", D(5)), ("r_pst", D(7))], "2": [("r_zero", D(0))]}


def invoice(lines: list[dict[str, Any]], *, discount: dict[str, Any] | None = None,
            **fields: Any) -> InvoiceSnapshot:
    fields = {"id": "inv_1", "number": "INV-1001", "currency": "USD", "issue_date": "2026-11-23",
              "due_date": "2026-12-23", "deal_id": "deal_7", "message": "Thank you for your business.",
              "customer": b.customer(crm_contact_id="con_1", email="jane@example.com",
                                     tax_id="US-12-3456789"),
              **fields}
    data = b.invoice_snapshot(lines=lines, discount=discount, **fields)
    return InvoiceSnapshot.model_validate(data)


def items(snapshot: InvoiceSnapshot) -> dict[str, str]:
    return {line.id: f"item_{index}" for index, line in enumerate(snapshot.lines, start=1)}


def mapped(snapshot: InvoiceSnapshot, *, facts: CompanyFacts = US_AST, settings: TenantSettings | None = None,
           **options: Any):
    return map_invoice(snapshot, company=facts, settings=settings or TenantSettings(), customer_ref="58",
                       item_refs=items(snapshot), **options)


def refusal(snapshot: InvoiceSnapshot, **options: Any) -> InvoiceMappingError:
    with pytest.raises(InvoiceMappingError) as caught:
        mapped(snapshot, **options)
    error = caught.value
    # Permanent: the worker dead-letters it at once.
    assert isinstance(error, ValidationFailedError) and not error.retryable
    return error


def sales_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in body["Line"] if line["DetailType"] == "SalesItemLineDetail"]


def discount_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [line for line in body["Line"] if line["DetailType"] == "DiscountLineDetail"]


# --- the table: tricky totals -------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    lines: list[dict[str, Any]]
    totals: tuple[str, str, str, str]  # QBO subtotal, discount, tax, total
    sales: list[tuple[str, str, str, str]]  # per sales line: Qty, UnitPrice, Amount, TaxCodeRef
    discount: dict[str, Any] | None = None
    discount_line: dict[str, Any] | None = None  # the DiscountLineDetail sent, plus its Amount
    facts: CompanyFacts = US_AST
    currency: str = "USD"
    tax_codes: dict[str, str] = field(default_factory=dict)
    tax_rates: dict[str, list[Any]] | None = None
    header: dict[str, Any] = field(default_factory=dict)  # other body fields the case pins


CASES = [
    Case("percentage discount, US automated sales tax",
         [b.line("Design", 1, "100.00", id="l1", taxes=[CA_SALES_TAX])],
         discount=b.percentage_discount("10"),
         totals=("100.00", "10.00", "7.43", "97.43"),  # tax on 90.00 at 8.25 % = 7.425 → 7.43 (the CRM's)
         sales=[("1", "100.00", "100.00", "TAX")],
         discount_line={"PercentBased": True, "DiscountPercent": D(10), "Amount": D("10.00")},
         header={"TxnTaxDetail": {"TotalTax": D("7.43")}, "ApplyTaxAfterDiscount": True}),
    Case("fixed discount, untaxed lines are NON",
         [b.line("Widget", 2, "25.00", id="l1"), b.line("Setup", 1, "10.00", id="l2")],
         discount=b.fixed_discount("5.00"),
         totals=("60.00", "5.00", "0.00", "55.00"),
         sales=[("2", "25.00", "50.00", "NON"), ("1", "10.00", "10.00", "NON")],
         discount_line={"PercentBased": False, "Amount": D("5.00")}),
    Case("fixed discount larger than the lines is capped at their sum, as the CRM does",
         [b.line("Sticker", 1, "3.00", id="l1")],
         discount=b.fixed_discount("5.00"),
         totals=("3.00", "3.00", "0.00", "0.00"),
         sales=[("1", "3.00", "3.00", "NON")],
         discount_line={"PercentBased": False, "Amount": D("3.00")}),
    Case("a percentage finer than QBO's 2 decimals is sent as its exact amount",
         [b.line("Retainer", 1, "200.00", id="l1")],
         discount=b.percentage_discount("12.345"),
         totals=("200.00", "24.69", "0.00", "175.31"),
         sales=[("1", "200.00", "200.00", "NON")],
         discount_line={"PercentBased": False, "Amount": D("24.69")}),
    Case("half-cent rounding on every line (3 × 0.335 = 1.005 → 1.01)",
         [b.line(f"Bolt {n}", 3, "0.335", id=f"l{n}") for n in (1, 2, 3)],
         totals=("3.03", "0.00", "0.00", "3.03"),
         sales=[("3", "0.335", "1.01", "NON")] * 3),
    Case("fractional quantities",
         [b.line("Half day", "0.5", "99.99", id="l1"), b.line("Overtime", "1.25", "10.01", id="l2")],
         totals=("62.51", "0.00", "0.00", "62.51"),  # 49.995 → 50.00; 12.5125 → 12.51
         sales=[("0.5", "99.99", "50.00", "NON"), ("1.25", "10.01", "12.51", "NON")]),
    Case("3-decimal unit price survives exactly",
         [b.line("Fuel", 7, "1.999", id="l1")],
         totals=("13.99", "0.00", "0.00", "13.99"),
         sales=[("7", "1.999", "13.99", "NON")]),
    Case("zero-priced line",
         [b.line("Free setup", 1, "0.00", id="l1"), b.line("Plan", 1, "10.00", id="l2")],
         totals=("10.00", "0.00", "0.00", "10.00"),
         sales=[("1", "0.00", "0.00", "NON"), ("1", "10.00", "10.00", "NON")]),
    Case("a percentage line discount is folded into the rate, quantity kept",
         [b.line("Seats", 3, "10.00", id="l1", discount=b.percentage_discount("10"))],
         totals=("27.00", "0.00", "0.00", "27.00"),
         sales=[("3", "9.00", "27.00", "NON")]),
    Case("a fixed line discount needs a 3-decimal rate (29.00 / 3 → 9.667)",
         [b.line("Seats", 3, "10.00", id="l1", discount=b.fixed_discount("1.00"))],
         totals=("29.00", "0.00", "0.00", "29.00"),
         sales=[("3", "9.667", "29.00", "NON")]),
    Case("US without automated sales tax: one mapped tax code for the TAX lines",
         [b.line("Design", 1, "100.00", id="l1", taxes=[CA_SALES_TAX]),
          b.line("Postage", 1, "20.00", id="l2")],
         facts=US_MANUAL, tax_codes={"CA sales tax": "11"}, tax_rates={"11": [D("8.25")]},
         totals=("120.00", "0.00", "8.25", "128.25"),
         sales=[("1", "100.00", "100.00", "TAX"), ("1", "20.00", "20.00", "NON")],
         header={"TxnTaxDetail": {"TxnTaxCodeRef": {"value": "11"}}}),
    Case("non-US exclusive tax, one rate",
         [b.line("Design", 1, "100.00", id="l1", taxes=[GST]),
          b.line("Prints", 2, "50.00", id="l2", taxes=[GST])],
         facts=CANADA, currency="CAD", tax_codes=CANADA_CODES, tax_rates=CANADA_RATES,
         totals=("200.00", "0.00", "10.00", "210.00"),
         sales=[("1", "100.00", "100.00", "4"), ("2", "50.00", "100.00", "4")],
         header={"GlobalTaxCalculation": "TaxExcluded"}),
    Case("non-US, several rates on one invoice and an exempt line",
         [b.line("Design", 1, "100.00", id="l1", taxes=[GST]),
          b.line("Prints", 1, "200.00", id="l2", taxes=[GST, PST]),
          b.line("Export crate", 1, "50.00", id="l3")],
         facts=CANADA, currency="CAD", tax_codes=CANADA_CODES, tax_rates=CANADA_RATES,
         totals=("350.00", "0.00", "29.00", "379.00"),  # GST on 300.00 = 15.00; PST on 200.00 = 14.00
         sales=[("1", "100.00", "100.00", "4"), ("1", "200.00", "200.00", "6"), ("1", "50.00", "50.00", "2")],
         header={"GlobalTaxCalculation": "TaxExcluded"}),
    Case("a tax combination is found under its names in alphabetical order too",
         [b.line("Prints", 1, "200.00", id="l1", taxes=[PST, GST])],
         facts=CANADA, currency="CAD", tax_codes=CANADA_CODES, tax_rates=CANADA_RATES,
         totals=("200.00", "0.00", "24.00", "224.00"),
         sales=[("1", "200.00", "200.00", "6")]),
    Case("non-US inclusive tax: the tax is inside the total",
         [b.line("Course", 1, "120.00", id="l1", taxes=[VAT_INCLUSIVE])],
         facts=UK, currency="GBP", tax_codes={"VAT": "7"}, tax_rates={"7": [D(20)]},
         totals=("120.00", "0.00", "20.00", "120.00"),
         sales=[("1", "120.00", "120.00", "7")],
         header={"GlobalTaxCalculation": "TaxInclusive"}),
    Case("non-US inclusive tax after a percentage discount",
         [b.line("Course", 1, "120.00", id="l1", taxes=[VAT_INCLUSIVE])],
         discount=b.percentage_discount("10"),
         facts=UK, currency="GBP", tax_codes={"VAT": "7"}, tax_rates={"7": [D(20)]},
         totals=("120.00", "12.00", "18.00", "108.00"),
         sales=[("1", "120.00", "120.00", "7")],
         discount_line={"PercentBased": True, "DiscountPercent": D(10), "Amount": D("12.00")},
         header={"GlobalTaxCalculation": "TaxInclusive", "ApplyTaxAfterDiscount": True}),
    Case("without QBO's rates the CRM's rates predict the tax",
         [b.line("Design", 1, "100.00", id="l1", taxes=[GST])],
         facts=CANADA, currency="CAD", tax_codes=CANADA_CODES, tax_rates=None,
         totals=("100.00", "0.00", "5.00", "105.00"),
         sales=[("1", "100.00", "100.00", "4")]),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_tricky_totals_map_to_the_cent(case: Case):
    # Given a CRM invoice whose totals the CRM computed itself
    snapshot = invoice(case.lines, discount=case.discount, currency=case.currency)
    # When it is mapped (which also checks QBO's totals against the CRM's)
    result = mapped(snapshot, facts=case.facts, settings=TenantSettings(tax_codes=case.tax_codes),
                    tax_rates=case.tax_rates)
    # Then QBO gets exactly these lines and will compute exactly these totals
    got = [(line["SalesItemLineDetail"]["Qty"], line["SalesItemLineDetail"]["UnitPrice"], line["Amount"],
            line["SalesItemLineDetail"]["TaxCodeRef"]["value"]) for line in sales_lines(result.body)]
    assert got == [(D(qty), D(price), D(amount), code) for qty, price, amount, code in case.sales]
    expected = result.expected
    got_totals = (expected.subtotal, expected.discount, expected.tax, expected.total)
    assert got_totals == tuple(D(x) for x in case.totals)
    assert expected.total == snapshot.totals.total and expected.tax == snapshot.totals.tax
    discounts = discount_lines(result.body)
    if case.discount_line is None:
        assert discounts == []
    else:
        assert len(discounts) == 1 and result.body["Line"][-1] is discounts[0]  # after the sales lines
        sent = dict(discounts[0]["DiscountLineDetail"], Amount=discounts[0]["Amount"])
        assert sent == case.discount_line
    for key, value in case.header.items():
        assert result.body[key] == value
    assert not any(line["DetailType"] == "SubTotalLineDetail" for line in result.body["Line"])  # QBO adds it


def test_line_amounts_are_exact_decimals_never_floats():
    result = mapped(invoice([b.line("Fuel", "2.5", "1.999", id="l1")]))
    detail = sales_lines(result.body)[0]["SalesItemLineDetail"]
    for value in (detail["Qty"], detail["UnitPrice"], sales_lines(result.body)[0]["Amount"]):
        assert type(value) is D
    assert str(sales_lines(result.body)[0]["Amount"]) == "5.00"  # 4.9975 → 5.00, in cents


def test_250_lines_map_and_total_to_the_cent():
    lines = [b.line(f"Part {n}", D(n % 4 + 1) * D("0.25"), D("1.005") + D(n) / 100, id=f"l{n}",
                    taxes=[CA_SALES_TAX] if n % 3 else []) for n in range(250)]
    snapshot = invoice(lines, discount=b.percentage_discount("5"))
    result = mapped(snapshot)
    assert len(sales_lines(result.body)) == 250
    assert [line["Amount"] for line in sales_lines(result.body)] == [
        (line.quantity * line.unit_price).quantize(D("0.01"), "ROUND_HALF_UP") for line in snapshot.lines]
    assert result.expected.total == snapshot.totals.total
    assert result.line_ids == tuple(f"l{n}" for n in range(250))


def test_description_is_the_name_then_the_crm_description_and_names_a_line_discount():
    snapshot = invoice([b.line("Consulting", "2.5", "120.00", id="l1", description="Hours, November"),
                        b.line("Seats", 3, "10.00", id="l2", discount=b.percentage_discount("10"))])
    first, second = sales_lines(mapped(snapshot).body)
    assert first["Description"] == "Consulting\nHours, November"
    assert second["Description"] == "Seats\nDiscount 10% (3.00) included in the rate"
    assert first["SalesItemLineDetail"]["ItemRef"] == {"value": "item_1"}


# --- tax (F15) ----------------------------------------------------------------------------------------


def test_us_automated_sales_tax_sends_the_crm_total_tax():
    snapshot = invoice([b.line("Design", 3, "33.33", id="l1", taxes=[CA_SALES_TAX]),
                        b.line("Postage", 1, "4.00", id="l2")])
    result = mapped(snapshot, facts=US_AST)
    assert snapshot.totals.tax == D("8.25")  # 99.99 × 8.25 % = 8.249…
    assert result.body["TxnTaxDetail"] == {"TotalTax": D("8.25")}
    assert "GlobalTaxCalculation" not in result.body
    assert [line["SalesItemLineDetail"]["TaxCodeRef"] for line in sales_lines(result.body)] == [
        {"value": "TAX"}, {"value": "NON"}]


def test_the_tax_key_joins_names_in_crm_order():
    line = invoice([b.line("x", 1, "1.00", id="l1", taxes=[PST, GST])]).lines[0]
    assert tax_key(line.taxes) == "PST+GST"
    assert tax_key([]) == "exempt"


@dataclass
class Refusal:
    name: str
    snapshot: Any  # a zero-argument callable building the invoice
    options: dict[str, Any]
    code: str
    details: dict[str, Any]


REFUSALS = [
    Refusal("unmapped tax names the tax and its rate",
            lambda: invoice([b.line("Design", 1, "100.00", id="l1", taxes=[b.tax("HST", "13")])],
                            currency="CAD"),
            {"facts": CANADA, "settings": TenantSettings(tax_codes=CANADA_CODES)},
            "tax_code_unmapped", {"tax": "HST", "rates": ["13"], "line_id": "l1"}),
    Refusal("an untaxed line on a non-US company needs the tenant's exempt code",
            lambda: invoice([b.line("Crate", 1, "50.00", id="l9")], currency="CAD"),
            {"facts": CANADA, "settings": TenantSettings(tax_codes={"GST": "4"})},
            "tax_code_unmapped", {"tax": "exempt", "line_id": "l9"}),
    Refusal("US without automated tax: an unmapped tax",
            lambda: invoice([b.line("Design", 1, "100.00", id="l1", taxes=[CA_SALES_TAX])]),
            {"facts": US_MANUAL}, "tax_code_unmapped", {"tax": "CA sales tax", "rates": ["8.25"]}),
    Refusal("inclusive and exclusive taxes on one invoice",
            lambda: invoice([b.line("Course", 1, "120.00", id="l1", taxes=[VAT_INCLUSIVE]),
                             b.line("Book", 1, "10.00", id="l2", taxes=[GST])], currency="GBP"),
            {"facts": UK, "settings": TenantSettings(tax_codes={"VAT": "7", "GST": "8"})},
            "mixed_tax_inclusion", {"inclusive_taxes": ["VAT"], "exclusive_taxes": ["GST"]}),
    Refusal("QBO's rate for the mapped code differs from the CRM's",
            lambda: invoice([b.line("Design", 1, "100.00", id="l1", taxes=[GST])], currency="CAD"),
            {"facts": CANADA, "settings": TenantSettings(tax_codes={"GST": "6", "exempt": "2"}),
             "tax_rates": CANADA_RATES},
            "tax_rate_mismatch", {"tax": "GST", "crm_rate": "5", "qbo_tax_code": "6", "qbo_rate": "12"}),
    Refusal("inclusive tax on a US company",
            lambda: invoice([b.line("Course", 1, "120.00", id="l1", taxes=[VAT_INCLUSIVE])]),
            {"facts": US_AST}, "unrepresentable_invoice",
            {"reason": "inclusive_tax_on_us_company", "inclusive_taxes": ["VAT"]}),
    Refusal("US without automated tax: two tax sets on one invoice",
            lambda: invoice([b.line("A", 1, "1.00", id="l1", taxes=[CA_SALES_TAX]),
                             b.line("B", 1, "1.00", id="l2", taxes=[b.tax("NY sales tax", "8.875")])]),
            {"facts": US_MANUAL,
             "settings": TenantSettings(tax_codes={"CA sales tax": "11", "NY sales tax": "12"})},
            "unrepresentable_invoice", {"tax_keys": ["CA sales tax", "NY sales tax"]}),
    Refusal("per-line tax rounding that QBO's per-rate rounding cannot reproduce",
            # The CRM taxes each 0.34 line: 3 × cents(0.034) = 0.09, total 1.11. QBO taxes the 1.02 base once:
            # cents(0.102) = 0.10, total 1.12. Refused before the write, with both numbers.
            lambda: invoice([b.line(f"Bolt {n}", 1, "0.335", id=f"l{n}", taxes=[b.tax("GST", "10")])
                             for n in (1, 2, 3)], currency="CAD"),
            {"facts": CANADA, "settings": TenantSettings(tax_codes={"GST": "4"}),
             "tax_rates": {"4": [D(10)]}},
            "total_mismatch", {"field": "total", "qbo": "1.12", "crm": "1.11"}),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[case.name for case in REFUSALS])
def test_what_qbo_cannot_hold_is_refused_with_a_reason(case: Refusal):
    error = refusal(case.snapshot(), **case.options)
    assert error.code == case.code
    assert error.details.items() >= case.details.items(), error.details
    assert error.to_body()["error"]["code"] == case.code


# --- the totals check (G5) ----------------------------------------------------------------------------


def test_a_crm_total_one_cent_off_is_refused_with_both_numbers():
    lines = [b.line("Design", 1, "100.00", id="l1")]
    wrong = {"subtotal": "100.00", "discount": "0.00", "tax": "0.00", "total": "100.01",
             "amount_paid": "0.00", "amount_due": "100.01"}
    error = refusal(invoice(lines, totals=wrong))
    assert error.code == "total_mismatch"
    assert error.details["field"] == "total"
    assert (error.details["qbo"], error.details["crm"]) == ("100.00", "100.01")
    assert "100.00" in error.message and "100.01" in error.message


def test_a_tax_off_by_a_cent_is_refused_even_when_the_inclusive_total_agrees():
    lines = [b.line("Course", 1, "120.00", id="l1", taxes=[VAT_INCLUSIVE])]
    wrong = {"subtotal": "120.00", "discount": "0.00", "tax": "19.99", "total": "120.00",
             "amount_paid": "0.00", "amount_due": "120.00"}
    error = refusal(invoice(lines, totals=wrong, currency="GBP"), facts=UK,
                    settings=TenantSettings(tax_codes={"VAT": "7"}))
    assert (error.code, error.details["field"], error.details["qbo"], error.details["crm"]) == (
        "total_mismatch", "tax", "20.00", "19.99")


def test_check_totals_can_run_on_its_own_and_after_the_write():
    lines = [b.line("Design", 1, "100.00", id="l1")]
    result = mapped(invoice(lines), verify_totals=False)
    check_totals(result, invoice(lines))
    check_written_total({"Id": "130", "TotalAmt": D("100.00")}, invoice(lines))
    with pytest.raises(InvoiceMappingError) as caught:
        check_written_total({"Id": "130", "TotalAmt": D("99.99")}, invoice(lines))
    assert (caught.value.code, caught.value.details["qbo"], caught.value.details["crm"]) == (
        "total_mismatch", "99.99", "100.00")


# --- lines QBO cannot hold ----------------------------------------------------------------------------


def test_a_line_discount_no_seven_decimal_rate_can_reproduce_is_refused_naming_the_line_and_amounts():
    # 1,000,000 × p = 999,999.99 needs p = 0.99999999 (8 decimals); QBO keeps 7.
    snapshot = invoice([b.line("Tokens", 1000000, "1.00", id="l7", discount=b.fixed_discount("0.01"))])
    error = refusal(snapshot)
    assert error.code == "unrepresentable_invoice"
    assert error.details["line_id"] == "l7"
    assert error.details["crm_amount"] == "999999.99"
    assert error.details["closest_qbo_amount"] in {"999999.90", "1000000.00"}


def test_a_quantity_with_more_decimals_than_qbo_keeps_is_refused():
    error = refusal(invoice([b.line("Gas", "1.12345678", "2.00", id="l3")]))
    assert (error.code, error.details["line_id"], error.details["quantity"]) == (
        "unrepresentable_invoice", "l3", "1.12345678")


def test_a_unit_price_finer_than_qbo_keeps_is_sent_as_an_equal_amount_rate_with_a_warning():
    result = mapped(invoice([b.line("Gas", 2, "1.123456789", id="l3")]))
    line = sales_lines(result.body)[0]
    assert line["Amount"] == D("2.25")
    assert line["SalesItemLineDetail"]["UnitPrice"] == D("1.125")
    assert any("l3" in warning for warning in result.warnings)


def test_a_line_without_a_resolved_item_is_refused():
    snapshot = invoice([b.line("Design", 1, "1.00", id="l1")])
    with pytest.raises(InvoiceMappingError) as caught:
        map_invoice(snapshot, company=US_AST, settings=TenantSettings(), customer_ref="58", item_refs={})
    assert (caught.value.code, caught.value.details["line_id"]) == ("item_unmapped", "l1")


# --- currency (F15) -----------------------------------------------------------------------------------


def test_multicurrency_sends_currency_and_exchange_rate():
    facts = company(multicurrency=True)
    result = mapped(invoice([b.line("Design", 1, "100.00", id="l1")], currency="EUR"), facts=facts,
                    exchange_rate=D("1.0825"))
    assert result.body["CurrencyRef"] == {"value": "EUR"}
    assert result.body["ExchangeRate"] == D("1.0825")
    assert result.warnings == ()


def test_multicurrency_in_the_home_currency_still_names_it_and_without_a_rate_warns():
    facts = company(multicurrency=True)
    home = mapped(invoice([b.line("Design", 1, "100.00", id="l1")]), facts=facts, exchange_rate=D("1.5"))
    assert home.body["CurrencyRef"] == {"value": "USD"} and "ExchangeRate" not in home.body
    foreign = mapped(invoice([b.line("Design", 1, "100.00", id="l1")], currency="EUR"), facts=facts)
    assert "ExchangeRate" not in foreign.body and any("EUR" in warning for warning in foreign.warnings)


def test_another_currency_without_multicurrency_is_refused():
    error = refusal(invoice([b.line("Design", 1, "100.00", id="l1")], currency="EUR"), facts=US_AST)
    assert error.code == "currency_not_enabled"
    assert (error.details["currency"], error.details["home_currency"]) == ("EUR", "USD")


def test_the_home_currency_without_multicurrency_sends_no_currency_ref():
    assert "CurrencyRef" not in mapped(invoice([b.line("Design", 1, "1.00", id="l1")])).body


# --- numbering (F16) ----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["INV-1", "X" * 21])
def test_custom_numbering_sends_the_crm_number(number: str):
    result = mapped(invoice([b.line("Design", 1, "1.00", id="l1")], number=number),
                    facts=company(custom_numbers=True))
    assert result.body["DocNumber"] == number and result.doc_number == number


def test_a_number_longer_than_21_characters_is_refused_never_truncated():
    number = "INV-2026-000000000-ABC"  # 22
    error = refusal(invoice([b.line("Design", 1, "1.00", id="l1")], number=number),
                    facts=company(custom_numbers=True))
    assert error.code == "doc_number_too_long"
    assert (error.details["number"], error.details["length"]) == (number, 22)


def test_without_custom_numbering_qbo_numbers_the_invoice():
    result = mapped(invoice([b.line("Design", 1, "1.00", id="l1")], number="X" * 40), facts=US_AST)
    assert "DocNumber" not in result.body and result.doc_number is None


# --- dates and field preferences (F14) ----------------------------------------------------------------


def test_default_field_preferences():
    snapshot = invoice([b.line("Design", 1, "1.00", id="l1")])
    body = mapped(snapshot).body
    assert body["CustomerRef"] == {"value": "58"}
    assert (body["TxnDate"], body["DueDate"]) == ("2026-11-23", "2026-12-23")
    assert body["BillEmail"] == {"Address": "jane@example.com"}
    assert body["BillAddr"] == {"Line1": "500 Market Street", "Line2": "Suite 300", "City": "San Francisco",
                                "CountrySubDivisionCode": "CA", "PostalCode": "94105", "Country": "US"}
    assert body["CustomerMemo"] == {"value": "Thank you for your business."}
    assert crm_id_in_private_note(body["PrivateNote"]) == "inv_1"
    assert crm_id_in_private_note("Voided - " + body["PrivateNote"]) == "inv_1"
    assert "INV-1001" in body["PrivateNote"]
    assert "CustomField" not in body


def test_field_preferences_switched_off_leave_qbo_its_own():
    settings = TenantSettings.model_validate({"invoice_fields": {
        "billing_address": "none", "email": "none", "memo": "none", "payment_terms_days": 14}})
    body = mapped(invoice([b.line("Design", 1, "1.00", id="l1")]), settings=settings).body
    assert not {"BillAddr", "BillEmail", "CustomerMemo"} & body.keys()
    assert body["DueDate"] == "2026-12-07"


def test_custom_fields_and_tax_id_for_the_customer_step():
    settings = TenantSettings.model_validate({"invoice_fields": {
        "tax_id": "customer.tax_id", "custom_fields": [
        {"qbo_definition_id": "1", "name": "CRM number", "source": "number"},
        {"qbo_definition_id": "2", "name": "Deal", "source": "deal_id"},
        {"qbo_definition_id": "3", "name": "Note", "source": "message"}]}})
    result = mapped(invoice([b.line("Design", 1, "1.00", id="l1")], message="m" * 40), settings=settings)
    assert result.body["CustomField"] == [
        {"DefinitionId": "1", "Name": "CRM number", "Type": "StringType", "StringValue": "INV-1001"},
        {"DefinitionId": "2", "Name": "Deal", "Type": "StringType", "StringValue": "deal_7"},
        {"DefinitionId": "3", "Name": "Note", "Type": "StringType", "StringValue": "m" * 31}]
    assert any("Note" in warning for warning in result.warnings)  # cut to QBO's 31, and said so
    assert result.customer_tax_id == "US-12-3456789"
    assert mapped(invoice([b.line("Design", 1, "1.00", id="l1")])).customer_tax_id is None  # default: none


def test_a_due_date_before_the_issue_date_is_refused():
    error = refusal(invoice([b.line("Design", 1, "1.00", id="l1")], due_date="2026-11-01"))
    assert (error.code, error.details["due_date"]) == ("due_date_before_issue_date", "2026-11-01")


# --- updates (F13) ------------------------------------------------------------------------------------


def test_an_update_is_sparse_carries_every_line_and_clears_what_the_snapshot_dropped():
    settings = TenantSettings.model_validate({"tax_codes": {"CA sales tax": "11"}, "invoice_fields": {
        "custom_fields": [{"qbo_definition_id": "2", "name": "Deal", "source": "deal_id"}]}})
    snapshot = invoice([b.line("Design", 2, "100.00", id="l1"), b.line("Extra", 1, "5.00", id="l2")],
                       discount=b.fixed_discount("10.00"), message=None, deal_id=None, due_date="2027-01-15")
    result = map_invoice_update(snapshot, qbo_invoice_id="130", sync_token="3", company=US_MANUAL,
                                settings=settings, customer_ref="58", item_refs=items(snapshot))
    body = result.body
    assert (body["Id"], body["SyncToken"], body["sparse"]) == ("130", "3", True)
    assert len(sales_lines(body)) == 2 and len(discount_lines(body)) == 1
    assert body["DueDate"] == "2027-01-15"
    assert body["CustomerMemo"] == {"value": ""}  # the old message goes
    assert body["CustomField"] == [
        {"DefinitionId": "2", "Name": "Deal", "Type": "StringType", "StringValue": ""}]
    assert body["TxnTaxDetail"] == {}  # no taxed line any more: the old tax code goes
    assert result.expected.total == snapshot.totals.total == D("195.00")


def test_an_update_is_checked_against_the_crm_totals_like_a_create():
    lines = [b.line("Design", 1, "100.00", id="l1")]
    wrong = {"subtotal": "100.00", "discount": "0.00", "tax": "0.00", "total": "90.00", "amount_paid": "0.00",
             "amount_due": "90.00"}
    snapshot = invoice(lines, totals=wrong)
    with pytest.raises(InvoiceMappingError) as caught:
        map_invoice_update(snapshot, qbo_invoice_id="130", sync_token="3", company=US_AST,
                           settings=TenantSettings(), customer_ref="58", item_refs=items(snapshot))
    assert (caught.value.code, caught.value.details["qbo"], caught.value.details["crm"]) == (
        "total_mismatch", "100.00", "90.00")


# --- customers and items ------------------------------------------------------------------------------


def crm_customer(**fields: Any):
    return InvoiceSnapshot.model_validate(b.invoice_snapshot(customer=b.customer(**fields))).customer


@pytest.mark.parametrize(("name", "display"), [
    ("Jane Doe", "Jane Doe"),
    ("Acme: West\tCoast\nInc", "Acme- West Coast Inc"),
    ("  Lots   of   space  ", "Lots of space"),
    ("é" * 600, "é" * 500),
])
def test_display_name_is_sanitised_for_qbo(name: str, display: str):
    body = map_customer(crm_customer(name=name), settings=TenantSettings(), company=US_AST)
    assert body["DisplayName"] == display
    assert ":" not in body["DisplayName"] and len(body["DisplayName"]) <= 500


def test_customer_body_follows_the_field_preferences():
    customer = crm_customer(name="Ludwig van Beethoven", company="Bonn: Music", email="lvb@example.com",
                            phone="+49 228 000", tax_id="DE123", crm_contact_id="con_9")
    settings = TenantSettings.model_validate({"invoice_fields": {"recipient": "customer.company",
                                                                 "tax_id": "customer.tax_id"}})
    body = map_customer(customer, settings=settings, company=company(multicurrency=True), currency="EUR")
    assert body["DisplayName"] == "Bonn- Music"
    assert (body["GivenName"], body["FamilyName"]) == ("Ludwig", "van Beethoven")
    assert body["CompanyName"] == "Bonn- Music"
    assert body["PrimaryEmailAddr"] == {"Address": "lvb@example.com"}
    assert body["PrimaryPhone"] == {"FreeFormNumber": "+49 228 000"}
    assert body["PrimaryTaxIdentifier"] == "DE123"
    assert body["CurrencyRef"] == {"value": "EUR"}
    assert body["BillAddr"]["City"] == "San Francisco"
    assert crm_id_in_private_note(body["Notes"], "crm_contact_id") == "con_9"


def test_customer_defaults_without_company_tax_id_or_multicurrency():
    settings = TenantSettings.model_validate(
        {"invoice_fields": {"recipient": "customer.company", "billing_address": "none"}})
    body = map_customer(crm_customer(name="Cher", company=None, tax_id="X1", phone="+1 " + "5" * 40),
                        settings=settings, company=US_AST)
    assert body["DisplayName"] == "Cher" and body["GivenName"] == "Cher"  # recipient falls back to the name
    # a phone longer than QBO's 30 characters is left out, never cut into a wrong number
    assert not {"FamilyName", "CompanyName", "PrimaryTaxIdentifier", "CurrencyRef", "BillAddr",
                "PrimaryPhone"} & body.keys()


def test_display_name_suffix_is_deterministic_readable_and_fits():
    assert display_name_with_suffix("Jane Doe", " Jane@X.com ") == "Jane Doe (jane@x.com)"
    jane = display_name_with_suffix("Jane Doe", "jane@x.com")
    assert jane == display_name_with_suffix("Jane Doe", "JANE@x.com")
    assert jane != display_name_with_suffix("Jane Doe", "jd@x.com")
    long_name = display_name_with_suffix("N" * 500, "jane@x.com")
    assert len(long_name) == 500 and long_name.endswith(" (jane@x.com)")
    huge_email = display_name_with_suffix("Jane", "j" * 400 + "@x.com")
    assert huge_email.startswith("Jane (") and len(huge_email) == len("Jane (12345678)")
    assert huge_email == display_name_with_suffix("Jane", "j" * 400 + "@x.com")
    assert ":" not in display_name_with_suffix("A:B", "a:b@x.com")


def test_item_body_for_a_missing_product():
    line = invoice([b.line("Design: Logo " + "x" * 120, 1, "99.995", id="l1", sku="LOGO-1",
                           description="Vector logo")]).lines[0]
    body = map_item(line, income_account_id="79")
    assert body["Type"] == "Service" and body["IncomeAccountRef"] == {"value": "79"}
    assert body["Name"].startswith("Design- Logo") and len(body["Name"]) <= 100 and ":" not in body["Name"]
    assert (body["Sku"], body["UnitPrice"], body["Description"]) == ("LOGO-1", D("99.995"), "Vector logo")
    too_long_sku = invoice([b.line("Logo", 1, "1.00", id="l1", sku="S" * 101)]).lines[0]
    assert "Sku" not in map_item(too_long_sku, income_account_id="79")  # left out, never cut
