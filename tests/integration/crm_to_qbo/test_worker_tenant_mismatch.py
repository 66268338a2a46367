"""The CRM event worker never applies an envelope whose tenant is not the queue message's: such a message
(which `POST /webhooks/crm` never makes, but a bug or a hand-edited redrive could) goes to the DLQ at once as
a permanent error with reason `tenant_mismatch`, and nothing reaches either tenant's QBO company."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from connect_helpers import connect
from management_helpers import qbo_invoices_for, sender

from crm_emulator.builders import invoice_sent
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.queues.dead_letter import REASON_CODE
from qbsync.queues.publisher import FifoPublisher
from qbsync.utils.jsonio import dumps

VICTIM, OTHER = "loc_mismatch_victim", "loc_mismatch_other"


@pytest.fixture(scope="module")
def realms(full_stack):
    full_stack.qbo_emulator.set_webhooks(False)
    return connect(full_stack, VICTIM), connect(full_stack, OTHER)


def dead_letters(stack):
    return stack.aws_client("sqs").receive_message(
        QueueUrl=stack.queue_url("CrmEventsDeadLetterQueue"), MaxNumberOfMessages=10,
        MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])


def test_an_envelope_of_another_tenant_is_dead_lettered_with_tenant_mismatch_and_never_applied(
        full_stack, realms, wait):
    victim_realm, other_realm = realms
    # Given a message queued for one tenant (and its company) carrying another tenant's signed envelope
    event = invoice_sent(OTHER)
    message = CrmEventMessage(tenant_id=VICTIM, realm_id=victim_realm, event_id=event["id"],
                              event_type=event["type"], webhook_id="msg_forged", received_at=datetime.now(UTC),
                              envelope=dumps(event))
    queue = FifoPublisher(queue_url=full_stack.queue_url("CrmEventsQueue"), sqs=full_stack.aws_client("sqs"))

    # When the worker takes it from the queue
    queue.publish(message, group_id=f"{VICTIM}#{event['data']['id']}", deduplication_id=f"forged-{event['id']}",
                  attributes={"tenant_id": VICTIM, "event_type": event["type"], "event_id": event["id"]})

    # Then it is dead-lettered with its reason, at once
    (dead,) = wait(lambda: [m for m in dead_letters(full_stack) if event["id"] in m["Body"]], timeout=30,
                   message="the forged message in the DLQ")
    assert dead["MessageAttributes"][REASON_CODE]["StringValue"] == "tenant_mismatch"
    # and neither company got the invoice (nor its customer)
    for realm in (victim_realm, other_realm):
        assert qbo_invoices_for(full_stack, realm, event["data"]["id"]) == []
        assert full_stack.qbo_emulator.entities(realm, "Customer") == []

    # While the same event, arriving the normal way for its own tenant, is applied
    sender(full_stack)(event)
    wait(lambda: qbo_invoices_for(full_stack, other_realm, event["data"]["id"]), timeout=60,
         message="the genuine event applied")
