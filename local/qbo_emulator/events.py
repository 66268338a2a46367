"""A change to one entity, as webhooks report it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Legacy operation name -> CloudEvents verb (qbo.<entity>.<verb>.v1).
CLOUDEVENT_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
    "Emailed": "emailed",
}


@dataclass(frozen=True)
class ChangeEvent:
    realm_id: str
    entity: str
    entity_id: str
    operation: str  # Create | Update | Delete | Merge | Void | Emailed
    time: datetime  # UTC
    deleted_id: str | None = None  # Merge only: the record merged away
