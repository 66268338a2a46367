"""`CrmClient` against the CRM emulator over real HTTP on loopback: every call, signatures, errors and
retries."""

import base64
import json
import logging
import socket
import time
from decimal import Decimal

import pytest

from crm_emulator import CrmEmulator
from qbsync.clients.crm import (
    CrmAuthenticationError,
    CrmClient,
    CrmConflictError,
    CrmConnectionError,
    CrmRejectedError,
    CrmServerError,
    CrmThrottledError,
    RetryPolicy,
)
from qbsync.models.crm_api import (
    BillingAddress,
    ConnectionUpdate,
    ContactRef,
    ContactsBatchDelete,
    ContactsBatchUpsert,
    ContactUpsert,
    DealAccounting,
    InvoiceAccounting,
    LatestInvoice,
    ProductRef,
    ProductsBatchDelete,
    ProductsBatchUpsert,
    ProductUpsert,
    QboInvoice,
    QboInvoiceLine,
    ReviewRequest,
)

SECRET = "whsec_" + base64.b64encode(b"integration-outbound-secret-32by").decode()
WRONG_SECRET = "whsec_" + base64.b64encode(b"not-the-secret-the-crm-knows-32b").decode()
TENANT = "loc_42"
BODY_MARKER = "Zyzzyva Body Marker"
CONNECTED = ConnectionUpdate(status="connected", realm_id="r1")


@pytest.fixture(scope="module")
def emulator():
    crm = CrmEmulator(outbound_secret=SECRET).start()
    yield crm
    crm.stop()


@pytest.fixture
def crm(emulator):
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(crm, sleeps):
    with CrmClient(crm.url, SECRET, sleep=sleeps.append) as built:
        yield built


def contacts(*ids, **fields):
    return ContactsBatchUpsert(contacts=[
        ContactUpsert(qbo_customer_id=qbo_id, realm_id="r1",
                      display_name=fields.get("display_name", f"Customer {qbo_id}"),
                      email=f"c{qbo_id}@example.com", active=True, balance=Decimal("1234.50"),
                      billing_address=BillingAddress(line1="1 Main St", city="Springfield", region="IL",
                                                     postal_code="62701", country="US"),
                      qbo_updated_at="2026-11-23T10:00:00Z")
        for qbo_id in ids])


def test_every_call_of_the_contract(crm, client):
    upserted = client.upsert_contacts(TENANT, contacts("1", "2"), idempotency_key="contacts:loc_42:r1:cdc-1")
    assert [r.created for r in upserted.results] == [True, True]
    deleted = client.delete_contacts(TENANT, ContactsBatchDelete(mode="archive", contacts=[
        ContactRef(qbo_customer_id="2", realm_id="r1"), ContactRef(qbo_customer_id="3", realm_id="r1")]),
        idempotency_key="contacts-delete:loc_42:r1:cdc-2")
    assert [(r.status, r.crm_contact_id) for r in deleted.results] == [
        ("archived", upserted.results[1].crm_contact_id), ("not_found", None)]

    products = client.upsert_products(TENANT, ProductsBatchUpsert(products=[
        ProductUpsert(qbo_item_id="7", realm_id="r1", name="Hosting", type="Service",
                      unit_price=Decimal("19.99"), taxable=True, active=True,
                      qbo_updated_at="2026-11-23T10:00:00Z")]),
        idempotency_key="products:loc_42:r1:cdc-1")
    assert products.results[0].crm_product_id
    removed = client.delete_products(TENANT, ProductsBatchDelete(mode="delete", products=[
        ProductRef(qbo_item_id="7", realm_id="r1")]), idempotency_key="products-delete:loc_42:r1:cdc-2")
    assert removed.results[0].status == "deleted"

    accounting = InvoiceAccounting(
        realm_id="r1", qbo_invoice_id="130", doc_number="1001", status="partially_paid", email_status="sent",
        total=Decimal("2208.17"), balance=Decimal("1104.08"), amount_paid=Decimal("1104.09"), currency="USD",
        due_date="2026-12-23", qbo_url="https://app.qbo.intuit.com/app/invoice?txnId=130",
        updated_at="2026-11-24T10:00:00Z")
    answer = client.put_invoice_accounting(TENANT, "inv_1", accounting,
                                           idempotency_key="acct:loc_42:inv_1:evt_2")
    assert answer is None
    client.put_deal_accounting(TENANT, "deal_1", DealAccounting(
        realm_id="r1", total_invoiced=Decimal("2208.17"), currency="USD", latest_invoice=LatestInvoice(
            crm_invoice_id="inv_1", qbo_invoice_id="130", doc_number="1001", recipient="Jane Doe",
            status="partially_paid", due_date="2026-12-23")), idempotency_key="deal:loc_42:deal_1:evt_2")
    qbo_invoice = client.put_qbo_invoice(TENANT, "131", QboInvoice(
        realm_id="r1", doc_number="1002", qbo_customer_id="58", status="open", email_status="not_sent",
        total=Decimal("100.00"), balance=Decimal("100.00"), amount_paid=Decimal("0.00"), currency="USD",
        txn_date="2026-11-23", due_date=None, qbo_url="https://app.qbo.intuit.com/app/invoice?txnId=131",
        lines=[QboInvoiceLine(description="Work", quantity=Decimal("4"), unit_price=Decimal("25.00"),
                              amount=Decimal("100.00"))]), idempotency_key="qbo-invoice:loc_42:r1:131:cdc-3")
    review = client.create_review_request(TENANT, ReviewRequest(
        realm_id="r1", qbo_customer_id="58", qbo_invoice_id="130", qbo_payment_id="140",
        paid_at="2026-11-24T10:00:00Z"), idempotency_key="review:loc_42:r1:58")
    connected = ConnectionUpdate(status="connected", realm_id="r1", company_name="Doe Design")
    client.put_connection(TENANT, connected, idempotency_key="connection:loc_42:r1:connected:1")

    # What the CRM received: exact money as strings, every call signed and accepted.
    assert crm.contacts(TENANT)[0]["balance"] == "1234.50"
    assert crm.invoice_accounting(TENANT)["inv_1"]["balance"] == "1104.08"
    assert crm.deal_accounting(TENANT)["deal_1"]["total_invoiced"] == "2208.17"
    assert crm.qbo_invoices(TENANT)[0]["crm_record_id"] == qbo_invoice.crm_record_id
    assert crm.qbo_invoices(TENANT)[0]["lines"][0]["unit_price"] == "25.00"
    assert crm.review_requests(TENANT)[0]["id"] == review.id
    assert crm.connection_updates(TENANT)[0]["company_name"] == "Doe Design"
    counters = crm.counters()
    assert counters["calls"] == 9 and len(counters["by_route"]) == 9
    assert counters["rejected_signature"] == 0 and counters["duplicate_webhook_ids"] == 0
    assert {c["status"] for c in crm.calls()} <= {200, 201}


