"""F14 "optionally update the QBO customer when those differ" (tenant setting `update_qbo_customer`), through
the whole path: signed webhook → queue → the real worker handler (moto) → QBO emulator.

Off (the default): a known customer is never touched. On: the CRM-filled fields that differ are sparse-
updated once; a repeat of the same change, or a later invoice for the unchanged customer, costs no extra
QBO call (the customer mapping remembers a hash of what was last synced).
"""

from __future__ import annotations

import pytest
from connect_helpers import connect
from management_helpers import Api, qbo_invoices_for, queue_depth, sender

from crm_emulator.builders import address, customer, invoice_sent, line, payment_succeeded

TENANT = "loc_customer_updates"
LINES = [line("Consulting", 2, "150.00", sku="CONSULT-CU")]
QBO_API = "/v3/company/"


@pytest.fixture(scope="module")
def realm(full_stack):
    # No QBO webhooks: the poll jobs they start would add QBO calls to the counts compared here.
    full_stack.qbo_emulator.set_webhooks(False)
    return connect(full_stack, TENANT)


def set_update_qbo_customer(stack, enabled: bool) -> None:
    api = Api(stack)
    current = api.get(f"/tenants/{TENANT}/settings")
    assert current.status_code == 200, current.text
    document = {**current.json(), "update_qbo_customer": enabled}
    answer = api.put(f"/tenants/{TENANT}/settings", json=document, headers={"If-Match": current.headers["ETag"]})
    assert answer.status_code == 200, answer.text


def apply(stack, realm, event, wait):
    """Send the invoice event and wait until it is applied and nothing is left in flight."""
    sender(stack)(event)
    wait(lambda: qbo_invoices_for(stack, realm, event["data"]["id"]), timeout=60, message="the QBO invoice")
    settled(stack, wait)


def settled(stack, wait):
    wait(lambda: queue_depth(stack, "CrmEventsQueue") == 0, timeout=30, message="the events queue to drain")


def qbo_customer(stack, realm, email):
    (found,) = [c for c in stack.qbo_emulator.entities(realm, "Customer")
                if (c.get("PrimaryEmailAddr") or {}).get("Address") == email]
    return found


def qbo_calls(stack) -> dict[str, int]:
    return {endpoint: count for endpoint, count in stack.qbo_emulator.counters()["requests"].items()
            if QBO_API in endpoint}


@pytest.fixture
def known_customer(full_stack, realm, wait):
    """A CRM contact whose QBO customer qbsync created (and whose items are paired) by a first invoice."""
    buyer = customer()
    apply(full_stack, realm, invoice_sent(TENANT, customer=buyer, lines=LINES), wait)
    return buyer


def test_setting_off_leaves_a_known_customer_untouched(full_stack, realm, known_customer, wait):
    set_update_qbo_customer(full_stack, False)
    before = qbo_customer(full_stack, realm, known_customer["email"])
    moved = {**known_customer, "email": f"new.{known_customer['email']}", "phone": "+1 212 555 0199",
             "address": address(line1="1 Other Street", city="Oakland")}

    apply(full_stack, realm, invoice_sent(TENANT, customer=moved, lines=LINES), wait)

    after = full_stack.qbo_emulator.entity(realm, "Customer", before["Id"])
    assert after["SyncToken"] == before["SyncToken"]
    assert after["PrimaryEmailAddr"] == before["PrimaryEmailAddr"] and after["BillAddr"] == before["BillAddr"]


def test_setting_on_updates_changed_fields_once_and_a_repeat_does_not_update_again(full_stack, realm,
                                                                                   known_customer, wait):
    set_update_qbo_customer(full_stack, True)
    before = qbo_customer(full_stack, realm, known_customer["email"])
    moved = {**known_customer, "email": f"moved.{known_customer['email']}",
             "address": address(line1="1 Other Street", line2=None, city="Oakland", postal_code="94607")}
    event = invoice_sent(TENANT, customer=moved, lines=LINES)
    full_stack.qbo_emulator.reset_counters()

    apply(full_stack, realm, event, wait)

    after = full_stack.qbo_emulator.entity(realm, "Customer", before["Id"])
    assert after["PrimaryEmailAddr"]["Address"] == moved["email"]
    assert after["BillAddr"]["Line1"] == "1 Other Street" and after["BillAddr"]["City"] == "Oakland"
    assert "Line2" not in after["BillAddr"]
    # untouched: the name qbsync gave it, and the tag the poll's loop guard relies on
    assert after["DisplayName"] == before["DisplayName"] and after["Notes"] == before["Notes"]
    assert int(after["SyncToken"]) == int(before["SyncToken"]) + 1
    calls = qbo_calls(full_stack)
    assert calls.get("GET /v3/company/{realm}/customer/{id}") == 1, calls
    assert calls.get("POST /v3/company/{realm}/customer") == 1, calls
    # one invoice, for that same customer
    (invoice,) = qbo_invoices_for(full_stack, realm, event["data"]["id"])
    assert invoice["CustomerRef"]["value"] == before["Id"]

    # When the same event is delivered again (a new webhook id, as after a CRM retry), and the same change
    # arrives with another invoice
    sender(full_stack)(event)
    settled(full_stack, wait)
    apply(full_stack, realm, invoice_sent(TENANT, customer=moved, lines=LINES), wait)

    # Then the customer was not written again
    assert full_stack.qbo_emulator.entity(realm, "Customer", before["Id"])["SyncToken"] == after["SyncToken"]
    assert qbo_calls(full_stack).get("POST /v3/company/{realm}/customer") == 1


