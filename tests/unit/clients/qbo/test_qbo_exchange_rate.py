"""`QboClient.exchange_rate`: what it sends (path, currency, date, minorversion, no requestid) and what it
accepts back (an exact Decimal home-per-foreign rate; a Fault or a rate-less answer raises)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import requests
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import QboNotFoundError, QboServerError
from qbo_stub_transport import StubResponse, StubTransport, query_params, url_path

REALM = "4620816365"
TIME = "2026-11-23T10:00:00-08:00"


def rate_document(rate, **fields):
    return {"ExchangeRate": {"SyncToken": "0", "domain": "QBO", "AsOfDate": "2026-11-23",
                             "SourceCurrencyCode": "EUR", "Rate": rate, "sparse": False,
                             "TargetCurrencyCode": "USD", "MetaData": {"LastUpdatedTime": TIME}, **fields},
            "time": TIME}


def client_answering(*answers: StubResponse) -> tuple[QboClient, StubTransport]:
    queue = list(answers)
    transport = StubTransport(lambda request: queue.pop(0))
    client = QboClient(realm_id=REALM, api_base_url="https://sandbox-quickbooks.api.intuit.com/v3",
                       session=transport.mount_on(requests.Session()), sleep=lambda _: None)
    return client, transport


def test_reads_the_rate_for_a_date_as_an_exact_decimal():
    # Given QBO answers a rate with more places than a float keeps exactly
    client, transport = client_answering(StubResponse.json(rate_document(Decimal("1.0825370"))))
    # When the rate for an invoice date is asked for
    rate = client.exchange_rate("eur", date(2026, 11, 20))
    # Then it is that very Decimal, and the request is a plain read of /exchangerate for that date
    assert rate == Decimal("1.0825370") and isinstance(rate, Decimal)
    (request,) = transport.requests
    assert request.method == "GET"
    assert url_path(request) == f"/v3/company/{REALM}/exchangerate"
    assert query_params(request) == {"sourcecurrencycode": "EUR", "asofdate": "2026-11-20",
                                     "minorversion": "75"}
    assert request.headers["Accept"] == "application/json"
    assert transport.timeouts[0] is not None


def test_without_a_date_qbo_picks_today_and_whole_number_rates_are_fine():
    client, transport = client_answering(StubResponse.json(rate_document(2)))
    assert client.exchange_rate("GBP") == Decimal(2)
    assert "asofdate" not in query_params(transport.requests[0])


def test_an_unknown_currency_is_qbos_not_found_error():
    fault = {"Fault": {"Error": [{"Message": "Object Not Found", "Detail": "Currency XYZ not found",
                                  "code": "610", "element": "SourceCurrencyCode"}],
                       "type": "ValidationFault"}, "time": TIME}
    client, _ = client_answering(StubResponse.json(fault, status=400))
    with pytest.raises(QboNotFoundError):
        client.exchange_rate("XYZ", date(2026, 11, 20))


@pytest.mark.parametrize("document", [
    rate_document(None),
    rate_document(Decimal("0")),
    rate_document("1.08"),
    {"ExchangeRate": {"SourceCurrencyCode": "EUR"}, "time": TIME},
    {"time": TIME},
])
def test_an_answer_without_a_positive_numeric_rate_is_a_server_error(document):
    client, _ = client_answering(StubResponse.json(document))
    with pytest.raises(QboServerError):
        client.exchange_rate("EUR", date(2026, 11, 20))


@pytest.mark.parametrize(("currency", "as_of", "error"), [
    ("EURO", None, ValueError),
    ("E1R", None, ValueError),
    ("", None, ValueError),
    ("EUR", datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc), TypeError),  # which zone's day?
])
def test_bad_arguments_are_refused_before_any_request(currency, as_of, error):
    client, transport = client_answering()
    with pytest.raises(error):
        client.exchange_rate(currency, as_of)
    assert transport.requests == []