def test_a_wrong_secret_is_a_permanent_authentication_error(crm, sleeps):
    client = CrmClient(crm.url, WRONG_SECRET, sleep=sleeps.append)
    with pytest.raises(CrmAuthenticationError) as caught:
        client.upsert_contacts(TENANT, contacts("1"), idempotency_key="k")
    error = caught.value
    assert isinstance(error, CrmRejectedError) and error.retryable is False
    assert error.status == 401 and error.details["crm_code"] == "invalid_signature" and error.request_id
    assert sleeps == [] and crm.counters()["calls"] == 1 and crm.contacts(TENANT) == []


def test_a_clock_five_minutes_off_is_refused(crm, sleeps):
    client = CrmClient(crm.url, SECRET, sleep=sleeps.append, clock=lambda: time.time() - 400)
    with pytest.raises(CrmAuthenticationError) as caught:
        client.put_connection(TENANT, CONNECTED, idempotency_key="k")
    assert caught.value.details["crm_code"] == "timestamp_out_of_tolerance"


def test_429_retry_after_is_waited_out_then_the_call_succeeds(crm, client, sleeps):
    crm.set_faults(status=429, retry_after=7, count=2)
    answer = client.upsert_contacts(TENANT, contacts("1"), idempotency_key="contacts:1")
    assert answer.results[0].created is True
    assert sleeps == [7.0, 7.0]
    calls = crm.calls()
    assert [c["status"] for c in calls] == [429, 429, 200]
    assert {c["idempotency_key"] for c in calls} == {"contacts:1"}
    assert len({c["webhook_id"] for c in calls}) == 3  # re-signed for every attempt


def test_503_is_retried_with_backoff_then_succeeds(crm, client, sleeps):
    crm.set_faults(status=503, retry_after=None, count=3)
    client.put_connection(TENANT, CONNECTED, idempotency_key="conn:1")
    assert [c["status"] for c in crm.calls()] == [503, 503, 503, 200]
    assert len(sleeps) == 3 and all(0 < wait <= 8 for wait in sleeps)
    assert len(crm.connection_updates(TENANT)) == 1


def test_a_crm_that_stays_down_raises_a_retryable_error_after_max_retries(crm, sleeps):
    crm.set_faults(status=503, retry_after=None)
    client = CrmClient(crm.url, SECRET, sleep=sleeps.append, max_retries=2)
    with pytest.raises(CrmServerError) as caught:
        client.put_connection(TENANT, CONNECTED, idempotency_key="conn:1")
    assert caught.value.retryable is True and caught.value.status == 503
    assert crm.counters()["calls"] == 3 and len(sleeps) == 2


