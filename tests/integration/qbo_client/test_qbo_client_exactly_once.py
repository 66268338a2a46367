"""A write whose answer is lost is retried into the original object, never a second one (QBO.md §2.1).

The emulator commits the write and then closes the connection without answering (`drop_answer_rate`), as
a network failure after QBO's commit would. The client cannot know whether QBO wrote; it retries with the
same `requestid` (derived from the business key), and QBO answers the original response unexecuted. The
same holds for another Lambda that gets the message redelivered: a fresh client, fresh session, same key.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from qbsync.clients.qbo import QboDuplicateNameError

POST_INVOICE = "POST /v3/company/{realm}/invoice"


def invoice_body(customer_id: str) -> dict:
    return {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("362.07"),
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 3, "UnitPrice": Decimal("120.69")},
            }
        ],
    }


@pytest.fixture
def drop_next_answer(emu, sleeps):
    """The next write's answer is lost; the loss heals while the client waits to retry."""

    def drop(mode: str = "close") -> None:
        emu.set_faults(drop_answer_rate=1.0, drop_mode=mode)
        sleeps.then = lambda _seconds: emu.set_faults(drop_answer_rate=0.0)

    return drop


@pytest.mark.parametrize("drop_mode", ["close", "502"])
def test_invoice_created_once_although_its_answer_was_lost(emu, qbo, realm, make_client, sleeps, served,
                                                           drop_next_answer, drop_mode):
    customer = qbo.create("Customer", {"DisplayName": "Once Only Ltd"}, request_key=("t1", "c1", "create"))
    key = ("t1", "crm-invoice-77", "v1", "create-invoice")
    # Given QBO commits the invoice but the answer never arrives
    drop_next_answer(drop_mode)
    # When the client retries the create
    invoice = qbo.create("Invoice", invoice_body(customer["Id"]), request_key=key)
    # Then it was sent twice, QBO executed it once and replayed it once, and one invoice exists
    counters = emu.counters()
    assert counters["dropped_answers"] == 1 and counters["replayed_requestids"] == 1
    assert served(POST_INVOICE) == 2 and len(sleeps.waits) == 1
    stored = emu.entities(realm, "Invoice")
    assert [i["Id"] for i in stored] == [invoice["Id"]]
    # and the answer is the original object, exact amounts included
    assert invoice == stored[0]
    assert invoice["SyncToken"] == "0" and invoice["TotalAmt"] == Decimal("362.07")

    # When another Lambda (a new client and session) runs the same step after a redelivery
    redelivered = make_client(realm).create("Invoice", invoice_body(customer["Id"]), request_key=key)
    # Then it gets the original invoice back, and still only one exists
    assert redelivered == invoice
    assert len(emu.entities(realm, "Invoice")) == 1
    assert emu.counters()["replayed_requestids"] == 2

    # A different business key is a different write: a second invoice
    other = qbo.create("Invoice", invoice_body(customer["Id"]), request_key=("t1", "crm-invoice-78", "v1",
                                                                          "create-invoice"))
    assert other["Id"] != invoice["Id"] and other["DocNumber"] != invoice["DocNumber"]
    assert len(emu.entities(realm, "Invoice")) == 2


def test_customer_created_once_and_a_new_key_meets_the_original_as_a_duplicate(emu, qbo, realm, make_client,
                                                                               drop_next_answer):
    key = ("t1", "crm-contact-5", "create-customer")
    drop_next_answer()
    customer = qbo.create("Customer", {"DisplayName": "Lost Answer Bakery"}, request_key=key)
    assert emu.counters()["dropped_answers"] == 1
    assert [c["Id"] for c in emu.entities(realm, "Customer")] == [customer["Id"]]

    again = make_client(realm).create("Customer", {"DisplayName": "Lost Answer Bakery"}, request_key=key)
    assert again == customer

    # Without the same requestid, QBO runs the create again and its name rule refuses it
    with pytest.raises(QboDuplicateNameError) as raised:
        qbo.create("Customer", {"DisplayName": "Lost Answer Bakery"}, request_key=("t1", "crm-contact-6",
                                                                                   "create-customer"))
    assert raised.value.existing_id == customer["Id"]
    assert len(emu.entities(realm, "Customer")) == 1


def test_sparse_update_applied_once_although_its_answer_was_lost(emu, qbo, realm, drop_next_answer):
    customer = qbo.create("Customer", {"DisplayName": "Update Once"}, request_key=("t1", "c", "create"))
    drop_next_answer()
    # Run again, this update would be refused as stale (5010): QBO already moved the SyncToken on
    updated = qbo.sparse_update("Customer", customer["Id"], customer["SyncToken"], {"Notes": "paid by card"},
                                request_key=("t1", "crm-event-9", "update-customer"))
    assert emu.counters()["dropped_answers"] == 1 and emu.counters()["replayed_requestids"] == 1
    assert updated["Notes"] == "paid by card"
    assert updated["SyncToken"] == "1"  # applied once
    assert emu.entity(realm, "Customer", customer["Id"])["SyncToken"] == "1"
