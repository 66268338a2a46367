"""Batch: independent items answered by bId in any order, partial failures, the 30-item limit."""

from __future__ import annotations

from decimal import Decimal as D


def batch(qbo, items, **params):
    return qbo.request("POST", "/batch", params=params, json_body={"BatchItemRequest": items})


def by_bid(qbo, response):
    assert response.status_code == 200, response.text
    return {answer["bId"]: answer for answer in qbo.body(response)["BatchItemResponse"]}


def test_partial_failures_are_per_item_and_answers_match_by_bid(emu, qbo, realm):
    emu.set_faults(seed=7)
    existing = qbo.customer("Existing")
    invoice = qbo.invoice(existing["Id"], "40.00")
    to_void = qbo.invoice(existing["Id"], "15.00")
    items = [
        {"bId": "new", "operation": "create", "Customer": {"DisplayName": "Fresh"}},
        {"bId": "dup", "operation": "create", "Vendor": {"DisplayName": "existing"}},
        {
            "bId": "stale",
            "operation": "update",
            "Customer": {"Id": existing["Id"], "SyncToken": "9", "sparse": True, "Notes": "x"},
        },
        {"bId": "del", "operation": "delete", "Invoice": {"Id": invoice["Id"], "SyncToken": "0"}},
        {
            "bId": "void",
            "operation": "update",
            "optionsData": "void",
            "Invoice": {"Id": to_void["Id"], "SyncToken": "0"},
        },
        {"bId": "q", "Query": "select * from Customer where DisplayName = 'Existing'"},
    ]
    response = batch(qbo, items)
    order = [answer["bId"] for answer in qbo.body(response)["BatchItemResponse"]]
    answers = by_bid(qbo, response)
    assert sorted(order) == sorted(item["bId"] for item in items)
    assert order != [item["bId"] for item in items]  # shuffled (deterministically, seed=7)
    assert answers["new"]["Customer"]["DisplayName"] == "Fresh"
    assert answers["dup"]["Fault"]["type"] == "ValidationFault"
    assert answers["dup"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["stale"]["Fault"]["Error"][0]["code"] == "5010"
    assert answers["del"]["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": invoice["Id"]}
    assert answers["void"]["Invoice"]["TotalAmt"] == D("0.00")
    assert answers["q"]["QueryResponse"]["Customer"][0]["Id"] == existing["Id"]
    assert emu.counters()["requests"]["POST /v3/company/{realm}/batch"] == 1


def test_more_than_30_items_is_1040_and_nothing_runs(emu, qbo, realm, fault):
    items = [
        {"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"Batch {n}"}} for n in range(31)
    ]
    response = batch(qbo, items)
    assert response.status_code == 400
    assert fault(response)["code"] == "1040"
    assert emu.entities(realm, "Customer") == []
    assert batch(qbo, items[:30]).status_code == 200
    assert len(emu.entities(realm, "Customer")) == 30


def test_batch_with_requestid_replays_and_limits_bids(emu, qbo, realm, fault):
    items = [{"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Replay Me"}}]
    first = batch(qbo, items, requestid="batch-1")
    again = batch(qbo, items, requestid="batch-1")
    assert again.content == first.content
    assert len(emu.entities(realm, "Customer")) == 1
    long_bid = [{"bId": "b" * 11, "operation": "create", "Customer": {"DisplayName": "Long"}}]
    assert fault(batch(qbo, long_bid, requestid="batch-2"))["code"] == "2050"
    assert fault(batch(qbo, items, requestid="r" * 37))["code"] == "2050"
