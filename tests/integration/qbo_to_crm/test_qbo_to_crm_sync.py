"""QBO → CRM on the local stack (issue 6): a QBO user changes something in the QBO emulator; a webhook or the
schedule makes a poll job; the real poll worker reads CDC and writes to the CRM emulator.

The last test moves the QBO emulator's clock forward (days): keep it last in this module.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from connect_helpers import connect
from qbsync_local.schedules import scheduled_event


def contacts_by_qbo_id(crm, tenant_id: str) -> dict[str, dict]:
    return {contact["qbo_customer_id"]: contact for contact in crm.contacts(tenant_id)}


def products_by_qbo_id(crm, tenant_id: str) -> dict[str, dict]:
    return {product["qbo_item_id"]: product for product in crm.products(tenant_id)}


def tick(stack) -> dict:
    """One EventBridge tick of the poll schedule, through the real scheduler function."""
    return stack.functions["PollSchedulerFunction"].invoke(
        scheduled_event("arn:aws:events:us-east-1:123456789012:rule/test-tick", "us-east-1", "123456789012"))


def test_a_customer_created_in_qbo_reaches_the_crm_through_the_webhook_in_seconds(poll_stack, poll, tenant_id,
                                                                                   wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    realm = connect(poll_stack, tenant_id)
    poll.poll_now(tenant_id, realm)  # the backfill on connect; from here on, changes come through CDC

    # When a QBO user creates a customer (the emulator sends qbsync a signed CloudEvents webhook)
    started = time.monotonic()
    customer = emu.user_create(realm, "Customer", {
        "DisplayName": "Wendy Webhook", "GivenName": "Wendy", "FamilyName": "Webhook",
        "CompanyName": "Hooks Ltd",
        "PrimaryEmailAddr": {"Address": "wendy@example.com"}, "PrimaryPhone": {"FreeFormNumber": "555-0100"},
        "BillAddr": {"Line1": "1 Main St", "City": "Springfield", "CountrySubDivisionCode": "OR",
                     "PostalCode": "97477", "Country": "US"}})

    # Then the CRM has the contact within seconds, with QBO's fields and id
    contact = wait(lambda: contacts_by_qbo_id(crm, tenant_id).get(customer["Id"]), timeout=10,
                   message="the contact in the CRM")
    assert time.monotonic() - started < 5
    assert contact["realm_id"] == realm and contact["active"] is True
    names = ("display_name", "given_name", "family_name", "company_name")
    assert [contact[name] for name in names] == ["Wendy Webhook", "Wendy", "Webhook", "Hooks Ltd"]
    assert (contact["email"], contact["phone"]) == ("wendy@example.com", "555-0100")
    assert contact["billing_address"] == {"line1": "1 Main St", "line2": None, "city": "Springfield",
                                          "region": "OR", "postal_code": "97477", "country": "US"}
    # ...the pair is stored, marked as coming from QBO, with the content hash that skips unchanged saves
    mapping = wait(lambda: poll.mappings().find_by_qbo_id(tenant_id, realm, "customers", customer["Id"]),
                   message="the pair")
    assert mapping.crm_id == contact["crm_contact_id"]
    assert mapping.state["origin"] == "qbo" and mapping.state["hash"]
    # ...and once that poll is done, the watermark is QBO's own time (the company's offset, not our UTC clock)
    wait(lambda: poll.sync_state(tenant_id, realm).watermark.utcoffset() == timedelta(hours=-8),
         message="the watermark from QBO's CDC answer")
    assert poll.dead_poll_jobs() == []

    # When the same customer is saved again without a visible change, nothing more is sent
    upserts_before = crm.counters()["by_route"]["POST /tenants/{t}/contacts/batch-upsert"]
    emu.user_update(realm, "Customer", {"Id": customer["Id"], "Notes": "called on Monday"})
    poll.poll_now(tenant_id, realm)
    assert crm.counters()["by_route"]["POST /tenants/{t}/contacts/batch-upsert"] == upserts_before


def test_a_customer_reaches_the_crm_through_the_schedule_without_webhooks(poll_stack, poll, tenant_id, wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    emu.set_webhooks(auto=False)  # held back: only the schedule can find the change
    try:
        realm = connect(poll_stack, tenant_id)
        tick(poll_stack)
        wait(lambda: poll.sync_state(tenant_id, realm).watermark, message="the first scheduled poll")

        customer = emu.user_create(realm, "Customer", {"DisplayName": "Sam Schedule"})
        assert tick(poll_stack)["enqueued"] >= 1

        contact = wait(lambda: contacts_by_qbo_id(crm, tenant_id).get(customer["Id"]), timeout=10,
                       message="the contact from the scheduled poll")
        assert contact["display_name"] == "Sam Schedule"
    finally:
        emu.set_webhooks(auto=True)


@pytest.mark.parametrize("rule", ["ignore", "archive", "delete"])
def test_deactivated_and_merged_customers_and_deactivated_items_follow_the_delete_rule(
        poll_stack, poll, tenant_id, rule):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    poll.set_settings(tenant_id, delete_rules={"customers": rule, "products": rule})
    realm = connect(poll_stack, tenant_id)
    keeper = emu.user_create(realm, "Customer", {"DisplayName": "Kim Keeper"})
    leaver = emu.user_create(realm, "Customer", {"DisplayName": "Lee Leaver"})
    merged = emu.user_create(realm, "Customer", {"DisplayName": "Kim Keeper (duplicate)"})
    widget = emu.user_create(realm, "Item", {"Name": "Widget", "Type": "Service",
                                            "UnitPrice": Decimal("9.50"), "IncomeAccountRef": {"value": "1"}})
    poll.poll_now(tenant_id, realm)
    assert {keeper["Id"], leaver["Id"], merged["Id"]} <= set(contacts_by_qbo_id(crm, tenant_id))
    assert products_by_qbo_id(crm, tenant_id)[widget["Id"]]["unit_price"] == "9.50"

    # When a QBO user deactivates one customer, merges another into the keeper and deactivates the item
    emu.user_delete(realm, "Customer", leaver["Id"])
    emu.user_merge_customers(realm, merged["Id"], keeper["Id"])
    emu.user_delete(realm, "Item", widget["Id"])
    poll.poll_now(tenant_id, realm)

    contacts, products = contacts_by_qbo_id(crm, tenant_id), products_by_qbo_id(crm, tenant_id)
    assert contacts[keeper["Id"]]["archived"] is False
    gone = [contacts.get(leaver["Id"]), contacts.get(merged["Id"]), products.get(widget["Id"])]
    if rule == "ignore":
        assert all(record is not None and record["archived"] is False for record in gone)
    elif rule == "archive":
        assert all(record is not None and record["archived"] is True for record in gone)
    else:
        assert gone == [None, None, None]
        assert poll.mappings().find_by_qbo_id(tenant_id, realm, "customers", leaver["Id"]) is None
    assert poll.dead_poll_jobs() == []


def test_qbsync_own_writes_do_not_come_back_but_the_status_they_cause_does(poll_stack, poll, tenant_id, wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    poll.set_settings(tenant_id, sync={"customers": True, "products": True, "invoices": True,
                                       "sales_receipts": True, "qbo_invoices_to_crm": True})
    realm = connect(poll_stack, tenant_id)
    poll.poll_now(tenant_id, realm)

    # Given what the CRM → QBO side wrote into QBO (tagged objects and mappings with origin "crm")...
    ours = poll.crm_made_customer(realm, tenant_id, "crm_c_1", "Cara From CRM")
    invoice = poll.crm_made_invoice(realm, tenant_id, "crm_inv_1", ours["Id"], "250.00", deal_id="deal_1")
    item = emu.user_create(realm, "Item", {"Name": "CRM product", "Type": "Service",
                                          "IncomeAccountRef": {"value": "1"}})
    poll.mappings().create(tenant_id, realm, "items", "product:p_1", item["Id"], state={"origin": "crm"})
    # ...and an invoice a QBO user made for that customer
    made_in_qbo = emu.user_create(realm, "Invoice", {"CustomerRef": {"value": ours["Id"]}, "Line": [
        {"Amount": Decimal("40.00"), "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 2, "UnitPrice": Decimal("20.00")}}]})
    poll.poll_now(tenant_id, realm)

    # Then none of qbsync's own writes came back as new CRM records...
    assert ours["Id"] not in contacts_by_qbo_id(crm, tenant_id)
    assert item["Id"] not in products_by_qbo_id(crm, tenant_id)
    qbo_invoices = crm.qbo_invoices(tenant_id)
    assert [record["qbo_invoice_id"] for record in qbo_invoices] == [made_in_qbo["Id"]]
    # ...the invoice made in QBO went one way (F9), naming the CRM contact of its customer...
    assert qbo_invoices[0]["crm_contact_id"] == "crm_c_1" and qbo_invoices[0]["total"] == "40.00"
    assert qbo_invoices[0]["lines"] == [{"description": None, "quantity": "2", "unit_price": "20.00",
                                         "amount": "40.00"}]
    # ...and the CRM's own invoice got its QBO status (F8) and its deal the roll-up
    accounting = crm.invoice_accounting(tenant_id)["crm_inv_1"]
    assert (accounting["status"], accounting["email_status"], accounting["total"], accounting["balance"]) == (
        "open", "not_sent", "250.00", "250.00")
    assert accounting["doc_number"] == invoice["DocNumber"] and accounting["due_date"] == invoice["DueDate"]
    assert accounting["qbo_invoice_id"] == invoice["Id"] and f"txnId={invoice['Id']}" in accounting["qbo_url"]
    deal = crm.deal_accounting(tenant_id)["deal_1"]
    assert deal["total_invoiced"] == "250.00"
    assert deal["latest_invoice"]["crm_invoice_id"] == "crm_inv_1"
    assert deal["latest_invoice"]["recipient"] == "Cara From CRM"

    # When a QBO user takes the payment and QBO e-mails the invoice
    poll.pay(realm, ours["Id"], invoice["Id"], "250.00")
    emu.user_update(realm, "Invoice", {"Id": invoice["Id"], "EmailStatus": "EmailSent"})
    poll.poll_now(tenant_id, realm)
    accounting = crm.invoice_accounting(tenant_id)["crm_inv_1"]
    assert (accounting["status"], accounting["email_status"]) == ("paid", "sent")
    assert (Decimal(accounting["balance"]), Decimal(accounting["amount_paid"])) == (0, Decimal("250.00"))
    assert crm.deal_accounting(tenant_id)["deal_1"]["latest_invoice"]["status"] == "paid"

    # When a QBO user voids one CRM invoice and deletes another
    voided = poll.crm_made_invoice(realm, tenant_id, "crm_inv_2", ours["Id"], "80.00", deal_id="deal_1")
    deleted = poll.crm_made_invoice(realm, tenant_id, "crm_inv_3", ours["Id"], "30.00")
    poll.poll_now(tenant_id, realm)
    emu.user_void(realm, "Invoice", voided["Id"])
    emu.user_delete(realm, "Invoice", deleted["Id"])
    poll.poll_now(tenant_id, realm)
    everything = crm.invoice_accounting(tenant_id)
    assert everything["crm_inv_2"]["status"] == "voided"
    assert everything["crm_inv_3"]["status"] == "deleted"
    assert everything["crm_inv_3"]["doc_number"] == deleted["DocNumber"]  # as last reported
    assert crm.deal_accounting(tenant_id)["deal_1"]["total_invoiced"] == "250.00"  # a void adds nothing
    assert [record["qbo_invoice_id"] for record in crm.qbo_invoices(tenant_id)] == [made_in_qbo["Id"]]
    assert crm.counters()["conflicts"] == 0
    assert poll.dead_poll_jobs() == []


def test_a_payment_settling_a_first_invoice_asks_for_one_review_and_a_later_payment_for_none(poll_stack, poll,
                                                                                             tenant_id, wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    realm = connect(poll_stack, tenant_id)
    customer = emu.user_create(realm, "Customer", {"DisplayName": "Rita Review",
                                                   "PrimaryEmailAddr": {"Address": "rita@example.com"}})
    line = [{"Amount": Decimal("100.00"), "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": Decimal("100.00")}}]
    first = emu.user_create(realm, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line})
    second = emu.user_create(realm, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": line})
    poll.poll_now(tenant_id, realm)

    poll.pay(realm, customer["Id"], first["Id"], "40.00")  # partly paid: not settled yet
    poll.poll_now(tenant_id, realm)
    assert crm.review_requests(tenant_id) == []
    # (the customer itself was not saved, but its computed balance moved, and the contact follows)
    assert Decimal(contacts_by_qbo_id(crm, tenant_id)[customer["Id"]]["balance"]) == Decimal("160.00")

    payment = poll.pay(realm, customer["Id"], first["Id"], "60.00")  # settles the first invoice
    poll.poll_now(tenant_id, realm)
    requests = crm.review_requests(tenant_id)
    assert len(requests) == 1
    contact = contacts_by_qbo_id(crm, tenant_id)[customer["Id"]]
    assert {key: requests[0][key] for key in ("qbo_customer_id", "qbo_invoice_id", "qbo_payment_id", "email",
                                              "crm_contact_id", "realm_id")} == {
        "qbo_customer_id": customer["Id"], "qbo_invoice_id": first["Id"], "qbo_payment_id": payment["Id"],
        "email": "rita@example.com", "crm_contact_id": contact["crm_contact_id"], "realm_id": realm}

    poll.pay(realm, customer["Id"], second["Id"], "100.00")  # a later invoice settled: no second request
    poll.poll_now(tenant_id, realm)
    assert len(crm.review_requests(tenant_id)) == 1


def test_crm_throttling_and_outages_lose_nothing_and_send_nothing_twice(poll_stack, poll, tenant_id, wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    realm = connect(poll_stack, tenant_id)
    poll.poll_now(tenant_id, realm)

    created = []
    for fault in ({"status": 429, "retry_after": 1, "count": 2},  # waited out in-process
                  {"status": 503, "retry_after": None, "count": 3},  # backed off in-process
                  {"status": 429, "retry_after": 600, "count": 1}):  # longer than the Lambda has: SQS retries
        crm.set_faults(**fault)
        created.append(emu.user_create(realm, "Customer", {"DisplayName": f"Tina Throttled {len(created)}"}))
        wait(lambda: created[-1]["Id"] in contacts_by_qbo_id(crm, tenant_id), timeout=20,
             message=f"the contact despite {fault}")
    crm.set_faults(status=None)
    poll.poll_now(tenant_id, realm)

    contacts = crm.contacts(tenant_id)
    assert sorted(contact["qbo_customer_id"] for contact in contacts) == sorted(c["Id"] for c in created)
    applied = [call for call in crm.calls() if call["tenant_id"] == tenant_id and call["status"] == 200
               and not call["replayed"] and call["route"].endswith("contacts/batch-upsert")]
    assert len({call["idempotency_key"] for call in applied}) == len(applied)  # no key applied twice
    assert crm.counters()["conflicts"] == 0
    assert poll.dead_poll_jobs() == []


def test_qbo_webhooks_are_verified_and_read_in_both_formats(poll_stack, poll, tenant_id, wait, capsys):
    from qbsync.signatures.intuit import intuit_signature
    from qbsync_local.config import DEFAULT_VERIFIER_TOKEN

    realm = connect(poll_stack, tenant_id)
    poll.poll_now(tenant_id, realm)
    url = f"{poll_stack.api.url}/webhooks/qbo"
    change = {"name": "Customer", "id": "1", "operation": "Update", "lastUpdated": "2026-11-23T10:00:00-0800"}
    notification = {"realmId": realm, "dataChangeEvent": {"entities": [change]}}
    legacy = json.dumps({"eventNotifications": [notification]})

    # A bad signature: 401, counted, and no poll job
    capsys.readouterr()
    refused = requests.post(url, data=legacy, timeout=10, headers={
        "intuit-signature": intuit_signature("not-the-verifier-token", legacy.encode()),
        "Content-Type": "application/json"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_signature"
    assert '"QboWebhook_rejected"' in capsys.readouterr().out
    # (That nothing was enqueued is proven with queue depths in tests/integration/hostile/: counting worker
    # invocations here raced with other tenants' background jobs on a loaded machine.)

    # The legacy format, signed: 200 and a poll
    asked = poll.sync_state(tenant_id, realm).last_success_started_at
    accepted = requests.post(url, data=legacy, timeout=10, headers={
        "intuit-signature": intuit_signature(DEFAULT_VERIFIER_TOKEN, legacy.encode()),
        "Content-Type": "application/json"})
    assert accepted.status_code == 200 and accepted.json() == {"status": "accepted", "enqueued": 1}
    wait(lambda: poll.sync_state(tenant_id, realm).last_success_started_at != asked,
         message="the webhook's poll")

    # CloudEvents with their own content type, and odd content: always 200 when signed
    cloud = json.dumps([{"specversion": "1.0", "id": "e-1", "source": "intuit.test",
                         "type": "qbo.item.updated.v1", "time": "2026-11-23T18:00:00Z",
                         "intuitentityid": "1", "intuitaccountid": realm, "data": {}}, {"odd": True}, 42])
    for body in (cloud, "not json at all"):
        answer = requests.post(url, data=body, timeout=10, headers={
            "intuit-signature": intuit_signature(DEFAULT_VERIFIER_TOKEN, body.encode()),
            "Content-Type": "application/cloudevents+json"})
        assert answer.status_code == 200, answer.text
    assert poll.dead_poll_jobs() == []


def test_an_invoice_becomes_overdue_after_its_due_date_without_any_qbo_change(poll_stack, poll, tenant_id):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    realm = connect(poll_stack, tenant_id)
    customer = poll.crm_made_customer(realm, tenant_id, "crm_c_due", "Otto Overdue")
    today = emu.clock.now().astimezone(ZoneInfo("America/Los_Angeles")).date()  # the company's zone
    tomorrow = today + timedelta(days=1)
    invoice = poll.crm_made_invoice(realm, tenant_id, "crm_inv_due", customer["Id"], "75.00",
                                    TxnDate=today.isoformat(), DueDate=tomorrow.isoformat())
    poll.poll_now(tenant_id, realm)
    poll.poll_now(tenant_id, realm)
    assert crm.invoice_accounting(tenant_id)["crm_inv_due"]["status"] == "open"

    # When two days pass in QBO and nothing changes there
    emu.clock.advance(timedelta(days=2).total_seconds())
    poll.poll_now(tenant_id, realm)

    # Then the CRM is told the invoice is overdue, although QBO's invoice is the same version
    assert crm.invoice_accounting(tenant_id)["crm_inv_due"]["status"] == "overdue"
    assert emu.entity(realm, "Invoice", invoice["Id"])["SyncToken"] == invoice["SyncToken"]
    state = poll.sync_state(tenant_id, realm)
    assert state.overdue_checked_on == today + timedelta(days=2)


def test_a_deal_invoice_sent_by_the_crm_and_paid_in_qbo_updates_the_deal(poll_stack, poll, tenant_id, wait):
    # The whole path, no pairing seeded by hand: the CRM → QBO side records the invoice's deal, the poll reads it
    from crm_emulator.builders import invoice_sent
    from crm_emulator.webhooks import CrmWebhookSender
    from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    realm = connect(poll_stack, tenant_id)
    poll.set_settings(tenant_id, backfill_on_connect=False)
    sender = CrmWebhookSender(f"{poll_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])
    event = invoice_sent(tenant_id, deal_id="deal_e2e")
    assert sender.send(event).status_code == 202
    crm_invoice_id = event["data"]["id"]
    invoice = wait(lambda: next((i for i in emu.entities(realm, "Invoice")
                                 if f"crm_invoice_id={crm_invoice_id}]" in i.get("PrivateNote", "")), None),
                   message="the QBO invoice")

    # When a QBO user takes the whole payment and the poll runs
    poll.pay(realm, invoice["CustomerRef"]["value"], invoice["Id"], str(invoice["TotalAmt"]))
    poll.poll_now(tenant_id, realm)

    # Then the CRM's deal shows the invoice paid (F8), not only the invoice itself
    assert crm.invoice_accounting(tenant_id)[crm_invoice_id]["status"] == "paid"
    deal = wait(lambda: next((d for d in [crm.deal_accounting(tenant_id).get("deal_e2e")]
                              if d and d["latest_invoice"]["status"] == "paid"), None),
                message="the deal roll-up showing the invoice paid")
    assert deal["latest_invoice"]["crm_invoice_id"] == crm_invoice_id
