"""Server-computed totals: line amounts, discount, subtotal line, tax (US AST, US manual, non-US exclusive and
inclusive) and multicurrency rules."""

from __future__ import annotations

from decimal import Decimal as D


def sales_line(amount, qty=None, price=None, item="1", tax_code=None):
    detail = {"ItemRef": {"value": item}}
    if qty is not None:
        detail["Qty"], detail["UnitPrice"] = D(str(qty)), D(str(price))
    if tax_code is not None:
        detail["TaxCodeRef"] = {"value": tax_code}
    return {"DetailType": "SalesItemLineDetail", "Amount": D(str(amount)), "SalesItemLineDetail": detail}


def tax_code_id(qbo, name):
    codes = qbo.ok(qbo.query(f"select * from TaxCode where Name = '{name}'"), "QueryResponse")["TaxCode"]
    return codes[0]["Id"]


def test_line_amount_must_equal_qty_times_price_rounded_half_up(qbo, fault):
    customer = qbo.customer("Lines")
    ok = qbo.create(
        "invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": [sales_line("1.01", qty=3, price="0.335")]},
    )  # 1.005 -> 1.01
    assert ok["TotalAmt"] == D("1.01")
    wrong = qbo.post(
        "invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": [sales_line("1.00", qty=3, price="0.335")]},
    )
    assert wrong.status_code == 400
    error = fault(wrong)
    assert error["code"] == "6000"
    assert "Amount is not equal to UnitPrice * Qty" in error["Detail"]
    half = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 5,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 5},
                }
            ],
        },
    )
    assert fault(half)["code"] == "6000"
    assert (
        fault(qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [sales_line("1.005")]}))[
            "code"
        ]
        == "6000"
    )


def test_percent_discount_subtotal_line_and_ast_tax_from_request(qbo):
    customer = qbo.customer("Discounts")
    invoice = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                sales_line("100.00", qty=2, price=50),
                sales_line("50.00"),
                {
                    "DetailType": "SubTotalLineDetail",
                    "Amount": 999,
                    "SubTotalLineDetail": {},
                },  # ignored, recomputed
                {
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
                },
            ],
            "TxnTaxDetail": {"TotalTax": D("10.80")},
        },
    )
    kinds = [line["DetailType"] for line in invoice["Line"]]
    assert kinds == ["SalesItemLineDetail", "SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail"]
    assert invoice["Line"][2]["Amount"] == D("150.00")
    assert invoice["Line"][3]["Amount"] == D("15.00")
    assert [line.get("LineNum") for line in invoice["Line"][:2]] == [1, 2]
    assert invoice["TxnTaxDetail"]["TotalTax"] == D("10.80")
    assert invoice["TotalAmt"] == D("145.80") and invoice["Balance"] == D("145.80")


def test_amount_discount_cannot_exceed_subtotal(qbo, fault):
    customer = qbo.customer("Big discount")
    response = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                sales_line("10.00"),
                {"DetailType": "DiscountLineDetail", "Amount": 11, "DiscountLineDetail": {}},
            ],
        },
    )
    assert fault(response)["code"] == "6000"
    fine = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                sales_line("10.00"),
                {
                    "DetailType": "DiscountLineDetail",
                    "Amount": D("2.50"),
                    "DiscountLineDetail": {"PercentBased": False},
                },
            ],
        },
    )
    assert fine["TotalAmt"] == D("7.50")


def test_us_without_ast_taxes_tax_lines_with_the_txn_tax_code(emu, connect):
    qbo = connect(emu.create_company(country="US", automated_sales_tax=False))
    california = tax_code_id(qbo, "California")
    customer = qbo.customer("Manual tax")
    invoice = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [sales_line("100.00", tax_code="TAX"), sales_line("40.00", tax_code="NON")],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": california}, "TotalTax": 1},  # TotalTax is recomputed
        },
    )
    assert invoice["TxnTaxDetail"]["TotalTax"] == D("8.00")
    assert invoice["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"] == D("100.00")
    assert invoice["TotalAmt"] == D("148.00")


def test_non_us_tax_exclusive_per_rate(emu, connect):
    qbo = connect(emu.create_company(country="GB"))
    standard, reduced = tax_code_id(qbo, "20.0% S"), tax_code_id(qbo, "5.0% R")
    customer = qbo.customer("VAT Ltd")
    invoice = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "GlobalTaxCalculation": "TaxExcluded",
            "Line": [
                sales_line("100.00", tax_code=standard),
                sales_line("33.33", tax_code=standard),
                sales_line("50.00", tax_code=reduced),
            ],
        },
    )
    tax_lines = {t["TaxLineDetail"]["TaxPercent"]: t for t in invoice["TxnTaxDetail"]["TaxLine"]}
    assert tax_lines[D(20)]["TaxLineDetail"]["NetAmountTaxable"] == D("133.33")
    assert tax_lines[D(20)]["Amount"] == D("26.67")  # 26.666 half-up
    assert tax_lines[D(5)]["Amount"] == D("2.50")
    assert invoice["TxnTaxDetail"]["TotalTax"] == D("29.17")
    assert invoice["TotalAmt"] == D("212.50")


