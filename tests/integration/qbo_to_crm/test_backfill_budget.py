"""The backfill on connect (issue 6 §3): 5,000 existing QBO customers reach the CRM with at most 6 QBO calls
and at most 50 CRM calls, with progress in the company's sync state.

A module of its own: the emulators' counters are per emulator, and this stack serves only this module.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

CUSTOMERS = 5000
# What the backfill reads QBO with: CDC, queries and batches of queries (a batch counts as one call). The
# OAuth callback's own reads (CompanyInfo, Preferences) are the connection's, not the backfill's.
READS = ("/cdc", "/query", "/batch")
CONNECTION_ROUTE = "PUT /tenants/{t}/connection"  # the callback telling the CRM "connected"


@pytest.mark.parametrize("items", [0, 150], ids=["customers_only", "with_items"])
def test_five_thousand_customers_are_backfilled_within_the_call_budget(poll_stack, poll, tenant_id, wait, items):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    # Given a company with 5,000 customers (created before qbsync is connected: no webhooks for them) and
    # `items` active items (none at all: the two a new company starts with are made inactive)
    realm = emu.create_company(country="US")
    for seeded in emu.entities(realm, "Item"):
        emu.user_delete(realm, "Item", seeded["Id"])
    for number in range(items):
        emu.user_create(realm, "Item", {"Name": f"Item {number:03d}", "Type": "Service",
                                        "UnitPrice": Decimal("5.00"), "IncomeAccountRef": {"value": "1"}})
    for number in range(CUSTOMERS):
        emu.user_create(realm, "Customer", {"DisplayName": f"Customer {number:05d}",
                                            "PrimaryEmailAddr": {"Address": f"c{number}@example.com"}})
    emu.reset_counters()
    crm_calls_before = len(crm.calls())

    # When the company is connected: the OAuth callback enqueues the backfill (`wiring.enqueue_backfill`)
    poll.connect_existing(tenant_id, realm)
    state = wait(lambda: (s := poll.sync_state(tenant_id, realm)).watermark and s, timeout=120,
                 message="the backfill to finish")

    # Then every customer is a contact, once, and every active item a product
    contacts = crm.contacts(tenant_id)
    assert len(contacts) == CUSTOMERS
    assert len({contact["qbo_customer_id"] for contact in contacts}) == CUSTOMERS
    assert len(crm.products(tenant_id)) == items
    # ...with at most 6 QBO calls: the COUNTs and the first page in one batch, then a page a call, no call
    # for an empty page (the counts say which page is last): 5 for the customers, 1 more for the items
    reads = {endpoint: count for endpoint, count in emu.counters()["requests"].items()
             if endpoint.split(" ", 1)[1].startswith("/v3/") and endpoint.endswith(READS)}
    assert sum(reads.values()) == (6 if items else 5), reads
    # ...and exactly 50 contact batches of 100, plus a products batch per 100 items (none without items)
    calls = [call for call in crm.calls()[crm_calls_before:]
             if call["tenant_id"] == tenant_id and call["route"] != CONNECTION_ROUTE]
    by_route: dict[str, int] = {}
    for call in calls:
        by_route[call["route"]] = by_route.get(call["route"], 0) + 1
    assert by_route.pop("POST /tenants/{t}/contacts/batch-upsert") == CUSTOMERS // 100
    assert by_route == ({"POST /tenants/{t}/products/batch-upsert": math.ceil(items / 100)} if items else {})
    if not items:
        assert len(calls) <= 50  # the issue's budget, literally
    # ...and the progress is in the sync state, for the tenant's status
    assert state.scan.kind == "backfill" and state.scan.status == "done"
    assert state.scan.cursors["Customer"].sent == CUSTOMERS
    assert state.scan.cursors["Customer"].total == CUSTOMERS
    assert state.scan.cursors["Item"].total == items
    # ...and every pair is stored
    assert sum(1 for _ in _pairs(poll_stack, tenant_id, realm)) == CUSTOMERS
    assert poll.dead_poll_jobs() == []


def _pairs(stack, tenant_id: str, realm: str):  # noqa: ANN202
    from qbsync.repositories.sync_state import RealmMappingsReader

    return RealmMappingsReader(table_name=stack.deployed.physical_ids["MappingsTable"]).iter_all(
        tenant_id, realm, "customers")
