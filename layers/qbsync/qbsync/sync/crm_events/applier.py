"""One CRM event message → the QBO change it asks for (dispatch on the event type)."""

from __future__ import annotations

from qbsync.models.crm_events import (
    InvoiceDeletedEvent,
    InvoicePaidEvent,
    InvoicePartiallyPaidEvent,
    InvoiceSentEvent,
    InvoiceUpdatedEvent,
    InvoiceVoidedEvent,
    PaymentSucceededEvent,
    crm_event_adapter,
)
from qbsync.sync.crm_events.context import ApplyContext, Outcome
from qbsync.sync.crm_events.invoices import apply_deleted, apply_payment, apply_sent, apply_updated, apply_voided
from qbsync.sync.crm_events.receipts import apply_payment_succeeded
from qbsync.utils.jsonio import loads


def parse_envelope(envelope: str):  # noqa: ANN201 - one of the CrmEvent union
    return crm_event_adapter.validate_python(loads(envelope))


def apply_event(ctx: ApplyContext, event: object) -> Outcome:
    match event:
        case InvoiceSentEvent():
            return apply_sent(ctx, event.data)
        case InvoiceUpdatedEvent():
            return apply_updated(ctx, event.data)
        case InvoicePaidEvent() | InvoicePartiallyPaidEvent():
            return apply_payment(ctx, event.data, event.data.payment)
        case InvoiceVoidedEvent():
            return apply_voided(ctx, event.data)
        case InvoiceDeletedEvent():
            return apply_deleted(ctx, event.data)
        case PaymentSucceededEvent():
            return apply_payment_succeeded(ctx, event.data, occurred_at=event.occurred_at)
    raise TypeError(f"no handler for {type(event).__name__}")
