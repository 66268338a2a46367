"""`GET /tenants/{t}/status` (SPEC F20): after a scripted scenario, the counts by object and outcome and the
latest failures are exactly what the scenario produced."""

from __future__ import annotations

import pytest
from connect_helpers import connect
from management_helpers import Api, qbo_invoices_for, sender

from crm_emulator.builders import invoice_partially_paid, invoice_sent, invoice_updated

TENANT = "loc_status"


@pytest.fixture(scope="module")
def realm(full_stack):
    return connect(full_stack, TENANT, name="Status Co")


def counts(api):
    return api.get(f"/tenants/{TENANT}/status").json()["counts"]


def total(counts_by_object, objects=("invoices", "payments")):
    # Only what this scenario sends: the poll (issue 6) may count its own jobs beside them.
    return sum(c["synced"] + c["skipped"] + c["failed"] for name, c in counts_by_object.items() if name in objects)


def test_status_before_anything_happened(full_stack, realm):
    answer = Api(full_stack).get(f"/tenants/{TENANT}/status")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tenant_id"] == TENANT and body["default_realm_id"] == realm
    (connection,) = body["connections"]
    assert connection["realm_id"] == realm and connection["company_name"] == "Status Co"
    assert connection["status"] == "connected" and connection["is_default"] is True
    assert total(body["counts"]) == 0
    assert body["failures"] == {"in_dead_letter_queues": 0, "latest": []}


def test_counts_and_failures_match_a_scripted_scenario(full_stack, realm, wait):
    api, send = Api(full_stack), sender(full_stack)
    # Given three good invoices, a payment on one of them, an update of an invoice never synced (skipped),
    # and two invoices QBO cannot hold (EUR on a USD company without multicurrency: dead-lettered)
    good = [invoice_sent(TENANT) for _ in range(3)]
    for event in good:
        send(event)
    for event in good:
        wait(lambda: qbo_invoices_for(full_stack, realm, event["data"]["id"]), timeout=60, message="invoice")
    payment = invoice_partially_paid(TENANT, invoice=good[0]["data"], amount="10.00")
    unknown_update = invoice_updated(TENANT)
    bad = [invoice_sent(TENANT, currency="EUR") for _ in range(2)]
    for event in (payment, unknown_update, *bad):
        send(event)
    wait(lambda: total(counts(api)) == 7, timeout=60, message="seven outcomes counted")

    body = api.get(f"/tenants/{TENANT}/status").json()
    assert body["counts"]["invoices"] | {"last_at": None} == {
        "synced": 3, "skipped": 1, "failed": 2, "skipped_by_reason": {"invoice_not_synced": 1},
        "failed_by_reason": {"currency_not_enabled": 2}, "last_at": None}
    assert body["counts"]["payments"]["synced"] == 1
    assert body["counts"]["payments"]["skipped"] == body["counts"]["payments"]["failed"] == 0
    # The latest failures: both bad invoices, newest first, with their reasons
    failures = body["failures"]
    assert failures["in_dead_letter_queues"] == 2
    assert {f["event_id"] for f in failures["latest"]} == {e["id"] for e in bad}
    assert [f["failed_at"] for f in failures["latest"]] == sorted((f["failed_at"] for f in failures["latest"]),
                                                                  reverse=True)
    for failure in failures["latest"]:
        assert failure["queue"] == "crm_events" and failure["type"] == "invoice.sent"
        assert failure["realm_id"] == realm
        assert failure["reason"]["code"] == "currency_not_enabled"
        assert "EUR" in failure["reason"]["message"]
    # The same failures as GET /failures lists them
    listed = api.get(f"/tenants/{TENANT}/failures").json()["failures"]
    assert {f["message_id"] for f in listed} == {f["message_id"] for f in failures["latest"]}


def test_status_shows_the_poll_bookkeeping_when_there_is_some(full_stack, realm):
    """Issue 6's sync state (watermark, last success) appears when the poll has written it."""
    from datetime import UTC, datetime, timedelta

    from qbsync.errors import ConflictError
    from qbsync.repositories.sync_state import SyncStateRepository

    repository = SyncStateRepository(table_name=full_stack.deployed.physical_ids["ConnectionsTable"],
                                     dynamodb=full_stack.aws_client("dynamodb"))
    for _ in range(5):  # the poll worker may be saving its own state meanwhile
        state = repository.get(TENANT, realm)
        if state.watermark is not None:
            break
        try:
            repository.save(state.model_copy(update={"watermark": datetime.now(UTC) - timedelta(minutes=3),
                                                     "last_success_at": datetime.now(UTC)}))
            break
        except ConflictError:
            continue
    body = Api(full_stack).get(f"/tenants/{TENANT}/status").json()
    (connection,) = body["connections"]
    assert connection["watermark"] is not None and connection["last_successful_poll"] is not None
    lag = datetime.fromisoformat(body["generated_at"]) - datetime.fromisoformat(connection["watermark"])
    assert connection["lag_seconds"] == max(0, int(lag.total_seconds()))


def test_status_of_an_unknown_tenant_is_a_404_and_needs_the_key(full_stack, realm):
    assert Api(full_stack).get("/tenants/loc_nobody/status").status_code == 404
    assert Api(full_stack, headers={}).get(f"/tenants/{TENANT}/status").status_code == 401
