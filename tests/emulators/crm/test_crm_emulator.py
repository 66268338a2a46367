"""The CRM emulator is code too: each of its rules, its control API, the webhook sender and the builders."""

import base64
import json
import threading
import time
from decimal import Decimal

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from crm_emulator import CrmEmulator, CrmWebhookSender, builders
from qbsync.models.crm_events import parse_event
from qbsync.signatures.standard_webhooks import WebhookVerificationError, signature_headers, verify
from qbsync.utils.jsonio import dumps

SECRET = "whsec_" + base64.b64encode(b"emulator-test-outbound-secret-32").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some-other-secret-nobody-knows!!").decode()
TENANT = "loc_1"
CONTACTS_UPSERT = f"/tenants/{TENANT}/contacts/batch-upsert"
CONTACTS_DELETE = f"/tenants/{TENANT}/contacts/batch-delete"
PRODUCTS_UPSERT = f"/tenants/{TENANT}/products/batch-upsert"
PRODUCTS_DELETE = f"/tenants/{TENANT}/products/batch-delete"
REVIEWS = f"/tenants/{TENANT}/review-requests"
CONNECTION = f"/tenants/{TENANT}/connection"
CONNECTED = {"status": "connected", "realm_id": "r1"}


@pytest.fixture(scope="module")
def emulator():
    crm = CrmEmulator(outbound_secret=SECRET, host="127.0.0.1", port=0).start()
    yield crm
    crm.stop()


@pytest.fixture
def crm(emulator):
    emulator.reset()
    yield emulator
    emulator.reset()


counter = iter(range(1, 10**9))


def call(crm, method, path, body, *, key="auto", secret=SECRET, skew=0, headers=None, raw=None):
    payload = raw if raw is not None else json.dumps(body).encode()
    sent = signature_headers([secret], f"msg_test_{next(counter)}", int(time.time()) + skew, payload)
    sent["Content-Type"] = "application/json"
    if key == "auto":
        key = f"key-{next(counter)}"
    if key is not None:
        sent["Idempotency-Key"] = key
    sent.update(headers or {})
    return requests.request(method, crm.url + path, data=payload, headers=sent, timeout=10)


def contact(qbo_id="1", realm="r1", **fields):
    return {"qbo_customer_id": qbo_id, "realm_id": realm, "display_name": f"Customer {qbo_id}",
            "active": True, "qbo_updated_at": "2026-11-23T10:00:00Z", **fields}


def product(qbo_id="1", realm="r1", **fields):
    return {"qbo_item_id": qbo_id, "realm_id": realm, "name": f"Item {qbo_id}", "type": "Service",
            "active": True, "qbo_updated_at": "2026-11-23T10:00:00Z", **fields}


INVOICE_ACCOUNTING = {
    "realm_id": "r1", "qbo_invoice_id": "130", "doc_number": "1001", "status": "open", "email_status": "sent",
    "total": "2208.17", "balance": "2208.17", "amount_paid": "0.00", "currency": "USD",
    "due_date": "2026-12-23", "qbo_url": "https://qbo.example/app/invoice?txnId=130",
    "updated_at": "2026-11-23T10:00:00Z",
}
QBO_INVOICE = {"realm_id": "r1", "doc_number": "1002", "qbo_customer_id": "58", "status": "open",
               "email_status": "not_sent", "total": "100.00", "balance": "100.00", "amount_paid": "0.00",
               "currency": "USD", "txn_date": "2026-11-23", "due_date": None,
               "lines": [{"description": "Work", "quantity": "1", "unit_price": "100.00",
                          "amount": "100.00"}],
               "qbo_url": "https://qbo.example/app/invoice?txnId=131"}
REVIEW = {"realm_id": "r1", "qbo_customer_id": "58", "qbo_invoice_id": "130", "qbo_payment_id": "140",
          "paid_at": "2026-11-24T10:00:00Z"}
DEAL = {"realm_id": "r1", "total_invoiced": "2208.17", "currency": "USD",
        "latest_invoice": {"crm_invoice_id": "inv_1", "qbo_invoice_id": "130", "doc_number": "1001",
                           "recipient": "Jane Doe", "status": "open", "due_date": "2026-12-23"}}


