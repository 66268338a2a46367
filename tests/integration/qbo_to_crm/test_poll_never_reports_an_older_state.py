"""F8 with two reporters: the CRM events worker reports an invoice's QBO state after each change it makes, and
the poll reports what it read from QBO. A poll that read QBO just before a change the worker then made and
reported would send the older state last, and the CRM would stay a step behind (found as a flaky test under
load: a payment's "paid" overwritten by the poll's "partially_paid"). Each side records the newest QBO state
it reported (`INVOICE_STATE_REPORTED_VERSION`, a SyncToken) and the poll never sends an older one.

The poll here is the real `InvoiceSync` on the stack's tables and the CRM emulator, handed the invoice as QBO
held it before the payment: the stale read, made deterministic."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import date

from connect_helpers import connect

from crm_emulator.builders import invoice_paid, invoice_sent, line
from crm_emulator.webhooks import CrmWebhookSender
from qbsync.clients.crm.client import CrmClient
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.repositories.sync_state import RealmMappingsReader, SyncStateRepository
from qbsync.sync.poll.invoice_sync import InvoiceSync
from qbsync.sync.poll.mapping_index import MappingIndex
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET


def poll_invoice_sync(stack, poll, tenant_id, realm, counts):
    tables = stack.deployed.physical_ids
    mappings = poll.mappings()
    connection = ConnectionsRepository(table_name=tables["ConnectionsTable"]).get(tenant_id, realm)

    def index(object_type):
        return MappingIndex(lookup=mappings, lister=RealmMappingsReader(table_name=tables["MappingsTable"]),
                            tenant_id=tenant_id, realm_id=realm, object_type=object_type)

    return InvoiceSync(tenant_id=tenant_id, realm_id=realm, company=connection.company, environment="sandbox",
                       crm=CrmClient(stack.crm_emulator.url, stack.config.crm_outbound_secret),
                       mappings=mappings, invoices=index("invoices"), customers=index("customers"),
                       sync_state=SyncStateRepository(table_name=tables["ConnectionsTable"]),
                       qbo_invoices_to_crm=False, counts=counts)


def test_a_poll_that_read_qbo_before_the_workers_change_does_not_report_it_last(poll_stack, poll, tenant_id, wait):
    stack = poll_stack
    stack.qbo_emulator.set_webhooks(auto=False)  # no poll of this company but the one played here
    try:
        realm = connect(stack, tenant_id)
        send = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET]).send

        def reported():
            return stack.crm_emulator.invoice_accounting(tenant_id).get(sent["data"]["id"]) or {}

        def qbo_invoice():
            (invoice,) = [i for i in stack.qbo_emulator.entities(realm, "Invoice")
                          if f"crm_invoice_id={sent['data']['id']}]" in str(i.get("PrivateNote", ""))]
            return invoice

        sent = invoice_sent(tenant_id, lines=[line("Audit", 1, "500.00")])
        assert send(sent).status_code == 202
        wait(lambda: reported().get("status") == "open", message="the open report")
        read_before_the_payment = copy.deepcopy(qbo_invoice())
        assert send(invoice_paid(tenant_id, invoice=sent["data"])).status_code == 202
        wait(lambda: reported().get("status") == "paid", message="the worker's paid report")

        counts: Counter[str] = Counter()
        poll_invoice_sync(stack, poll, tenant_id, realm, counts).report([read_before_the_payment],
                                                                         today=date.today())
        assert counts["invoices_older_than_reported"] == 1, counts
        assert reported()["status"] == "paid"

        # the same poll with QBO's current state still reports it (a status the worker did not send: none
        # here, so it matches what the CRM has, and is counted reported, not skipped)
        poll_invoice_sync(stack, poll, tenant_id, realm, counts).report([qbo_invoice()], today=date.today())
        assert counts["invoices_reported"] == 1 and reported()["status"] == "paid"
    finally:
        stack.qbo_emulator.set_webhooks(auto=True)
