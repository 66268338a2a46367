"""The QBO → CRM side's boundary models (SPEC F5-F10, issue 6): QBO webhook payloads as Intuit sends them,
and the per-company sync state the poll keeps in the connections table.

Webhook models ignore unknown fields (Intuit adds fields; an odd entity must never turn a notification into
a 400, QBO.md §7.4). Sync-state records are ours: they forbid unknown fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- QBO webhooks (QBO.md §7) ------------------------------------------------------------------------


class _IntuitModel(BaseModel):
    # defer_build here and on _Record: each handler uses a few of these models (the QBO webhook its payloads,
    # the scheduler SyncState); validators are built on first use, not at import (bench/ cold start).
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class LegacyEntity(_IntuitModel):
    name: str = ""
    id: str = ""
    operation: str = ""
    deleted_id: str | None = Field(default=None, alias="deletedId")


class LegacyDataChangeEvent(_IntuitModel):
    entities: list[LegacyEntity] = []


class LegacyNotification(_IntuitModel):
    realm_id: str = Field(default="", alias="realmId")
    data_change_event: LegacyDataChangeEvent = Field(default_factory=LegacyDataChangeEvent,
                                                     alias="dataChangeEvent")


class LegacyPayload(_IntuitModel):
    """`{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [...]}}]}` (being retired)."""

    event_notifications: list[LegacyNotification] = Field(default_factory=list, alias="eventNotifications")


class CloudEvent(_IntuitModel):
    """One element of the CloudEvents array: `type` is `qbo.<entity>.<verb>.v1`, the realm is
    `intuitaccountid`; `data` is `{}` in every sample, so the entity is re-read, never trusted."""

    id: str = ""
    type: str = ""
    time: str | None = None
    intuit_entity_id: str | None = Field(default=None, alias="intuitentityid")
    intuit_account_id: str = Field(default="", alias="intuitaccountid")

    @property
    def entity(self) -> str:
        parts = self.type.split(".")
        return parts[1] if len(parts) >= 3 and parts[0] == "qbo" else ""


# --- sync state (connections table, pk TENANT#{tenant}) ----------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ScanCursor(_Record):
    """Where a paged scan of one entity stands: the next 1-based STARTPOSITION and how many there are."""

    next_start: int = 1
    total: int | None = None
    sent: int = 0
    done: bool = False


class ScanProgress(_Record):
    """A full scan by query: the backfill on connect, or the re-scan after a watermark older than CDC's 30
    days. Saved after every page, so a redelivered job continues where the last one stopped."""

    kind: Literal["backfill", "rescan"]
    status: Literal["running", "done"] = "running"
    # The watermark the scan hands over to CDC when it is done (set when the scan starts).
    watermark: datetime
    # Re-scan only: objects changed since then (the stale watermark, less the overlap).
    since: datetime | None = None
    cursors: dict[str, ScanCursor] = {}
    started_at: datetime
    completed_at: datetime | None = None


class SyncState(_Record):
    """One company's poll bookkeeping. `version` guards every write (0 = never written)."""

    tenant_id: str
    realm_id: str
    version: int = 0
    # QBO's own time of the last CDC answer the CRM accepted everything up to (never our clock).
    watermark: datetime | None = None
    last_success_at: datetime | None = None
    # When the last successful poll began: a job requested before it is already covered by that poll.
    last_success_started_at: datetime | None = None
    last_counts: dict[str, int] = {}
    scan: ScanProgress | None = None
    # The company-local day the overdue check last ran, and the UTC moment the next one is due.
    overdue_checked_on: date | None = None
    next_overdue_check_at: datetime | None = None

    @property
    def scanning(self) -> bool:
        return self.scan is not None and self.scan.status == "running"


class ReviewMarker(_Record):
    """`REVIEW#{realm}#{qbo customer}`: the one review request a customer ever gets (F10). Written before
    the CRM is called, with the exact body, so a retry resends the same body under the same key."""

    tenant_id: str
    realm_id: str
    qbo_customer_id: str
    status: Literal["pending", "sent"]
    request: dict[str, Any]
    created_at: datetime
    version: int = 0


class DealInvoice(_Record):
    crm_invoice_id: str
    qbo_invoice_id: str
    doc_number: str | None
    recipient: str | None
    status: str
    due_date: date | None
    total: str
    currency: str
    updated_at: datetime


class DealRollup(_Record):
    """`DEAL#{realm}#{deal}`: the deal's invoices as last reported, to compute its roll-up (F8)."""

    tenant_id: str
    realm_id: str
    deal_id: str
    invoices: dict[str, DealInvoice] = {}
    # `revision` goes up when an invoice's entry changes; the CRM has seen `published_revision`. The
    # Idempotency-Key names the revision, so a retry after a lost answer sends the same body under it.
    revision: int = 0
    published_revision: int = 0
    version: int = 0


class QboInvoiceRecord(_Record):
    """`QBOINV#{realm}#{qbo invoice}`: an invoice created in QBO itself and sent one-way to the CRM (F9).
    Kept out of the mappings table on purpose: there, an invoice pair means "the CRM made it" (loop rule)."""

    tenant_id: str
    realm_id: str
    qbo_invoice_id: str
    crm_record_id: str
    reported_sync_token: str | None = None
    reported_status: str | None = None
    last_body: dict[str, Any] = {}
    version: int = 0