def test_setting_on_and_an_unchanged_customer_cost_one_qbo_call_per_invoice(full_stack, realm,
                                                                            known_customer, wait):
    set_update_qbo_customer(full_stack, True)
    full_stack.qbo_emulator.reset_counters()

    apply(full_stack, realm, invoice_sent(TENANT, customer=known_customer, lines=LINES), wait)

    assert qbo_calls(full_stack) == {"POST /v3/company/{realm}/invoice": 1}


def test_setting_on_updates_a_customer_matched_by_email(full_stack, realm, wait):
    set_update_qbo_customer(full_stack, True)
    buyer = customer(name="Ada Lovelace", phone="+44 20 7946 0000")
    made = full_stack.qbo_emulator.user_create(realm, "Customer", {
        "DisplayName": "Ada Lovelace", "PrimaryEmailAddr": {"Address": buyer["email"]},
        "PrimaryPhone": {"FreeFormNumber": "+44 20 0000 0000"}, "Notes": "a QBO user's own note"})

    event = payment_succeeded(TENANT, customer=buyer)
    sender(full_stack)(event)
    wait(lambda: full_stack.qbo_emulator.entities(realm, "SalesReceipt") and any(
        r["CustomerRef"]["value"] == made["Id"] for r in full_stack.qbo_emulator.entities(realm, "SalesReceipt")),
        timeout=60, message="the sales receipt for the matched customer")

    after = full_stack.qbo_emulator.entity(realm, "Customer", made["Id"])
    assert after["PrimaryPhone"]["FreeFormNumber"] == buyer["phone"]
    assert after["BillAddr"]["Line1"] == buyer["address"]["line1"]
    assert after["CompanyName"] == buyer["company"]
    assert after["Notes"] == "a QBO user's own note"  # not ours to change
    assert len([c for c in full_stack.qbo_emulator.entities(realm, "Customer")
                if (c.get("PrimaryEmailAddr") or {}).get("Address") == buyer["email"]]) == 1


def test_dry_run_shows_the_customer_update_and_writes_nothing(full_stack, realm, known_customer, wait):
    set_update_qbo_customer(full_stack, True)
    before = qbo_customer(full_stack, realm, known_customer["email"])
    moved = {**known_customer, "phone": "+1 415 555 0142"}
    event = invoice_sent(TENANT, customer=moved, lines=LINES)

    answer = Api(full_stack).post(f"/tenants/{TENANT}/sync?dry_run=true", json={"event": event})

    assert answer.status_code == 200, answer.text
    update, create = answer.json()["qbo_writes"]
    assert (update["operation"], update["entity"]) == ("sparse_update", "Customer")
    assert update["body"]["Id"] == before["Id"]
    assert update["body"]["PrimaryPhone"] == {"FreeFormNumber": "+1 415 555 0142"}
    assert "DisplayName" not in update["body"]  # only what differs
    assert (create["operation"], create["entity"]) == ("create", "Invoice")
    assert full_stack.qbo_emulator.entity(realm, "Customer", before["Id"]) == before


def test_a_new_name_another_customer_has_gets_qbsyncs_suffix(full_stack, realm, known_customer, wait):
    set_update_qbo_customer(full_stack, True)
    full_stack.qbo_emulator.user_create(realm, "Customer", {"DisplayName": "Grace Hopper"})
    before = qbo_customer(full_stack, realm, known_customer["email"])
    renamed = {**known_customer, "name": "Grace Hopper"}

    apply(full_stack, realm, invoice_sent(TENANT, customer=renamed, lines=LINES), wait)

    after = full_stack.qbo_emulator.entity(realm, "Customer", before["Id"])
    assert after["DisplayName"] == f"Grace Hopper ({known_customer['email']})"  # QBO.md §4.1: names are unique
    assert (after["GivenName"], after["FamilyName"]) == ("Grace", "Hopper")
