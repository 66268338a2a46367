"""Deterministic requestids: the same business key always gives the same id (≤ 50 characters), another
key or step another id; every write carries one, and a write retried after a lost answer resends it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.request_ids import MAX_REQUEST_ID_LENGTH, request_id
from qbo_stub_transport import StubResponse, StubTransport, query_params, url_path

TIME = "2025-03-01T10:00:00-08:00"


def test_the_same_key_gives_the_same_id_in_any_process():
    key = ("tenant-1", "evt_01HZX", "create-invoice")
    assert request_id(key) == request_id(list(key))
    # Pinned: a change to the derivation would make every in-flight retry write twice.
    assert request_id(key) == "c70829899ed604acd49cff8bd87b69fa"


def test_ids_fit_qbos_limits_whatever_the_key():
    long_key = ("t" * 500, "🍰" * 300, 12345678901234567890)
    assert len(request_id(long_key)) <= MAX_REQUEST_ID_LENGTH
    assert len(request_id(long_key)) <= 36  # also fits a batch request


@pytest.mark.parametrize(
    "other",
    [
        ("tenant-2", "evt-1", "create-invoice"),
        ("tenant-1", "evt-2", "create-invoice"),
        ("tenant-1", "evt-1", "apply-payment"),
        ("tenant-1", "evt-1"),
        ("tenant-1:evt-1", "create-invoice"),  # joining parts must not be ambiguous
    ],
)
def test_another_key_or_step_gives_another_id(other):
    assert request_id(("tenant-1", "evt-1", "create-invoice")) != request_id(other)


@pytest.mark.parametrize("bad", ["tenant-1", (), ("tenant", ""), ("tenant", None), ("tenant", 1.5)])
def test_keys_that_would_collide_by_accident_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        request_id(bad)


# ---------------------------------------------------------------------------- every write carries one


def recording_client(answer_entity: str = "Invoice", *, lose_first_answers: int = 0):
    answers = {"lost": lose_first_answers}

    def respond(request):
        if answers["lost"]:
            answers["lost"] -= 1
            raise requests.ReadTimeout("the answer was lost after QBO committed the write")
        return StubResponse.json({answer_entity: {"Id": "130", "SyncToken": "1"}, "time": TIME})

    transport = StubTransport(respond)
    client = QboClient(
        realm_id="9341",
        api_base_url="https://qbo.example/v3",
        session=transport.mount_on(requests.Session()),
        sleep=lambda _: None,
    )
    return client, transport


def test_a_write_retried_after_a_lost_answer_resends_the_same_requestid_and_body():
    client, transport = recording_client(lose_first_answers=2)
    body = {
        "CustomerRef": {"value": "42"},
        "Line": [
            {
                "Amount": Decimal("362.07"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"Qty": 3, "UnitPrice": Decimal("120.69")},
            }
        ],
    }

    invoice = client.create("Invoice", body, request_key=("tenant-1", "evt-1", "create-invoice"))

    assert invoice["Id"] == "130"
    sent = transport.requests
    assert len(sent) == 3
    assert len({query_params(r)["requestid"] for r in sent}) == 1
    assert len({r.body for r in sent}) == 1
    assert b'"Amount":362.07' in sent[0].body and b'"UnitPrice":120.69' in sent[0].body


def test_the_same_write_in_another_lambda_sends_the_same_requestid():
    first, first_transport = recording_client()
    second, second_transport = recording_client()
    key = ("tenant-1", "evt-1", "create-invoice")

    first.create("Invoice", {"CustomerRef": {"value": "42"}}, request_key=key)
    second.create("Invoice", {"CustomerRef": {"value": "42"}}, request_key=key)

    assert (
        query_params(first_transport.requests[0])["requestid"]
        == query_params(second_transport.requests[0])["requestid"]
    )


def test_every_write_operation_sends_a_requestid_minorversion_and_the_right_operation():
    client, transport = recording_client()
    key = ("tenant-1", "evt-1")

    client.create(
        "Invoice",
        {"CustomerRef": {"value": "1"}},
        request_key=(*key, "create"),
        allow_duplicate_doc_number=True,
    )
    client.sparse_update("Invoice", "130", "0", {"DueDate": "2025-04-01"}, request_key=(*key, "update"))
    client.delete("Invoice", "130", "1", request_key=(*key, "delete"))
    client.void("Invoice", "130", "1", request_key=(*key, "void"))

    params = [query_params(r) for r in transport.requests]
    assert [{k: v for k, v in p.items() if k != "requestid"} for p in params] == [
        {"minorversion": "75", "include": "allowduplicatedocnum"},
        {"minorversion": "75"},
        {"minorversion": "75", "operation": "delete"},
        {"minorversion": "75", "operation": "void"},
    ]
    assert len({p["requestid"] for p in params}) == 4
    assert all(len(p["requestid"]) <= MAX_REQUEST_ID_LENGTH for p in params)
    assert all(url_path(r) == "/v3/company/9341/invoice" and r.method == "POST" for r in transport.requests)
    bodies = [json.loads(r.body) for r in transport.requests]
    assert bodies[1] == {"DueDate": "2025-04-01", "Id": "130", "SyncToken": "0", "sparse": True}
    assert bodies[2] == {"Id": "130", "SyncToken": "1"}
    assert bodies[3] == {"Id": "130", "SyncToken": "1"}


@pytest.mark.parametrize("entity", ["Payment", "SalesReceipt"])
def test_payments_and_sales_receipts_are_voided_by_an_update_that_includes_void(entity):
    client, transport = recording_client(entity)

    client.void(entity, "55", "2", request_key=("tenant-1", "evt-9", "void"))

    sent = transport.requests[0]
    assert url_path(sent) == f"/v3/company/9341/{entity.lower()}"
    params = query_params(sent)
    assert (params["operation"], params["include"]) == ("update", "void")
    assert json.loads(sent.body) == {"Id": "55", "SyncToken": "2", "sparse": True}


def test_an_entity_qbo_cannot_void_is_refused_before_any_call():
    client, transport = recording_client()
    with pytest.raises(ValueError):
        client.void("Customer", "1", "0", request_key=("t", "e", "void"))
    assert transport.requests == []


def test_sending_an_invoice_is_a_write_with_an_octet_stream_body():
    client, transport = recording_client()

    client.send_invoice("130", send_to="ap+billing@example.com", request_key=("tenant-1", "evt-1", "send"))
    client.send_invoice("130", request_key=("tenant-1", "evt-1", "send-again"))

    with_address, without = transport.requests
    assert url_path(with_address) == "/v3/company/9341/invoice/130/send"
    assert with_address.headers["Content-Type"] == "application/octet-stream"
    assert query_params(with_address)["sendTo"] == "ap+billing@example.com"
    assert "ap%2Bbilling%40example.com" in with_address.url
    assert "sendTo" not in query_params(without)
    assert query_params(with_address)["requestid"] != query_params(without)["requestid"]


def test_the_same_key_for_another_operation_or_company_gives_another_id():
    client, transport = recording_client()
    other_company = QboClient(
        realm_id="1111", api_base_url="https://qbo.example/v3", session=transport.mount_on(requests.Session())
    )
    key = ("tenant-1", "evt-1", "step")

    client.delete("Invoice", "130", "1", request_key=key)
    client.void("Invoice", "130", "1", request_key=key)
    other_company.delete("Invoice", "130", "1", request_key=key)

    assert len({query_params(r)["requestid"] for r in transport.requests}) == 3


def test_a_plain_string_key_is_refused():
    client, _ = recording_client()
    with pytest.raises(TypeError):
        client.create("Invoice", {}, request_key="evt-1")
