"""Batch: at most 30 items per request, answers matched by bId whatever their order, partial failures
returned per item, and a requestid per request that replays only the very same request."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from qbsync.clients.qbo.batch import BatchOperation, assign_bids, chunked
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import QboAuthError, QboDuplicateNameError, QboServerError, QboStaleObjectError
from qbsync.clients.qbo.request_ids import MAX_BATCH_REQUEST_ID_LENGTH
from qbo_stub_transport import StubResponse, StubTransport, query_params, url_path

KEY = ("tenant-1", "import-7", "customers")


def fault(code: str, detail: str = "") -> dict:
    return {
        "type": "ValidationFault",
        "Error": [{"Message": "m", "Detail": detail, "code": code, "element": ""}],
    }


def echo_qbo(failures: dict[str, dict] | None = None, *, drop: set[str] = frozenset()):
    """A fake /batch endpoint: answers every item (reversed, as QBO may reorder), failing some by name."""
    failures = failures or {}

    def respond(request):
        items = json.loads(request.body, parse_float=Decimal)["BatchItemRequest"]
        answers = []
        for item in reversed(items):
            if item["bId"] in drop:
                continue
            if "Query" in item:
                answers.append(
                    {"bId": item["bId"], "QueryResponse": {"Item": [{"Id": "5"}], "maxResults": 1}}
                )
                continue
            body = item["Customer"]
            name = body.get("DisplayName")
            if name in failures:
                answers.append({"bId": item["bId"], "Fault": failures[name]})
            else:
                answers.append({"bId": item["bId"], "Customer": {**body, "Id": f"id-{item['bId']}"}})
        return StubResponse.json(
            {"BatchItemResponse": answers, "time": "2025-03-01T00:00:00-08:00"},
            headers={"intuit_tid": "tid-batch"},
        )

    return respond


def client_with(responder) -> tuple[QboClient, StubTransport]:
    transport = StubTransport(responder)
    client = QboClient(
        realm_id="77",
        api_base_url="https://qbo.example/v3",
        session=transport.mount_on(requests.Session()),
        sleep=lambda _: None,
    )
    return client, transport


def creates(count: int) -> list[BatchOperation]:
    return [
        BatchOperation.create("Customer", {"DisplayName": f"C{n}", "Balance": Decimal("0.00")})
        for n in range(count)
    ]


def test_65_operations_go_out_as_requests_of_at_most_30_in_the_callers_order():
    client, transport = client_with(echo_qbo())

    results = client.batch(creates(65), request_key=KEY)

    sizes = [len(json.loads(r.body)["BatchItemRequest"]) for r in transport.requests]
    assert sizes == [30, 30, 5]
    assert [result.entity["DisplayName"] for result in results] == [f"C{n}" for n in range(65)]
    assert all(result.ok and result.entity["Id"] == f"id-{result.bid}" for result in results)
    assert all(url_path(r) == "/v3/company/77/batch" for r in transport.requests)
    assert all(r.headers["Content-Type"] == "application/json" for r in transport.requests)
    assert b'"Balance":0.00' in transport.requests[0].body  # a JSON number with its exact digits


def test_partial_failures_come_back_per_item_classified():
    client, _ = client_with(
        echo_qbo(
            {
                "C1": fault("6240", "The name supplied already exists. : Id=301"),
                "C3": fault("5010"),
            }
        )
    )

    results = client.batch(creates(4), request_key=KEY)

    assert [result.ok for result in results] == [True, False, True, False]
    assert isinstance(results[1].error, QboDuplicateNameError) and results[1].error.existing_id == "301"
    assert isinstance(results[3].error, QboStaleObjectError)
    assert results[1].error.intuit_tid == "tid-batch"


def test_an_item_qbo_did_not_answer_is_a_retryable_failure():
    client, _ = client_with(echo_qbo(drop={"2"}))

    results = client.batch(creates(3), request_key=KEY)

    assert isinstance(results[1].error, QboServerError) and results[1].error.retryable
    assert results[0].ok and results[2].ok


def test_a_fault_for_the_whole_batch_raises():
    body = {
        "Fault": {"Error": [{"Message": "AuthenticationFailed", "code": "3200"}], "type": "AUTHENTICATION"}
    }
    client, _ = client_with(lambda request: StubResponse.json(body, status=401))

    with pytest.raises(QboAuthError):
        client.batch(creates(2), request_key=KEY)


def test_request_body_shapes_and_given_bids():
    operations = [
        BatchOperation.sparse_update("Customer", "9", "3", {"DisplayName": "New"}, bid="upd"),
        BatchOperation.delete("Invoice", "12", "0", bid="del"),
        BatchOperation.query("SELECT * FROM Item", bid="q"),
    ]
    seen = []

    def respond(request):
        seen.extend(json.loads(request.body)["BatchItemRequest"])
        return StubResponse.json(
            {
                "BatchItemResponse": [
                    {"bId": "q", "QueryResponse": {"Item": [{"Id": "5"}]}},
                    {"bId": "del", "Invoice": {"status": "Deleted", "Id": "12"}},
                    {"bId": "upd", "Customer": {"Id": "9", "SyncToken": "4"}},
                ]
            }
        )

    client, _ = client_with(respond)
    results = client.batch(operations, request_key=KEY)

    assert seen == [
        {
            "bId": "upd",
            "operation": "update",
            "Customer": {"DisplayName": "New", "Id": "9", "SyncToken": "3", "sparse": True},
        },
        {"bId": "del", "operation": "delete", "Invoice": {"Id": "12", "SyncToken": "0"}},
        {"bId": "q", "Query": "SELECT * FROM Item"},
    ]
    assert results[0].entity == {"Id": "9", "SyncToken": "4"}
    assert results[1].entity["status"] == "Deleted"
    assert results[2].query_response == {"Item": [{"Id": "5"}]}


def test_bids_are_unique_and_short_enough_for_a_request_with_a_requestid():
    with pytest.raises(ValueError):
        assign_bids([BatchOperation.query("x", bid="a"), BatchOperation.query("y", bid="a")])
    with pytest.raises(ValueError):
        assign_bids([BatchOperation.query("x", bid="eleven-char")])
    with pytest.raises(ValueError):
        chunked(assign_bids(creates(2)), 31)


def test_each_request_has_a_requestid_that_replays_only_the_same_content():
    client, transport = client_with(echo_qbo())

    client.batch(creates(35), request_key=KEY)
    client.batch(creates(35), request_key=KEY)  # the same call again, e.g. after a lost answer
    client.batch(creates(34), request_key=KEY)  # other content under the same key

    ids = [query_params(r)["requestid"] for r in transport.requests]
    assert all(len(rid) <= MAX_BATCH_REQUEST_ID_LENGTH for rid in ids)
    assert ids[0:2] == ids[2:4]  # same requests, same ids: QBO replays its answers
    assert ids[0] != ids[1]  # each request of a call has its own
    assert ids[4] == ids[0]  # the first 30 are identical in the third call
    assert ids[5] not in ids[:4]  # a different last request must not be answered with another's results
    assert all(query_params(r)["minorversion"] == "75" for r in transport.requests)
