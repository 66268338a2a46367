"""The ExchangeRate entity (QBO.md §4.9): market rates for every date, rates set for a date by the API
or a user, the faults QBO answers, and how a transaction's ExchangeRate feeds HomeTotalAmt/HomeBalance.
A foreign-currency transaction still has to carry its ExchangeRate (the emulator's stricter choice)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal as D
from zoneinfo import ZoneInfo

import pytest
import requests

PATH = "/exchangerate"


def cents(value: D) -> D:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture
def mc_realm(emu):
    return emu.create_company(country="US", multicurrency=True, name="Multicurrency Inc")


@pytest.fixture
def mc(connect, mc_realm):
    return connect(mc_realm)


def read(qbo, currency, as_of=None):
    params = {"sourcecurrencycode": currency}
    if as_of is not None:
        params["asofdate"] = str(as_of)
    return qbo.request("GET", PATH, params=params)


def set_rate(qbo, body, **params):
    return qbo.request("POST", PATH, params=params, json_body=body)


def company_today(emu) -> date:
    return emu.clock.now().astimezone(ZoneInfo("America/Los_Angeles")).date()


# ---------------------------------------------------------------------------------------------- reads


def test_a_market_rate_for_any_date_in_qbo_shape(mc):
    rate = mc.ok(read(mc, "EUR", "2026-10-01"), "ExchangeRate")
    assert rate["SourceCurrencyCode"] == "EUR" and rate["TargetCurrencyCode"] == "USD"
    assert rate["AsOfDate"] == "2026-10-01" and rate["SyncToken"] == "0"
    assert isinstance(rate["Rate"], D) and D("1.05") < rate["Rate"] < D("1.11")  # home units per euro
    assert rate["MetaData"]["LastUpdatedTime"][-6:] in ("-07:00", "-08:00")
    # the same date always answers the same rate; dates drift a little, so the date matters
    assert mc.ok(read(mc, "EUR", "2026-10-01"), "ExchangeRate")["Rate"] == rate["Rate"]
    month = {mc.ok(read(mc, "EUR", date(2026, 10, 1) + timedelta(days=n)), "ExchangeRate")["Rate"]
             for n in range(10)}
    assert len(month) > 1 and all(abs(r - D("1.08")) <= D("0.0022") for r in month)


def test_asofdate_defaults_to_today_in_the_company_zone_and_home_currency_is_one(emu, mc):
    today = mc.ok(read(mc, "GBP"), "ExchangeRate")
    assert today["AsOfDate"] == company_today(emu).isoformat()
    home = mc.ok(read(mc, "USD", "2026-10-01"), "ExchangeRate")
    assert home["Rate"] == 1 and home["TargetCurrencyCode"] == "USD"


def test_rates_are_against_the_company_home_currency(emu, connect):
    gb = connect(emu.create_company(country="GB", multicurrency=True))
    usd_in_gbp = gb.ok(read(gb, "USD", "2026-10-01"), "ExchangeRate")
    assert usd_in_gbp["TargetCurrencyCode"] == "GBP" and D("0.77") < usd_in_gbp["Rate"] < D("0.80")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sourcecurrencycode": "JPY"}, "610"),  # not one of the company's currencies
        ({"sourcecurrencycode": "XYZ"}, "610"),
        ({}, "2020"),
        ({"sourcecurrencycode": "EURO"}, "6000"),
        ({"sourcecurrencycode": "EUR", "asofdate": "01/10/2026"}, "6000"),
        ({"sourcecurrencycode": "EUR", "asofdate": "2026-02-30"}, "6000"),
    ],
)
def test_read_faults(mc, fault, params, code):
    response = mc.request("GET", PATH, params=params)
    assert response.status_code == 400 and fault(response)["code"] == code


def test_a_company_without_multicurrency_has_no_rates(qbo, fault):
    response = read(qbo, "EUR")
    assert response.status_code == 400 and fault(response)["code"] == "6000"
    assert "Multicurrency" in fault(response)["Detail"]


# --------------------------------------------------------------------------------------------- writes


def test_a_rate_set_for_a_date_applies_until_the_next_one(mc):
    before = mc.ok(read(mc, "EUR", "2026-09-30"), "ExchangeRate")["Rate"]
    created = mc.ok(
        set_rate(mc, {"SourceCurrencyCode": "EUR", "Rate": D("1.25"), "AsOfDate": "2026-10-01",
                      "SyncToken": "0"}),
        "ExchangeRate",
    )
    assert (created["Rate"], created["SyncToken"], created["AsOfDate"]) == (D("1.25"), "0", "2026-10-01")
    later = mc.ok(read(mc, "EUR", "2026-10-20"), "ExchangeRate")
    assert (later["Rate"], later["AsOfDate"]) == (D("1.25"), "2026-10-01")  # the rate in effect, its date
    assert mc.ok(read(mc, "EUR", "2026-09-30"), "ExchangeRate")["Rate"] == before
    mc.ok(set_rate(mc, {"SourceCurrencyCode": "EUR", "Rate": D("1.3"), "AsOfDate": "2026-10-10",
                        "SyncToken": "0"}))
    assert mc.ok(read(mc, "EUR", "2026-10-09"), "ExchangeRate")["Rate"] == D("1.25")
    assert mc.ok(read(mc, "EUR", "2026-10-20"), "ExchangeRate")["Rate"] == D("1.3")


def test_sync_token_is_checked(mc, fault):
    body = {"SourceCurrencyCode": "EUR", "Rate": D("1.1"), "AsOfDate": "2026-10-01"}
    assert fault(set_rate(mc, body))["code"] == "2020"  # SyncToken required
    assert fault(set_rate(mc, {**body, "SyncToken": "3"}))["code"] == "5010"  # only the market rate yet: "0"
    mc.ok(set_rate(mc, {**body, "SyncToken": "0"}))
    changed = mc.ok(set_rate(mc, {**body, "Rate": D("1.2"), "SyncToken": "0"}), "ExchangeRate")
    assert (changed["Rate"], changed["SyncToken"]) == (D("1.2"), "1")
    stale = set_rate(mc, {**body, "Rate": D("1.3"), "SyncToken": "0"})
    assert stale.status_code == 400 and fault(stale)["code"] == "5010"
    assert mc.ok(read(mc, "EUR", "2026-10-01"), "ExchangeRate")["Rate"] == D("1.2")
    # a client that sends back what it read (MetaData, TargetCurrencyCode...) is fine
    current = mc.ok(read(mc, "EUR", "2026-10-01"), "ExchangeRate")
    echoed = mc.ok(set_rate(mc, {**current, "Rate": D("1.21")}), "ExchangeRate")
    assert (echoed["Rate"], echoed["SyncToken"]) == (D("1.21"), "2")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"SourceCurrencyCode": "USD"}, "6000"),  # the home currency has no rate to set
        ({"TargetCurrencyCode": "GBP"}, "6000"),
        ({"SourceCurrencyCode": "JPY"}, "610"),
        ({"Rate": "1.1"}, "6000"),  # a number, not a string
        ({"Rate": D("0")}, "6000"),
        ({"Rate": None}, "2020"),
        ({"AsOfDate": None}, "2020"),
        ({"Bogus": 1}, "2010"),
    ],
)
def test_write_faults(mc, fault, changes, code):
    body = {"SourceCurrencyCode": "EUR", "Rate": D("1.1"), "AsOfDate": "2026-10-01", "SyncToken": "0",
            **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = set_rate(mc, body)
    assert response.status_code == 400 and fault(response)["code"] == code


def test_a_write_replays_by_requestid_and_both_calls_are_counted(emu, mc):
    emu.reset_counters()
    body = {"SourceCurrencyCode": "EUR", "Rate": D("1.1"), "AsOfDate": "2026-10-01", "SyncToken": "0"}
    first = set_rate(mc, body, requestid="rate-1")
    again = set_rate(mc, {**body, "Rate": D("9")}, requestid="rate-1")
    assert again.content == first.content
    read(mc, "EUR")
    counters = emu.counters()
    assert counters["requests"]["POST /v3/company/{realm}/exchangerate"] == 2
    assert counters["requests"]["GET /v3/company/{realm}/exchangerate"] == 1
    assert counters["replayed_requestids"] == 1


# ------------------------------------------------------------------------------------ control knob


def test_set_exchange_rate_acts_as_a_user_for_today_or_a_date(emu, mc, mc_realm):
    today = emu.set_exchange_rate(mc_realm, "eur", "1.0999")
    assert today["AsOfDate"] == company_today(emu).isoformat() and today["Rate"] == D("1.0999")
    assert mc.ok(read(mc, "EUR"), "ExchangeRate")["Rate"] == D("1.0999")
    emu.set_exchange_rate(mc_realm, "EUR", D("1.05"), as_of=date(2026, 10, 1))
    emu.set_exchange_rate(mc_realm, "EUR", 1.06, as_of="2026-10-01")  # no SyncToken needed
    assert emu.exchange_rate(mc_realm, "EUR", "2026-10-02")["Rate"] == D("1.06")
    assert emu.exchange_rate(mc_realm, "EUR", "2026-10-01")["SyncToken"] == "1"
    with pytest.raises(ValueError):
        emu.set_exchange_rate(mc_realm, "EUR", True)


def test_exchange_rates_over_the_control_api(emu, mc_realm):
    url = f"{emu.control_url}/companies/{mc_realm}/exchange-rates"
    answer = requests.post(url, json={"currency": "CAD", "rate": "0.74", "as_of": "2026-10-01"}, timeout=5)
    assert answer.status_code == 200 and answer.json()["Rate"] == 0.74
    read_back = requests.get(url, params={"currency": "CAD", "as_of": "2026-10-03"}, timeout=5).json()
    assert read_back["AsOfDate"] == "2026-10-01" and read_back["Rate"] == 0.74
    unknown = requests.get(url, params={"currency": "JPY"}, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "610"
    assert emu.counters()["total"] == 0  # the control API is never counted


# ------------------------------------------------------------------------------------- transactions


def test_a_foreign_invoice_still_needs_its_rate_and_home_amounts_use_it(mc, fault):
    euro = mc.customer("Euro Kunde GmbH", CurrencyRef={"value": "EUR"})
    without = mc.post(
        "invoice",
        {
            "CustomerRef": {"value": euro["Id"]},
            "CurrencyRef": {"value": "EUR"},
            "TxnDate": "2026-10-01",
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": D("100.00"),
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": D("100.00")},
                }
            ],
        },
    )
    # Stricter than QBO, which would fill in its own rate: the emulator makes the client send one.
    assert fault(without)["code"] == "2020" and fault(without)["element"] == "ExchangeRate"

    rate = mc.ok(read(mc, "EUR", "2026-10-01"), "ExchangeRate")["Rate"]
    invoice = mc.invoice(euro["Id"], "333.33", "0.05", CurrencyRef={"value": "EUR"}, ExchangeRate=rate,
                         TxnDate="2026-10-01")
    assert invoice["ExchangeRate"] == rate and invoice["TotalAmt"] == D("333.38")
    assert invoice["HomeTotalAmt"] == cents(D("333.38") * rate) == invoice["HomeBalance"]

    payment = mc.payment(euro["Id"], "100.00", (invoice["Id"], "100.00"), CurrencyRef={"value": "EUR"},
                         ExchangeRate=D("1.2"))
    assert payment["HomeTotalAmt"] == D("120.00")
    after = mc.ok(mc.get("invoice", invoice["Id"]), "Invoice")
    assert after["Balance"] == D("233.38") and after["HomeBalance"] == cents(D("233.38") * rate)

    changed = mc.ok(
        mc.post("invoice", {"Id": invoice["Id"], "SyncToken": after["SyncToken"], "sparse": True,
                            "ExchangeRate": D("1.5")}),
        "Invoice",
    )
    assert changed["HomeTotalAmt"] == cents(D("333.38") * D("1.5"))
    assert changed["HomeBalance"] == cents(D("233.38") * D("1.5"))
