"""Change Data Capture: reading every change since a time, although QBO caps each answer (QBO.md §3).

QBO answers `GET /cdc?entities=..&changedSince=..` with at most 1000 objects, looks back at most 30 days,
and has no upper bound on the window. So when an answer holds 1000 objects it may be cut short, and the
window is narrowed until every answer fits:
1. an answer for several entities that hits the cap is discarded and each entity asked for on its own;
2. a single entity that still hits the cap keeps what it got (QBO keeps the oldest changes, QBO.md §11)
   and is asked again from its latest `LastUpdatedTime`, less one second: whether QBO's `changedSince` is
   inclusive or not, objects sharing that last timestamp come again rather than being lost, and are
   dropped as duplicates here. If that does not move the window forward (1000+ changes of one entity
   within a second), `QboCdcWindowError` says so: re-sync that entity by query.

`next_changed_since` is the earliest server `time` of the answers that were complete: the next poll starts
there (QBO's clock, not ours). Changes may come twice across polls; consumers compare SyncTokens anyway.
`collect_changes` is pure; the client passes its HTTP call in as `fetch_page`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qbsync.clients.qbo.errors import QboCdcWindowError, QboServerError

CDC_MAX_OBJECTS = 1000
CDC_MAX_LOOKBACK = timedelta(days=30)
# The documented entities CDC refuses (QBO.md §3).
CDC_UNSUPPORTED_ENTITIES = frozenset({"JournalCode", "TaxAgency", "TimeActivity", "TaxCode", "TaxRate"})
_OVERLAP = timedelta(seconds=1)


@dataclass(frozen=True)
class CdcPage:
    """One CDC answer: objects by entity name, and QBO's `time` when it answered."""

    objects: dict[str, list[dict[str, Any]]]
    server_time: datetime

    @property
    def object_count(self) -> int:
        return sum(len(items) for items in self.objects.values())


@dataclass(frozen=True)
class CdcChange:
    entity: str
    object: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.object.get("Id"))

    @property
    def deleted(self) -> bool:
        # A deleted object comes back as a stub: {"status": "Deleted", "Id", "MetaData"} (QBO.md §3).
        return self.object.get("status") == "Deleted"

    @property
    def last_updated(self) -> datetime | None:
        return last_updated_time(self.object)


@dataclass(frozen=True)
class CdcResult:
    changes: list[CdcChange] = field(default_factory=list)
    next_changed_since: datetime | None = None


def parse_time(text: str) -> datetime:
    # QBO writes "2015-07-24T10:33:39-07:00" (sometimes with milliseconds).
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def last_updated_time(obj: Mapping[str, Any]) -> datetime | None:
    meta = obj.get("MetaData")
    stamp = meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None
    return parse_time(stamp) if isinstance(stamp, str) else None


def parse_cdc_page(envelope: Mapping[str, Any]) -> CdcPage:
    """`{"CDCResponse": [{"QueryResponse": [{"Customer": [...], ...}, ...]}], "time": ...}`."""
    try:
        server_time = parse_time(envelope["time"])
        responses = envelope["CDCResponse"]
    except (KeyError, TypeError, ValueError) as error:
        raise QboServerError(
            f"QBO's CDC answer is not in the documented shape ({type(error).__name__})"
        ) from error
    objects: dict[str, list[dict[str, Any]]] = {}
    for response in responses or []:
        for query_response in (response or {}).get("QueryResponse") or []:
            for name, value in (query_response or {}).items():
                if isinstance(value, list):
                    objects.setdefault(name, []).extend(value)
    return CdcPage(objects=objects, server_time=server_time)


def check_window(entities: Sequence[str], changed_since: datetime, now: datetime) -> None:
    if changed_since.tzinfo is None:
        raise ValueError("changed_since needs a UTC offset")
    unsupported = sorted(set(entities) & CDC_UNSUPPORTED_ENTITIES)
    if unsupported:
        raise ValueError(f"CDC does not cover {', '.join(unsupported)}")
    if not entities:
        raise ValueError("name at least one entity")
    if now - changed_since > CDC_MAX_LOOKBACK:
        raise QboCdcWindowError(
            f"CDC looks back at most {CDC_MAX_LOOKBACK.days} days; changes since {changed_since.isoformat()} "
            "need a full re-sync by query"
        )


def collect_changes(
    fetch_page: Callable[[Sequence[str], datetime], CdcPage],
    entities: Sequence[str],
    changed_since: datetime,
    *,
    now: datetime,
) -> CdcResult:
    check_window(entities, changed_since, now)
    pending: deque[tuple[tuple[str, ...], datetime]] = deque([(tuple(entities), changed_since)])
    seen: set[tuple[str, str, str]] = set()
    changes: list[CdcChange] = []
    watermark: datetime | None = None

    def keep(page: CdcPage) -> None:
        for name, items in page.objects.items():
            for obj in items:
                stamp = (obj.get("MetaData") or {}).get("LastUpdatedTime", "")
                key = (name, str(obj.get("Id")), f"{stamp}|{obj.get('SyncToken')}|{obj.get('status')}")
                if key not in seen:
                    seen.add(key)
                    changes.append(CdcChange(entity=name, object=obj))

    while pending:
        group, since = pending.popleft()
        page = fetch_page(group, since)
        if page.object_count < CDC_MAX_OBJECTS:
            keep(page)
            watermark = page.server_time if watermark is None else min(watermark, page.server_time)
            continue
        if len(group) > 1:
            pending.extend(((entity,), since) for entity in group)
            continue
        keep(page)
        stamps = [last_updated_time(obj) for items in page.objects.values() for obj in items]
        if any(stamp is None for stamp in stamps):
            raise QboCdcWindowError(
                f"CDC answer for {group[0]} hit the cap without LastUpdatedTime to narrow by"
            )
        newest = max(stamp for stamp in stamps if stamp is not None)
        next_since = newest - _OVERLAP
        if next_since <= since:
            # Two busy neighbouring seconds can fill an answer without either holding 1000 changes:
            # continue from the newest change itself (changedSince is inclusive; repeats are dropped).
            next_since = newest
        if next_since <= since:
            raise QboCdcWindowError(
                f"{group[0]} has {CDC_MAX_OBJECTS}+ changes within a second after {since.isoformat()}; "
                "CDC cannot page through them: re-sync by query"
            )
        pending.append((group, next_since))
    return CdcResult(changes=changes, next_changed_since=watermark)
