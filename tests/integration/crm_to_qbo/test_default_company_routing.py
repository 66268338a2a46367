"""F4 with settings: an event without `realm_id` goes to the tenant's default company, and a `PUT /settings` that
moves the default applies to the very next event (the webhook Lambda keeps no copy of it)."""

from __future__ import annotations

from connect_helpers import connect
from management_helpers import Api

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

TENANT = "loc_default_moves"


def qbo_invoice(stack, realm, crm_invoice_id):
    return [i for i in stack.qbo_emulator.entities(realm, "Invoice")
            if f"crm_invoice_id={crm_invoice_id}]" in str(i.get("PrivateNote", ""))]


def test_a_moved_default_company_takes_the_next_event(full_stack, wait):
    first = connect(full_stack, TENANT, name="First Co")
    second = connect(full_stack, TENANT, name="Second Co")
    send = CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET]).send
    api = Api(full_stack)

    before = invoice_sent(TENANT)
    assert send(before).status_code == 202
    wait(lambda: qbo_invoice(full_stack, first, before["data"]["id"]), message="the invoice in the first company")

    settings = api.get(f"/tenants/{TENANT}/settings").json()
    moved = api.put(f"/tenants/{TENANT}/settings", json={**settings, "default_realm_id": second})
    assert moved.status_code == 200, moved.text
    after = invoice_sent(TENANT)
    assert send(after).status_code == 202  # at once: well within any few seconds a cached default would last

    wait(lambda: qbo_invoice(full_stack, second, after["data"]["id"]), message="the invoice in the second company")
    assert qbo_invoice(full_stack, first, after["data"]["id"]) == []
    assert qbo_invoice(full_stack, second, before["data"]["id"]) == []