# --- every route ------------------------------------------------------------------------------------------


def test_contacts_upsert_creates_then_updates_with_stable_crm_ids(crm):
    first = call(crm, "POST", CONTACTS_UPSERT,
                 {"contacts": [contact("1"), contact("2"), contact("1", realm="r2")]})
    assert first.status_code == 200
    results = first.json()["results"]
    assert [r["created"] for r in results] == [True, True, True]
    assert [r["index"] for r in results] == [0, 1, 2] and [r["qbo_id"] for r in results] == ["1", "2", "1"]
    # The same QBO id in another company is another contact.
    assert len({r["crm_contact_id"] for r in results}) == 3

    again = call(crm, "POST", CONTACTS_UPSERT,
                 {"contacts": [contact("1", display_name="Renamed", balance="12.50")]}).json()["results"][0]
    assert again == {"index": 0, "qbo_id": "1", "crm_contact_id": results[0]["crm_contact_id"],
                     "created": False}
    stored = {c["crm_contact_id"]: c for c in crm.contacts(TENANT)}
    assert stored[results[0]["crm_contact_id"]]["display_name"] == "Renamed"
    assert stored[results[0]["crm_contact_id"]]["balance"] == "12.50"
    assert crm.contacts("another_tenant") == []


def test_contacts_delete_archives_deletes_and_reports_not_found(crm):
    created = call(crm, "POST", CONTACTS_UPSERT,
                   {"contacts": [contact("1"), contact("2")]}).json()["results"]
    refs = [{"qbo_customer_id": "1", "realm_id": "r1"}, {"qbo_customer_id": "9", "realm_id": "r1"}]
    archived = call(crm, "POST", CONTACTS_DELETE, {"mode": "archive", "contacts": refs})
    assert archived.json()["results"] == [
        {"index": 0, "status": "archived", "crm_contact_id": created[0]["crm_contact_id"]},
        {"index": 1, "status": "not_found", "crm_contact_id": None}]
    assert [c["archived"] for c in crm.contacts(TENANT)] == [True, False]

    deleted = call(crm, "POST", CONTACTS_DELETE,
                   {"mode": "delete", "contacts": [{"qbo_customer_id": "2", "realm_id": "r1"}]})
    assert deleted.json()["results"][0]["status"] == "deleted"
    assert [c["qbo_customer_id"] for c in crm.contacts(TENANT)] == ["1"]

    restored = call(crm, "POST", CONTACTS_UPSERT, {"contacts": [contact("1")]})
    assert restored.json()["results"][0]["crm_contact_id"] == created[0]["crm_contact_id"]
    assert crm.contacts(TENANT)[0]["archived"] is False


def test_products_upsert_and_delete(crm):
    created = call(crm, "POST", PRODUCTS_UPSERT,
                   {"products": [product("7", unit_price="19.99", sku="HOST-M", taxable=True)]}
                   ).json()["results"]
    assert created[0]["created"] is True and created[0]["crm_product_id"]
    assert crm.products(TENANT)[0]["unit_price"] == "19.99"
    deleted = call(crm, "POST", PRODUCTS_DELETE,
                   {"mode": "delete", "products": [{"qbo_item_id": "7", "realm_id": "r1"}]}).json()["results"]
    assert deleted == [{"index": 0, "status": "deleted", "crm_product_id": created[0]["crm_product_id"]}]
    assert crm.products(TENANT) == []


def test_invoice_and_deal_accounting_keep_the_latest_body(crm):
    path = f"/tenants/{TENANT}/invoices/inv_1/accounting"
    assert call(crm, "PUT", path, INVOICE_ACCOUNTING).status_code == 200
    paid = {**INVOICE_ACCOUNTING, "status": "paid", "balance": "0.00", "amount_paid": "2208.17"}
    assert call(crm, "PUT", path, paid).status_code == 200
    assert crm.invoice_accounting(TENANT) == {"inv_1": paid}
    assert call(crm, "PUT", f"/tenants/{TENANT}/deals/deal_9/accounting", DEAL).status_code == 200
    assert crm.deal_accounting(TENANT) == {"deal_9": DEAL}


