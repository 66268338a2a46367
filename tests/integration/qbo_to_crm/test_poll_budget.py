"""A poll of 5,000 changed customers (issue 6 §2): at most 6 QBO calls when the changes are spread over a
poll interval, everything read in a burst too, and nothing missed either way: a merged-away customer (only a
Deleted stub in CDC, after the active ones of its group) and a deactivated one among the thousands follow the
delete rule.

A module of its own: the emulators' counters are per emulator, and this stack serves only this module. The
QBO emulator's clock is moved forward to spread the changes.
"""

from __future__ import annotations

from collections.abc import Callable

CUSTOMERS = 5000
CDC = "GET /v3/company/{realm}/cdc"


def _qbo_calls(emu) -> dict[str, int]:  # noqa: ANN001
    return {endpoint: count for endpoint, count in emu.counters()["requests"].items()
            if endpoint.split(" ", 1)[1].startswith("/v3/")}


def _change_all(emu, realm: str, ids: list[str], marker: str, *, step: float,  # noqa: ANN001
                among: Callable[[int], None] | None = None) -> None:
    for n, identifier in enumerate(ids):
        emu.user_update(realm, "Customer", {"Id": identifier,
                                            "PrimaryPhone": {"FreeFormNumber": f"{marker}{n:05d}"}})
        if among is not None:
            among(n)
        emu.clock.advance(step)
    emu.clock.advance(1)


def test_five_thousand_changed_customers_are_polled_within_the_budget_and_nothing_is_missed(
        poll_stack, poll, tenant_id, wait):
    emu, crm = poll_stack.qbo_emulator, poll_stack.crm_emulator
    emu.set_webhooks(auto=False)  # only the polls this test asks for
    try:
        # Given a connected company with 5,000 customers, backfilled, and polled once today (its daily
        # checks are done: the polls measured below read CDC only)
        realm = emu.create_company(country="US")
        ids = [emu.user_create(realm, "Customer", {"DisplayName": f"Polled {n:05d}"})["Id"]
               for n in range(CUSTOMERS)]
        poll.connect_existing(tenant_id, realm)
        wait(lambda: poll.sync_state(tenant_id, realm).watermark, timeout=180, message="the backfill")
        emu.clock.advance(600)
        poll.poll_now(tenant_id, realm, timeout=60)
        gone: dict[str, str] = {}

        def merge_and_deactivate(n: int) -> None:
            if n == 1500:  # merged away: a Deleted stub in CDC
                emu.user_merge_customers(realm, ids[1498], ids[1497])
                gone[ids[1498]] = "merged"
            if n == 3300:  # deactivated: an active=false customer
                emu.user_delete(realm, "Customer", ids[3299])
                gone[ids[3299]] = "deactivated"

        # When all 5,000 change, spread over a 5-minute poll interval (about 17 a second), with a merge and
        # a deactivation among them, and the company is polled
        _change_all(emu, realm, ids, "555-1", step=300 / CUSTOMERS, among=merge_and_deactivate)
        emu.reset_counters()
        crm_before = len(crm.calls())
        poll.poll_now(tenant_id, realm, timeout=240)

        # Then every contact has its new phone; the merged-away and the deactivated one are archived
        # (the tenant's default rule) and the merge's survivor is current
        contacts = {c["qbo_customer_id"]: c for c in crm.contacts(tenant_id)}
        live = [i for i in ids if i not in gone]
        assert all(contacts[i]["phone"].startswith("555-1") for i in live)
        assert all(contacts[i]["archived"] for i in gone), {i: contacts[i]["archived"] for i in gone}
        assert not any(contacts[i]["archived"] for i in live)
        # ...with at most 6 QBO calls, all CDC, and at most 50 contact batches
        assert _qbo_calls(emu) == {CDC: _qbo_calls(emu)[CDC]} and _qbo_calls(emu)[CDC] <= 6, _qbo_calls(emu)
        routes = [call["route"] for call in crm.calls()[crm_before:] if call["tenant_id"] == tenant_id]
        assert routes.count("POST /tenants/{t}/contacts/batch-upsert") <= 50

        # When they all change again within ten seconds (a spreadsheet import) and the company is polled
        emu.clock.advance(600)
        _change_all(emu, realm, live, "555-2", step=0.002)
        emu.reset_counters()
        poll.poll_now(tenant_id, realm, timeout=240)

        # Then every contact has its newest phone too; the calls it took are more than 6 (bench/README.md:
        # each answer re-reads what it has of the second it resumes from, 500 changes a second here)
        contacts = {c["qbo_customer_id"]: c for c in crm.contacts(tenant_id)}
        assert all(contacts[i]["phone"].startswith("555-2") for i in live)
        assert _qbo_calls(emu)[CDC] <= 10, _qbo_calls(emu)
        # ...and the poll's counters say why: the answers it read, and the objects they brought twice
        counts = poll.sync_state(tenant_id, realm).last_counts
        assert counts["cdc_answers"] == _qbo_calls(emu)[CDC] and counts["cdc_re_read"] > 0, counts
        assert poll.dead_poll_jobs() == []
    finally:
        emu.set_webhooks(auto=True)
