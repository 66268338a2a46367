"""A mapping pairs a CRM record with the QBO object qbsync made or matched for it (SPEC "Words")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

MappedObject = Literal["customers", "items", "invoices", "payments", "sales_receipts", "deals"]

# The state key of an invoice pair that names its CRM deal: written by the CRM event side (from the invoice's
# `deal_id`), read by the poll to send the deal's roll-up when QBO changes the invoice (F8). One name for both.
INVOICE_STATE_DEAL_ID = "deal_id"
# Set on an invoice pair, in the same write that records a change applied in QBO, to the event that still owes
# the CRM its status report (F8); cleared once the report went through. A retry of that event (or any later
# one) finds its change already applied and would otherwise skip the report for good.
INVOICE_STATE_STATUS_OWED = "status_owed"
# The SyncToken of the newest QBO invoice state reported to the CRM, by either side (the event worker after
# each change, the poll after each report): the poll never sends an older state, which it would when it read
# QBO just before a change the worker has reported since (its report landing last). A SyncToken, not
# LastUpdatedTime: QBO stamps whole seconds, and a payment often follows its invoice within the second.
INVOICE_STATE_REPORTED_VERSION = "reported_qbo_sync_token"


def _sync_token(value: Any) -> int | None:
    return int(value) if value is not None and str(value).isdigit() else None


def newest_reported_version(recorded: Any, qbo_object: dict[str, Any]) -> int | None:
    """The newer of a pair's recorded `INVOICE_STATE_REPORTED_VERSION` and the SyncToken of a QBO state just
    reported (a deleted stub has none)."""
    versions = [v for v in (_sync_token(recorded), _sync_token(qbo_object.get("SyncToken"))) if v is not None]
    return max(versions, default=None)


def is_older_than_reported(recorded: Any, qbo_object: dict[str, Any]) -> bool:
    newest, token = _sync_token(recorded), _sync_token(qbo_object.get("SyncToken"))
    return newest is not None and token is not None and token < newest


# The CRM payments (`{crm invoice id}:{payment id}`) already added into the pair's `amount_paid`.
INVOICE_STATE_PAYMENTS_COUNTED = "payments_counted"


class Mapping(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    object_type: MappedObject
    crm_id: str
    qbo_id: str
    created_at: datetime
    updated_at: datetime
    # What the sync needs to remember per pair: the CRM's `updated_at` last applied (stale snapshots are
    # skipped), the amount paid last applied, a content hash (unchanged records are skipped), ...
    state: dict[str, Any] = {}
    version: int = 1


class WaitingEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    # Sent back to the events queue by the release (False: still parked on the dead-letter queue).
    released: bool = False


class InvoiceHold(BaseModel):
    """An invoice whose `invoice.sent` went to the dead-letter queue before QBO had the invoice (G2, G3).

    Its later events (updated, paid, voided, deleted) must neither be dropped nor applied before the invoice
    exists, so they are parked on the dead-letter queue behind the sent and listed here in arrival order. When
    the sent is finally applied (after the fix and a redrive), the hold is *released*: the parked events go
    back to the queue and are let through in that order; the hold is removed once none is left."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    realm_id: str
    crm_id: str  # the CRM invoice id
    reason: str  # the sent's dead-letter reason code
    releasing: bool = False
    waiting: tuple[WaitingEvent, ...] = ()
    version: int = 0  # 0: not stored yet
