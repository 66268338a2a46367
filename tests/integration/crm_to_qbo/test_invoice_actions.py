"""F17 through the management API: e-mail from QBO, PDF, link an existing QBO invoice, unlink."""

from __future__ import annotations

import pytest
import requests
from connect_helpers import API_HEADERS, connect
from waiting import wait_until

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

TENANT = "loc_actions"


@pytest.fixture(scope="module")
def synced_invoice(full_stack):
    realm = connect(full_stack, TENANT)
    event = invoice_sent(TENANT)
    CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET]).send(event)
    wait_until(lambda: full_stack.crm_emulator.invoice_accounting(TENANT).get(event["data"]["id"]),
               message="the invoice in QBO")
    return realm, event["data"]["id"]


def url(stack, path):
    return f"{stack.api.url}/tenants/{TENANT}{path}"


def test_send_emails_the_invoice_from_qbo(full_stack, synced_invoice):
    realm, crm_id = synced_invoice
    assert requests.post(url(full_stack, f"/invoices/{crm_id}/send"), timeout=10).status_code == 401
    answer = requests.post(url(full_stack, f"/invoices/{crm_id}/send"), headers=API_HEADERS,
                           json={"email": "billing@example.com"}, timeout=20)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["email_status"] == "sent" and body["sent_to"] == "billing@example.com"
    stored = full_stack.qbo_emulator.entity(realm, "Invoice", body["qbo_invoice_id"])
    assert stored["EmailStatus"] == "EmailSent"


def test_pdf_is_served_as_pdf(full_stack, synced_invoice):
    _, crm_id = synced_invoice
    answer = requests.get(url(full_stack, f"/invoices/{crm_id}/pdf"), headers=API_HEADERS, timeout=20)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")


def test_unknown_invoice_is_404(full_stack, synced_invoice):
    answer = requests.get(url(full_stack, "/invoices/inv_nope/pdf"), headers=API_HEADERS, timeout=10)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "invoice_not_linked"


def test_link_an_existing_qbo_invoice_by_doc_number_then_unlink(full_stack, synced_invoice):
    realm, _ = synced_invoice
    emulator = full_stack.qbo_emulator
    customer = emulator.user_create(realm, "Customer", {"DisplayName": "Walk-in Buyer"})
    item = emulator.entities(realm, "Item")[0]
    made_in_qbo = emulator.user_create(realm, "Invoice", {
        "CustomerRef": {"value": customer["Id"]}, "DocNumber": "Q-77",
        "Line": [{"Amount": 50, "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1, "UnitPrice": 50}}]})
    linked = requests.post(url(full_stack, "/invoices/inv_linked_1/link"), headers=API_HEADERS,
                           json={"doc_number": "Q-77"}, timeout=20)
    assert linked.status_code == 200, linked.text
    assert linked.json() == {"crm_invoice_id": "inv_linked_1", "qbo_invoice_id": made_in_qbo["Id"],
                             "doc_number": "Q-77"}
    # the same QBO invoice cannot be linked to a second CRM invoice
    again = requests.post(url(full_stack, "/invoices/inv_linked_2/link"), headers=API_HEADERS,
                          json={"qbo_invoice_id": made_in_qbo["Id"]}, timeout=20)
    assert again.status_code == 409 and again.json()["error"]["code"] == "qbo_invoice_linked"
    # the link makes the PDF reachable through the CRM id
    assert requests.get(url(full_stack, "/invoices/inv_linked_1/pdf"), headers=API_HEADERS,
                        timeout=20).status_code == 200
    gone = requests.delete(url(full_stack, "/links/invoices/inv_linked_1"), headers=API_HEADERS, timeout=10)
    assert gone.status_code == 204
    missing = requests.delete(url(full_stack, "/links/invoices/inv_linked_1"), headers=API_HEADERS, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "link_not_found"


@pytest.mark.parametrize("body, code", [({}, "invalid_link_request"),
                                        ({"qbo_invoice_id": "1", "doc_number": "x"}, "invalid_link_request"),
                                        ({"qbo_invoice_id": "../1"}, "invalid_link_request"),
                                        ({"doc_number": "NOPE-1"}, "qbo_invoice_not_found")])
def test_bad_link_requests(full_stack, synced_invoice, body, code):
    answer = requests.post(url(full_stack, "/invoices/inv_x/link"), headers=API_HEADERS, json=body, timeout=20)
    assert answer.status_code in (400, 404)
    assert answer.json()["error"]["code"] == code


def test_unlink_refuses_unknown_object_types_and_unknown_tenants(full_stack, synced_invoice):
    bad_object = requests.delete(url(full_stack, "/links/deals/d1"), headers=API_HEADERS, timeout=10)
    assert bad_object.status_code == 400 and bad_object.json()["error"]["code"] == "invalid_object"
    unknown = requests.delete(f"{full_stack.api.url}/tenants/loc_never/links/invoices/i1", headers=API_HEADERS,
                              timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "tenant_not_found"