def test_qbo_invoices_get_a_stable_crm_record_id_per_company(crm):
    path = f"/tenants/{TENANT}/qbo-invoices/131"
    first = call(crm, "PUT", path, QBO_INVOICE).json()
    again = call(crm, "PUT", path, {**QBO_INVOICE, "status": "paid"}).json()
    other_company = call(crm, "PUT", path, {**QBO_INVOICE, "realm_id": "r2"}).json()
    assert first == again and first["crm_record_id"] != other_company["crm_record_id"]
    stored = crm.qbo_invoices(TENANT)
    assert len(stored) == 2 and stored[0]["status"] == "paid" and stored[0]["qbo_invoice_id"] == "131"


def test_review_requests_answer_201_with_an_id(crm):
    answer = call(crm, "POST", REVIEWS, REVIEW)
    assert answer.status_code == 201 and answer.json()["id"]
    assert crm.review_requests(TENANT) == [{**REVIEW, "id": answer.json()["id"]}]


def test_connection_updates_are_kept_in_order(crm):
    for status in ("connected", "needs_reauth"):
        assert call(crm, "PUT", CONNECTION, {"status": status, "realm_id": "r1"}).status_code == 200
    assert [u["status"] for u in crm.connection_updates(TENANT)] == ["connected", "needs_reauth"]


# --- signature --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant, code", [
    ({"secret": OTHER_SECRET}, "invalid_signature"),
    ({"skew": -360}, "timestamp_out_of_tolerance"),
    ({"skew": 360}, "timestamp_out_of_tolerance"),  # well past 300 s: time moves on while the call is made
    ({"headers": {"webhook-signature": ""}}, "missing_signature_headers"),
])
def test_a_call_not_signed_with_the_outbound_secret_is_401(crm, variant, code):
    answer = call(crm, "PUT", CONNECTION, CONNECTED, **variant)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == code
    assert crm.connection_updates(TENANT) == []
    assert crm.counters()["rejected_signature"] == 1


