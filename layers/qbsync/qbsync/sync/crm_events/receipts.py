"""`payment.succeeded` → a QBO SalesReceipt (SPEC F11): the customer matched by e-mail or created; the same
CRM payment id always maps to the same receipt, and a changed repeat updates it. A foreign-currency receipt is
booked at the CRM's `exchange_rate`, else at QBO's rate for the company-local day of `paid_at`.

Order: a payment has no `updated_at`, so the envelope's `occurred_at` orders its repeats. The receipt remembers
the `occurred_at` it was last written from, and an older repeat (a late redelivery of the first event, or a
redrive that replays the dead-lettered copies in their queue order) is skipped as `stale_payment` instead of
writing the receipt back to what the CRM has since changed. Repeats stamped in the same second are applied in
the order they come (nothing tells them apart).
"""

from __future__ import annotations

from datetime import datetime

from qbsync.clients.qbo.errors import QboStaleObjectError
from qbsync.models.crm_events import SucceededPayment
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.crm_events.context import ApplyContext, Outcome
from qbsync.sync.crm_events.customers import resolve_customer
from qbsync.sync.crm_events.invoices import PLACEHOLDER_REF, exchange_rate_for
from qbsync.sync.crm_events.items import resolve_items
from qbsync.sync.invoice_mapping import check_written_total
from qbsync.sync.receipt_mapping import company_date, map_sales_receipt
from qbsync.utils.jsonio import dumps

STALE_RETRIES = 3


def _fingerprint(payment: SucceededPayment) -> str:
    import hashlib

    document = payment.model_dump(mode="json")
    if document.get("exchange_rate") is None:
        # Without a CRM rate the document is what it was before the field existed, so stored fingerprints
        # still match and a redelivery stays a no-op.
        document.pop("exchange_rate", None)
    return hashlib.sha256(dumps(document).encode()).hexdigest()


def _written_from(state: dict[str, object]) -> datetime | None:
    text = state.get("occurred_at")
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def apply_payment_succeeded(ctx: ApplyContext, payment: SucceededPayment, *, occurred_at: datetime) -> Outcome:
    if not ctx.settings.sync.sales_receipts:
        return Outcome("skipped", "sales_receipts", reason="sales_receipt_sync_disabled")
    fingerprint = _fingerprint(payment)
    mapping = ctx.mappings.get(ctx.tenant_id, ctx.realm_id, "sales_receipts", payment.id)
    if mapping is not None and mapping.state.get("fingerprint") == fingerprint:
        return Outcome("skipped", "sales_receipts", reason="already_synced", qbo_id=mapping.qbo_id)
    written_from = _written_from(mapping.state) if mapping is not None else None
    if mapping is not None and written_from is not None and occurred_at < written_from:
        return Outcome("skipped", "sales_receipts", reason="stale_payment", qbo_id=mapping.qbo_id)
    rate = exchange_rate_for(ctx, payment.currency, company_date(payment.paid_at, ctx.company),
                             crm_rate=payment.exchange_rate)
    # Refuse an unrepresentable receipt before its customer or items are created (placeholder refs).
    map_sales_receipt(payment, company=ctx.company, settings=ctx.settings, customer_ref=PLACEHOLDER_REF,
                      item_refs={line.id: PLACEHOLDER_REF for line in payment.lines}, exchange_rate=rate)
    customer_ref = resolve_customer(ctx, payment.customer, currency=payment.currency)
    item_refs = resolve_items(ctx, payment.lines)

    if mapping is None:
        mapped = map_sales_receipt(payment, company=ctx.company, settings=ctx.settings, customer_ref=customer_ref,
                                   item_refs=item_refs, exchange_rate=rate)
        receipt = ctx.qbo.create("SalesReceipt", mapped.body,
                                 request_key=ctx.request_key("sales_receipt", payment.id, "create"))
        check_written_total(receipt, payment)
        try:
            ctx.mappings.create(ctx.tenant_id, ctx.realm_id, "sales_receipts", payment.id, str(receipt["Id"]),
                                state={"origin": "crm", "fingerprint": fingerprint,
                                       "occurred_at": occurred_at.isoformat()})
        except MappingExistsError:
            pass
        return Outcome("applied", "sales_receipts", qbo_id=str(receipt["Id"]))

    for attempt in range(STALE_RETRIES):
        current = ctx.qbo.read("SalesReceipt", mapping.qbo_id)
        mapped = map_sales_receipt(payment, company=ctx.company, settings=ctx.settings, customer_ref=customer_ref,
                                   item_refs=item_refs, exchange_rate=rate,
                                   qbo_receipt=(mapping.qbo_id, str(current["SyncToken"])))
        changes = {k: v for k, v in mapped.body.items() if k not in ("Id", "SyncToken", "sparse")}
        try:
            receipt = ctx.qbo.sparse_update("SalesReceipt", mapping.qbo_id, str(current["SyncToken"]), changes,
                                            request_key=ctx.request_key("sales_receipt", payment.id, "update",
                                                                        fingerprint[:16], str(attempt)))
            break
        except QboStaleObjectError:
            if attempt == STALE_RETRIES - 1:
                raise
    check_written_total(receipt, payment)
    ctx.mappings.update_state(mapping, {**mapping.state, "fingerprint": fingerprint,
                                        "occurred_at": occurred_at.isoformat()})
    return Outcome("applied", "sales_receipts", qbo_id=mapping.qbo_id)
