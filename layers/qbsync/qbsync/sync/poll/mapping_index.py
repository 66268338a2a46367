"""QBO id → mapping for one company and object type, loaded the cheapest way for how many are asked.

A few ids (a CDC poll): one index query per id. Many (a backfill page, a busy poll): the whole partition of
the mappings table in a few queries, once per job. Where two mappings name the same QBO object (the CRM →
QBO side linked a QBO customer to a CRM contact that qbsync had also sent), the CRM side's wins: treating
the object as the CRM's is the loop-safe reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from qbsync.models.mapping_records import MappedObject, Mapping
from qbsync.sync.poll.loop_guard import made_by_qbo_side

LIST_THRESHOLD = 25


class MappingLookup(Protocol):
    def find_by_qbo_id(self, tenant_id: str, realm_id: str, object_type: MappedObject,
                       qbo_id: str) -> Mapping | None: ...


class MappingLister(Protocol):
    def iter_all(self, tenant_id: str, realm_id: str, object_type: MappedObject) -> Iterator[Mapping]: ...


class MappingIndex:
    def __init__(self, *, lookup: MappingLookup, lister: MappingLister, tenant_id: str, realm_id: str,
                 object_type: MappedObject) -> None:
        self._lookup = lookup
        self._lister = lister
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self.object_type = object_type
        self._known: dict[str, Mapping | None] = {}
        self._listed = False

    def load(self, qbo_ids: Iterable[str]) -> None:
        missing = [qbo_id for qbo_id in dict.fromkeys(qbo_ids) if qbo_id not in self._known]
        if not missing or self._listed:
            return
        if len(missing) > LIST_THRESHOLD:
            for mapping in self._lister.iter_all(self._tenant_id, self._realm_id, self.object_type):
                self._keep(mapping)
            self._listed = True
            return
        for qbo_id in missing:
            self._known[qbo_id] = self._lookup.find_by_qbo_id(self._tenant_id, self._realm_id,
                                                              self.object_type, qbo_id)

    def get(self, qbo_id: str) -> Mapping | None:
        if qbo_id not in self._known and not self._listed:
            self.load([qbo_id])
        return self._known.get(qbo_id)

    def remember(self, mapping: Mapping) -> None:
        self._known[mapping.qbo_id] = mapping

    def forget(self, qbo_id: str) -> None:
        self._known[qbo_id] = None

    def _keep(self, mapping: Mapping) -> None:
        current = self._known.get(mapping.qbo_id)
        if current is None or (made_by_qbo_side(current) and not made_by_qbo_side(mapping)):
            self._known[mapping.qbo_id] = mapping