def test_an_unsigned_call_is_401(crm):
    answer = requests.put(crm.url + CONNECTION, json=CONNECTED,
                          headers={"Idempotency-Key": "k"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "missing_signature_headers"


def test_a_body_changed_after_signing_is_401(crm):
    body = json.dumps(CONNECTED).encode()
    headers = {**signature_headers([SECRET], "msg_x", int(time.time()), body), "Idempotency-Key": "k"}
    answer = requests.put(crm.url + CONNECTION, data=body.replace(b"r1", b"r2"),
                          headers=headers, timeout=10)
    assert answer.status_code == 401


def test_several_outbound_secrets_are_accepted_during_rotation():
    with CrmEmulator(outbound_secret=[OTHER_SECRET, SECRET]) as rotating:
        assert call(rotating, "PUT", "/tenants/t/connection", CONNECTED).status_code == 200


# --- Idempotency-Key --------------------------------------------------------------------------------------


def test_a_call_without_idempotency_key_is_400(crm):
    answer = call(crm, "POST", REVIEWS, REVIEW, key=None)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "missing_idempotency_key"
    assert crm.review_requests(TENANT) == []


@pytest.mark.parametrize("key", ["x" * 256, "with\ttab"])
def test_an_unusable_idempotency_key_is_400(crm, key):
    answer = call(crm, "POST", REVIEWS, REVIEW, key=key)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_idempotency_key"


def test_a_repeated_key_replays_the_first_answer_without_applying_again(crm):
    first = call(crm, "POST", REVIEWS, REVIEW, key="review-1")
    # Same document, other key order and spacing: still the same body.
    reordered = json.dumps(dict(reversed(list(REVIEW.items()))), indent=2).encode()
    second = call(crm, "POST", REVIEWS, None, key="review-1", raw=reordered)
    assert (second.status_code, second.json()) == (first.status_code, first.json()) == (201, first.json())
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(crm.review_requests(TENANT)) == 1
    assert crm.counters()["replayed"] == 1
    assert [c["replayed"] for c in crm.calls()] == [False, True]


@pytest.mark.parametrize("second_method, second_path, second_body", [
    ("POST", REVIEWS, {**REVIEW, "qbo_payment_id": "141"}),
    ("PUT", CONNECTION, CONNECTED),
])
def test_a_repeated_key_with_another_request_is_409(crm, second_method, second_path, second_body):
    call(crm, "POST", REVIEWS, REVIEW, key="review-1")
    answer = call(crm, second_method, second_path, second_body, key="review-1")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "idempotency_key_reused"
    assert len(crm.review_requests(TENANT)) == 1 and crm.connection_updates(TENANT) == []


def test_refused_calls_do_not_consume_their_key(crm):
    assert call(crm, "POST", REVIEWS, {**REVIEW, "paid_at": "later"},
                key="k").status_code == 422
    assert call(crm, "POST", REVIEWS, REVIEW, key="k", secret=OTHER_SECRET).status_code == 401
    crm.set_faults(status=503, count=1)
    assert call(crm, "POST", REVIEWS, REVIEW, key="k").status_code == 503
    assert call(crm, "POST", REVIEWS, REVIEW, key="k").status_code == 201


def test_reusing_a_webhook_id_is_counted(crm):
    body = json.dumps(CONNECTED).encode()
    headers = signature_headers([SECRET], "msg_same", int(time.time()), body)
    for key in ("a", "b"):
        requests.put(crm.url + CONNECTION, data=body, headers={**headers, "Idempotency-Key": key},
                     timeout=10)
    assert crm.counters()["duplicate_webhook_ids"] == 1


# --- bodies -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, body, field", [
    (CONTACTS_UPSERT, {"contacts": []}, "contacts"),
    (CONTACTS_UPSERT, {"contacts": [contact(str(i)) for i in range(101)]}, "contacts"),
    (CONTACTS_UPSERT, {"contacts": [contact(balance="ten")]}, "contacts.0.balance"),
    (CONTACTS_UPSERT, {"contacts": [contact(nickname="x")]}, "contacts.0.nickname"),
    (CONTACTS_DELETE, {"mode": "purge", "contacts": [{"qbo_customer_id": "1", "realm_id": "r1"}]}, "mode"),
    (PRODUCTS_DELETE, {"mode": "delete", "products": []}, "products"),
    (PRODUCTS_UPSERT, {"products": [product(active="yes")]}, "products.0.active"),
    (CONNECTION, {"status": "expiring", "realm_id": "r1"}, "(body)"),
    (CONNECTION, {"status": "connected"}, "realm_id"),
])
def test_bad_bodies_are_422_naming_the_field(crm, path, body, field):
    method = "PUT" if path.endswith("connection") else "POST"
    answer = call(crm, method, path, body)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_failed"
    assert answer.json()["error"]["details"]["field"] == field
    assert crm.counters()["invalid_bodies"] == 1


def test_a_batch_of_exactly_100_is_accepted(crm):
    answer = call(crm, "POST", CONTACTS_UPSERT,
                  {"contacts": [contact(str(i)) for i in range(100)]})
    assert answer.status_code == 200 and len(answer.json()["results"]) == 100


def test_a_body_that_is_not_json_is_400(crm):
    answer = call(crm, "PUT", CONNECTION, None, raw=b"{nope")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "malformed_json"


def test_unknown_routes_and_methods_answer_json(crm):
    assert requests.get(f"{crm.url}/nowhere", timeout=10).json()["error"]["code"] == "not_found"
    answer = requests.get(crm.url + CONNECTION, timeout=10)
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"


# --- faults -----------------------------------------------------------------------------------------------


