"""The query language: escaping, case rules, errors 4000/4001, paging, count, inactive records."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

NAMES = ["Amy's Bird Sanctuary", "Back\\slash Co", "50% Off", "500 Club", "Café 🎉 Emoji", "Tab’s Curly"]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def rows(qbo, text, entity="Customer"):
    response = qbo.query(text)
    assert response.status_code == 200, response.text
    return qbo.body(response)["QueryResponse"].get(entity, [])


@pytest.fixture
def named(qbo):
    return {name: qbo.customer(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_escaped_literals_find_exactly_one(qbo, named, name):
    found = rows(qbo, f"select * from Customer where DisplayName = '{escape(name)}'")
    assert [c["Id"] for c in found] == [named[name]["Id"]]


def test_percent_is_literal_in_equals_and_a_wildcard_in_like(qbo, named):
    assert [c["DisplayName"] for c in rows(qbo, "select * from Customer where DisplayName = '50% Off'")] == [
        "50% Off"
    ]
    like = rows(qbo, "select * from Customer where DisplayName LIKE '50%'")
    assert sorted(c["DisplayName"] for c in like) == ["50% Off", "500 Club"]
    assert (
        rows(qbo, "select * from Customer where DisplayName like '%sanctuary'")[0]["DisplayName"] == NAMES[0]
    )
    assert rows(qbo, "select * from Customer where DisplayName like 'Amy_s%'") == []  # _ is not a wildcard


def test_keywords_entities_properties_and_values_are_case_insensitive(qbo, named):
    found = rows(qbo, "SeLeCt * FrOm customer WhErE displayname = 'AMY\\'S BIRD SANCTUARY'")
    assert len(found) == 1
    assert len(rows(qbo, "select * from CUSTOMER where DisplayName in ('500 club', '50% off')")) == 2


def test_post_query_with_application_text(qbo, named):
    response = qbo.request(
        "POST", "/query", data="select count(*) from Customer", headers={"Content-Type": "application/text"}
    )
    assert qbo.body(response)["QueryResponse"] == {"totalCount": len(NAMES)}


@pytest.mark.parametrize(
    "text",
    [
        "select * from Customer where",
        "select * from Customer where DisplayName = ",
        "select * fro Customer",
        "select * from Customer where DisplayName = 'unterminated",
        "select * from Customer where DisplayName = 'bad \\x escape'",
        "select * from Customer where DisplayName != 'x'",
        "select * from Customer where DisplayName = 'a' OR DisplayName = 'b'",
        "select * from Customer maxresults 1.5",
    ],
)
def test_syntax_errors_are_4000(qbo, fault, text):
    response = qbo.query(text)
    assert response.status_code == 400
    error = fault(response)
    assert error["code"] == "4000" and error["Message"] == "Error parsing query"
    assert error["Detail"].startswith("QueryParserError: ")


def test_parser_error_names_what_it_found(qbo, fault):
    detail = fault(qbo.query("select * from Customer where DisplayName = 'x' foo"))["Detail"]
    assert detail.startswith('QueryParserError: Encountered " <ID> "foo "" at line 1, column 48.')


@pytest.mark.parametrize(
    "text",
    [
        "select * from Customer where Notes = 'x'",
        "select * from Vendor where PrimaryEmailAddr = 'a@b.c'",
        "select * from Customer where Id > '3'",
        "select * from Customer where Id like '3%'",
        "select * from Customer where Balance like '1%'",
        "select * from Customer where Balance > 'lots'",
        "select * from Customer maxresults 1001",
        "select * from Customer startposition 0",
        "select * from Widget",
    ],
)
def test_semantic_errors_are_4001(qbo, fault, text):
    error = fault(qbo.query(text))
    assert error["code"] == "4001" and error["Detail"].startswith("QueryValidationError: ")


def test_customer_email_filterability_is_a_knob(emu, qbo, fault):
    qbo.customer("Mail", PrimaryEmailAddr={"Address": "Pay@Example.com"})
    assert len(rows(qbo, "select * from Customer where PrimaryEmailAddr = 'pay@example.com'")) == 1
    emu.configure(customer_email_filterable=False)
    assert (
        fault(qbo.query("select * from Customer where PrimaryEmailAddr = 'pay@example.com'"))["code"]
        == "4001"
    )


def test_paging_and_empty_response(emu, qbo, realm):
    for number in range(105):
        emu.user_create(realm, "Customer", {"DisplayName": f"Customer {number:03d}"})
    default = qbo.body(qbo.query("select * from Customer"))["QueryResponse"]
    assert default["startPosition"] == 1 and default["maxResults"] == 100 and len(default["Customer"]) == 100
    page = qbo.body(qbo.query("select * from Customer orderby DisplayName STARTPOSITION 101 MAXRESULTS 10"))
    assert page["QueryResponse"]["startPosition"] == 101 and page["QueryResponse"]["maxResults"] == 5
    assert page["QueryResponse"]["Customer"][0]["DisplayName"] == "Customer 100"
    beyond = qbo.body(qbo.query("select * from Customer STARTPOSITION 200 MAXRESULTS 10"))
    assert beyond["QueryResponse"] == {}
    assert qbo.body(qbo.query("select count(*) from Customer"))["QueryResponse"] == {"totalCount": 105}


def test_inactive_records_hidden_unless_active_is_filtered(emu, qbo, realm):
    kept, gone = qbo.customer("Kept"), qbo.customer("Gone")
    emu.user_delete(realm, "Customer", gone["Id"])
    assert [c["Id"] for c in rows(qbo, "select * from Customer")] == [kept["Id"]]
    assert [c["Id"] for c in rows(qbo, "select * from Customer where Active = false")] == [gone["Id"]]
    assert len(rows(qbo, "select * from Customer where Active in (true, false)")) == 2
    assert rows(qbo, f"select * from Customer where Id = '{gone['Id']}'") == []


def test_ordering_and_transaction_filters(emu, qbo):
    a, b = qbo.customer("Alpha"), qbo.customer("Beta")
    qbo.invoice(a["Id"], "10.00")
    big = qbo.invoice(b["Id"], "300.00")
    emu.clock.advance(10)
    late = qbo.invoice(b["Id"], "60.00")
    names = [c["DisplayName"] for c in rows(qbo, "select * from Customer ORDER BY DisplayName DESC")]
    assert names == ["Beta", "Alpha"]
    mine = rows(
        qbo, f"select * from Invoice where CustomerRef = '{b['Id']}' and Balance > '50.00'", "Invoice"
    )
    assert {i["Id"] for i in mine} == {big["Id"], late["Id"]}
    since = late["MetaData"]["LastUpdatedTime"]
    recent = rows(qbo, f"select * from Invoice where MetaData.LastUpdatedTime >= '{since}'", "Invoice")
    assert [i["Id"] for i in recent] == [late["Id"]]
    by_total = rows(qbo, "select * from Invoice orderby TotalAmt desc maxresults 1", "Invoice")
    assert by_total[0]["TotalAmt"] == D("300.00")
    today = big["TxnDate"]
    assert len(rows(qbo, f"select * from Invoice where TxnDate = '{today}'", "Invoice")) == 3


def test_company_info_and_preferences_are_queryable(qbo):
    assert rows(qbo, "select * from CompanyInfo", "CompanyInfo")[0]["Country"] == "US"
    assert "SalesFormsPrefs" in rows(qbo, "select * from Preferences", "Preferences")[0]
