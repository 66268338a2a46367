"""A CRM retry that is enqueued a second time reaches QBO once (G1; issue 8: ingest enqueues first, then marks the
webhook id). Whole path: signed webhook → queue → worker → QBO emulator."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from connect_helpers import connect
from ingest_helpers import ingest_directly

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender
from qbsync.repositories.webhook_dedupe import WebhookDeduplicator
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

TENANT = "loc_redelivery"


@pytest.fixture(scope="module")
def realm(full_stack):
    return connect(full_stack, TENANT, name="Redelivery Co")


def tagged_invoices(stack, realm, crm_invoice_id):
    return [invoice for invoice in stack.qbo_emulator.entities(realm, "Invoice")
            if f"crm_invoice_id={crm_invoice_id}]" in str(invoice.get("PrivateNote", ""))]


def test_a_retry_after_a_failed_marking_is_enqueued_again_and_applied_once(full_stack, realm, wait, queue_depth):
    sender = CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])
    sqs, url = full_stack.aws_client("sqs"), full_stack.queue_url("CrmEventsQueue")
    worker = full_stack.functions["CrmEventWorkerFunction"]
    event = invoice_sent(TENANT)
    # Given a delivery that was enqueued but could not mark its webhook id (the CRM got an error), and whose
    # message the worker has applied and deleted
    with pytest.raises(ClientError):
        ingest_directly(sender.prepare(event), deduplicate=WebhookDeduplicator(table_name="qbsync-no-such-table"))
    wait(lambda: tagged_invoices(full_stack, realm, event["data"]["id"]), message="the QBO invoice")
    wait(lambda: queue_depth(sqs, url) == 0, message="the first message handled")
    handled = worker.invocations
    # When the CRM retries after the queue forgot the deduplication id (SQS: 5 minutes; moto: once the message
    # is deleted), so the event is enqueued a second time
    retry = sender.send(event)
    assert retry.status_code == 202, retry.text
    wait(lambda: worker.invocations > handled and queue_depth(sqs, url) == 0, message="the second message handled")
    # Then QBO has one invoice for it
    assert len(tagged_invoices(full_stack, realm, event["data"]["id"])) == 1
