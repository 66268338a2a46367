"""`GET /tenants/{t}/failures` and `POST /tenants/{t}/failures/redrive` (SPEC F21) end to end: events that
failed for a permanent cause are listed with their reason, for their own tenant only; after the cause is
fixed a redrive applies each of them exactly once, and redriving again has no second effect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from connect_helpers import connect
from management_helpers import Api, qbo_invoices_for, queue_depth, sender

from crm_emulator.builders import invoice_sent, line, tax
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.queues.dead_letter import DeadLetterPublisher, DeadLetterReason
from qbsync.utils.jsonio import dumps

TENANT = "loc_redrive"  # a Canadian company: taxed lines need the tenant's tax_codes (F15)
OTHER = "loc_redrive_other"


@pytest.fixture(scope="module")
def realms(full_stack):
    full_stack.qbo_emulator.set_webhooks(False)  # no poll jobs: only CRM events in this module
    return connect(full_stack, TENANT, country="CA"), connect(full_stack, OTHER)


@pytest.fixture
def api(full_stack, realms):
    return Api(full_stack)


@pytest.fixture
def send(full_stack):
    return sender(full_stack)


def taxed_event(tax_name="GST", rate="5"):
    return invoice_sent(TENANT, currency="CAD", lines=[line("Widget", 2, "100.00", taxes=[tax(tax_name, rate)])])


def failures(api, tenant=TENANT):
    answer = api.get(f"/tenants/{tenant}/failures")
    assert answer.status_code == 200, answer.text
    return answer.json()["failures"]


def failure_of(api, event, tenant=TENANT):
    return next((f for f in failures(api, tenant) if f["event_id"] == event["id"]), None)


def map_tax(full_stack, api, realm, **names):
    """PUT the tenant's tax_codes: CRM tax name → the QBO TaxCode of that name."""
    codes = {c["Name"]: str(c["Id"]) for c in full_stack.qbo_emulator.entities(realm, "TaxCode")}
    document = api.get(f"/tenants/{TENANT}/settings")
    tax_codes = {**document.json()["tax_codes"], **{crm: codes[qbo] for crm, qbo in names.items()}}
    answer = api.put(f"/tenants/{TENANT}/settings", json={**document.json(), "tax_codes": tax_codes},
                     headers={"If-Match": document.headers["ETag"]})
    assert answer.status_code == 200, answer.text


def settle(stack, wait):
    wait(lambda: queue_depth(stack, "CrmEventsQueue") == 0, timeout=60, message="the CRM events queue to drain")


def test_failures_lists_only_the_tenants_own_with_their_reasons(full_stack, realms, api, send, wait):
    mine, theirs = taxed_event(), invoice_sent(OTHER, currency="EUR")
    send(mine)
    send(theirs)
    listed = wait(lambda: failure_of(api, mine), timeout=60, message="the tenant's dead letter")
    wait(lambda: failure_of(api, theirs, OTHER), timeout=60, message="the other tenant's dead letter")

    assert listed["queue"] == "crm_events" and listed["type"] == "invoice.sent"
    assert listed["realm_id"] == realms[0]
    assert listed["reason"]["code"] == "tax_code_unmapped"
    assert "GST" in listed["reason"]["message"] and listed["reason"]["details"]["tax"] == "GST"
    assert listed["message_id"] != listed["original_message_id"]  # dead-lettered by the worker, with a reason
    assert datetime.fromisoformat(listed["failed_at"]) <= datetime.now(UTC)
    assert theirs["id"] not in {f["event_id"] for f in failures(api)}
    assert mine["id"] not in {f["event_id"] for f in failures(api, OTHER)}
    # listing takes nothing off the queues
    assert failure_of(api, mine) == listed


def test_a_message_sqs_moved_itself_is_listed_as_max_receives_exceeded(full_stack, realms, api):
    event = invoice_sent(OTHER)
    sqs = full_stack.aws_client("sqs")
    message = CrmEventMessage(tenant_id=OTHER, realm_id=realms[1], event_id=event["id"], event_type=event["type"],
                              webhook_id="msg_test", received_at=datetime.now(UTC), envelope=dumps(event))
    # What SQS leaves after maxReceiveCount: the producer's attributes and group, no qbsync-reason-*
    sent = sqs.send_message(QueueUrl=full_stack.queue_url("CrmEventsDeadLetterQueue"),
                            MessageBody=message.model_dump_json(), MessageGroupId=f"{OTHER}#invoice#x",
                            MessageDeduplicationId=event["id"],
                            MessageAttributes={"tenant_id": {"DataType": "String", "StringValue": OTHER},
                                               "event_type": {"DataType": "String", "StringValue": "invoice.sent"},
                                               "event_id": {"DataType": "String", "StringValue": event["id"]}})
    listed = failure_of(api, event, OTHER)
    assert listed["message_id"] == listed["original_message_id"] == sent["MessageId"]
    assert listed["reason"]["code"] == "max_receives_exceeded"
    # it is a valid event: redriving it applies it
    answer = api.post(f"/tenants/{OTHER}/failures/redrive", json={"message_ids": [sent["MessageId"]]})
    assert answer.json() == {"redriven": 1, "not_found": [], "failed": []}


