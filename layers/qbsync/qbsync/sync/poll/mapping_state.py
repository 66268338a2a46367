"""Merging our keys into a mapping's state without losing the CRM → QBO side's.

`MappingsRepository.update_state` replaces the whole state if the version read is still current. Both sides
write state (this side: content hash, last status reported; the other: the deal id, amounts applied...),
so a lost race re-reads the mapping and merges again.
"""

from __future__ import annotations

from typing import Any, Protocol

from qbsync.errors import ConflictError
from qbsync.models.mapping_records import MappedObject, Mapping

_ATTEMPTS = 3


class MappingWriter(Protocol):
    def get(self, tenant_id: str, realm_id: str, object_type: MappedObject,
            crm_id: str) -> Mapping | None: ...

    def update_state(self, mapping: Mapping, state: dict[str, Any], *,
                     qbo_id: str | None = None) -> Mapping: ...


def merge_state(mappings: MappingWriter, mapping: Mapping, changes: dict[str, Any]) -> Mapping | None:
    """The mapping with `changes` merged into its state; None when it was deleted meanwhile."""
    current: Mapping | None = mapping
    for attempt in range(_ATTEMPTS):
        assert current is not None
        try:
            return mappings.update_state(current, {**current.state, **changes})
        except ConflictError:
            if attempt == _ATTEMPTS - 1:
                raise
            current = mappings.get(current.tenant_id, current.realm_id, current.object_type, current.crm_id)
            if current is None:
                return None
    return None  # pragma: no cover - the loop returns or raises
