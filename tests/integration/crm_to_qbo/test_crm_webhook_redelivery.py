"""A CRM retry that is enqueued a second time reaches QBO once (G1; issue 8: a repeat of the same event is
enqueued again, so that a claim whose enqueue never happened is not lost). Whole path: signed webhook → queue →
worker → QBO emulator."""

from __future__ import annotations

import pytest
from connect_helpers import connect

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

TENANT = "loc_redelivery"


@pytest.fixture(scope="module")
def realm(full_stack):
    return connect(full_stack, TENANT, name="Redelivery Co")


def tagged_invoices(stack, realm, crm_invoice_id):
    return [invoice for invoice in stack.qbo_emulator.entities(realm, "Invoice")
            if f"crm_invoice_id={crm_invoice_id}]" in str(invoice.get("PrivateNote", ""))]


def test_a_retry_enqueued_again_after_the_first_was_applied_reaches_qbo_once(full_stack, realm, wait, queue_depth):
    sender = CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])
    sqs, url = full_stack.aws_client("sqs"), full_stack.queue_url("CrmEventsQueue")
    worker = full_stack.functions["CrmEventWorkerFunction"]
    event = invoice_sent(TENANT)
    # Given a delivery that was accepted, and whose message the worker has applied and deleted
    first = sender.send(event)
    assert first.status_code == 202, first.text
    wait(lambda: tagged_invoices(full_stack, realm, event["data"]["id"]), message="the QBO invoice")
    wait(lambda: queue_depth(sqs, url) == 0, message="the first message handled")
    handled = worker.invocations
    # When the CRM retries after the queue forgot the deduplication id (SQS: 5 minutes; moto: once the message
    # is deleted), so the event is enqueued a second time
    retry = sender.send(event)
    assert retry.status_code == 200 and retry.json()["status"] == "duplicate", retry.text
    wait(lambda: worker.invocations > handled and queue_depth(sqs, url) == 0, message="the second message handled")
    # Then QBO has one invoice for it
    assert len(tagged_invoices(full_stack, realm, event["data"]["id"])) == 1
