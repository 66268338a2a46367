"""In-memory records of one company. Deleted transactions stay as tombstones so CDC can report them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Record:
    entity: str
    id: str
    data: dict[str, Any]
    created: datetime
    updated: datetime
    sync_token: int = 0
    deleted: bool = False
    voided: bool = False
    # A per-company change counter: breaks ties between changes made within the same clock tick.
    seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _id_key(record: Record) -> tuple[int, int | str]:
    # Numeric ids sort numerically ("10" after "9"); the US pseudo tax codes TAX/NON sort first.
    return (1, int(record.id)) if record.id.isdigit() else (0, record.id)


class EntityStore:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Record]] = {}
        self._next_id: dict[str, int] = {}
        self._seq = 0

    def next_id(self, entity: str) -> str:
        number = self._next_id.get(entity, 1)
        self._next_id[entity] = number + 1
        return str(number)

    def reserve_ids(self, entity: str, last_used: int) -> None:
        self._next_id[entity] = max(self._next_id.get(entity, 1), last_used + 1)

    @property
    def version(self) -> int:
        """Changes whenever any record is added or touched (for caches of derived values)."""
        return self._seq

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def add(self, record: Record) -> Record:
        record.seq = self.next_seq()
        self._records.setdefault(record.entity, {})[record.id] = record
        return record

    def touch(self, record: Record, now: datetime) -> None:
        """Mark a record changed: new SyncToken, LastUpdatedTime and change order."""
        record.sync_token += 1
        record.updated = now
        record.seq = self.next_seq()

    def get(self, entity: str, record_id: str) -> Record | None:
        return self._records.get(entity, {}).get(str(record_id))

    def live(self, entity: str) -> list[Record]:
        return sorted((r for r in self._records.get(entity, {}).values() if not r.deleted), key=_id_key)

    def every(self, entity: str) -> list[Record]:
        return sorted(self._records.get(entity, {}).values(), key=_id_key)

    def entity_names(self) -> Iterator[str]:
        return iter(list(self._records))
