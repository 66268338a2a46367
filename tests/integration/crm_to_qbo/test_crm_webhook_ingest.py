"""POST /webhooks/crm on the local stack (issue 5 §1): signature, parsing, dedupe, durable enqueue, 202.
The queue runners are off here, so what was enqueued stays on the queue to be inspected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from connect_helpers import connect
from ingest_helpers import ingest_directly, missing_queue_url

from crm_emulator.builders import invoice_sent, payment_succeeded
from crm_emulator.webhooks import CrmWebhookSender
from qbsync.queues.publisher import FifoPublisher
from qbsync.repositories.webhook_dedupe import WebhookDeduplicator, marker_id
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


# --- repeats, overlaps and failures: claim the webhook id, then enqueue -------------------------------------------


def marker(stack, webhook_id):
    return stack.aws_client("dynamodb").get_item(
        TableName=stack.deployed.physical_ids["IdempotencyTable"], ConsistentRead=True,
        Key={"id": {"S": marker_id(TENANT, webhook_id)}}).get("Item")


def test_concurrent_deliveries_of_one_webhook_are_one_accepted_the_rest_duplicate_one_message(sender, drain, stack):
    # Given 8 deliveries of one webhook that overlap: none of them answers before all are on the queue (the
    # overlap Powertools idempotency answered with 409 duplicate_in_progress)
    deliveries = 8
    webhook = sender.prepare(invoice_sent(TENANT))
    all_enqueued = threading.Barrier(deliveries, timeout=60)
    queue = FifoPublisher(queue_url=stack.queue_url("CrmEventsQueue"))

    class EnqueueThenWaitForTheOthers:
        def publish(self, *args, **kwargs):
            message_id = queue.publish(*args, **kwargs)
            all_enqueued.wait()
            return message_id

    # When they run at once
    with ThreadPoolExecutor(deliveries) as pool:
        outcomes = list(pool.map(lambda _: ingest_directly(webhook, queue=EnqueueThenWaitForTheOthers()),
                                 range(deliveries)))
    # Then exactly one is accepted, the others are acknowledged as duplicates, and the queue holds one message
    assert sorted(outcome.status for outcome in outcomes) == ["accepted"] + ["duplicate"] * (deliveries - 1)
    assert {outcome.http_status for outcome in outcomes} == {200, 202}
    assert len(drain()) == 1


def test_deliveries_of_one_webhook_sent_at_once_over_http_are_one_202_and_200_duplicates(sender, drain):
    event = invoice_sent(TENANT)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: sender.send(event), range(6)))
    assert sorted(answer.status_code for answer in answers) == [200] * 5 + [202], [a.text for a in answers]
    assert sorted(answer.json()["status"] for answer in answers) == ["accepted"] + ["duplicate"] * 5
    assert len(drain()) == 1


def test_a_failed_enqueue_marks_nothing_and_the_crm_retry_is_accepted(sender, drain, stack):
    event = invoice_sent(TENANT)
    # the first delivery cannot reach the queue: an error, which the handler answers with a 5xx
    with pytest.raises(ClientError):
        ingest_directly(sender.prepare(event),
                        queue=FifoPublisher(queue_url=missing_queue_url(stack.queue_url("CrmEventsQueue"))))
    assert marker(stack, event["id"]) is None
    # the CRM's retry of the same webhook is a first delivery
    retry = sender.send(event)
    assert retry.status_code == 202, retry.text
    assert marker(stack, event["id"]) is not None
    assert len(drain()) == 1


def test_a_failed_claim_enqueues_nothing_and_the_crm_retry_is_accepted(sender, drain, stack):
    event = invoice_sent(TENANT)
    # the first delivery cannot claim its webhook id: an error, so the CRM retries
    with pytest.raises(ClientError):
        ingest_directly(sender.prepare(event), deduplicate=WebhookDeduplicator(table_name="qbsync-no-such-table"))
    assert drain() == []
    retry = sender.send(event)
    assert retry.status_code == 202, retry.text
    (message,) = drain()
    assert json.loads(message["Body"])["event_id"] == event["id"]


def test_a_claim_whose_enqueue_never_happened_is_enqueued_by_the_retry(sender, drain, stack):
    # Given a delivery that claimed its webhook id and died before enqueueing (nothing gave the claim back)
    from qbsync.composition import webhook_deduplicator

    event = invoice_sent(TENANT)
    webhook = sender.prepare(event)
    assert webhook_deduplicator().claim(TENANT, webhook.headers["webhook-id"], event_id=event["id"],
                                        now=datetime.now(UTC)) is None
    # When the CRM retries: acknowledged as a duplicate, and the event is on the queue all the same
    retry = sender.send(event)
    assert retry.status_code == 200 and retry.json()["status"] == "duplicate", retry.text
    (message,) = drain()
    assert json.loads(message["Body"])["event_id"] == event["id"]


def test_a_webhook_id_reused_for_another_event_is_acknowledged_and_ignored(sender, drain, stack):
    # SPEC: "a repeated webhook-id is acknowledged and ignored" - whatever the body says
    first, other = invoice_sent(TENANT), invoice_sent(TENANT)
    assert sender.send(first, webhook_id="msg_reused_1").status_code == 202
    answer = sender.send(other, webhook_id="msg_reused_1")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "duplicate", "event_id": other["id"], "reason": "webhook_id_already_received"}
    assert [json.loads(m["Body"])["event_id"] for m in drain()] == [first["id"]]
