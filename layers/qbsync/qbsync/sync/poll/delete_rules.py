"""What a deleted, merged-away or deactivated QBO customer or item does in the CRM (F6, F7). Pure.

The tenant's rule says `ignore` (the CRM record stays as it is), `archive` or `delete`. Only records qbsync
sent to the CRM (a mapping marked `origin: "qbo"`) are acted on: anything else has no CRM record of ours.
An archived record that comes back to life in QBO is upserted again, which restores it in the CRM.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from dataclasses import dataclass
from typing import Any, Literal

from qbsync.models.mapping_records import Mapping
from qbsync.models.tenant_settings import DeleteRule
from qbsync.sync.poll.qbo_objects import is_deleted, is_inactive

Action = Literal["upsert", "archive", "delete", "skip"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(obj: MappingType[str, Any], *, rule: DeleteRule, mapping: Mapping | None) -> Decision:
    gone = is_deleted(obj)
    if not gone and not is_inactive(obj):
        return Decision("upsert", "active")
    what = "deleted" if gone else "inactive"
    if mapping is None:
        return Decision("skip", f"{what}_never_synced")
    if rule == "ignore":
        return Decision("skip", f"{what}_rule_ignore")
    if rule == "archive":
        if mapping.state.get("archived"):
            return Decision("skip", f"{what}_already_archived")
        return Decision("archive", what)
    return Decision("delete", what)
