"""`POST /tenants/{t}/sync?dry_run=true` (SPEC F19): shows the writes a sync would make and makes none - the
QBO and CRM emulators and our tables are the same before and after - yet the payloads are the ones a real
run then writes. Also: `POST /sync` without dry_run queues a poll job."""

from __future__ import annotations

from decimal import Decimal

import pytest
from connect_helpers import connect
from management_helpers import Api, qbo_invoices_for, queue_depth, sender, world
from waiting import wait_until

from crm_emulator.builders import customer, invoice_partially_paid, invoice_sent, line

TENANT = "loc_dryrun"
SYNC = f"/tenants/{TENANT}/sync"


@pytest.fixture(scope="module")
def realm(full_stack):
    # No QBO webhooks in this module: the poll jobs they start would write to the CRM at any moment, and
    # these tests compare snapshots of everything before and after a dry run.
    full_stack.qbo_emulator.set_webhooks(False)
    return connect(full_stack, TENANT)


@pytest.fixture
def api(full_stack, realm):
    return Api(full_stack)


@pytest.fixture(scope="module")
def synced(full_stack, realm):
    """A first invoice applied for real, so its customer and items exist in QBO and are paired."""
    buyer = customer()
    first = invoice_sent(TENANT, customer=buyer, lines=[line("Consulting", 2, "150.00"), line("Setup", 1, "49.99")])
    sender(full_stack)(first)
    wait_until(lambda: qbo_invoices_for(full_stack, realm, first["data"]["id"]), timeout=60)
    # the CRM has heard about it too: nothing in flight any more
    wait_until(lambda: full_stack.crm_emulator.invoice_accounting(TENANT).get(first["data"]["id"]), timeout=30)
    return buyer, first


def assert_holds(stored, planned, path="body"):
    """`stored` (what QBO keeps) has every value of `planned` (what the dry run said it would send)."""
    if isinstance(planned, dict):
        assert isinstance(stored, dict), path
        for key, value in planned.items():
            assert key in stored, f"{path}.{key} missing"
            assert_holds(stored[key], value, f"{path}.{key}")
    elif isinstance(planned, list):
        assert isinstance(stored, list) and len(stored) == len(planned), path
        for index, (kept, sent) in enumerate(zip(stored, planned)):
            assert_holds(kept, sent, f"{path}[{index}]")
    elif isinstance(planned, str) and not isinstance(stored, str):
        assert Decimal(planned) == Decimal(str(stored)), path  # money: a string in our answer, a number in QBO
    else:
        assert stored == planned, path


def quiet(stack, realm, wait):
    """Nothing in flight: the queues are empty and two snapshots a moment apart agree."""
    previous = {}

    def settled():
        nonlocal previous
        if queue_depth(stack, "CrmEventsQueue") or queue_depth(stack, "PollJobsQueue"):
            return False
        current = world(stack, [realm])
        same = current == previous
        previous = current
        return same

    wait(settled, timeout=30, interval=0.5, message="the stack to be quiet")
    return previous


def test_dry_run_of_an_event_writes_nothing_yet_shows_exactly_what_the_real_run_writes(full_stack, realm, synced,
                                                                                        api, wait):
    buyer, _ = synced
    event = invoice_sent(TENANT, customer=buyer, lines=[line("Consulting", 3, "150.00"), line("Setup", 1, "49.99")])
    before = quiet(full_stack, realm, wait)

    answer = api.post(f"{SYNC}?dry_run=true", json={"event": event})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["dry_run"] is True and body["event_id"] == event["id"]
    assert body["outcome"] == {"status": "applied", "object_type": "invoices", "reason": None, "error": None}
    # Nothing was written anywhere: QBO objects and write calls, CRM calls and records, our tables
    assert world(full_stack, [realm]) == before
    # It would write one invoice (customer and items already exist and are paired) ...
    (create,) = body["qbo_writes"]
    assert (create["operation"], create["entity"]) == ("create", "Invoice")
    # ... and tell the CRM the invoice's status
    (accounting,) = [w for w in body["crm_writes"] if w["path"].endswith(f"/invoices/{event['data']['id']}/accounting")]
    assert accounting["body"]["total"] == event["data"]["totals"]["total"]

    # When the same event is applied for real
    sender(full_stack)(event)
    (stored,) = wait(lambda: qbo_invoices_for(full_stack, realm, event["data"]["id"]), timeout=60)
    crm_record = wait(lambda: full_stack.crm_emulator.invoice_accounting(TENANT).get(event["data"]["id"]), timeout=30)

    # Then QBO holds what the dry run said would be created: every field and line of the planned body, as
    # sent (QBO adds its own: Id, SyncToken, names on refs, LineNum, the subtotal line, totals)
    planned = create["body"]
    assert_holds(stored, {k: v for k, v in planned.items() if k != "Line"})
    sales_lines = [entry for entry in stored["Line"] if entry["DetailType"] != "SubTotalLineDetail"]
    assert_holds(sales_lines, planned["Line"])
    assert Decimal(str(stored["TotalAmt"])) == Decimal(event["data"]["totals"]["total"])
    # And the CRM got the accounting the dry run showed, but for the ids only QBO could assign
    for field in ("realm_id", "status", "email_status", "total", "balance", "amount_paid", "currency", "due_date"):
        assert str(crm_record[field]) == str(accounting["body"][field]), field


