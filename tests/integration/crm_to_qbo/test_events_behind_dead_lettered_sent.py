"""Events that follow a dead-lettered `invoice.sent` wait on the DLQ behind it and are applied, in order and
once, when the sent finally is (G2, G3): through the real worker on the local stack (moto, QBO emulator)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from connect_helpers import connect, connect_link, follow_to_callback

from crm_emulator.builders import invoice_deleted, invoice_paid, invoice_partially_paid, invoice_sent, \
    invoice_updated, line
from crm_emulator.webhooks import CrmWebhookSender
from qbsync.queues.redrive import DeadLetterQueue, peek
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET, DEFAULT_INTUIT_CLIENT_ID, DEFAULT_INTUIT_CLIENT_SECRET
from qbsync_local.stack import LocalStack


@pytest.fixture(scope="module")
def stack(full_config):
    with LocalStack(full_config, start_schedules=False) as local:
        yield local


@pytest.fixture
def send(stack):
    sender = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])

    def deliver(*events):
        for event in events:
            answer = sender.send(event)
            assert answer.status_code in (200, 202), answer.text

    return deliver


def queue_depth(stack) -> int:
    attributes = stack.aws_client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url("CrmEventsQueue"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def skipped(tenant_id, reason):
    from qbsync.composition import sync_stats_repository

    return sum(c.count for c in sync_stats_repository().counts(tenant_id)
               if c.outcome == "skipped" and c.reason == reason)


def dlq(stack) -> DeadLetterQueue:
    return DeadLetterQueue(name="crm_events", dlq_url=stack.queue_url("CrmEventsDeadLetterQueue"),
                           source_url=stack.queue_url("CrmEventsQueue"))


def letters(stack, tenant_id):
    """(event id, reason) of the tenant's dead letters, in DLQ order."""
    found = peek(stack.aws_client("sqs"), [dlq(stack)], select=lambda letter: letter.tenant_id == tenant_id)
    return [(letter.attribute("event_id"), letter.reason.code) for letter in found]


def qbo_invoices(stack, realm, crm_invoice_id):
    return [i for i in stack.qbo_emulator.entities(realm, "Invoice")
            if f"crm_invoice_id={crm_invoice_id}]" in str(i.get("PrivateNote", ""))]


def qbo_payments(stack, realm, qbo_invoice_id):
    return [p for p in stack.qbo_emulator.entities(realm, "Payment")
            if any(t.get("TxnId") == qbo_invoice_id for ln in p.get("Line", []) for t in ln.get("LinkedTxn", []))]


def revoke(stack, realm):
    for grant in stack.qbo_emulator.oauth.grants(realm_id=realm):
        requests.post(stack.qbo_emulator.revoke_url, json={"token": grant.refresh_token}, timeout=10,
                      auth=(DEFAULT_INTUIT_CLIENT_ID, DEFAULT_INTUIT_CLIENT_SECRET)).raise_for_status()


def lifecycle(tenant_id):
    """sent → updated (one more line) → partially paid → paid: the invoice's events in order."""
    sent = invoice_sent(tenant_id, lines=[line("Audit", 2, "150.00")])
    updated = invoice_updated(tenant_id, invoice=sent["data"],
                              lines=[*sent["data"]["lines"], line("Travel", 1, "80.00")])
    part = invoice_partially_paid(tenant_id, invoice=updated["data"], amount="100.00", payment={"id": "pay_a"})
    rest = invoice_paid(tenant_id, invoice=part["data"], payment={"id": "pay_b"})
    return [sent, updated, part, rest]


