"""Reading many objects through QboClient against the emulator: the auto-paging query iterator, string
escaping in query literals, and Change Data Capture with its 1000-object cap and 30-day limit
(QBO.md §2.4, §3, §8.5).

The emulator here runs on a clock that only moves when the test moves it, so "600 changes in one second"
means exactly that, however slow the machine.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from qbo_emulator import Clock, QboEmulator
from qbsync.clients.qbo import QboCdcWindowError, QboValidationError

QUERY = "GET /v3/company/{realm}/query"
CDC = "GET /v3/company/{realm}/cdc"


class SteppedClock(Clock):
    """The emulator's clock, standing still between the test's steps."""

    def __init__(self, start: float) -> None:
        super().__init__()
        self._now = start
        self._step_lock = threading.Lock()

    def time(self) -> float:
        with self._step_lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._step_lock:
            self._now += seconds


@pytest.fixture
def emulator_clock() -> SteppedClock:
    # A quarter past a whole second: creations "at the same time" share one second of MetaData.
    return SteppedClock(math.floor(datetime.now(UTC).timestamp()) + 0.25)


def create_customers(emu: QboEmulator, realm: str, count: int, *, per_second: int | None = None,
                     prefix: str = "Customer") -> list[str]:
    """`count` customers made by a QBO user (no API calls), `per_second` to each emulator second."""
    ids = []
    for n in range(count):
        if per_second and n and n % per_second == 0:
            emu.clock.advance(1)
        ids.append(emu.user_create(realm, "Customer", {"DisplayName": f"{prefix} {n:05d}"})["Id"])
    return ids


# ------------------------------------------------------------------------------------------- paging


def test_iter_query_pages_through_every_customer_with_one_call_per_thousand(emu, qbo, realm, served):
    # Given 2,500 customers, five of them inactive
    ids = create_customers(emu, realm, 2500)
    for customer_id in ids[:5]:
        emu.user_delete(realm, "Customer", customer_id)  # QBO makes a name-list record inactive
    emu.reset_counters()

    # When every active customer is read
    active = list(qbo.iter_query("Customer"))
    # Then each comes once, in Id order, in ceil(n / 1000) calls of at most 1000
    assert len(active) == 2495
    assert [c["Id"] for c in active] == ids[5:]
    assert served(QUERY) == math.ceil(2495 / 1000)

    # Inactive ones need the Active filter (QBO.md §2.4); smaller pages meet without gaps or overlaps
    emu.reset_counters()
    everyone = list(qbo.iter_query("Customer", conditions=[("Active", "IN", [True, False])], page_size=300))
    assert [c["Id"] for c in everyone] == ids
    assert served(QUERY) == math.ceil(2500 / 300)


NASTY_NAMES = [
    "Adam's Candy Shop",
    "Back\\slash Supplies",
    "Trailing Backslash \\",
    "100% Organic",
    "Café 🚀 Rockets",
    'The "Best" Plumbers',
    "x' OR DisplayName = 'y",
    "z\\' AND DisplayName = 'y",
    "O'Brien \\' Sons",
]


def test_names_with_quotes_backslashes_percent_and_emoji_are_found_exactly(emu, qbo, realm):
    # Decoys that an injected clause or a sloppy escape would return instead
    for decoy in ("x", "y", "z\\", "100X Organic", "Adam", "Back"):
        emu.user_create(realm, "Customer", {"DisplayName": decoy})
    created = {
        name: qbo.create("Customer", {"DisplayName": name}, request_key=("t1", f"nasty-{n}", "create"))["Id"]
        for n, name in enumerate(NASTY_NAMES)
    }
    for name, customer_id in created.items():
        found = list(qbo.iter_query("Customer", conditions=[("DisplayName", "=", name)]))
        assert [(c["Id"], c["DisplayName"]) for c in found] == [(customer_id, name)], name
        assert qbo.count("Customer", conditions=[("DisplayName", "=", name)]) == 1, name
    # IN takes the same literals
    some = NASTY_NAMES[:4]
    found = qbo.iter_query("Customer", conditions=[("DisplayName", "IN", some)])
    assert sorted(c["Id"] for c in found) == sorted(created[name] for name in some)


# ---------------------------------------------------------------------------------------------- CDC


def invoice_body(customer_id: str) -> dict:
    return {
        "CustomerRef": {"value": customer_id},
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": Decimal("50.00"),
                  "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1,
                                          "UnitPrice": Decimal("50.00")}}],
    }


def keyed(result) -> dict[tuple[str, str], dict]:
    changes = {(change.entity, change.id): change for change in result.changes}
    assert len(changes) == len(result.changes), "a change came twice"
    return changes


def test_changes_since_a_watermark_include_updates_creations_and_deleted_stubs(emu, qbo, realm):
    key = iter(range(1000))

    def create(entity, body):
        return qbo.create(entity, body, request_key=("t1", f"ev-{next(key)}", "create"))

    alice = create("Customer", {"DisplayName": "Alice"})
    bob = create("Customer", {"DisplayName": "Bob"})
    kept_invoice = create("Invoice", invoice_body(alice["Id"]))
    doomed_invoice = create("Invoice", invoice_body(bob["Id"]))
    emu.clock.advance(30)
    first = qbo.changes_since(["Customer", "Invoice"], emu.clock.now() - timedelta(hours=1))
    assert set(keyed(first)) == {("Customer", alice["Id"]), ("Customer", bob["Id"]),
                                 ("Invoice", kept_invoice["Id"]), ("Invoice", doomed_invoice["Id"])}
    watermark = first.next_changed_since
    assert watermark == emu.clock.now()  # QBO's own time, not ours

    # When, after the watermark, a customer changes, one is added and an invoice is deleted
    emu.clock.advance(5)
    bob = qbo.sparse_update("Customer", bob["Id"], bob["SyncToken"], {"Notes": "moved"},
                            request_key=("t1", "ev-upd", "update"))
    carol = create("Customer", {"DisplayName": "Carol"})
    qbo.delete("Invoice", doomed_invoice["Id"], doomed_invoice["SyncToken"],
               request_key=("t1", "ev-del", "delete"))
    emu.clock.advance(5)
    second = qbo.changes_since(["Customer", "Invoice"], watermark)

    # Then only those come back, the deleted invoice as QBO's stub
    changes = keyed(second)
    assert set(changes) == {("Customer", bob["Id"]), ("Customer", carol["Id"]),
                            ("Invoice", doomed_invoice["Id"])}
    assert changes[("Customer", bob["Id"])].object["Notes"] == "moved"
    assert changes[("Customer", bob["Id"])].object["SyncToken"] == "1"
    stub = changes[("Invoice", doomed_invoice["Id"])]
    assert stub.deleted and stub.object["status"] == "Deleted"
    assert set(stub.object) <= {"status", "domain", "Id", "MetaData"}
    assert not any(change.deleted for change in second.changes if change.entity == "Customer")
    assert second.next_changed_since == emu.clock.now()


def test_more_than_1000_changes_are_all_read_by_narrowing_the_window(emu, qbo, realm, served):
    # Given 2,300 customers changed 100 a second, then three invoices: more than one CDC answer holds
    start = emu.clock.now()
    customers = create_customers(emu, realm, 2300, per_second=100)
    emu.clock.advance(1)
    invoices = [emu.user_create(realm, "Invoice", invoice_body(customers[n]))["Id"] for n in range(3)]
    emu.clock.advance(1)
    emu.reset_counters()

    result = qbo.changes_since(["Customer", "Invoice"], start)

    changes = keyed(result)
    assert set(changes) == {("Customer", i) for i in customers} | {("Invoice", i) for i in invoices}
    # Every answer is capped at 1000: the customers needed at least three windows, the invoices one
    assert math.ceil(2300 / 1000) + 1 <= served(CDC) <= 8
    # And the next poll, from the watermark, sees what changes next and nothing it already had
    emu.clock.advance(5)
    emu.user_update(realm, "Customer", {"Id": customers[7], "Notes": "later"})
    later = qbo.changes_since(["Customer", "Invoice"], result.next_changed_since)
    assert [(change.entity, change.id) for change in later.changes] == [("Customer", customers[7])]


POLLED = ["Item", "Invoice", "Payment", "Customer"]  # the poll's order: the bulk entity last


def change_five_thousand(emu: QboEmulator, realm: str, *, step: float) -> dict[tuple[str, str], str]:
    """5,000 customers created by a QBO user `step` emulator seconds apart, with a few invoices, a
    deactivation and a merge among them (the merged-away customer is only a Deleted stub in CDC, after
    the active ones of its group); returns what CDC must report, by (entity, Id): "active", "inactive" or
    "deleted"."""
    expected: dict[tuple[str, str], str] = {}
    customers: list[str] = []
    for n in range(5000):
        customers.append(emu.user_create(realm, "Customer", {"DisplayName": f"Bulk {n:05d}"})["Id"])
        expected[("Customer", customers[-1])] = "active"
        if n % 1000 == 500:
            invoice = emu.user_create(realm, "Invoice", invoice_body(customers[n - 1]))
            expected[("Invoice", invoice["Id"])] = "active"
        if n in (1500, 3998):
            emu.user_merge_customers(realm, customers[n - 2], customers[n - 3])
            expected[("Customer", customers[n - 2])] = "deleted"
        if n == 2500:
            emu.user_delete(realm, "Customer", customers[n - 4])  # a name list is deactivated, not deleted
            expected[("Customer", customers[n - 4])] = "inactive"
        emu.clock.advance(step)
    emu.clock.advance(1)
    return expected


def status_of(change) -> str:
    if change.deleted:
        return "deleted"
    return "active" if change.object.get("Active", True) else "inactive"


def read_five_thousand(emu: QboEmulator, qbo, realm: str, *, step: float):
    """`change_five_thousand`, then one `changes_since` as the poll asks it: every change must be read, once,
    each as what it is now; returns the result."""
    emu.clock.advance(1)  # past the company's seeded items
    start = emu.clock.now()
    expected = change_five_thousand(emu, realm, step=step)
    emu.reset_counters()
    result = qbo.changes_since(POLLED, start)
    assert {key: status_of(change) for key, change in keyed(result).items()} == expected
    return result


def test_five_thousand_changes_spread_over_five_minutes_take_at_most_six_cdc_calls(emu, qbo, realm, served):
    # Given 5,000 customers changed over five minutes (about 17 a second, so pages are cut inside a
    # second), with invoices, a deactivation and two merges among them: every change is read...
    result = read_five_thousand(emu, qbo, realm, step=0.06)

    # ...with at most 6 CDC calls (5,000 objects at 1,000 an answer, and no answer thrown away)
    assert served(CDC) <= 6
    # ...and the next window starts at QBO's time of the last answer
    assert timedelta(0) <= emu.clock.now() - result.next_changed_since < timedelta(milliseconds=1)


def test_five_thousand_changes_in_a_burst_under_200_a_second_take_at_most_six_cdc_calls(
        emu, qbo, realm, served):
    # Given the 5,000 changes within 34 seconds (150 a second, with the invoices, the deactivation and the
    # merges among them): every change is read...
    result = read_five_thousand(emu, qbo, realm, step=1 / 150)

    # ...in at most 6 calls: each continuation re-reads at most what it has of the second it resumes from
    # (about 150), so five of them re-read fewer than 1,000 and the sixth answer is the last
    assert served(CDC) == len(result.answers) <= 6
    assert all(answer.re_read < 200 for answer in result.answers)
    assert not result.answers[-1].capped


def test_five_thousand_changes_in_a_burst_are_all_read(emu, qbo, realm, served):
    # Given the same 5,000 changes within ten seconds (500 a second), as a spreadsheet import makes them:
    # every change is read...
    result = read_five_thousand(emu, qbo, realm, step=0.002)

    # Not 6: an answer ends within a second of 500 changes, and the next one re-reads what it already has of
    # that second (up to 500), so 500-1000 new changes an answer: at most 2 + 4,000 // 500 calls
    assert 6 <= served(CDC) == len(result.answers) <= 10
    assert sum(answer.objects for answer in result.answers) - result.re_read == len(result.changes)
    assert result.re_read >= 1000


def test_narrowing_copes_with_busy_neighbouring_seconds_under_the_per_second_cap(emu, qbo, realm):
    # Given 600 changes in one second and 600 in the next: no single second reaches the 1000 cap, so
    # QBO's answers (oldest first, changedSince inclusive) can be walked through without a gap
    start = emu.clock.now()
    customers = create_customers(emu, realm, 1200, per_second=600)

    result = qbo.changes_since(["Customer"], start)

    assert set(keyed(result)) == {("Customer", i) for i in customers}


def test_1000_changes_within_one_second_cannot_be_narrowed_and_say_so(emu, qbo, realm):
    start = emu.clock.now() - timedelta(seconds=5)
    create_customers(emu, realm, 1001)
    with pytest.raises(QboCdcWindowError) as raised:
        qbo.changes_since(["Customer"], start)
    assert raised.value.retryable is False  # re-sync by query instead


def test_cdc_further_back_than_30_days_is_refused_before_any_call(emu, qbo, served):
    now = emu.clock.now()
    with pytest.raises(QboCdcWindowError):
        qbo.changes_since(["Customer"], now - timedelta(days=30, minutes=1))
    assert served(CDC) == 0
    # 29 days is fine
    assert qbo.changes_since(["Customer"], now - timedelta(days=29)).changes == []
    assert served(CDC) == 1
    # and QBO itself refuses what the client would have refused (a single raw call skips the check)
    with pytest.raises(QboValidationError) as raised:
        qbo.cdc(["Customer"], now - timedelta(days=31))
    assert "older than fixed days is not supported" in raised.value.qbo_detail