def test_non_us_tax_inclusive_backs_tax_out_of_gross(emu, connect):
    qbo = connect(emu.create_company(country="GB"))
    standard, reduced = tax_code_id(qbo, "20.0% S"), tax_code_id(qbo, "5.0% R")
    customer = qbo.customer("Gross Ltd")
    invoice = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "GlobalTaxCalculation": "TaxInclusive",
            "Line": [
                sales_line("120.00", qty=1, price=120, tax_code=standard),
                sales_line("10.50", tax_code=reduced),
            ],
        },
    )
    assert invoice["TxnTaxDetail"]["TotalTax"] == D("20.50")
    assert invoice["TotalAmt"] == D("130.50")
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"] == D("120.00")
    nets = sorted(t["TaxLineDetail"]["NetAmountTaxable"] for t in invoice["TxnTaxDetail"]["TaxLine"])
    assert nets == [D("10.00"), D("100.00")]


def test_non_us_tax_after_discount_and_compound_codes(emu, connect):
    qbo = connect(emu.create_company(country="CA"))
    qc = tax_code_id(qbo, "GST/QST QC")
    customer = qbo.customer("Quebec Inc")
    invoice = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "GlobalTaxCalculation": "TaxExcluded",
            "ApplyTaxAfterDiscount": True,
            "Line": [
                sales_line("200.00", tax_code=qc),
                {
                    "DetailType": "DiscountLineDetail",
                    "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 50},
                },
            ],
        },
    )
    # GST 5% and QST 9.975% both on the discounted 100.00
    amounts = sorted(t["Amount"] for t in invoice["TxnTaxDetail"]["TaxLine"])
    assert amounts == [D("5.00"), D("9.98")]
    assert invoice["TotalAmt"] == D("114.98")


def test_non_us_needs_tax_codes_and_global_tax_calculation(emu, connect, fault):
    qbo = connect(emu.create_company(country="AU"))
    gst = tax_code_id(qbo, "GST")
    customer = qbo.customer("Aussie")
    base = {"CustomerRef": {"value": customer["Id"]}, "GlobalTaxCalculation": "TaxExcluded"}
    assert fault(qbo.post("invoice", {**base, "Line": [sales_line("10.00")]}))["code"] == "2020"
    assert (
        fault(qbo.post("invoice", {**base, "Line": [sales_line("10.00", tax_code="9999")]}))["code"] == "2500"
    )
    assert (
        fault(qbo.post("invoice", {**base, "Line": [sales_line("10.00", tax_code="TAX")]}))["code"] == "2500"
    )
    no_mode = qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [sales_line("10.00", tax_code=gst)]}
    )
    assert fault(no_mode)["code"] == "2020"
    bad_mode = qbo.post(
        "invoice", {**base, "GlobalTaxCalculation": "Sometimes", "Line": [sales_line("10.00", tax_code=gst)]}
    )
    assert fault(bad_mode)["code"] == "2170"
    assert qbo.create("invoice", {**base, "Line": [sales_line("10.00", tax_code=gst)]})["TotalAmt"] == D(
        "11.00"
    )


def test_custom_tax_codes_replace_the_country_defaults(emu, connect):
    qbo = connect(emu.create_company(country="GB", tax_codes=[{"name": "Special", "rate": "12.5"}]))
    codes = qbo.ok(qbo.query("select * from TaxCode"), "QueryResponse")["TaxCode"]
    assert [c["Name"] for c in codes] == ["Special"]
    rate = qbo.ok(qbo.query("select * from TaxRate"), "QueryResponse")["TaxRate"][0]
    assert rate["RateValue"] == D("12.5")


def test_multicurrency_rules(emu, connect, fault):
    qbo = connect(emu.create_company(country="US", multicurrency=True))
    euro = qbo.customer("Euro GmbH", CurrencyRef={"value": "EUR"})
    assert euro["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    lines = [sales_line("100.00")]
    assert fault(qbo.post("invoice", {"CustomerRef": {"value": euro["Id"]}, "Line": lines}))["code"] == "2020"
    wrong = qbo.post(
        "invoice", {"CustomerRef": {"value": euro["Id"]}, "Line": lines, "CurrencyRef": {"value": "USD"}}
    )
    assert fault(wrong)["code"] == "6000"
    no_rate = qbo.post(
        "invoice", {"CustomerRef": {"value": euro["Id"]}, "Line": lines, "CurrencyRef": {"value": "EUR"}}
    )
    assert fault(no_rate)["code"] == "2020"
    invoice = qbo.create(
        "invoice",
        {
            "CustomerRef": {"value": euro["Id"]},
            "Line": lines,
            "CurrencyRef": {"value": "EUR"},
            "ExchangeRate": D("1.1"),
        },
    )
    assert invoice["HomeTotalAmt"] == D("110.00") and invoice["HomeBalance"] == D("110.00")
    changed = qbo.post(
        "customer",
        {"Id": euro["Id"], "SyncToken": euro["SyncToken"], "sparse": True, "CurrencyRef": {"value": "USD"}},
    )
    assert fault(changed)["code"] == "6000"
    prefs = qbo.ok(qbo.request("GET", "/preferences"), "Preferences")
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is True


def test_single_currency_company_accepts_only_home_currency(qbo, fault):
    assert (
        fault(qbo.post("customer", {"DisplayName": "Abroad", "CurrencyRef": {"value": "EUR"}}))["code"]
        == "6000"
    )
    customer = qbo.customer("Home")
    foreign = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [sales_line("1.00")],
            "CurrencyRef": {"value": "EUR"},
        },
    )
    assert fault(foreign)["code"] == "6000"