def test_count_faults_answer_the_next_n_calls_then_stop(crm):
    crm.set_faults(status=429, retry_after=7, count=2)
    statuses = [call(crm, "PUT", CONNECTION, CONNECTED)
                for _ in range(3)]
    assert [a.status_code for a in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "7"
    assert crm.counters()["faults"] == 2 and len(crm.connection_updates(TENANT)) == 1


def test_rate_faults_hit_a_seeded_fraction(crm):
    crm.set_faults(status=503, rate=0.5, seed=42)
    first = [call(crm, "PUT", "/tenants/t/connection", CONNECTED).status_code
             for _ in range(40)]
    crm.set_faults(status=503, rate=0.5, seed=42)
    second = [call(crm, "PUT", "/tenants/t/connection", CONNECTED).status_code
              for _ in range(40)]
    assert first == second and 8 < first.count(503) < 32 and set(first) == {200, 503}
    crm.set_faults(status=None)
    assert call(crm, "PUT", "/tenants/t/connection", CONNECTED).status_code == 200


@pytest.mark.parametrize("options", [
    {"status": 404}, {"status": 503, "rate": 1.5}, {"status": 503, "count": -1},
])
def test_nonsense_fault_plans_are_refused(crm, options):
    with pytest.raises(ValueError):
        crm.set_faults(**options)


# --- calls, counters, reset, control API ------------------------------------------------------------------


def test_calls_and_counters_record_every_contract_call(crm):
    call(crm, "PUT", CONNECTION, CONNECTED, key="k1")
    call(crm, "PUT", CONNECTION, CONNECTED, key="k1")
    call(crm, "POST", REVIEWS, REVIEW, secret=OTHER_SECRET)
    recorded = crm.calls()
    assert [(c["method"], c["path"], c["status"], c["idempotency_key"]) for c in recorded[:2]] == [
        ("PUT", CONNECTION, 200, "k1")] * 2
    assert recorded[0]["tenant_id"] == TENANT and recorded[0]["body"]["realm_id"] == "r1"
    assert recorded[2]["error_code"] == "invalid_signature"
    counters = crm.counters()
    assert counters["calls"] == 3 and counters["replayed"] == 1 and counters["rejected_signature"] == 1
    assert counters["by_route"] == {"PUT /tenants/{t}/connection": 2, "POST /tenants/{t}/review-requests": 1}


def test_reset_forgets_records_keys_and_counters(crm):
    call(crm, "PUT", CONNECTION, CONNECTED, key="k1")
    crm.set_faults(status=503)
    crm.reset()
    assert crm.connection_updates(TENANT) == [] and crm.calls() == [] and crm.counters()["calls"] == 0
    answer = call(crm, "PUT", CONNECTION, {"status": "disconnected", "realm_id": "r1"}, key="k1")
    assert answer.status_code == 200 and "Idempotent-Replayed" not in answer.headers


def test_the_control_api(crm):
    base = f"{crm.url}/_emulator"
    call(crm, "POST", REVIEWS, REVIEW)
    state = requests.get(f"{base}/state", timeout=10).json()
    assert state["counters"]["calls"] == 1
    assert state["tenants"][TENANT]["review_requests"][0]["qbo_payment_id"] == "140"
    tenant = requests.get(f"{base}/tenants/{TENANT}", timeout=10).json()
    assert tenant["review_requests"] == crm.review_requests(TENANT)
    assert len(requests.get(f"{base}/calls", timeout=10).json()["calls"]) == 1
    assert requests.get(f"{base}/counters", timeout=10).json() == crm.counters()

    assert requests.put(f"{base}/faults", json={"status": 503, "count": 1, "retry_after": 2}, timeout=10).ok
    assert requests.get(f"{base}/faults", timeout=10).json()["status"] == 503
    assert call(crm, "PUT", "/tenants/t/connection", CONNECTED).status_code == 503
    assert requests.put(f"{base}/faults", json={"status": 404}, timeout=10).status_code == 400
    assert requests.put(f"{base}/faults", json={"nonsense": 1}, timeout=10).status_code == 400
    assert requests.put(f"{base}/faults", json={"status": 429}, timeout=10).ok
    assert requests.delete(f"{base}/faults", timeout=10).json()["status"] is None

    assert requests.post(f"{base}/reset", timeout=10).json() == {"reset": True}
    assert crm.counters()["calls"] == 0 and crm.review_requests(TENANT) == []
    assert crm.counters()["calls"] == 0  # control calls are not contract calls


def test_concurrent_calls_with_one_key_apply_once(crm):
    answers = []

    def send():
        answers.append(call(crm, "POST", REVIEWS, REVIEW, key="same"))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.json()["id"] for a in answers} == {crm.review_requests(TENANT)[0]["id"]}
    assert len(crm.review_requests(TENANT)) == 1 and crm.counters()["replayed"] == 7