def test_redrive_after_fixing_the_cause_applies_once_and_again_changes_nothing(full_stack, realms, api, send,
                                                                               wait):
    realm = realms[0]
    event = taxed_event()
    send(event)
    dead = wait(lambda: failure_of(api, event), timeout=60, message="the dead letter")
    theirs_before = failures(api, OTHER)

    # Before the fix, a dry run of the stored event says why it would fail again
    replay = api.post(f"/tenants/{TENANT}/sync?dry_run=true", json={"message_id": dead["message_id"]}).json()
    assert replay["outcome"]["status"] == "failed" and replay["outcome"]["reason"] == "tax_code_unmapped"

    # When the cause is fixed (GST mapped to QBO's GST code), the dry run shows the invoice it would create
    map_tax(full_stack, api, realm, GST="GST")
    replay = api.post(f"/tenants/{TENANT}/sync?dry_run=true", json={"message_id": dead["original_message_id"]}).json()
    assert replay["outcome"]["status"] == "applied"
    assert [(w["operation"], w["entity"]) for w in replay["qbo_writes"]][-1] == ("create", "Invoice")
    assert qbo_invoices_for(full_stack, realm, event["data"]["id"]) == []  # the dry run wrote nothing

    # And a redrive of every failure of the tenant applies each once
    mine = failures(api)
    answer = api.post(f"/tenants/{TENANT}/failures/redrive", json={})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"redriven": len(mine), "not_found": [], "failed": []}
    (invoice,) = wait(lambda: qbo_invoices_for(full_stack, realm, event["data"]["id"]), timeout=60)
    settle(full_stack, wait)
    assert failures(api) == []
    # the other tenant's dead letters were not touched, and are visible at once
    assert failures(api, OTHER) == theirs_before

    # A second redrive of the same message: it is no longer there, so nothing happens
    again = api.post(f"/tenants/{TENANT}/failures/redrive", json={"message_ids": [dead["message_id"]]})
    assert again.status_code == 404 and again.json()["error"]["code"] == "failures_not_found"
    assert api.post(f"/tenants/{TENANT}/failures/redrive", json={}).json()["redriven"] == 0
    settle(full_stack, wait)
    assert qbo_invoices_for(full_stack, realm, event["data"]["id"]) == [invoice]


def test_a_message_sent_back_twice_is_applied_once(full_stack, realms, api, send, wait):
    """The delete after a redrive fails (or the process dies after the send): the message is still on the
    DLQ and is redriven again. The worker's business-key idempotency makes the second copy a no-op."""
    from qbsync.composition import dead_letter_queues
    from qbsync.queues import redrive as sqs_redrive

    realm = realms[0]
    event = taxed_event("HST ON", "13")
    send(event)
    dead = wait(lambda: failure_of(api, event), timeout=60, message="the dead letter")
    map_tax(full_stack, api, realm, **{"HST ON": "HST ON"})

    class DeleteFails:
        def __init__(self, sqs):
            self._sqs = sqs

        def delete_message(self, **_):
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "DeleteMessage")

        def __getattr__(self, name):
            return getattr(self._sqs, name)

    report = sqs_redrive.redrive(DeleteFails(full_stack.aws_client("sqs")), dead_letter_queues(),
                                 select=sqs_redrive.with_any_id([dead["message_id"]]))
    assert [letter.message_id for letter in report.not_deleted] == [dead["message_id"]]
    wait(lambda: qbo_invoices_for(full_stack, realm, event["data"]["id"]), timeout=60, message="applied")
    settle(full_stack, wait)
    assert failure_of(api, event)["message_id"] == dead["message_id"]  # still on the DLQ

    skipped_before = api.get(f"/tenants/{TENANT}/status").json()["counts"]["invoices"]["skipped"]
    answer = api.post(f"/tenants/{TENANT}/failures/redrive", json={"message_ids": [dead["message_id"]]})
    assert answer.json() == {"redriven": 1, "not_found": [], "failed": []}
    wait(lambda: api.get(f"/tenants/{TENANT}/status").json()["counts"]["invoices"]["skipped"] > skipped_before,
         timeout=60, message="the second copy to be skipped")
    invoices = qbo_invoices_for(full_stack, realm, event["data"]["id"])
    assert len(invoices) == 1
    status = api.get(f"/tenants/{TENANT}/status").json()
    assert status["counts"]["invoices"]["skipped_by_reason"].get("already_synced", 0) >= 1
    assert failure_of(api, event) is None


