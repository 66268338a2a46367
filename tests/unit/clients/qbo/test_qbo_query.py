"""Query statements (escaping `'`, `\\`, `%`, emoji), their URL encoding, the auto-paging iterator over
STARTPOSITION / MAXRESULTS, and what every read sends: minorversion, timeouts, Decimal amounts."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from qbsync.clients.qbo import query
from qbsync.clients.qbo.client import DEFAULT_TIMEOUT, QboClient
from qbo_stub_transport import StubResponse, StubTransport, query_params, url_path

TIME = "2025-03-01T10:00:00-08:00"


def client_with(responder, **options) -> tuple[QboClient, StubTransport]:
    transport = StubTransport(responder)
    client = QboClient(
        realm_id="4620816365",
        api_base_url="https://sandbox-quickbooks.api.intuit.com/v3/",
        session=transport.mount_on(requests.Session()),
        sleep=lambda _: None,
        **options,
    )
    return client, transport


# ---------------------------------------------------------------------------- escaping


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Adam's Candy Shop", r"'Adam\'s Candy Shop'"),
        ("back\\slash", r"'back\\slash'"),
        ("trailing\\", r"'trailing\\'"),
        ("\\' OR Name = 'x", r"'\\\' OR Name = \'x'"),
        ("100% Cotton", "'100% Cotton'"),
        ("Café 🍰 ’curly’", "'Café 🍰 ’curly’'"),
    ],
)
def test_string_literals_are_escaped_backslash_first(value, expected):
    assert query.literal(value) == expected


def test_an_injection_attempt_stays_inside_one_literal():
    statement = query.select("Customer", conditions=[("DisplayName", "=", "x\\' AND Active = false --")])
    assert statement == r"SELECT * FROM Customer WHERE DisplayName = 'x\\\' AND Active = false --'"
    # Unescaped quotes: only the two that delimit the literal.
    assert len(re.findall(r"(?<!\\)'", statement.replace("\\\\", ""))) == 2


def test_other_literals():
    assert query.literal(True) == "true"
    assert query.literal(12) == "12"
    assert query.literal(Decimal("10.50")) == "10.50"
    assert query.literal(date(2025, 1, 31)) == "'2025-01-31'"
    moment = datetime(2025, 1, 31, 9, 0, tzinfo=timezone(timedelta(hours=-8)))
    assert query.literal(moment) == "'2025-01-31T09:00:00-08:00'"
    with pytest.raises(ValueError):
        query.literal(datetime(2025, 1, 31))  # naive: which zone?
    with pytest.raises(TypeError):
        query.literal(1.5)


def test_statement_builder():
    statement = query.select(
        "Invoice",
        conditions=[
            ("CustomerRef", "=", "42"),
            ("Id", "in", ["1", "2"]),
            ("MetaData.LastUpdatedTime", ">=", date(2025, 1, 1)),
        ],
        order_by="MetaData.LastUpdatedTime",
        descending=True,
        start_position=1001,
        max_results=1000,
    )
    assert statement == (
        "SELECT * FROM Invoice WHERE CustomerRef = '42' AND Id IN ('1', '2') AND "
        "MetaData.LastUpdatedTime >= '2025-01-01' ORDERBY MetaData.LastUpdatedTime DESC "
        "STARTPOSITION 1001 MAXRESULTS 1000"
    )
    assert query.count("Customer", conditions=[("Active", "IN", [True, False])]) == (
        "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    )


@pytest.mark.parametrize(
    "bad",
    [
        lambda: query.select("Customer; DROP"),
        lambda: query.select("Customer", conditions=[("Name' OR", "=", "x")]),
        lambda: query.select("Customer", conditions=[("Name", "OR", "x")]),
        lambda: query.select("Customer", conditions=[("Id", "IN", [])]),
        lambda: query.select("Customer", max_results=1001),
        lambda: query.select("Customer", start_position=0),
    ],
)
def test_what_cannot_be_escaped_is_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        bad()


# ---------------------------------------------------------------------------- URL encoding


def test_the_statement_reaches_qbo_exactly_as_built():
    name = "O'Brien \\ 100% 🍰"
    client, transport = client_with(lambda request: StubResponse.json({"QueryResponse": {}, "time": TIME}))

    assert client.query(query.select("Customer", conditions=[("DisplayName", "=", name)])) == []

    url = transport.requests[0].url
    raw_query = url.split("?", 1)[1]
    # Every reserved character is percent-encoded: the backslash escape and the % survive the trip.
    assert "%5C%27" in raw_query and "%25" in raw_query and "%F0%9F%8D%B0" in raw_query
    assert "+" not in raw_query and " " not in raw_query and "'" not in raw_query
    assert query_params(transport.requests[0])["query"] == (
        "SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien \\\\ 100% 🍰'"
    )
    assert url_path(transport.requests[0]) == "/v3/company/4620816365/query"


# ---------------------------------------------------------------------------- paging


def customers(first: int, count: int) -> list[dict]:
    return [
        {"Id": str(n), "DisplayName": f"C{n}", "Balance": Decimal("1.10")}
        for n in range(first, first + count)
    ]


def paging_responder(total: int, seen: list[str]):
    """A fake QBO query endpoint that honours STARTPOSITION and MAXRESULTS."""

    def respond(request):
        statement = query_params(request)["query"]
        seen.append(statement)
        start = int(re.search(r"STARTPOSITION (\d+)", statement).group(1))
        size = int(re.search(r"MAXRESULTS (\d+)", statement).group(1))
        count = max(0, min(size, total - start + 1))
        page = (
            {"Customer": customers(start, count), "startPosition": start, "maxResults": count}
            if count
            else {}
        )
        return StubResponse.json({"QueryResponse": page, "time": TIME})

    return respond


def test_the_iterator_pages_through_every_object_1000_at_a_time():
    seen: list[str] = []
    client, _ = client_with(paging_responder(2500, seen))

    ids = [item["Id"] for item in client.iter_query("Customer", conditions=[("Active", "=", True)])]

    assert ids == [str(n) for n in range(1, 2501)]
    assert seen == [
        f"SELECT * FROM Customer WHERE Active = true ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000"
        for start in (1, 1001, 2001)
    ]


def test_an_exact_multiple_of_the_page_size_asks_once_more_and_stops_on_the_empty_page():
    seen: list[str] = []
    client, _ = client_with(paging_responder(4, seen))

    assert len(list(client.iter_query("Customer", page_size=2))) == 4
    assert [re.search(r"STARTPOSITION (\d+)", s).group(1) for s in seen] == ["1", "3", "5"]


def test_the_iterator_is_lazy():
    seen: list[str] = []
    client, _ = client_with(paging_responder(5000, seen))

    first = next(client.iter_query("Customer"))

    assert first["Id"] == "1" and len(seen) == 1


def test_count():
    client, transport = client_with(
        lambda r: StubResponse.json({"QueryResponse": {"totalCount": 57}, "time": TIME})
    )
    assert client.count("Invoice", conditions=[("Balance", ">", 0)]) == 57
    assert query_params(transport.requests[0])["query"] == "SELECT COUNT(*) FROM Invoice WHERE Balance > 0"


# ---------------------------------------------------------------------------- every read


def test_reads_send_minorversion_accept_and_the_timeouts_and_parse_amounts_as_decimal():
    body = (
        b'{"Invoice": {"Id": "130", "SyncToken": "2", "TotalAmt": 362.07, "Balance": 0.10, '
        b'"Line": [{"Amount": 100, "SalesItemLineDetail": {"Qty": 3, "UnitPrice": 0.1}}]}, "time": "x"}'
    )
    client, transport = client_with(lambda r: StubResponse(200, body, {"intuit_tid": "tid-9"}))

    invoice = client.read("Invoice", "130")

    assert invoice["TotalAmt"] == Decimal("362.07") and isinstance(invoice["TotalAmt"], Decimal)
    assert invoice["Balance"] == Decimal("0.10")
    assert invoice["Line"][0]["SalesItemLineDetail"]["UnitPrice"] == Decimal("0.1")
    sent = transport.requests[0]
    assert sent.method == "GET"
    assert url_path(sent) == "/v3/company/4620816365/invoice/130"
    assert query_params(sent) == {"minorversion": "75"}
    assert sent.headers["Accept"] == "application/json"
    assert transport.timeouts == [DEFAULT_TIMEOUT]


def test_company_info_preferences_and_pdf():
    def respond(request):
        path = url_path(request)
        if path.endswith("/companyinfo/4620816365"):
            return StubResponse.json({"CompanyInfo": {"Country": "US"}, "time": TIME})
        if path.endswith("/preferences"):
            return StubResponse.json({"Preferences": {"CurrencyPrefs": {"MultiCurrencyEnabled": False}}})
        assert path.endswith("/invoice/130/pdf")
        assert request.headers["Accept"] == "application/pdf"
        return StubResponse(200, b"%PDF-1.4\n...", {"Content-Type": "application/pdf"})

    client, transport = client_with(respond, timeout=(1.0, 5.0))

    assert client.company_info() == {"Country": "US"}
    assert client.preferences()["CurrencyPrefs"] == {"MultiCurrencyEnabled": False}
    assert client.invoice_pdf("130").startswith(b"%PDF")
    assert all(query_params(r)["minorversion"] == "75" for r in transport.requests)
    assert transport.timeouts == [(1.0, 5.0)] * 3


def test_minor_versions_qbo_ignores_are_refused():
    with pytest.raises(ValueError):
        QboClient(realm_id="1", api_base_url="https://x/v3", session=requests.Session(), minor_version=65)