# --- webhook sender ---------------------------------------------------------------------------------------


INBOUND_SECRETS = [SECRET, OTHER_SECRET]


@pytest.fixture(scope="module")
def receiver():
    """A stand-in for qbsync's POST /webhooks/crm: verifies with the real function, remembers what it got."""
    received = []
    app = Flask("receiver")

    @app.post("/webhooks/crm")
    def webhook():
        body = request.get_data()
        try:
            verify([SECRET], request.headers, body)
        except WebhookVerificationError as error:
            return {"error": {"code": error.code}}, 401
        received.append({"webhook_id": request.headers["webhook-id"], "event": parse_event(body)})
        return {"ok": True}, 202

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/crm", received
    server.shutdown()
    thread.join()


def test_the_sender_sends_signed_events_that_verify(receiver):
    url, received = receiver
    sender = CrmWebhookSender(url, INBOUND_SECRETS)
    envelope = builders.invoice_sent(TENANT)
    answer = sender.send(envelope)
    assert answer.status_code == 202
    assert received[-1]["webhook_id"] == envelope["id"]  # a redelivery would reuse it
    assert received[-1]["event"].data.totals.total == Decimal(envelope["data"]["totals"]["total"])
    assert sender.send(envelope, webhook_id="msg_new").status_code == 202
    assert received[-1]["webhook_id"] == "msg_new"
    assert sender.send(envelope, secret_index=None).status_code == 202  # signed with both secrets


@pytest.mark.parametrize("options, code", [
    ({"signed": False}, "missing_signature_headers"),
    ({"omit_headers": ["webhook-timestamp"]}, "missing_signature_headers"),
    ({"bad_signature": True}, "invalid_signature"),
    ({"secret_index": 1}, "invalid_signature"),  # the receiver only knows the first secret
    ({"skew_seconds": -360}, "timestamp_out_of_tolerance"),
    ({"timestamp": 1}, "timestamp_out_of_tolerance"),
])
def test_the_sender_can_send_hostile_webhooks(receiver, options, code):
    url, _received = receiver
    answer = CrmWebhookSender(url, INBOUND_SECRETS).send(builders.invoice_sent(TENANT), **options)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == code


def test_prepare_gives_the_bytes_and_headers_for_in_process_tests():
    sender = CrmWebhookSender("http://unused", INBOUND_SECRETS, clock=lambda: 1_800_000_000)
    prepared = sender.prepare(None, body=b"{not json", webhook_id="msg_1")
    assert prepared.body == b"{not json"
    assert prepared.headers["webhook-timestamp"] == "1800000000"
    verify([SECRET], prepared.headers, prepared.body, now=1_800_000_000)
    assert SECRET not in repr(sender)


# --- builders ---------------------------------------------------------------------------------------------


def totals_of(envelope):
    return {key: Decimal(value) for key, value in envelope["data"]["totals"].items()}


@pytest.mark.parametrize("build", [builders.invoice_sent, builders.invoice_updated, builders.invoice_paid,
                                   builders.invoice_partially_paid, builders.invoice_voided,
                                   builders.invoice_deleted, builders.payment_succeeded])
def test_every_builder_makes_an_event_the_models_accept(build):
    envelope = build(TENANT, realm_id="r1")
    parsed = parse_event(dumps(envelope).encode())
    assert parsed.tenant_id == TENANT and parsed.realm_id == "r1"
    totals = totals_of(envelope)
    # The default lines carry exclusive tax only.
    assert totals["total"] == totals["subtotal"] - totals["discount"] + totals["tax"]
    assert totals["amount_due"] == totals["total"] - totals["amount_paid"]


