"""Recognising what qbsync itself wrote into QBO, so it never comes back to the CRM as if a QBO user had
made it (issue 6 §9).

Two signals, either one enough:
1. the tag the CRM → QBO side writes into what it creates (`invoice_mapping.private_note`): Customer
   `Notes`, and `PrivateNote` on invoices, payments and sales receipts, e.g. `[qbsync crm_invoice_id=inv_1]`.
   It is in QBO before any mapping is written, so it also covers the moment between the two writes;
2. a mapping not marked `origin: "qbo"`: the CRM → QBO side made or linked it (e.g. it matched an existing
   QBO customer by e-mail), so the CRM already has that record under its own id.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from typing import Any

from qbsync.models.mapping_records import Mapping
from qbsync.sync.invoice_mapping import PRIVATE_NOTE_TAG

ORIGIN_QBO = "qbo"
_NOTE_FIELDS = ("Notes", "PrivateNote")


def qbsync_tag(obj: MappingType[str, Any], kind: str | None = None) -> str | None:
    """The CRM id in the object's qbsync tag (of `kind`, e.g. "crm_invoice_id", or any kind)."""
    for field in _NOTE_FIELDS:
        for match in PRIVATE_NOTE_TAG.finditer(str(obj.get(field) or "")):
            if kind is None or match.group("kind") == kind:
                return match.group("id")
    return None


def made_by_qbo_side(mapping: Mapping | None) -> bool:
    return mapping is not None and mapping.state.get("origin") == ORIGIN_QBO


def written_by_crm_side(obj: MappingType[str, Any], mapping: Mapping | None) -> bool:
    return qbsync_tag(obj) is not None or (mapping is not None and not made_by_qbo_side(mapping))
