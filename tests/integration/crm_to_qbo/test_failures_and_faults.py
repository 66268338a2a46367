"""Nothing lost, nothing twice (G1, G2): QBO faults are retried to exactly one object; permanent errors
go to the dead-letter queue at once with their reason while the next invoice goes through."""

from __future__ import annotations

from decimal import Decimal

import pytest
from connect_helpers import connect
from trace_probes import queue_depths

from crm_emulator.builders import invoice_deleted, invoice_paid, invoice_sent, line
from crm_emulator.webhooks import CrmWebhookSender
from qbsync.queues.dead_letter import REASON_CODE, REASON_DETAILS
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET
from qbsync_local.stack import LocalStack


@pytest.fixture(scope="module")
def stack(full_config):
    with LocalStack(full_config, start_schedules=False) as local:
        local.tenant_id = "loc_faults"
        local.realm = connect(local, local.tenant_id)
        yield local


@pytest.fixture
def send(stack):
    sender = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])
    return lambda event: sender.send(event)


def created_for(stack, crm_invoice_id):
    return [i for i in stack.qbo_emulator.entities(stack.realm, "Invoice")
            if f"crm_invoice_id={crm_invoice_id}]" in str(i.get("PrivateNote", ""))]


def dead_letters(stack):
    sqs = stack.aws_client("sqs")
    return sqs.receive_message(QueueUrl=stack.queue_url("CrmEventsDeadLetterQueue"), MaxNumberOfMessages=10,
                               MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])


def test_qbo_500s_429s_and_lost_answers_still_give_exactly_one_invoice_each(stack, send, wait):
    stack.qbo_emulator.set_faults(error_rate_500=0.2, error_rate_429=0.1, drop_answer_rate=0.15, seed=7)
    try:
        events = [invoice_sent(stack.tenant_id, lines=[line(f"Item {n}", 1, f"{10 + n}.00")]) for n in range(8)]
        for event in events:
            assert send(event).status_code == 202
        for event in events:
            wait(lambda: created_for(stack, event["data"]["id"]), timeout=60, message="each invoice")
        counters = stack.qbo_emulator.counters()
    finally:
        stack.qbo_emulator.set_faults(error_rate_500=0, error_rate_429=0, drop_answer_rate=0)
    assert counters["injected_500"] + counters["throttled_429"] + counters["dropped_answers"] > 0, counters
    for event in events:
        (invoice,) = created_for(stack, event["data"]["id"])
        assert Decimal(str(invoice["TotalAmt"])) == Decimal(event["data"]["totals"]["total"])
    # every customer was created once however often its create was retried
    emails = [(c.get("PrimaryEmailAddr") or {}).get("Address") for c in stack.qbo_emulator.entities(stack.realm, "Customer")]
    assert len(emails) == len(set(emails))


def test_a_permanent_error_dead_letters_with_its_reason_and_the_next_invoice_goes_through(stack, send, wait):
    bad = invoice_sent(stack.tenant_id, currency="EUR")  # this company has no multicurrency
    good = invoice_sent(stack.tenant_id)
    assert send(bad).status_code == 202
    assert send(good).status_code == 202
    wait(lambda: created_for(stack, good["data"]["id"]), message="the good invoice")
    dead = wait(lambda: [m for m in dead_letters(stack) if bad["id"] in m["Body"]], message="the bad one in the DLQ")
    attributes = dead[0]["MessageAttributes"]
    assert attributes[REASON_CODE]["StringValue"] == "currency_not_enabled"
    assert "EUR" in attributes[REASON_DETAILS]["StringValue"]
    assert created_for(stack, bad["data"]["id"]) == []
    # refused before anything was written: not even its customer was created
    emails = [(c.get("PrimaryEmailAddr") or {}).get("Address") for c in stack.qbo_emulator.entities(stack.realm, "Customer")]
    assert bad["data"]["customer"]["email"] not in emails


# ------------------------------------------------------------------ a status report that failed comes back
CRM_ATTEMPTS_PER_CALL = 5  # the worker's CRM client: the call and 4 retries


def poll_jobs_in_queue(stack) -> int:
    (depth,) = [depth for url, depth in queue_depths(stack).items() if url.endswith("-poll-jobs.fifo")]
    return depth


@pytest.fixture
def quiet_tenant(stack, request, wait):
    """A tenant of its own whose company sends no QBO webhooks: QBO's webhook (and the poll it starts) would
    repair the CRM a moment later, but it is late or lost at times, and a tenant polling hourly would wait an
    hour; the event's own report must not depend on it. The connect's backfill has finished (nothing else
    reports this company's invoices)."""
    stack.qbo_emulator.set_webhooks(auto=False)
    tenant_id = f"loc_report_{request.node.callspec.id}"
    realm = connect(stack, tenant_id)
    wait(lambda: poll_jobs_in_queue(stack) == 0, message="the connect's backfill")
    yield tenant_id, realm
    stack.qbo_emulator.set_webhooks(auto=True)


@pytest.mark.parametrize("step", ["sent", "paid", "deleted"])
def test_a_status_report_the_crm_refused_is_sent_when_the_event_comes_back(stack, send, wait, quiet_tenant, step):
    """The CRM answers 503 to every attempt of the report that follows the QBO write: the event fails after
    its change was applied and recorded. Its retry finds the change applied, and must still send the report,
    or the CRM stays a step behind QBO for good (the chaos run's one wrong invoice)."""
    tenant_id, realm = quiet_tenant

    def report():
        return stack.crm_emulator.invoice_accounting(tenant_id).get(crm_id)

    def qbo_invoices():
        return [i for i in stack.qbo_emulator.entities(realm, "Invoice")
                if f"crm_invoice_id={crm_id}]" in str(i.get("PrivateNote", ""))]

    sent = invoice_sent(tenant_id, lines=[line("Audit", 1, "250.00")])
    crm_id = sent["data"]["id"]
    if step != "sent":
        assert send(sent).status_code == 202
        wait(report, message="the invoice's first report")
    faults_before = stack.crm_emulator.counters()["faults"]
    stack.crm_emulator.set_faults(status=503, count=CRM_ATTEMPTS_PER_CALL, retry_after=0)
    event = {"sent": lambda: sent, "paid": lambda: invoice_paid(tenant_id, invoice=sent["data"]),
             "deleted": lambda: invoice_deleted(tenant_id, invoice=sent["data"])}[step]()
    assert send(event).status_code == 202
    expected = {"sent": "open", "paid": "paid", "deleted": "deleted"}[step]
    reported = wait(lambda: (r := report()) and r["status"] == expected and r, timeout=60,
                    message=f"the {expected} report, on the retry")
    assert stack.crm_emulator.counters()["faults"] - faults_before == CRM_ATTEMPTS_PER_CALL
    if step == "deleted":
        assert qbo_invoices() == []
        return
    (invoice,) = qbo_invoices()  # one invoice, however often the event ran
    assert reported["qbo_invoice_id"] == str(invoice["Id"])
    if step == "paid":
        assert Decimal(reported["balance"]) == 0 and Decimal(reported["amount_paid"]) == Decimal("250.00")
        payments = [p for p in stack.qbo_emulator.entities(realm, "Payment")
                    if any(link.get("TxnId") == str(invoice["Id"])
                           for pay_line in p.get("Line", []) for link in pay_line.get("LinkedTxn", []))]
        assert len(payments) == 1  # the retry made no second payment