def test_after_a_needs_reauth_sent_the_follow_ups_wait_and_a_reconnect_applies_them_in_order(stack, send, wait):
    tenant_id = "loc_held"
    realm = connect(stack, tenant_id)
    events = lifecycle(tenant_id)
    doomed = invoice_sent(tenant_id, lines=[line("Retainer", 1, "500.00")])
    gone = invoice_deleted(tenant_id, invoice=doomed["data"])
    revoke(stack, realm)
    send(*events, doomed, gone)

    expected = [(events[0]["id"], "needs_reauth"), *[(e["id"], "invoice_sent_dead_lettered") for e in events[1:]]]
    wait(lambda: len(letters(stack, tenant_id)) == 6, timeout=60, message="every event on the DLQ")
    held = letters(stack, tenant_id)
    assert [letter for letter in held if letter[0] in {e["id"] for e in events}] == expected
    assert (gone["id"], "invoice_sent_dead_lettered") in held
    assert qbo_invoices(stack, realm, events[0]["data"]["id"]) == []

    # A redrive while the cause is not fixed changes nothing: everything is back on the DLQ, in order.
    from qbsync.sync.failures import redrive_failures

    assert redrive_failures(tenant_id, queues=[dlq(stack)], sqs=stack.aws_client("sqs")).redriven == 6
    wait(lambda: len(letters(stack, tenant_id)) == 6 and queue_depth(stack) == 0, timeout=60,
         message="all back on the DLQ")
    assert [letter for letter in letters(stack, tenant_id) if letter[0] in {e["id"] for e in events}] == expected
    assert qbo_invoices(stack, realm, events[0]["data"]["id"]) == []

    # The customer reconnects: qbsync redrives the needs_reauth sents, each releases what waits behind it.
    stack.qbo_emulator.set_consent(realm_id=realm)
    assert follow_to_callback(stack, connect_link(stack.api.url, tenant_id)).status_code == 302
    wait(lambda: letters(stack, tenant_id) == [] and queue_depth(stack) == 0, timeout=90,
         message="the DLQ emptied by itself")

    (invoice,) = qbo_invoices(stack, realm, events[0]["data"]["id"])
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("380.00")  # the update was applied
    assert Decimal(str(invoice["Balance"])) == Decimal("0")
    payments = qbo_payments(stack, realm, str(invoice["Id"]))
    assert sorted(Decimal(str(p["TotalAmt"])) for p in payments) == [Decimal("100.00"), Decimal("280.00")]
    assert qbo_invoices(stack, realm, doomed["data"]["id"]) == []  # created, then deleted, in that order
    accounting = stack.crm_emulator.invoice_accounting(tenant_id)
    assert accounting[events[0]["data"]["id"]]["status"] == "paid"
    assert accounting[doomed["data"]["id"]]["status"] == "deleted"


def test_a_sent_that_exhausts_its_retries_holds_its_follow_ups_until_it_is_redriven(stack, send, wait):
    from qbsync.sync.failures import redrive_failures

    tenant_id = "loc_exhausted"
    realm = connect(stack, tenant_id)
    sent, updated, *_ = lifecycle(tenant_id)
    stack.qbo_emulator.set_faults(error_rate_500=1.0, seed=3)
    try:
        send(sent, updated)
        wait(lambda: len(letters(stack, tenant_id)) == 2, timeout=180, message="both on the DLQ")
    finally:
        stack.qbo_emulator.set_faults(error_rate_500=0)
    assert letters(stack, tenant_id) == [(sent["id"], "max_receives_exceeded"),
                                         (updated["id"], "invoice_sent_dead_lettered")]

    # Only the sent is redriven (as an operator would, by its id); the update follows by itself.
    (sent_letter,) = peek(stack.aws_client("sqs"), [dlq(stack)],
                          select=lambda letter: letter.attribute("event_id") == sent["id"])
    redrive_failures(tenant_id, [sent_letter.message_id], queues=[dlq(stack)], sqs=stack.aws_client("sqs"))
    wait(lambda: letters(stack, tenant_id) == [] and queue_depth(stack) == 0, timeout=60,
         message="the update redriven by itself")
    (invoice,) = qbo_invoices(stack, realm, sent["data"]["id"])
    assert Decimal(str(invoice["TotalAmt"])) == Decimal("380.00")


def test_an_event_for_an_invoice_never_synced_and_never_held_is_still_skipped(stack, send, wait):
    tenant_id = "loc_unknown"
    realm = connect(stack, tenant_id)
    never_sent = invoice_updated(tenant_id, lines=[line("Draft work", 1, "10.00")])
    send(never_sent)
    wait(lambda: skipped(tenant_id, "invoice_not_synced") == 1, timeout=30, message="skipped")
    assert letters(stack, tenant_id) == []
    assert qbo_invoices(stack, realm, never_sent["data"]["id"]) == []
