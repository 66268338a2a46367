"""The paged scan: how few QBO calls a backfill takes, and how it resumes."""

from __future__ import annotations

from datetime import UTC, datetime

from qbsync.models.poll_messages import ScanCursor
from qbsync.sync.poll.scan import CountRequest, PageRequest, advance, conditions_for, new_scan, plan_call

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _simulate(totals: dict[str, int], cursors: dict[str, ScanCursor] | None = None) -> list[list]:
    """Run the planner against a company with `totals` objects per entity; the calls it makes."""
    entities = list(totals)
    cursors = cursors or {entity: ScanCursor() for entity in entities}
    calls = []
    while requests := plan_call(entities, cursors):
        calls.append(requests)
        answered = {r.entity: totals[r.entity] for r in requests if isinstance(r, CountRequest)}
        pages = {}
        for request in requests:
            if isinstance(request, PageRequest):
                available = max(0, totals[request.entity] - request.start + 1)
                pages[request.entity] = [{}] * min(request.size, available)
        cursors = advance(cursors, requests, totals=answered, pages=pages)
        assert len(calls) < 50
    assert all(cursor.sent == totals[entity] for entity, cursor in cursors.items())
    return calls


def test_five_thousand_customers_and_a_few_items_take_six_calls():
    calls = _simulate({"Customer": 5000, "Item": 2})
    assert len(calls) == 6
    assert calls[0] == [CountRequest("Customer"), CountRequest("Item"), PageRequest("Customer", 1, 1000)]
    assert calls[-1] == [PageRequest("Item", 1, 2)]


def test_small_companies_take_two_calls_and_the_tails_share_a_page():
    assert len(_simulate({"Customer": 10, "Item": 2})) == 2
    calls = _simulate({"Customer": 1200, "Item": 300})
    assert calls[1] == [PageRequest("Customer", 1001, 200), PageRequest("Item", 1, 300)]
    assert len(calls) == 2


def test_an_empty_company_takes_one_call():
    assert len(_simulate({"Customer": 0, "Item": 0})) == 1


def test_a_resumed_scan_continues_from_its_cursor_without_counting_again():
    cursors = {"Customer": ScanCursor(next_start=3001, total=5000, sent=3000), "Item": ScanCursor(total=2)}
    calls = _simulate({"Customer": 5000, "Item": 2}, cursors)
    assert calls[0] == [PageRequest("Customer", 3001, 1000)]
    assert len(calls) == 3


def test_a_short_page_ends_the_entity_even_when_the_count_said_more():
    cursors = advance({"Customer": ScanCursor(total=1500)}, [PageRequest("Customer", 1, 1000)], totals={},
                      pages={"Customer": [{}] * 700})
    assert cursors["Customer"].done and cursors["Customer"].next_start == 701


def test_a_rescan_asks_for_what_changed_since_the_stale_watermark_inactive_included():
    since = datetime(2026, 10, 1, tzinfo=UTC)
    rescan = new_scan("rescan", entities=["Customer", "Invoice"], watermark=NOW, started_at=NOW, since=since)
    assert conditions_for(rescan, "Customer") == [("Active", "IN", [True, False]),
                                                  ("MetaData.LastUpdatedTime", ">=", since)]
    assert conditions_for(rescan, "Invoice") == [("MetaData.LastUpdatedTime", ">=", since)]
    backfill = new_scan("backfill", entities=["Customer"], watermark=NOW, started_at=NOW)
    assert conditions_for(backfill, "Customer") == []