def test_dry_run_of_a_payment_shows_the_qbo_payment_and_the_new_balance(full_stack, realm, synced, api, wait):
    _, first = synced
    event = invoice_partially_paid(TENANT, invoice=first["data"], amount="100.00")
    before = quiet(full_stack, realm, wait)
    body = api.post(f"{SYNC}?dry_run=true", json={"event": event}).json()
    assert world(full_stack, [realm]) == before
    (payment,) = body["qbo_writes"]
    assert (payment["operation"], payment["entity"]) == ("create", "Payment")
    assert Decimal(payment["body"]["TotalAmt"]) == Decimal("100.00")
    (accounting,) = [w for w in body["crm_writes"] if "/accounting" in w["path"]]
    total = Decimal(first["data"]["totals"]["total"])
    assert Decimal(accounting["body"]["balance"]) == total - Decimal("100.00")
    assert accounting["body"]["status"] == "partially_paid"


def test_dry_run_reports_what_would_be_dead_lettered(full_stack, realm, api, wait):
    event = invoice_sent(TENANT, currency="EUR")
    before = quiet(full_stack, realm, wait)
    body = api.post(f"{SYNC}?dry_run=true", json={"event": event}).json()
    assert body["outcome"]["status"] == "failed"
    assert body["outcome"]["error"]["code"] == "currency_not_enabled"
    assert body["qbo_writes"] == [] or all(w["entity"] in ("Customer", "Item") for w in body["qbo_writes"])
    assert world(full_stack, [realm]) == before


def test_dry_run_of_a_poll_shows_the_crm_writes_and_does_not_move_the_watermark(full_stack, realm, api, wait):
    """The poll's own code (issue 6) on recording ports: a customer made in QBO would reach the CRM."""
    stack = full_stack
    made = stack.qbo_emulator.user_create(realm, "Customer", {"DisplayName": "Made In QBO Ltd",
                                                               "PrimaryEmailAddr": {"Address": "qbo@example.com"}})
    before = quiet(stack, realm, wait)
    answer = api.post(f"{SYNC}?dry_run=true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"]["status"] in ("done", "partial"), body["outcome"]
    upserts = [w for w in body["crm_writes"] if w["path"].endswith("/contacts/batch-upsert")]
    sent = [c for w in upserts for c in w["body"]["contacts"]]
    assert str(made["Id"]) in {c["qbo_customer_id"] for c in sent}
    assert world(stack, [realm]) == before


def test_dry_run_refuses_bad_requests_and_changes_nothing(full_stack, realm, api, wait):
    before = quiet(full_stack, realm, wait)
    cases = [
        (f"{SYNC}?dry_run=true", {"event": invoice_sent("loc_someone_else")}, 400, "tenant_mismatch"),
        (f"{SYNC}?dry_run=true", {"event": {"type": "invoice.sent", "id": "evt_1"}}, 400, "invalid_event"),
        (f"{SYNC}?dry_run=true", {"event": invoice_sent(TENANT), "message_id": "x"}, 400, "invalid_dry_run_request"),
        (f"{SYNC}?dry_run=true", {"message_id": "no-such-message"}, 404, "failure_not_found"),
        (f"{SYNC}?dry_run=true", {"colour": "blue"}, 422, "validation_failed"),
        (f"{SYNC}?dry_run=maybe", {}, 400, "invalid_dry_run"),
        (SYNC, {"event": invoice_sent(TENANT)}, 400, "not_a_dry_run"),
        (f"{SYNC}?realm_id=abc", None, 400, "invalid_realm_id"),
        (f"{SYNC}?realm_id=123", None, 404, "connection_not_found"),
        (f"{SYNC}?dry_run=true&realm_id=123", {"event": invoice_sent(TENANT)}, 404, "connection_not_found"),
        ("/tenants/loc_nobody/sync?dry_run=true", {"event": invoice_sent("loc_nobody")}, 404, "tenant_not_found"),
    ]
    for path, body, status, code in cases:
        answer = api.post(path, json=body) if body is not None else api.post(path)
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["error"]["code"] == code, (path, answer.text)
    assert Api(full_stack, headers={}).post(f"{SYNC}?dry_run=true").status_code == 401
    assert world(full_stack, [realm]) == before


def test_sync_now_queues_a_poll_job_for_each_connected_company(full_stack, realm, api):
    answer = api.post(SYNC)
    assert answer.status_code == 202, answer.text
    (enqueued,) = answer.json()["enqueued"]
    assert enqueued["realm_id"] == realm and enqueued["message_id"]
