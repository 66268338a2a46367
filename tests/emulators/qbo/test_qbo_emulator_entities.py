"""Entity rules: envelopes, SyncToken, unique names, DocNumber, references, requestid replay, read-only lists."""

from __future__ import annotations

import re
from decimal import Decimal


def test_create_and_read_use_qbo_envelopes(qbo):
    response = qbo.post("customer", {"DisplayName": "Amy's Bird Sanctuary", "Balance": 999})
    customer = qbo.ok(response, "Customer")
    assert customer["Id"] == "1" and customer["SyncToken"] == "0"
    assert customer["domain"] == "QBO" and customer["sparse"] is False
    assert customer["Balance"] == Decimal("0.00")  # read-only fields in requests are ignored
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", customer["MetaData"]["CreateTime"])
    body = qbo.body(response)
    assert re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{3}[-+]\d\d:\d\d", body["time"])
    assert response.headers["intuit_tid"]
    read = qbo.ok(qbo.get("customer", customer["Id"]), "Customer")
    assert read["DisplayName"] == "Amy's Bird Sanctuary"


def test_amounts_are_json_numbers_with_two_decimals(qbo):
    customer = qbo.customer("Decimals")
    response = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 100,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert '"TotalAmt":100.00' in response.text
    assert '"Balance":100.00' in response.text


def test_stale_sync_token_is_5010(qbo, fault):
    customer = qbo.customer("Stale")
    updated = qbo.ok(
        qbo.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "New"}),
        "Customer",
    )
    assert updated["SyncToken"] == "1"
    stale = qbo.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Old"}
    )
    assert stale.status_code == 400
    assert fault(stale)["code"] == "5010"
    missing = qbo.post("customer", {"Id": customer["Id"], "sparse": True, "CompanyName": "x"})
    assert fault(missing)["code"] == "2020"


def test_sparse_keeps_fields_full_update_nulls_omitted(qbo):
    customer = qbo.customer("Full", CompanyName="Acme", Notes="keep me?")
    sparse = qbo.ok(
        qbo.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "changed"}),
        "Customer",
    )
    assert sparse["CompanyName"] == "Acme" and sparse["Notes"] == "changed"
    full = qbo.ok(
        qbo.post("customer", {"Id": customer["Id"], "SyncToken": "1", "DisplayName": "Full"}), "Customer"
    )
    assert "CompanyName" not in full and "Notes" not in full


def test_display_name_unique_across_customers_and_vendors_6240_with_id(qbo, fault):
    vendor = qbo.create("vendor", {"DisplayName": "Shared Name"})
    duplicate = qbo.post("customer", {"DisplayName": "  shared name "})
    assert duplicate.status_code == 400
    error = fault(duplicate)
    assert error["code"] == "6240"
    assert error["Detail"] == f"The name supplied already exists. : Id={vendor['Id']}"
    customer = qbo.customer("Other")
    assert fault(qbo.post("vendor", {"DisplayName": "Other"}))["Detail"].endswith(f"Id={customer['Id']}")


def test_display_name_built_from_name_parts_and_required(qbo, fault):
    customer = qbo.create("customer", {"GivenName": "Ada", "FamilyName": "Lovelace"})
    assert customer["DisplayName"] == "Ada Lovelace"
    assert fault(qbo.post("customer", {"CompanyName": "No name"}))["code"] == "2020"
    assert fault(qbo.post("customer", {"DisplayName": "a:b"}))["code"] == "6000"
    assert fault(qbo.post("customer", {"DisplayName": "x" * 101}))["code"] == "2050"


def test_item_name_unique(qbo, fault):
    item = qbo.create("item", {"Name": "Consulting", "Type": "Service", "IncomeAccountRef": {"value": "1"}})
    duplicate = qbo.post(
        "item", {"Name": "CONSULTING", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    )
    assert fault(duplicate)["code"] == "6240"
    assert fault(duplicate)["Detail"].endswith(f"Id={item['Id']}")
    assert fault(qbo.post("item", {"Name": "NoAccount", "Type": "Service"}))["code"] == "2020"


def test_customers_cannot_be_deleted_only_made_inactive(qbo, fault):
    customer = qbo.customer("Leaving")
    refused = qbo.post("customer", {"Id": customer["Id"], "SyncToken": "0"}, operation="delete")
    assert refused.status_code == 400 and fault(refused)["code"] == "500"
    inactive = qbo.ok(
        qbo.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False}),
        "Customer",
    )
    assert inactive["Active"] is False
    # Referencing an inactive customer is 610
    invoice = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 1,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert fault(invoice)["code"] == "610"