def test_a_retry_after_too_long_for_a_lambda_is_left_to_the_queue(crm, sleeps):
    crm.set_faults(status=429, retry_after=600)
    client = CrmClient(crm.url, SECRET, sleep=sleeps.append, retry_policy=RetryPolicy(max_retry_after=60))
    with pytest.raises(CrmThrottledError) as caught:
        client.put_connection(TENANT, CONNECTED, idempotency_key="k")
    assert caught.value.retryable and caught.value.retry_after == 600.0
    assert sleeps == [] and crm.counters()["calls"] == 1


def test_the_same_key_replays_the_first_answer(crm, client):
    first = client.upsert_contacts(TENANT, contacts("1"), idempotency_key="contacts:loc_42:r1:cdc-9")
    second = client.upsert_contacts(TENANT, contacts("1"), idempotency_key="contacts:loc_42:r1:cdc-9")
    assert second == first and second.results[0].created is True  # the first answer, not a fresh "updated"
    assert crm.counters()["replayed"] == 1 and len(crm.contacts(TENANT)) == 1


def test_the_same_key_with_another_body_is_a_conflict(crm, client):
    client.upsert_contacts(TENANT, contacts("1"), idempotency_key="contacts:1")
    with pytest.raises(CrmConflictError) as caught:
        client.upsert_contacts(TENANT, contacts("1", display_name="Changed"), idempotency_key="contacts:1")
    assert caught.value.status == 409 and caught.value.retryable is False
    assert crm.contacts(TENANT)[0]["display_name"] == "Customer 1"


def test_a_body_the_crm_refuses_is_a_permanent_rejection(crm, client, sleeps):
    # model_construct skips our own validation, as a bug in a mapper might.
    empty = ContactsBatchUpsert.model_construct(contacts=[])
    with pytest.raises(CrmRejectedError) as caught:
        client.upsert_contacts(TENANT, empty, idempotency_key="k")
    assert caught.value.status == 422 and caught.value.details["crm_code"] == "validation_failed"
    assert sleeps == []


def test_no_answer_at_all_is_retried_then_raised_as_retryable(sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = CrmClient(f"http://127.0.0.1:{closed_port}", SECRET, sleep=sleeps.append, max_retries=2,
                       timeout=(0.5, 0.5))
    with pytest.raises(CrmConnectionError) as caught:
        client.put_connection(TENANT, CONNECTED, idempotency_key="k")
    assert caught.value.retryable and len(sleeps) == 2


def test_nothing_secret_or_from_the_body_is_logged(crm, client, caplog):
    caplog.set_level(logging.DEBUG)
    crm.set_faults(status=503, count=1)
    client.upsert_contacts(TENANT, contacts("1", display_name=BODY_MARKER), idempotency_key="contacts:1")
    # Every attribute of every record, extras included: what any formatter could print.
    logged = json.dumps([record.__dict__ for record in caplog.records], default=str)
    assert "crm call" in logged and "crm call failed, retrying" in logged
    for forbidden in (SECRET, SECRET[6:], BODY_MARKER, "c1@example.com", "v1,"):
        assert forbidden not in logged


def test_a_status_recomputed_for_the_same_event_is_sent_not_refused_as_a_conflict(client, crm):
    # A redelivered CRM event recomputes the invoice's status from QBO; when QBO moved on meanwhile, the same
    # Idempotency-Key with the new body would be a 409 (permanent). The key carries the body's hash; the same
    # body still reuses its key (a replay, not a second write).
    from qbsync.sync.invoice_status_push import InvoiceStatusPublisher

    publisher = InvoiceStatusPublisher(crm=client, mappings=None)  # no deal: the mappings are not used
    first = InvoiceAccounting(
        realm_id="r1", qbo_invoice_id="130", doc_number="1001", status="open", email_status="sent",
        total=Decimal("100.00"), balance=Decimal("100.00"), amount_paid=Decimal("0"), currency="USD",
        due_date="2026-12-23", qbo_url="https://app.qbo.intuit.com/app/invoice?txnId=130",
        updated_at="2026-11-24T10:00:00Z")
    later = first.model_copy(update={"status": "partially_paid", "balance": Decimal("90.00"),
                                     "amount_paid": Decimal("10.00"), "updated_at": "2026-11-24T11:00:00Z"})
    publisher.publish(TENANT, "inv_9", first, change="evt_9")
    publisher.publish(TENANT, "inv_9", first, change="evt_9")  # redelivered, nothing changed: replayed
    publisher.publish(TENANT, "inv_9", later, change="evt_9")  # redelivered after a QBO payment
    assert crm.invoice_accounting(TENANT)["inv_9"]["status"] == "partially_paid"
    assert crm.counters()["conflicts"] == 0