def test_redrive_refuses_unknown_ids_and_bad_bodies_and_changes_nothing(full_stack, realms, api, send, wait):
    theirs = invoice_sent(OTHER, currency="EUR")
    send(theirs)
    their_failure = wait(lambda: failure_of(api, theirs, OTHER), timeout=60, message="a dead letter")
    mine_before, theirs_before = failures(api), failures(api, OTHER)

    # unknown ids, and another tenant's id (never admitted to exist): 404
    for ids in (["no-such-id"], ["no-such-id", "another"], [their_failure["message_id"]]):
        answer = api.post(f"/tenants/{TENANT}/failures/redrive", json={"message_ids": ids})
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "failures_not_found"
        assert answer.json()["error"]["details"]["not_found"] == ids
    # malformed bodies: 422 naming the field, or 400
    for body, field in (({"message_ids": []}, "message_ids"), ({"message_ids": "abc"}, "message_ids"),
                        ({"ids": ["x"]}, "ids"), ({"message_ids": [1]}, "message_ids[0]")):
        answer = api.post(f"/tenants/{TENANT}/failures/redrive", json=body)
        assert answer.status_code == 422, answer.text
        assert field in {f["field"] for f in answer.json()["error"]["details"]["fields"]}
    assert api.post(f"/tenants/{TENANT}/failures/redrive", data="nope",
                    headers={"Content-Type": "application/json"}).status_code == 400
    # unknown tenant, no key
    assert api.post("/tenants/loc_nobody/failures/redrive", json={}).status_code == 404
    assert api.get("/tenants/loc_nobody/failures").status_code == 404
    assert Api(full_stack, headers={}).post(f"/tenants/{OTHER}/failures/redrive", json={}).status_code == 401
    assert Api(full_stack, headers={}).get(f"/tenants/{OTHER}/failures").status_code == 401

    # another tenant's company, named in ?realm_id=: neither polled nor dry-run read
    for path, body in ((f"/tenants/{TENANT}/sync?realm_id={realms[1]}", None),
                       (f"/tenants/{TENANT}/sync?dry_run=true&realm_id={realms[1]}", {"event": taxed_event()})):
        answer = api.post(path, json=body) if body else api.post(path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "connection_not_found", answer.text

    assert failures(api) == mine_before and failures(api, OTHER) == theirs_before


def test_some_named_ids_unknown_redrives_the_rest_and_names_the_unknown(full_stack, realms, api, send, wait):
    event = invoice_sent(OTHER, currency="EUR")
    send(event)
    dead = wait(lambda: failure_of(api, event, OTHER), timeout=60, message="a dead letter")
    answer = api.post(f"/tenants/{OTHER}/failures/redrive", json={"message_ids": [dead["message_id"], "nope"]})
    assert answer.status_code == 200
    assert answer.json() == {"redriven": 1, "not_found": ["nope"], "failed": []}
    # the cause is not fixed: it fails again, and is back on the DLQ with the same reason
    again = wait(lambda: failure_of(api, event, OTHER), timeout=60, message="dead-lettered again")
    assert again["reason"]["code"] == "currency_not_enabled" and again["message_id"] != dead["message_id"]


def test_redrive_for_reason_puts_back_only_the_events_that_waited_for_that_cause(full_stack, realms, api, wait):
    """What the lead calls after a reconnect: `redrive_for_reason(tenant, "needs_reauth")`."""
    from qbsync.composition import dead_letter_queues
    from qbsync.sync.failures import redrive_for_reason

    realm = realms[1]
    sqs = full_stack.aws_client("sqs")
    publisher = DeadLetterPublisher(dlq_url=full_stack.queue_url("CrmEventsDeadLetterQueue"),
                                    source_queue="crm_events", sqs=sqs)
    planted = {}
    for reason in ("needs_reauth", "something_else"):
        event = invoice_sent(OTHER)
        message = CrmEventMessage(tenant_id=OTHER, realm_id=realm, event_id=event["id"], event_type=event["type"],
                                  webhook_id=f"msg_{reason}", received_at=datetime.now(UTC), envelope=dumps(event))
        publisher.publish(body=message.model_dump_json(), message_id=f"src-{event['id']}",
                          group_id=f"{OTHER}#invoice#{event['data']['id']}",
                          attributes={"tenant_id": {"DataType": "String", "StringValue": OTHER},
                                      "event_type": {"DataType": "String", "StringValue": event["type"]},
                                      "event_id": {"DataType": "String", "StringValue": event["id"]}},
                          reason=DeadLetterReason(code=reason, message="planted"))
        planted[reason] = event
    assert redrive_for_reason(TENANT, "needs_reauth") == 0  # another tenant's are never touched

    assert redrive_for_reason(OTHER, "needs_reauth", realm_id=realm, queues=dead_letter_queues(), sqs=sqs) == 1

    wait(lambda: qbo_invoices_for(full_stack, realm, planted["needs_reauth"]["data"]["id"]), timeout=60)
    assert failure_of(api, planted["needs_reauth"], OTHER) is None
    assert failure_of(api, planted["something_else"], OTHER)["reason"]["code"] == "something_else"
