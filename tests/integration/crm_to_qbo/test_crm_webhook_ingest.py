"""POST /webhooks/crm on the local stack (issue 5 §1): signature, parsing, dedupe, durable enqueue, 202.
The queue runners are off here, so what was enqueued stays on the queue to be inspected."""

from __future__ import annotations

import json

import pytest
from connect_helpers import connect

from crm_emulator.builders import invoice_sent, payment_succeeded
from crm_emulator.webhooks import CrmWebhookSender
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET
from qbsync_local.stack import LocalStack

TENANT = "loc_ingest"


@pytest.fixture(scope="module")
def stack(full_config):
    with LocalStack(full_config, start_queue_runners=False, start_schedules=False) as local:
        local.realm = connect(local, TENANT)
        yield local


@pytest.fixture
def sender(stack):
    return CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])


@pytest.fixture
def drain(stack):
    """Read (and delete) everything on the CRM events queue."""
    sqs = stack.aws_client("sqs")
    url = stack.queue_url("CrmEventsQueue")

    def read():
        messages = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                           MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages"):
            messages.extend(batch)
            for message in batch:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    read()
    return read


def test_signed_event_is_enqueued_once_grouped_by_invoice(sender, drain, stack):
    event = invoice_sent(TENANT)
    first = sender.send(event)
    assert first.status_code == 202, first.text
    assert first.json() == {"status": "accepted", "event_id": event["id"]}
    again = sender.send(event)  # the CRM retried the same delivery
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"

    (message,) = drain()
    body = json.loads(message["Body"])
    assert body["tenant_id"] == TENANT and body["realm_id"] == stack.realm
    assert body["event_id"] == event["id"] and body["event_type"] == "invoice.sent"
    assert json.loads(body["envelope"]) == json.loads(json.dumps(event))
    assert message["Attributes"]["MessageGroupId"] == f"{TENANT}#invoice#{event['data']['id']}"
    assert message["MessageAttributes"]["tenant_id"]["StringValue"] == TENANT


def test_payment_events_are_grouped_by_payment(sender, drain):
    event = payment_succeeded(TENANT, source="order_form")
    assert sender.send(event).status_code == 202
    (message,) = drain()
    assert message["Attributes"]["MessageGroupId"] == f"{TENANT}#payment#{event['data']['id']}"


@pytest.mark.parametrize("options, code", [
    ({"signed": False}, "missing_signature_headers"),
    ({"bad_signature": True}, "invalid_signature"),
    ({"skew_seconds": -360}, "timestamp_out_of_tolerance"),
    ({"skew_seconds": 360}, "timestamp_out_of_tolerance"),
    ({"omit_headers": ["webhook-signature"]}, "missing_signature_headers"),
])
def test_unsigned_or_badly_signed_is_401_and_enqueues_nothing(sender, drain, options, code):
    response = sender.send(invoice_sent(TENANT), **options)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert drain() == []


def test_rotation_accepts_any_configured_secret_and_several_signatures(sender, drain):
    assert sender.send(invoice_sent(TENANT), secret_index=None).status_code == 202
    assert len(drain()) == 1


def test_oversized_body_is_413(sender, drain):
    event = invoice_sent(TENANT)
    event["data"]["message"] = "x" * (256 * 1024)
    response = sender.send(event)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert drain() == []


def test_malformed_json_and_wrong_shapes_are_400_naming_the_field(sender, drain):
    broken = sender.send(None, body=b'{"id": "evt_1", "type": "invoice.sent",')
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed_json"
    event = invoice_sent(TENANT)
    event["data"]["lines"][0]["quantity"] = "lots"
    wrong = sender.send(event)
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"]["field"] == "data.lines.0.quantity"
    assert drain() == []


def test_unknown_type_is_acknowledged_and_ignored(sender, drain):
    response = sender.send({"id": "evt_future", "type": "invoice.archived", "tenant_id": TENANT, "data": {}})
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "event_id": "evt_future", "reason": "unknown_event_type"}
    assert drain() == []


def test_tenant_without_connection_is_acknowledged_and_ignored(sender, drain):
    response = sender.send(invoice_sent("loc_nobody"))
    assert response.status_code == 200
    assert response.json()["reason"] == "tenant_not_connected"
    named_realm = sender.send(invoice_sent(TENANT, realm_id="4620816365"))
    assert named_realm.status_code == 200 and named_realm.json()["reason"] == "realm_not_connected"
    assert drain() == []
