"""Change Data Capture: reading every change since a time, although QBO caps each answer (QBO.md §3).

QBO answers `GET /cdc?entities=..&changedSince=..` with at most 1000 objects, grouped by entity, each group by
last-updated time with deleted objects after the active ones; it looks back at most 30 days and has no upper
bound on the window. An answer of 1000 objects may be cut short. A capped answer keeps the oldest changes
(QBO.md §11): everything older than its newest `LastUpdatedTime` is in it, deletions included. So nothing of
a capped answer is thrown away, and the next call goes on where it ended:
1. the group the cut fell in (the answer's last) goes on from its newest `LastUpdatedTime`, together with
   the groups before it and the entities asked before it that had no change: every call asks for all of
   them, so each answer is full until the last one. They must be asked again: an answer that keeps the
   oldest changes of all the entities together is complete for each of them only up to its cut, so a
   group that looks finished may still have later changes. Were QBO to cut the grouped list itself
   rather than keep the oldest, the groups before the cut one would be complete and those silent
   entities unchanged, so the active objects are all read either way; the deleted ones of the cut group
   would not be (they come after its active ones, so behind the cut, older than where it goes on): that
   reading loses deletions whatever a client does, so §11's is the one this relies on. When the groups
   before hold many later changes than the cut one (a tenth of an answer), they go on from the answer's
   newest change, in a call of their own; a few are read again with the cut group instead, which saves
   that call;
2. entities asked after the cut group, of which the answer shows nothing, are asked again from the
   window's start, together (the caller asks for the entity most likely to change in bulk last, so this
   is rare). The same holds when the groups do not come in the order asked;
3. a call from a second already read returns that second's objects again when `changedSince` is
   inclusive (the emulator's choice; QBO does not say): they are dropped as duplicates here. The first
   continuation checks it: when no object of that second comes back, it is asked again a second earlier,
   and so is every later one, so an exclusive `changedSince` loses nothing either;
4. 1000+ changes of one entity within one second cannot be paged: `QboCdcWindowError` says so (re-sync that
   entity by query).

Whole-second stamps are the limit: CDC has no cursor, and an answer's newest second may be cut anywhere, so
each continuation starts at that second and re-reads what it already has of it (`CdcAnswer.re_read`; up to
`d` objects when no second holds more than `d` changes). Every answer after the first then brings at least
1000 - d new changes, so a burst of N changes takes at most 2 + (N - 1000) // (1000 - d) calls (N > 1000,
d < 1000): 5,000 in 6 calls while no second holds 200 or more. From 200 a second 7 can happen (when each cut
falls on the last change of its second, each of the five continuations re-reads 200 and the sixth answer is
full too); how often depends on where the cuts fall within their seconds (bench/README.md), and 1000 in one
second cannot be paged at all. Reading the rest by query instead would skip the re-reads but not see
deleted or merged objects, which only CDC reports, and a CDC call to find those reads the same window
again, active objects first.
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
# Groups before the cut one that went on past it are asked again with it, from where it was cut, when that
# reads fewer than this again: a call saved carries up to 1000 objects, and more to read again would be read
# again by every later continuation too.
_FEW_TO_READ_AGAIN = CDC_MAX_OBJECTS // 10


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
class CdcAnswer:
    """What one CDC call brought: how many objects, and how many of them were already held (the part of the
    second a continuation resumes from that the previous answer had)."""

    entities: tuple[str, ...]
    since: datetime
    objects: int
    re_read: int

    @property
    def capped(self) -> bool:
        return self.objects >= CDC_MAX_OBJECTS


@dataclass(frozen=True)
class CdcResult:
    changes: list[CdcChange] = field(default_factory=list)
    next_changed_since: datetime | None = None
    # One per call, in the order made: why a read took the calls it took.
    answers: list[CdcAnswer] = field(default_factory=list)

    @property
    def re_read(self) -> int:
        return sum(answer.re_read for answer in self.answers)


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


@dataclass(frozen=True)
class _Ask:
    entities: tuple[str, ...]
    since: datetime
    # Set when `since` is the newest stamp of objects already held: the answer tells whether changedSince
    # is inclusive.
    resumes: bool = False


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class _Collector:
    def __init__(self, fetch_page: Callable[[Sequence[str], datetime], CdcPage]) -> None:
        self._fetch_page = fetch_page
        self._seen: set[tuple[str, str, str]] = set()
        self.changes: list[CdcChange] = []
        self.answers: list[CdcAnswer] = []
        self.watermark: datetime | None = None
        self._inclusive: bool | None = None  # unknown until a continuation answers

    def run(self, first: _Ask) -> None:
        pending: deque[_Ask] = deque([first])
        while pending:
            ask = pending.popleft()
            page = self._fetch_page(ask.entities, ask.since)
            self.answers.append(CdcAnswer(entities=ask.entities, since=ask.since, objects=page.object_count,
                                          re_read=self._keep(page)))
            if ask.resumes and self._inclusive is None:
                self._inclusive = any(_second(stamp) == _second(ask.since)
                                      for items in page.objects.values() for stamp in _stamps(items))
                if not self._inclusive:
                    # Nothing of the second resumed from came back: changedSince may be exclusive, and that
                    # second's objects the cut left out were skipped. Ask from a second earlier, as every
                    # continuation waiting and to come.
                    pending = deque(_Ask(waiting.entities, waiting.since - _OVERLAP) if waiting.resumes
                                    else waiting for waiting in [ask, *pending])
                    continue
            if page.object_count < CDC_MAX_OBJECTS:
                self.watermark = page.server_time if self.watermark is None else min(self.watermark,
                                                                                      page.server_time)
                continue
            pending.extend(self._after_cut(ask, page))

    def _keep(self, page: CdcPage) -> int:
        """Keeps what is new; returns how many objects were already held (the same version read again)."""
        re_read = 0
        for name, items in page.objects.items():
            for obj in items:
                stamp = (obj.get("MetaData") or {}).get("LastUpdatedTime", "")
                key = (name, str(obj.get("Id")), f"{stamp}|{obj.get('SyncToken')}|{obj.get('status')}")
                if key in self._seen:
                    re_read += 1
                    continue
                self._seen.add(key)
                self.changes.append(CdcChange(entity=name, object=obj))
        return re_read

    def _after_cut(self, ask: _Ask, page: CdcPage) -> list[_Ask]:
        """The calls that continue a capped answer (see the module's notes). Each one starts later than
        `ask` or asks for fewer entities, so the narrowing ends."""
        answered = [name for name in page.objects if name in ask.entities and page.objects[name]]
        if not answered:
            raise QboServerError("QBO's CDC answer hit the cap without any of the entities asked for")
        cut = answered[-1]
        if [name for name in ask.entities if name in answered] == answered:
            # Groups come in the order asked: the silent entities before the cut group had no change.
            head = ask.entities[:ask.entities.index(cut) + 1]
        else:
            head = tuple(name for name in ask.entities if name in answered)
        tail = tuple(name for name in ask.entities if name not in head)
        newest = {name: self._resume_point(name, page.objects[name]) for name in answered}
        asks = [_Ask(tail, ask.since)] if tail else []
        group = head
        before = tuple(name for name in head if name != cut)
        top = max(newest.values())
        if before and _second(top) > _second(newest[cut]) and (
                _second(newest[cut]) <= _second(ask.since)
                or self._read_again(page, before, newest[cut], top) >= _FEW_TO_READ_AGAIN):
            # Groups before the cut one hold many later changes (complete up to the answer's newest): they go
            # on from there, the cut group from where it was cut. With only a few, one call from where the
            # cut group was cut reads them again instead (a tie order within a second that puts the cut
            # group's changes of the last second behind the others' does that in a mixed burst).
            asks.insert(0, _Ask(before, top, resumes=self._inclusive is None))
            group = (cut,)
        if _second(newest[cut]) > _second(ask.since):
            return [_Ask(group, newest[cut], resumes=self._inclusive is None), *asks]
        if len(group) > 1:
            # The cut group's changes all share the window's first second: ask each entity on its own.
            return [*(_Ask((name,), ask.since) for name in group), *asks]
        if len(ask.entities) > 1:
            return [_Ask(group, ask.since), *asks]
        raise QboCdcWindowError(
            f"{cut} has {CDC_MAX_OBJECTS}+ changes within a second after {ask.since.isoformat()}; "
            "CDC cannot page through them: re-sync by query"
        )

    @staticmethod
    def _read_again(page: CdcPage, entities: Sequence[str], since: datetime, until: datetime) -> int:
        """How many of `entities`' objects in `page` a call from `since` reads again that one from `until`
        would not."""
        return sum(1 for name in entities for stamp in _stamps(page.objects.get(name, []))
                   if _second(since) <= _second(stamp) < _second(until))

    def _resume_point(self, entity: str, objects: Sequence[Mapping[str, Any]]) -> datetime:
        stamps = _stamps(objects)
        if len(stamps) < len(objects):
            raise QboCdcWindowError(
                f"CDC answer for {entity} hit the cap without LastUpdatedTime to narrow by")
        return max(stamps) - (_OVERLAP if self._inclusive is False else timedelta(0))


def _stamps(objects: Sequence[Mapping[str, Any]]) -> list[datetime]:
    return [stamp for obj in objects if (stamp := last_updated_time(obj)) is not None]


def collect_changes(
    fetch_page: Callable[[Sequence[str], datetime], CdcPage],
    entities: Sequence[str],
    changed_since: datetime,
    *,
    now: datetime,
) -> CdcResult:
    check_window(entities, changed_since, now)
    collector = _Collector(fetch_page)
    collector.run(_Ask(tuple(dict.fromkeys(entities)), changed_since))
    return CdcResult(changes=collector.changes, next_changed_since=collector.watermark,
                     answers=collector.answers)
