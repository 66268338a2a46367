"""Reading QBO objects as CDC and queries return them (QBO.md §2.3, §3). Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from qbsync.clients.qbo.cdc import last_updated_time


def qbo_id(obj: Mapping[str, Any]) -> str:
    return str(obj.get("Id", ""))


def is_deleted(obj: Mapping[str, Any]) -> bool:
    """A deleted object, or a customer merged into another, is a stub `{"status": "Deleted", ...}`."""
    return obj.get("status") == "Deleted"


def is_inactive(obj: Mapping[str, Any]) -> bool:
    return obj.get("Active") is False


def ref_value(obj: Mapping[str, Any], name: str) -> str | None:
    ref = obj.get(name)
    value = ref.get("value") if isinstance(ref, Mapping) else None
    return str(value) if value not in (None, "") else None


def ref_name(obj: Mapping[str, Any], name: str) -> str | None:
    ref = obj.get(name)
    value = ref.get("name") if isinstance(ref, Mapping) else None
    return str(value) if value else None


def amount(obj: Mapping[str, Any], name: str) -> Decimal:
    return Decimal(str(obj.get(name, 0) or 0))


def updated_at_text(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("MetaData")
    stamp = meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None
    return str(stamp) if stamp else None


def version_of(obj: Mapping[str, Any]) -> str:
    """What identifies this state of the object: its SyncToken, or its deletion time for a stub."""
    if is_deleted(obj):
        return f"deleted@{updated_at_text(obj) or ''}"
    return str(obj.get("SyncToken", ""))


def latest_by_id(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One object per Id, the most recent (CDC may return an object twice across narrowed windows), in
    first-seen order. A deletion wins over an earlier live version."""
    latest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        key = qbo_id(obj)
        current = latest.get(key)
        if current is None or _newer(obj, current):
            latest[key] = dict(obj)
    return list(latest.values())


def _newer(candidate: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    new_time, old_time = last_updated_time(candidate), last_updated_time(current)
    if is_deleted(candidate) and not is_deleted(current):
        return True
    if new_time is not None and old_time is not None and new_time != old_time:
        return new_time > old_time
    try:
        return int(candidate.get("SyncToken", -1)) > int(current.get("SyncToken", -1))
    except (TypeError, ValueError):
        return False


def linked_invoice_ids(payment: Mapping[str, Any]) -> list[str]:
    ids: list[str] = []
    for line in payment.get("Line") or []:
        for link in (line or {}).get("LinkedTxn") or []:
            if str((link or {}).get("TxnType", "")).lower() == "invoice" and link.get("TxnId"):
                ids.append(str(link["TxnId"]))
    return ids
