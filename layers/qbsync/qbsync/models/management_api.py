"""Bodies of the management API (`/tenants/{tenant_id}/...`), requests and answers (SPEC F18-F21).

These models are the contract: the handlers build their answers with them, and the OpenAPI document
(`GET /openapi.json`) is generated from them. Money is a decimal string, times are ISO 8601 with offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qbsync.models.identifiers import CrmId


class _Answer(BaseModel):
    # Built on first use (defer_build): a request uses one or two of these; building them all at import
    # was a large part of the management API's cold start (bench/).
    model_config = ConfigDict(frozen=True, defer_build=True)


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --- errors ------------------------------------------------------------------------------------------


class FieldError(_Answer):
    field: str = Field(description="Where in the body: dotted path, list positions as [n], e.g. `sync.customerz`")
    reason: str
    type: str = Field(description="A machine-readable kind, e.g. `extra_forbidden`, `literal_error`, `not_connected`")


class ErrorDetail(_Answer):
    code: str = Field(description="Machine-readable, e.g. `validation_failed`, `precondition_failed`, `tenant_not_found`")
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="Depends on the code; `validation_failed` has `fields: [FieldError]`")
    correlation_id: str | None = Field(default=None, description="Only on 500: quote it to the operator")


class ErrorBody(_Answer):
    error: ErrorDetail


# --- status (F20) ------------------------------------------------------------------------------------


class ScanObjectProgress(_Answer):
    sent: int
    total: int | None = None
    done: bool


class BackfillProgress(_Answer):
    kind: Literal["backfill", "rescan"]
    status: Literal["running", "done"]
    started_at: datetime
    completed_at: datetime | None = None
    objects: dict[str, ScanObjectProgress] = Field(default_factory=dict,
                                                   description="Per QBO entity: objects sent to the CRM so far")


class ConnectionStatusView(_Answer):
    realm_id: str
    company_name: str | None
    status: Literal["connected", "disconnected", "needs_reauth"]
    status_reason: str | None = None
    is_default: bool = Field(description="Events without a realm_id go to this company")
    connected_at: datetime
    status_changed_at: datetime | None = None
    last_successful_poll: datetime | None = Field(default=None, description="When the last poll that succeeded ended")
    watermark: datetime | None = Field(default=None,
                                       description="QBO's time up to which every change reached the CRM")
    lag_seconds: int | None = Field(default=None, description="Now minus the watermark; null before the first poll")
    backfill: BackfillProgress | None = None


class OutcomeCounts(_Answer):
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    failed_by_reason: dict[str, int] = Field(default_factory=dict)
    last_at: datetime | None = None


class FailureReason(_Answer):
    code: str = Field(description="Why it failed, e.g. `tax_code_unmapped`, `needs_reauth`, `max_receives_exceeded`")
    message: str
    qbo_code: str | None = Field(default=None, description="QBO's own error code, when QBO refused")
    intuit_tid: str | None = Field(default=None, description="Intuit's transaction id, to quote to Intuit support")
    details: dict[str, Any] = Field(default_factory=dict)


class Failure(_Answer):
    message_id: str = Field(description="The dead-letter queue message's id (use it to redrive)")
    original_message_id: str = Field(description="The id the message had on its source queue; redrive accepts it too")
    queue: Literal["crm_events", "poll_jobs"]
    event_id: str | None = Field(default=None, description="The CRM event id (CRM events only)")
    realm_id: str | None = None
    type: str = Field(description="The CRM event type (`invoice.sent`...) or `poll_job`")
    reason: FailureReason
    failed_at: datetime | None


class FailuresAnswer(_Answer):
    failures: list[Failure]


class StatusFailures(_Answer):
    in_dead_letter_queues: int = Field(description="This tenant's messages now on the dead-letter queues")
    latest: list[Failure] = Field(description="Newest first, at most 20")


class StatusAnswer(_Answer):
    tenant_id: str
    default_realm_id: str | None
    connections: list[ConnectionStatusView]
    counts: dict[str, OutcomeCounts] = Field(
        description="Per object type (invoices, payments, sales_receipts, customers, items, poll_jobs, ...): "
                    "cumulative since the tenant's first event")
    failures: StatusFailures
    generated_at: datetime


# --- sync now and dry run (F19) ----------------------------------------------------------------------


class SyncRequest(_Request):
    """Body of `POST /sync`: empty for a poll; with `dry_run=true`, one of `event` or `message_id` replays
    a CRM event without writing anything."""

    event: dict[str, Any] | None = Field(default=None, description="A CRM event envelope, as the CRM sends it")
    message_id: str | None = Field(default=None, max_length=128,
                                   description="A dead-lettered CRM event to replay (see GET /failures)")


class EnqueuedPoll(_Answer):
    realm_id: str
    message_id: str


class SyncAccepted(_Answer):
    enqueued: list[EnqueuedPoll]


class RecordedWrite(_Answer):
    target: Literal["qbo", "crm", "mappings", "sync_state"]
    operation: str = Field(description="e.g. `create`, `sparse_update`, `void`, `PUT /tenants/{t}/invoices/{id}/accounting`")
    entity: str | None = Field(default=None, description="QBO entity or mapping object type")
    path: str | None = None
    body: Any = None
    key: str | None = Field(default=None, description="Idempotency-Key (CRM) or request key (QBO)")


class DryRunOutcome(_Answer):
    status: Literal["applied", "skipped", "failed", "done", "partial"] = Field(
        description="applied/skipped/failed: a CRM event; done/skipped/failed: a poll; partial: a backfill "
                    "longer than one request, shown up to where the request's time ran out")
    object_type: str | None = None
    reason: str | None = None
    error: ErrorDetail | None = Field(default=None, description="Why the real run would dead-letter it")


class DryRunAnswer(_Answer):
    dry_run: Literal[True] = True
    qbo_writes: list[RecordedWrite]
    crm_writes: list[RecordedWrite]
    mapping_writes: list[RecordedWrite] = Field(default_factory=list,
                                                description="qbsync's own bookkeeping it would write")
    outcome: DryRunOutcome
    event_id: str | None = None


# --- redrive (F21) -----------------------------------------------------------------------------------


class RedriveRequest(_Request):
    message_ids: list[str] | None = Field(default=None, min_length=1, max_length=100,
                                          description="DLQ message ids (or original ids); leave out to redrive all")


class RedriveAnswer(_Answer):
    redriven: int
    not_found: list[str]
    failed: list[str] = Field(default_factory=list, description="Ids whose send failed; they stay on the DLQ")


class DisconnectRequest(_Request):
    realm_id: str | None = None


class DisconnectAnswer(_Answer):
    tenant_id: CrmId
    disconnected: list[str]


# --- invoice actions (F17) and unlink: documented here, handled by qbsync.sync.invoice_actions ------------


class SendInvoiceRequest(_Request):
    email: str | None = Field(default=None, max_length=100, description="Send to this address instead of BillEmail")


class SendInvoiceAnswer(_Answer):
    crm_invoice_id: str
    qbo_invoice_id: str
    email_status: Literal["sent", "not_sent"]
    sent_to: str | None = None


class LinkInvoiceRequest(_Request):
    qbo_invoice_id: str | None = Field(default=None, description="Give exactly one of qbo_invoice_id or doc_number")
    doc_number: str | None = None


class LinkInvoiceAnswer(_Answer):
    crm_invoice_id: str
    qbo_invoice_id: str
    doc_number: str | None = None
