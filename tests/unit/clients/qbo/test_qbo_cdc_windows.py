"""CDC: narrowing the window when an answer hits the 1000-object cap, and the 30-day look-back limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests
from qbsync.clients.qbo.cdc import CdcPage, collect_changes, parse_cdc_page
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import QboCdcWindowError
from qbo_stub_transport import StubResponse, StubTransport, query_params, url_path

PACIFIC = timezone(timedelta(hours=-8))
NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=1)


def stamp(moment: datetime) -> str:
    return moment.astimezone(PACIFIC).isoformat()


class FakeQbo:
    """Changes per entity, each at its own time (a `deleted` set per entity marks stubs); answers like the
    emulator: at most 1000 objects, keeping the oldest (QBO.md §11), grouped by entity in the order asked,
    deleted objects after the active ones, changedSince inclusive. `exclusive` makes changedSince exclusive;
    `cut_grouped` cuts the grouped list at 1000 instead of keeping the oldest (the other reading of §3)."""

    def __init__(self, changes: dict[str, list[datetime]], server_time: datetime = NOW, *,
                 deleted: dict[str, set[int]] | None = None, exclusive: bool = False,
                 cut_grouped: bool = False) -> None:
        self.changes = changes
        self.server_time = server_time
        self.deleted = deleted or {}
        self.exclusive = exclusive
        self.cut_grouped = cut_grouped
        self.calls: list[tuple[tuple[str, ...], datetime]] = []

    def fetch(self, entities, since: datetime) -> CdcPage:
        self.calls.append((tuple(entities), since))
        since = since.replace(microsecond=0)
        found = [
            (moment, entities.index(entity), index)
            for entity in entities
            for index, moment in enumerate(self.changes.get(entity, []))
            if (moment > since if self.exclusive else moment >= since)
        ]
        def grouped(item):
            moment, order, index = item
            return order, index in self.deleted.get(entities[order], ()), moment, index
        kept = sorted(found, key=grouped)[:1000] if self.cut_grouped else sorted(found)[:1000]
        objects: dict[str, list[dict]] = {}
        for moment, order, index in sorted(kept, key=grouped):
            entity = entities[order]
            obj = {"Id": str(index), "SyncToken": "0", "MetaData": {"LastUpdatedTime": stamp(moment)}}
            if index in self.deleted.get(entity, ()):
                obj = {"status": "Deleted", "Id": str(index), "MetaData": obj["MetaData"]}
            objects.setdefault(entity, []).append(obj)
        return CdcPage(objects=objects, server_time=self.server_time)


def spread(count: int, start: datetime, step: timedelta) -> list[datetime]:
    return [start + step * n for n in range(count)]


def ids(result, entity: str) -> set[str]:
    return {change.id for change in result.changes if change.entity == entity}


def test_a_window_under_the_cap_takes_one_call():
    qbo = FakeQbo(
        {
            "Customer": spread(3, SINCE, timedelta(minutes=1)),
            "Invoice": spread(5, SINCE, timedelta(minutes=2)),
        }
    )

    result = collect_changes(qbo.fetch, ["Customer", "Invoice"], SINCE, now=NOW)

    assert qbo.calls == [(("Customer", "Invoice"), SINCE)]
    assert len(result.changes) == 8
    assert result.next_changed_since == NOW


def test_a_capped_answer_for_several_entities_is_kept_and_continued_for_all_of_them():
    qbo = FakeQbo(
        {
            "Customer": spread(600, SINCE, timedelta(seconds=10)),
            "Invoice": spread(700, SINCE, timedelta(seconds=10)),
        }
    )

    result = collect_changes(qbo.fetch, ["Invoice", "Customer"], SINCE, now=NOW)

    # Nothing thrown away: 1,300 changes in two calls, the second from the first answer's newest change
    assert [entities for entities, _ in qbo.calls] == [("Invoice", "Customer")] * 2
    assert ids(result, "Customer") == {str(n) for n in range(600)}
    assert ids(result, "Invoice") == {str(n) for n in range(700)}
    assert len(result.changes) == 1300


def test_five_thousand_changes_of_one_entity_among_others_take_six_calls():
    minute = timedelta(minutes=1)
    qbo = FakeQbo({"Item": spread(3, SINCE, minute), "Invoice": spread(40, SINCE, minute),
                   "Payment": spread(10, SINCE, minute),
                   "Customer": spread(5000, SINCE, timedelta(milliseconds=60))})

    result = collect_changes(qbo.fetch, ["Item", "Invoice", "Payment", "Customer"], SINCE, now=NOW)

    assert len(qbo.calls) == 6
    assert len(ids(result, "Customer")) == 5000 and len(ids(result, "Invoice")) == 40
    assert len(ids(result, "Item")) == 3 and len(ids(result, "Payment")) == 10


@pytest.mark.parametrize(("asked", "counts", "steps"), [
    # Customer, asked first, fills the answer: the invoices asked after it are not in it at all, and are
    # asked again from the start
    (["Customer", "Invoice"], (1500, 20), (timedelta(seconds=1), timedelta(minutes=1))),
    # the invoices before the cut group are complete (and asked again with it, from where it was cut)
    (["Invoice", "Customer"], (300, 2500), (timedelta(seconds=30), timedelta(seconds=1))),
], ids=["asked_after_the_cut", "asked_before_the_cut"])
def test_a_cut_grouped_list_loses_nothing(asked, counts, steps):
    # The other reading of QBO.md §3: the grouped list itself cut at 1000, rather than the oldest kept.
    qbo = FakeQbo({entity: spread(count, SINCE, step) for entity, count, step in zip(asked, counts, steps)},
                  cut_grouped=True)

    result = collect_changes(qbo.fetch, asked, SINCE, now=NOW)

    for entity, count in zip(asked, counts):
        assert ids(result, entity) == {str(n) for n in range(count)}


def test_a_capped_single_entity_continues_after_the_last_change_it_saw_without_loss_or_duplicates():
    # 2500 invoices a second apart, several sharing the boundary second of a page.
    moments = spread(2500, SINCE, timedelta(seconds=1))
    moments[999] = moments[1000] = moments[1001] = moments[998]
    qbo = FakeQbo({"Invoice": moments})

    result = collect_changes(qbo.fetch, ["Invoice"], SINCE, now=NOW)

    assert ids(result, "Invoice") == {str(n) for n in range(2500)}
    assert len(result.changes) == 2500  # the overlap of narrowed windows is not delivered twice
    starts = [since for _, since in qbo.calls]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # always moving forward
    assert len(qbo.calls) == 3


def test_deletions_sharing_the_cut_second_are_not_missed():
    # 2,000 customer changes, 30 a second; customers 990-1019 share the second the first answer is cut in,
    # and among them 995 (in it) and 1005 (cut off) are deletions (stubs come after the active objects).
    moments = [SINCE + timedelta(seconds=n // 30) for n in range(2000)]
    qbo = FakeQbo({"Customer": moments}, deleted={"Customer": {995, 1005, 1999}})

    result = collect_changes(qbo.fetch, ["Invoice", "Customer"], SINCE, now=NOW)

    assert ids(result, "Customer") == {str(n) for n in range(2000)}
    assert {change.id for change in result.changes if change.deleted} == {"995", "1005", "1999"}


@pytest.mark.parametrize("cut_grouped", [False, True])
def test_an_exclusive_changed_since_loses_nothing_either(cut_grouped):
    moments = [SINCE + timedelta(seconds=n // 20) for n in range(2500)]
    qbo = FakeQbo({"Customer": moments, "Item": spread(5, SINCE, timedelta(minutes=1))}, exclusive=True,
                  cut_grouped=cut_grouped)

    result = collect_changes(qbo.fetch, ["Item", "Customer"], SINCE - timedelta(seconds=1), now=NOW)

    assert ids(result, "Customer") == {str(n) for n in range(2500)}
    assert ids(result, "Item") == {str(n) for n in range(5)}


@pytest.mark.parametrize("exclusive", [False, True])
def test_groups_before_the_cut_one_with_later_changes_go_on_from_those(exclusive):
    # The cut group (asked last) changed early, 30 a second; the invoices before it all along: the invoices
    # go on from the answer's newest change, the customers from theirs
    qbo = FakeQbo({"Invoice": spread(1500, SINCE, timedelta(seconds=2)),
                   "Customer": [SINCE + timedelta(seconds=n // 30) for n in range(1200)]}, exclusive=exclusive)

    result = collect_changes(qbo.fetch, ["Invoice", "Customer"], SINCE - timedelta(seconds=1), now=NOW)

    assert ids(result, "Invoice") == {str(n) for n in range(1500)}
    assert ids(result, "Customer") == {str(n) for n in range(1200)}
    assert ("Invoice",) in [entities for entities, _ in qbo.calls]


BURST_ENTITIES = ["Item", "Invoice", "Payment", "Customer"]  # the poll's order: the bulk entity last


def burst(total: int, per_second: int, *,
          offset: int = 0) -> tuple[dict[str, list[datetime]], dict[str, set[int]]]:
    """`total` changes at `per_second` a second (the first second holds `per_second - offset`), as a
    spreadsheet import makes them: mostly customers, an invoice every 400th change, a payment every 700th;
    every 450th customer is merged away and every 900th invoice deleted (Deleted stubs, after the active
    objects of their group). Returns the changes and the deleted indexes, by entity."""
    changes: dict[str, list[datetime]] = {entity: [] for entity in BURST_ENTITIES}
    deleted: dict[str, set[int]] = {"Customer": set(), "Invoice": set()}
    for n in range(total):
        entity = "Invoice" if n % 400 == 399 else "Payment" if n % 700 == 699 else "Customer"
        index = len(changes[entity])
        changes[entity].append(SINCE + timedelta(seconds=(n + offset) // per_second))
        if (entity == "Customer" and index % 450 == 449) or (entity == "Invoice" and index % 3 == 2):
            deleted[entity].add(index)
    return changes, deleted


def call_bound(total: int, per_second: int) -> int:
    """The most calls `total` changes take when no second holds more than `per_second` (cdc.py's notes)."""
    return 2 + (total - 1000) // (1000 - per_second)


@pytest.mark.parametrize("offset", [0, 57, 150, 198])
@pytest.mark.parametrize("per_second", [20, 120, 199])
def test_a_burst_under_200_changes_a_second_takes_at_most_six_calls_for_5000_and_misses_nothing(
        per_second, offset):
    changes, deleted = burst(5000, per_second, offset=offset % per_second)
    qbo = FakeQbo(changes, deleted=deleted)

    result = collect_changes(qbo.fetch, BURST_ENTITIES, SINCE, now=NOW)

    # Every change once, the merged-away customers and deleted invoices as what they are...
    for entity, moments in changes.items():
        assert ids(result, entity) == {str(n) for n in range(len(moments))}
    assert len(result.changes) == 5000
    assert {(c.entity, c.id) for c in result.changes if c.deleted} == {
        (entity, str(n)) for entity, indexes in deleted.items() for n in indexes}
    # ...in at most ceil(5000 / 1000) + 1 calls: each continuation re-reads less than 200 of its first second
    assert len(qbo.calls) <= 6 == call_bound(5000, per_second)
    assert [answer.objects for answer in result.answers[:-1]] == [1000] * (len(qbo.calls) - 1)
    assert not result.answers[-1].capped
    assert all(answer.re_read <= per_second for answer in result.answers)
    assert sum(answer.objects for answer in result.answers) - result.re_read == 5000


@pytest.mark.parametrize("per_second", [200, 333, 500, 800])
def test_a_denser_burst_takes_more_calls_within_the_bound_and_misses_nothing(per_second):
    changes, deleted = burst(5000, per_second, offset=per_second // 3)
    qbo = FakeQbo(changes, deleted=deleted)

    result = collect_changes(qbo.fetch, BURST_ENTITIES, SINCE, now=NOW)

    assert len(result.changes) == 5000
    assert {(c.entity, c.id) for c in result.changes if c.deleted} == {
        (entity, str(n)) for entity, indexes in deleted.items() for n in indexes}
    assert len(qbo.calls) <= call_bound(5000, per_second)


def test_an_answer_ending_on_a_later_second_of_another_group_goes_on_in_one_call():
    # 111 changes a second, the invoices and payments of a second before its customers (a tie order QBO may
    # have): the second answer ends on an invoice of a second whose customers it has none of. Going on from
    # the customers' newest second reads that invoice again, and spends no call of its own on it.
    changes, deleted = burst(5000, 111)
    qbo = FakeQbo(changes, deleted=deleted)

    result = collect_changes(qbo.fetch, BURST_ENTITIES, SINCE, now=NOW)

    assert len(result.changes) == 5000
    assert [entities for entities, _ in qbo.calls] == [tuple(BURST_ENTITIES)] * 6


def test_from_200_changes_a_second_six_calls_cannot_be_promised():
    # 200 a second, each answer cut on the last change of a second: every continuation re-reads the 200 it
    # has of the second it resumes from (CDC has no finer position), so the sixth answer is full too
    qbo = FakeQbo({"Customer": [SINCE + timedelta(seconds=n // 200) for n in range(5000)]})

    result = collect_changes(qbo.fetch, ["Customer"], SINCE, now=NOW)

    assert len(result.changes) == 5000
    assert [answer.re_read for answer in result.answers] == [0, 200, 200, 200, 200, 200, 200]
    assert [answer.objects for answer in result.answers] == [1000] * 6 + [200]


def test_an_answer_under_the_cap_ends_the_read():
    # 1,500 changes, 17 a second: the second answer holds the last 500 (and what it re-read), and is the last
    qbo = FakeQbo({"Customer": [SINCE + timedelta(seconds=n // 17) for n in range(1500)]})

    result = collect_changes(qbo.fetch, BURST_ENTITIES, SINCE, now=NOW)

    assert len(qbo.calls) == 2 and len(result.changes) == 1500
    assert [answer.capped for answer in result.answers] == [True, False]
    assert result.answers[1].objects == 500 + result.answers[1].re_read


def test_1000_changes_within_one_second_cannot_be_narrowed():
    qbo = FakeQbo({"Customer": [SINCE + timedelta(minutes=5)] * 1200})

    with pytest.raises(QboCdcWindowError):
        collect_changes(qbo.fetch, ["Customer"], SINCE, now=NOW)


def test_the_next_watermark_is_the_earliest_complete_answer_time():
    # The capped first answer (NOW) says nothing of what came after it; the later answers are complete.
    times = iter([NOW, NOW - timedelta(seconds=30), NOW - timedelta(seconds=5)])

    class Clocked(FakeQbo):
        def fetch(self, entities, since):
            self.server_time = next(times)
            return super().fetch(entities, since)

    qbo = Clocked({entity: spread(600, SINCE, timedelta(seconds=1)) for entity in ("Customer", "Item")})

    result = collect_changes(qbo.fetch, ["Customer", "Item"], SINCE, now=NOW)

    assert result.next_changed_since == NOW - timedelta(seconds=30)


def test_thirty_days_is_the_limit():
    qbo = FakeQbo({})
    collect_changes(qbo.fetch, ["Customer"], NOW - timedelta(days=30), now=NOW)

    with pytest.raises(QboCdcWindowError, match="30 days"):
        collect_changes(qbo.fetch, ["Customer"], NOW - timedelta(days=30, seconds=1), now=NOW)
    assert len(qbo.calls) == 1  # the too-old window never reached QBO


@pytest.mark.parametrize(
    ("entities", "since"),
    [
        (["TaxCode"], SINCE),
        ([], SINCE),
        (["Customer"], SINCE.replace(tzinfo=None)),
    ],
)
def test_requests_cdc_cannot_answer_are_refused_up_front(entities, since):
    with pytest.raises(ValueError):
        collect_changes(FakeQbo({}).fetch, entities, since, now=NOW)


def test_parsing_the_documented_answer_including_a_deleted_stub():
    page = parse_cdc_page(
        {
            "CDCResponse": [
                {
                    "QueryResponse": [
                        {
                            "Customer": [
                                {
                                    "Id": "1",
                                    "SyncToken": "3",
                                    "MetaData": {"LastUpdatedTime": "2025-03-30T09:00:00-07:00"},
                                }
                            ],
                            "startPosition": 1,
                            "maxResults": 1,
                        },
                        {
                            "Invoice": [
                                {
                                    "status": "Deleted",
                                    "domain": "QBO",
                                    "Id": "979",
                                    "MetaData": {"LastUpdatedTime": "2025-03-30T10:00:00-07:00"},
                                }
                            ],
                            "startPosition": 1,
                            "maxResults": 1,
                        },
                    ]
                }
            ],
            "time": "2025-03-31T05:00:00.123-07:00",
        }
    )
    assert page.object_count == 2
    assert page.server_time == datetime(2025, 3, 31, 12, 0, 0, 123000, tzinfo=UTC)

    empty = parse_cdc_page({"CDCResponse": [{"QueryResponse": [{}]}], "time": "2025-03-31T05:00:00-07:00"})
    assert empty.object_count == 0


def test_the_client_asks_cdc_with_entities_and_an_offset_and_flags_deleted_objects():
    answer = {
        "CDCResponse": [
            {
                "QueryResponse": [
                    {
                        "Invoice": [
                            {"status": "Deleted", "Id": "979", "MetaData": {"LastUpdatedTime": stamp(SINCE)}}
                        ]
                    }
                ]
            }
        ],
        "time": stamp(NOW),
    }
    transport = StubTransport(lambda request: StubResponse.json(answer))
    client = QboClient(
        realm_id="123",
        api_base_url="https://qbo.example/v3",
        session=transport.mount_on(requests.Session()),
        clock=lambda: NOW,
    )

    result = client.changes_since(["Customer", "Invoice"], SINCE.astimezone(PACIFIC))

    [change] = result.changes
    assert change.deleted and change.entity == "Invoice" and change.id == "979"
    assert result.next_changed_since == NOW
    sent = transport.requests[0]
    assert url_path(sent) == "/v3/company/123/cdc"
    assert query_params(sent) == {
        "minorversion": "75",
        "entities": "Customer,Invoice",
        "changedSince": "2025-03-30T04:00:00-08:00",
    }