def test_missing_references_and_objects(qbo, fault):
    assert fault(qbo.get("customer", "999"))["code"] == "610"
    invoice = qbo.post(
        "invoice",
        {
            "CustomerRef": {"value": "999"},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 1,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert fault(invoice)["code"] == "2500"
    assert fault(qbo.post("customer", {"DisplayName": "X", "Nickname": "?"}))["code"] == "2010"


def test_malformed_bodies(qbo, fault):
    broken = qbo.request(
        "POST", "/customer", data=b'{"DisplayName": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and fault(broken)["code"] == "2010"
    latin1 = qbo.request(
        "POST",
        "/customer",
        data='{"DisplayName": "Caf\xe9"}'.encode("latin-1"),
        headers={"Content-Type": "application/json"},
    )
    assert fault(latin1)["code"] == "500"
    assert "MalformedByteSequenceException" in fault(latin1)["Detail"]
    assert fault(qbo.request("POST", "/Customer", json_body={"DisplayName": "case"}))["code"] == "500"


def test_doc_numbers_auto_assigned_when_custom_numbers_off(qbo):
    customer = qbo.customer("Numbers")
    first = qbo.invoice(customer["Id"])
    second = qbo.invoice(customer["Id"])
    assert (first["DocNumber"], second["DocNumber"]) == ("1001", "1002")


def test_doc_number_rules_with_custom_numbers(emu, connect, fault):
    qbo = connect(emu.create_company(country="US", custom_txn_numbers=True))
    prefs = qbo.ok(qbo.request("GET", "/preferences"), "Preferences")
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    customer = qbo.customer("Custom")
    line = [
        {"DetailType": "SalesItemLineDetail", "Amount": 5, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    ]
    missing = qbo.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line})
    assert fault(missing)["code"] == "2020"
    too_long = qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line, "DocNumber": "X" * 22}
    )
    assert fault(too_long)["code"] == "2050"
    first = qbo.create(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line, "DocNumber": "INV-1"}
    )
    duplicate = qbo.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line, "DocNumber": "INV-1"}
    )
    assert fault(duplicate)["code"] == "6140"
    assert f"TxnId={first['Id']}" in fault(duplicate)["Detail"]
    allowed = qbo.post(
        "invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": line, "DocNumber": "INV-1"},
        include="allowduplicatedocnum",
    )
    assert allowed.status_code == 200


def test_requestid_replays_the_original_response_without_a_second_object(emu, qbo, realm, fault):
    body = {"DisplayName": "Once Only"}
    first = qbo.post("customer", body, requestid="create-customer-once-only")
    again = qbo.post("customer", body, requestid="create-customer-once-only")
    assert again.status_code == 200
    assert again.content == first.content
    assert len([c for c in emu.entities(realm, "Customer") if c["DisplayName"] == "Once Only"]) == 1
    assert emu.counters()["replayed_requestids"] == 1
    # A failed write is not remembered: the same requestid can succeed once the cause is fixed
    clash = qbo.post("customer", {"DisplayName": "Once Only"}, requestid="second-try")
    assert fault(clash)["code"] == "6240"
    fixed = qbo.post("customer", {"DisplayName": "Twice"}, requestid="second-try")
    assert fixed.status_code == 200
    assert fault(qbo.post("customer", {"DisplayName": "Long"}, requestid="r" * 51))["code"] == "2050"


def test_company_info_preferences_and_read_only_lists(qbo, realm, fault):
    info = qbo.ok(qbo.request("GET", f"/companyinfo/{realm}"), "CompanyInfo")
    assert info["Country"] == "US" and info["CompanyName"] == "US AST Co"
    prefs = qbo.ok(qbo.request("GET", "/preferences"), "Preferences")
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    assert prefs["TaxPrefs"] == {"UsingSalesTax": True, "PartnerTaxEnabled": True}
    accounts = qbo.ok(qbo.query("select * from Account"), "QueryResponse")["Account"]
    assert "Undeposited Funds" in {a["Name"] for a in accounts}
    assert {c["Id"] for c in qbo.ok(qbo.query("select * from TaxCode"), "QueryResponse")["TaxCode"]} >= {
        "TAX",
        "NON",
    }
    assert fault(qbo.post("taxcode", {"Name": "New"}))["code"] == "500"
    assert fault(qbo.post("account", {"Name": "New"}))["code"] == "500"


def test_minorversion_is_counted_and_any_value_accepted(emu, qbo):
    qbo.request("GET", "/preferences", params={"minorversion": "4"})
    qbo.session.get(f"{qbo.base}/preferences", headers=qbo.headers(), timeout=5)
    counters = emu.counters()
    assert counters["minorversions"] == {"4": 1, "missing": 1}
    assert counters["requests"]["GET /v3/company/{realm}/preferences"] == 2
