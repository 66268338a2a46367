"""Events that wait on the dead-letter queue behind their invoice's dead-lettered `invoice.sent` (G2, G3).

When an `invoice.sent` is dead-lettered before QBO has the invoice (needs_reauth, tax_code_unmapped, retries
exhausted...), the invoice's later events (updated, paid, voided, deleted) can do nothing yet, and must not
be acknowledged and lost either. So:

1. **Hold.** The worker's dead-letter hook (`hold_behind_dead_lettered_sent`, run *before* the sent is
   published to the DLQ; if it fails the sent is retried instead) stores an `InvoiceHold` for the invoice.
2. **Park.** A follow-up that finds the hold is dead-lettered too, with reason `invoice_sent_dead_lettered`,
   and appended to the hold's waiting list. The DLQ is FIFO with the invoice's group, so the waiting events
   sit there behind the sent in their original order.
3. **Release.** Once the sent is applied (after the fix and a redrive), `release` marks every waiting event
   released and sends them back to the events queue (`qbsync.sync.failures.redrive_waiting_events`), in
   order. Each is let through only when it is the first released event still waiting; anything else of the
   invoice that arrives meanwhile (a newer event, a copy) is parked behind them and released after them.
   When the last one has passed, the hold is removed.

Every step is repeatable: a redrive of everything (the sent and its waiting events together) lets the
events meet the hold in order; a sent that fails again re-parks what follows it; the writes behind each
event are idempotent by business key (G1). A waiting event that fails permanently leaves the list (its
own reason dead-letters it, and the rest move on, as for any permanent error); one that exhausts its
retries after its release stays first in the list, so what follows keeps waiting until it is redriven.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from qbsync.errors import ConflictError, QbsyncError, RetryableError
from qbsync.models.mapping_records import InvoiceHold, WaitingEvent
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.observability import logger
from qbsync.repositories.mappings import MappingsRepository
from qbsync.repositories.scan_lease import DeadLetterScanBusy
from qbsync.sync.crm_events.context import ApplyContext
from qbsync.utils.jsonio import loads

WAITING_REASON = "invoice_sent_dead_lettered"
# Set on the invoice's mapping when the sent is applied with events waiting: later events of that invoice
# look for the hold; every other invoice's events skip that read.
EVENTS_ON_HOLD = "events_on_hold"
_WRITE_ATTEMPTS = 4
# Pauses (s) before each look for the waiting events on the DLQ, each with up to RELEASE_JITTER more: about
# 10 s in all at most, well inside the worker's timeout. Scans of a DLQ take turns (a lease each,
# qbsync.repositories.scan_lease), and a waiting event may reach the DLQ a moment after the sent applied:
# jittered, growing pauses cover both a long scan ahead of ours and a late arrival.
RELEASE_RESCANS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.5)
RELEASE_JITTER = 0.4


class WaitingBehindSentError(QbsyncError):
    """Permanent on purpose: the event goes to the DLQ now, behind its sent, instead of being retried."""

    code = WAITING_REASON
    http_status = 409


def _invoice_id(message: CrmEventMessage) -> str | None:
    try:
        data = loads(message.envelope).get("data") or {}
    except (ValueError, AttributeError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def hold_behind_dead_lettered_sent(mappings: MappingsRepository) -> Callable[[Any, QbsyncError], None]:
    """The CRM events worker's `before_dead_letter` hook: an `invoice.sent` about to be dead-lettered, for an
    invoice QBO does not have yet, holds the invoice's later events. Raising makes the consumer retry the
    sent rather than dead-letter it without the hold."""

    def hold(record: Any, error: QbsyncError) -> None:
        try:
            message = CrmEventMessage.model_validate_json(record.body)
        except ValueError:
            return  # malformed: there is no invoice to hold
        invoice_id = _invoice_id(message)
        if message.event_type != "invoice.sent" or invoice_id is None:
            return
        if mappings.get(message.tenant_id, message.realm_id, "invoices", invoice_id) is not None:
            return  # QBO has the invoice: what follows can be applied to it
        if mappings.get_hold(message.tenant_id, message.realm_id, invoice_id) is not None:
            return  # the sent failed again: its events keep waiting
        try:
            mappings.put_hold(InvoiceHold(tenant_id=message.tenant_id, realm_id=message.realm_id,
                                          crm_id=invoice_id, reason=error.code))
        except ConflictError:
            pass  # a concurrent attempt stored it
        logger.info("invoice events held behind a dead-lettered invoice.sent",
                    extra={"reason": error.code, "event_id": message.event_id})

    return hold


def _is_next(hold: InvoiceHold, event_id: str) -> bool:
    released = [entry for entry in hold.waiting if entry.released]
    return hold.releasing and bool(released) and released[0].event_id == event_id


def _update(ctx: ApplyContext, invoice_id: str, change: Callable[[InvoiceHold], InvoiceHold | None]) -> \
        InvoiceHold | None:
    """Apply `change` to the stored hold (None: delete it) with the version read; on a lost race read
    again. Returns the hold as stored (None when there is none)."""
    for _ in range(_WRITE_ATTEMPTS):
        hold = ctx.mappings.get_hold(ctx.tenant_id, ctx.realm_id, invoice_id)
        if hold is None:
            return None
        changed = change(hold)
        try:
            if changed is None:
                ctx.mappings.delete_hold(hold)
                return None
            return ctx.mappings.put_hold(changed)
        except ConflictError:
            continue
    raise RetryableError("the invoice's waiting events kept changing; retrying the event", code="hold_contention")


def release(ctx: ApplyContext, invoice_id: str) -> None:
    """The invoice's sent has been applied (or skipped for good): its waiting events go back to the queue,
    in order; a hold with nothing waiting is removed."""
    def released(hold: InvoiceHold) -> InvoiceHold | None:
        if not hold.waiting:
            return None
        return hold.model_copy(update={"releasing": True, "waiting": tuple(
            entry.model_copy(update={"released": True}) for entry in hold.waiting)})

    hold = _update(ctx, invoice_id, released)
    if hold is None:
        return
    # The hold is stored first: the events sent back find themselves in its list. Until this message is
    # done, its FIFO group hands out nothing else, so they cannot arrive before that either.
    sent_back = 0
    for pause in RELEASE_RESCANS:
        # A scan of the DLQ does not see messages someone else's scan holds in flight (a failures listing,
        # an operator's redrive): look again a few times before leaving it. A waiting event that is already
        # back on the events queue (an operator redrove everything) is simply not found.
        time.sleep(pause + (random.uniform(0, RELEASE_JITTER) if pause else 0.0))
        try:
            sent_back += ctx.redrive_waiting(ctx.tenant_id, ctx.realm_id, invoice_id)
        except DeadLetterScanBusy:
            continue  # someone else's long scan (a redrive of thousands): look again after the next pause
        if sent_back >= len(hold.waiting):
            break
    logger.info("waiting invoice events released", extra={"waiting": len(hold.waiting), "redriven": sent_back})


def _passed(ctx: ApplyContext, invoice_id: str) -> None:
    def without_this_event(hold: InvoiceHold) -> InvoiceHold:
        waiting = list(hold.waiting)
        index = next((i for i, entry in enumerate(waiting) if entry.event_id == ctx.event_id), None)
        if index is not None:
            del waiting[index]
        return hold.model_copy(update={"waiting": tuple(waiting)})

    hold = _update(ctx, invoice_id, without_this_event)
    if hold is not None and not any(entry.released for entry in hold.waiting):
        release(ctx, invoice_id)  # events parked during the release follow now (or the hold goes)


def _park(ctx: ApplyContext, invoice_id: str) -> None:
    def parked(hold: InvoiceHold) -> InvoiceHold:
        waiting = list(hold.waiting)
        index = next((i for i, entry in enumerate(waiting) if entry.event_id == ctx.event_id), None)
        if index is None:
            waiting.append(WaitingEvent(event_id=ctx.event_id))
        else:  # already listed (a retry, or it came back out of its turn): keep its place, back on the DLQ
            waiting[index] = WaitingEvent(event_id=ctx.event_id)
        return hold.model_copy(update={"waiting": tuple(waiting)})

    hold = _update(ctx, invoice_id, parked)
    if hold is None:
        # Released and removed between our two reads: let the queue hand this event over again.
        raise RetryableError("the invoice's hold was just released; retrying the event", code="hold_released")
    raise WaitingBehindSentError(
        "this invoice's invoice.sent is on the dead-letter queue; this event waits there behind it and goes "
        "back to the queue by itself once the invoice is in QuickBooks (fix the sent's reason, then redrive it)",
        details={"crm_invoice_id": invoice_id, "sent_reason": hold.reason, "waiting": len(hold.waiting)})


@contextmanager
def behind_its_sent(ctx: ApplyContext, invoice_id: str) -> Iterator[InvoiceHold | None]:
    """Run a follow-up event's change only in its turn: parks it (raises `WaitingBehindSentError`) while
    its invoice's events are held, lets it through when it is the next released one. Yields the hold (None
    when the invoice has none)."""
    hold = ctx.mappings.get_hold(ctx.tenant_id, ctx.realm_id, invoice_id)
    if hold is None:
        yield None
        return
    if not _is_next(hold, ctx.event_id):
        _park(ctx, invoice_id)
    try:
        yield hold
    except QbsyncError as error:
        if not error.retryable:
            _passed(ctx, invoice_id)  # dead-lettered with its own reason: the rest move on
        raise
    _passed(ctx, invoice_id)
