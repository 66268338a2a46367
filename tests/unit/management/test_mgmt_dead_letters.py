"""Reading a dead letter (reason, ids, tenant) and what a redrive sends back, without SQS."""

from __future__ import annotations

from datetime import UTC, datetime

from qbsync.queues.dead_letter import FAILED_AT, ORIGINAL_MESSAGE_ID, REASON_CODE, REASON_DETAILS, REASON_MESSAGE, SOURCE_QUEUE
from qbsync.queues.redrive import DeadLetter, all_of, in_realm, of_tenant, redrive_deduplication_id, with_any_id, with_reason
from qbsync.sync.failures import as_failure


def attribute(value):
    return {"DataType": "String", "StringValue": value}


def letter(*, reason=True, tenant="loc_1", body='{"tenant_id": "loc_1", "realm_id": "42", "event_id": "evt_1"}'):
    attributes = {"tenant_id": attribute(tenant), "event_type": attribute("invoice.sent"),
                  "event_id": attribute("evt_1")}
    if reason:
        attributes.update({REASON_CODE: attribute("tax_code_unmapped"), REASON_MESSAGE: attribute("no code"),
                           REASON_DETAILS: attribute('{"qbo_code": "6000", "intuit_tid": "1-abc", "tax": "GST"}'),
                           FAILED_AT: attribute("2026-11-23T10:00:00+00:00"), SOURCE_QUEUE: attribute("crm_events"),
                           ORIGINAL_MESSAGE_ID: attribute("src-1")})
    return DeadLetter(queue="crm_events", message_id="dlq-1", body=body, group_id="loc_1#invoice#inv_1",
                      attributes=attributes, sent_at=datetime(2026, 11, 23, 9, tzinfo=UTC), receipt_handle="h")


def test_a_dead_letter_with_our_reason():
    failure = as_failure(letter())
    assert failure.message_id == "dlq-1" and failure.original_message_id == "src-1"
    assert (failure.queue, failure.type, failure.event_id, failure.realm_id) == ("crm_events", "invoice.sent", "evt_1", "42")
    assert failure.reason.code == "tax_code_unmapped" and failure.reason.message == "no code"
    assert (failure.reason.qbo_code, failure.reason.intuit_tid) == ("6000", "1-abc")
    assert failure.failed_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_a_message_sqs_moved_after_max_receives():
    failure = as_failure(letter(reason=False))
    assert failure.reason.code == "max_receives_exceeded"
    assert failure.original_message_id == failure.message_id == "dlq-1"
    assert failure.failed_at == datetime(2026, 11, 23, 9, tzinfo=UTC)  # the message's own timestamp


def test_redrive_sends_the_producer_attributes_only_with_a_stable_deduplication_id():
    dead = letter()
    assert set(dead.producer_attributes()) == {"tenant_id", "event_type", "event_id"}
    assert redrive_deduplication_id(dead) == "redrive-src-1" == redrive_deduplication_id(letter())
    assert redrive_deduplication_id(letter(reason=False)) == "redrive-dlq-1"


def test_selectors():
    dead = letter()
    assert of_tenant("loc_1")(dead) and not of_tenant("loc_2")(dead)
    assert of_tenant("loc_1")(letter(tenant=None))  # attribute missing: the body names the tenant
    assert with_any_id(["src-1"])(dead) and with_any_id(["dlq-1"])(dead) and not with_any_id(["x"])(dead)
    assert with_reason("tax_code_unmapped")(dead) and not with_reason("needs_reauth")(dead)
    assert in_realm("42")(dead) and not in_realm("43")(dead)
    assert all_of(of_tenant("loc_1"), in_realm("42"))(dead) and not all_of(of_tenant("loc_1"), in_realm("1"))(dead)


def test_the_tenant_comes_from_the_body_when_the_attribute_is_missing():
    dead = DeadLetter(queue="poll_jobs", message_id="m", body='{"tenant_id": "loc_9", "realm_id": "7"}',
                      group_id="loc_9", attributes={}, sent_at=None, receipt_handle="h")
    assert dead.tenant_id == "loc_9"
    assert as_failure(dead).type == "poll_job"
