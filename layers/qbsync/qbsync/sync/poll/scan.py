"""A full scan by paged query (QBO.md §2.4): the backfill on connect, and the re-scan after a watermark older
than CDC's 30 days. Few QBO calls is the point: 5,000 customers and their items take 6.

Each call asks for at most `PAGE_SIZE` (1000) objects, QBO's page limit and the most a batch may return:
- the first call of a scan is one batch: `COUNT(*)` of every entity still to scan, plus the first page of
  the first one. Knowing the totals, no call is spent on an empty page to learn that the last one was last;
- then pages, with what is left of one entity and the start of the next in the same batch when together
  they fit in one page (e.g. the last 200 customers and the first 800 items).

`plan_call` is pure; `ScanFetcher` runs a plan against QBO. Pages are ordered by Id, so a cursor's
STARTPOSITION stays valid across Lambdas; objects created meanwhile have later Ids and a later
LastUpdatedTime, and CDC picks them up from the scan's watermark (set before the scan began).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qbsync.clients.qbo.batch import MAX_BATCH_ITEMS, BatchOperation
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.query import Condition, count, entities_in, select
from qbsync.models.poll_messages import ScanCursor, ScanProgress

PAGE_SIZE = 1000
BACKFILL_ENTITIES = ("Customer", "Item")
RESCAN_ENTITIES = ("Customer", "Item", "Invoice")
_NAME_LISTS = frozenset({"Customer", "Item"})


@dataclass(frozen=True)
class CountRequest:
    entity: str


@dataclass(frozen=True)
class PageRequest:
    entity: str
    start: int
    size: int


Request = CountRequest | PageRequest


def conditions_for(progress: ScanProgress, entity: str) -> list[Condition]:
    """Backfill: what exists (QBO hides inactive customers and items unless asked). Re-scan: whatever changed
    since the stale watermark, inactive included, so deactivations still follow the delete rules."""
    if progress.kind == "backfill" or progress.since is None:
        return []
    conditions: list[Condition] = []
    if entity in _NAME_LISTS:
        conditions.append(("Active", "IN", [True, False]))
    conditions.append(("MetaData.LastUpdatedTime", ">=", progress.since))
    return conditions


def plan_call(entities: Sequence[str], cursors: dict[str, ScanCursor], *, page_size: int = PAGE_SIZE
              ) -> list[Request]:
    pending = [entity for entity in entities if not cursors.get(entity, ScanCursor()).done]
    if not pending:
        return []
    requests: list[Request] = [CountRequest(entity) for entity in pending
                               if cursors.get(entity, ScanCursor()).total is None]
    room = page_size
    for entity in pending:
        cursor = cursors.get(entity, ScanCursor())
        if cursor.total is None:
            requests.append(PageRequest(entity, cursor.next_start, room))
            break  # how many it has is unknown until this answer: nothing else fits for sure
        size = min(room, cursor.total - cursor.next_start + 1)
        if size <= 0:
            continue
        requests.append(PageRequest(entity, cursor.next_start, size))
        room -= size
        if room <= 0 or len(requests) >= MAX_BATCH_ITEMS:
            break
    return requests


def advance(cursors: dict[str, ScanCursor], requests: Sequence[Request], *, totals: dict[str, int],
            pages: dict[str, list[dict[str, Any]]]) -> dict[str, ScanCursor]:
    """The cursors after a call that answered `totals` (COUNT) and `pages` (objects per entity)."""
    updated = dict(cursors)
    for entity, total in totals.items():
        cursor = updated.get(entity, ScanCursor())
        updated[entity] = cursor.model_copy(update={"total": total})
    for request in requests:
        if not isinstance(request, PageRequest):
            continue
        cursor = updated.get(request.entity, ScanCursor())
        got = len(pages.get(request.entity, []))
        next_start = cursor.next_start + got
        done = got < request.size or (cursor.total is not None and next_start > cursor.total)
        updated[request.entity] = cursor.model_copy(update={"next_start": next_start,
                                                            "sent": cursor.sent + got, "done": done})
    for entity, cursor in list(updated.items()):
        if cursor.total is not None and not cursor.done and cursor.next_start > cursor.total:
            updated[entity] = cursor.model_copy(update={"done": True})
    return updated


class ScanFetcher:
    def __init__(self, qbo: QboClient, *, request_key: Sequence[str]) -> None:
        self._qbo = qbo
        self._request_key = tuple(request_key)
        self._calls = 0

    def fetch(self, progress: ScanProgress, requests: Sequence[Request]
              ) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]]]:
        statements = [self._statement(progress, request) for request in requests]
        self._calls += 1
        if len(requests) == 1 and isinstance(requests[0], PageRequest):
            return {}, {requests[0].entity: self._qbo.query(statements[0])}
        # A batch of queries writes nothing; its requestid only has to differ from every other call's, or
        # QBO would replay an earlier answer to the same statements.
        results = self._qbo.batch([BatchOperation.query(statement) for statement in statements],
                                  request_key=(*self._request_key, self._calls))
        totals: dict[str, int] = {}
        pages: dict[str, list[dict[str, Any]]] = {}
        for request, result in zip(requests, results, strict=True):
            if result.error is not None:
                raise result.error
            response = result.query_response or {}
            if isinstance(request, CountRequest):
                totals[request.entity] = int(response.get("totalCount", 0))
            else:
                pages.setdefault(request.entity, []).extend(entities_in(response))
        return totals, pages

    @staticmethod
    def _statement(progress: ScanProgress, request: Request) -> str:
        conditions = conditions_for(progress, request.entity)
        if isinstance(request, CountRequest):
            return count(request.entity, conditions=conditions)
        return select(request.entity, conditions=conditions, order_by="Id", start_position=request.start,
                      max_results=request.size)


def new_scan(kind: str, *, entities: Sequence[str], watermark: datetime, started_at: datetime,
             since: datetime | None = None) -> ScanProgress:
    return ScanProgress(kind=kind, watermark=watermark, since=since, started_at=started_at,  # type: ignore[arg-type]
                        cursors={entity: ScanCursor() for entity in entities})