def test_the_default_invoice_totals_to_the_cent():
    # 1 × 1500.00 + 2.5 × 120.00 + 12 × 19.99 = 2039.88; 8.25 % per line: 123.75 + 24.75 + 19.79 (19.7901)
    assert builders.invoice_sent(TENANT)["data"]["totals"] == {
        "subtotal": "2039.88", "discount": "0.00", "tax": "168.29", "total": "2208.17", "amount_paid": "0.00",
        "amount_due": "2208.17"}


def test_line_amounts_round_half_up_per_line():
    # 3 × 0.335 = 1.005 → 1.01 (half-up; banker's rounding would give 1.00); twice → 2.02, where rounding
    # the sum of the raw amounts (2.010) would give 2.01
    lines = [builders.line("A", 3, "0.335"), builders.line("B", 3, "0.335")]
    assert builders.compute_totals(lines)["subtotal"] == "2.02"


def test_discounts_and_inclusive_taxes():
    vat = builders.tax("VAT", "20", inclusive=True)
    lines = [builders.line("Course", 1, "120.00", taxes=[vat], discount=builders.fixed_discount("20.00")),
             builders.line("Book", 2, "15.00", taxes=[builders.tax("Reduced", "5")])]
    totals = builders.compute_totals(lines, builders.percentage_discount("10"))
    # line nets 100.00 and 30.00; invoice discount 13.00 split 10.00 / 3.00;
    # VAT inside 90.00 = 15.00; 5 % of 27.00 = 1.35
    assert totals == {"subtotal": "150.00", "discount": "33.00", "tax": "16.35", "total": "118.35",
                      "amount_paid": "0.00", "amount_due": "118.35"}


def test_an_invoice_walks_through_its_life():
    sent = builders.invoice_sent(TENANT, number="INV-7", currency="EUR")
    part = builders.invoice_partially_paid(TENANT, invoice=sent["data"], amount="1000.00")
    paid = builders.invoice_paid(TENANT, invoice=part["data"])
    assert sent["data"]["id"] == part["data"]["id"] == paid["data"]["id"]
    assert part["data"]["payment"]["amount"] == "1000.00" and part["data"]["payment"]["currency"] == "EUR"
    assert part["data"]["totals"]["amount_due"] == "1208.17" and part["data"]["status"] == "partially_paid"
    assert paid["data"]["payment"]["amount"] == "1208.17" and paid["data"]["totals"]["amount_due"] == "0.00"
    assert part["data"]["payment"]["id"] != paid["data"]["payment"]["id"]
    assert sent["data"]["updated_at"] < part["data"]["updated_at"] < paid["data"]["updated_at"]
    only_line = [builders.line("Only", 1, "10.00")]
    updated = builders.invoice_updated(TENANT, invoice=sent["data"], lines=only_line)
    assert updated["data"]["totals"]["total"] == "10.00" and updated["data"]["number"] == "INV-7"
    assert builders.invoice_voided(TENANT, invoice=sent["data"])["data"]["status"] == "voided"


def test_a_partial_payment_must_leave_something_due():
    sent = builders.invoice_sent(TENANT)
    with pytest.raises(ValueError):
        builders.invoice_partially_paid(TENANT, invoice=sent["data"], amount=sent["data"]["totals"]["total"])


def test_explicit_totals_make_a_deliberately_inconsistent_event():
    totals = {"subtotal": "1.00", "discount": "0.00", "tax": "0.00", "total": "999.99", "amount_paid": "0.00",
              "amount_due": "999.99"}
    assert builders.invoice_sent(TENANT, totals=totals)["data"]["totals"] == totals


def test_builders_refuse_to_produce_an_invalid_event():
    with pytest.raises(Exception):
        builders.invoice_sent(TENANT, currency="dollars")
    with pytest.raises(TypeError):
        builders.line("Float", 1, 0.1)


@pytest.mark.parametrize("source", ["order_form", "subscription", "membership", "calendar", "other"])
def test_payment_succeeded_for_every_source(source):
    envelope = builders.payment_succeeded(TENANT, source=source)
    assert envelope["data"]["source"] == source
    assert envelope["data"]["amount"] == envelope["data"]["totals"]["total"]
