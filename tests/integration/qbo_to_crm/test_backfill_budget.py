"""The backfill on connect (issue 6 §3): 5,000 existing QBO customers reach the CRM with at most 6 QBO
calls and 50 calls to the CRM's contacts endpoint, with progress in the company's sync state.

A module of its own: the emulators' counters are per emulator, and this stack serves only this company.
"""

from __future__ import annotations

from connect_helpers import connect_link, follow_to_callback

CUSTOMERS = 5000


def test_five_thousand_customers_are_backfilled_within_the_call_budget(poll_stack, poll, tenant_id, wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    # Given a company with 5,000 customers (created before qbsync is connected: no webhooks for them)
    realm = emu.create_company(country="US")
    for number in range(CUSTOMERS):
        emu.user_create(realm, "Customer", {"DisplayName": f"Customer {number:05d}",
                                            "PrimaryEmailAddr": {"Address": f"c{number}@example.com"}})
    _connect_existing(poll_stack, tenant_id, realm)
    emu.reset_counters()
    crm_calls_before = len(crm.calls())

    # When the OAuth callback enqueues the backfill (the lead's wiring calls exactly this)
    from qbsync.sync.poll.wiring import enqueue_backfill

    enqueue_backfill(tenant_id, realm)
    state = wait(lambda: (s := poll.sync_state(tenant_id, realm)).watermark and s, timeout=90,
                 message="the backfill to finish")

    # Then every customer is a contact, once
    contacts = crm.contacts(tenant_id)
    assert len(contacts) == CUSTOMERS
    assert len({contact["qbo_customer_id"] for contact in contacts}) == CUSTOMERS
    # ...with at most 6 QBO calls (CDC or query; a batch of queries counts as one)...
    qbo_calls = {endpoint: count for endpoint, count in emu.counters()["requests"].items()
                 if endpoint.split(" ", 1)[1].startswith("/v3/")}
    assert sum(qbo_calls.values()) <= 6, qbo_calls
    # ...and 50 calls to the CRM's contacts endpoint (100 a batch); the company's 2 seeded items take one
    # more call, to the products endpoint
    calls = [call for call in crm.calls()[crm_calls_before:] if call["tenant_id"] == tenant_id]
    by_route: dict[str, int] = {}
    for call in calls:
        by_route[call["route"]] = by_route.get(call["route"], 0) + 1
    assert by_route["POST /tenants/{t}/contacts/batch-upsert"] <= 50, by_route
    assert sum(by_route.values()) <= 51, by_route
    # ...and the progress is in the sync state, for the tenant's status
    assert state.scan.kind == "backfill" and state.scan.status == "done"
    assert state.scan.cursors["Customer"].sent == CUSTOMERS
    assert state.scan.cursors["Customer"].total == CUSTOMERS
    # ...and every pair is stored
    assert sum(1 for _ in _pairs(poll_stack, tenant_id, realm)) == CUSTOMERS
    assert poll.dead_poll_jobs() == []


def _connect_existing(stack, tenant_id: str, realm: str) -> None:
    """`connect_helpers.connect` makes a new company; this one exists already: consent to it instead."""
    stack.qbo_emulator.set_consent(realm_id=realm)
    answer = follow_to_callback(stack, connect_link(stack.api.url, tenant_id))
    assert answer.status_code == 302, answer.text


def _pairs(stack, tenant_id: str, realm: str):  # noqa: ANN202
    from qbsync.repositories.sync_state import RealmMappingsReader

    return RealmMappingsReader(table_name=stack.deployed.physical_ids["MappingsTable"]).iter_all(
        tenant_id, realm, "customers")
