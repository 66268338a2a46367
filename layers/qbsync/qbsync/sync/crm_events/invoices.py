"""CRM invoice events → QBO (issue 5 §2): sent → create; updated → sparse update; paid / partially paid →
one QBO Payment per CRM payment; voided → void; deleted → delete (with the payments qbsync made for it).

Exactly once (G1): every write's requestid comes from the invoice's business key, not the delivery, so a
redelivered, retried or redriven event replays QBO's original answer; mappings are written conditionally.
Order (G3): the FIFO group is the invoice; a snapshot older than the last one applied is skipped.
Status (F8): each change applied in QBO is reported to the CRM after its pairing is written. The write that
records the change also marks the report owed (`INVOICE_STATE_STATUS_OWED`) and the report clears it, so an
event that failed between the two (the CRM down, QBO's read throttled) and comes back finds its change
applied, skips it, and still sends the report (`_report_owed_status`) instead of leaving the CRM a step behind.
Waiting (G2): the events that follow an `invoice.sent` dead-lettered before QBO had the invoice wait on the
DLQ behind it and are applied, in order, once it is (`holds`). An event for an invoice qbsync never synced
and never held (created before the connection, sent while invoice sync was off, or never sent: a draft)
has nothing to change in QBO and is skipped as `invoice_not_synced`, counted per reason on the status page.
Currency (F15): a foreign-currency invoice, and each payment on it, is booked at the CRM's `exchange_rate`
when the snapshot carries one, else at QBO's own rate for the transaction date (`exchange_rate_for`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from qbsync.clients.qbo.errors import QboNotFoundError, QboStaleObjectError
from qbsync.errors import ConflictError, RetryableError, ValidationFailedError
from qbsync.models.crm_events import InvoiceSnapshot, Payment
from qbsync.models.mapping_records import (
    INVOICE_STATE_DEAL_ID,
    INVOICE_STATE_PAYMENTS_COUNTED,
    INVOICE_STATE_REPORTED_VERSION,
    INVOICE_STATE_STATUS_OWED,
    Mapping,
    newest_reported_version,
)
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.crm_events.context import ApplyContext, Outcome
from qbsync.sync.crm_events import holds
from qbsync.sync.crm_events.customers import resolve_customer
from qbsync.sync.crm_events.items import resolve_items
from qbsync.sync.invoice_mapping import check_written_total, map_invoice, map_invoice_update
from qbsync.sync.invoice_status import company_today, invoice_accounting
from qbsync.sync.invoice_status_push import InvoiceStatusPublisher
from qbsync.sync.receipt_mapping import company_date, map_payment

STALE_RETRIES = 3


def _state_time(mapping: Mapping) -> datetime | None:
    text = mapping.state.get("updated_at")
    return datetime.fromisoformat(text) if text else None


def push_status(ctx: ApplyContext, snapshot: InvoiceSnapshot, qbo_invoice: dict[str, Any], *,
                deleted: bool = False) -> None:
    """Send the invoice's QBO state (and its deal's roll-up) to the CRM; `report_status` when a pair exists."""
    accounting = invoice_accounting(
        qbo_invoice, realm_id=ctx.realm_id, home_currency=ctx.company.home_currency,
        environment=ctx.environment, today=company_today(ctx.clock(), ctx.company.time_zone), deleted=deleted,
    )
    InvoiceStatusPublisher(crm=ctx.crm, mappings=ctx.mappings).publish(
        ctx.tenant_id, snapshot.id, accounting, change=ctx.event_id, deal_id=snapshot.deal_id,
        recipient=snapshot.customer.company or snapshot.customer.name,
    )


def report_status(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping, qbo_invoice: dict[str, Any], *,
                  deleted: bool = False) -> None:
    """`push_status`, then clear the pair's owed report and note the QBO state reported (`mapping` as this
    event last wrote it; the write is the one that clears the owed report, so it costs nothing more)."""
    push_status(ctx, snapshot, qbo_invoice, deleted=deleted)
    version = newest_reported_version(mapping.state.get(INVOICE_STATE_REPORTED_VERSION), qbo_invoice)
    _write_mapping_state(ctx, mapping, **{INVOICE_STATE_STATUS_OWED: None, INVOICE_STATE_REPORTED_VERSION: version})


def _report_owed_status(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping) -> None:
    """For an event whose change is already applied: send the report an earlier attempt (of this event or the
    one before it) applied but could not send. QBO's current state is what the CRM gets, so an older snapshot
    delivered late reports nothing older than what QBO holds."""
    if not mapping.state.get(INVOICE_STATE_STATUS_OWED):
        return
    if not mapping.state.get("deleted"):
        try:
            report_status(ctx, snapshot, mapping, ctx.qbo.read("Invoice", mapping.qbo_id))
            return
        except QboNotFoundError:
            pass  # a QBO user deleted it meanwhile: what the CRM should hear is that it is gone
    report_status(ctx, snapshot, mapping, _last_known(snapshot, mapping), deleted=True)


def _skip_applied(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping, reason: str,
                  object_type: str = "invoices") -> Outcome:
    """An event whose change QBO already has (a redelivery, a retry, a stale snapshot): nothing to write,
    but a report still owed is sent."""
    _report_owed_status(ctx, snapshot, mapping)
    return Outcome("skipped", object_type, reason=reason, qbo_id=mapping.qbo_id)


def _owed(ctx: ApplyContext) -> dict[str, Any]:
    return {INVOICE_STATE_STATUS_OWED: ctx.event_id}


def _invoice_mapping(ctx: ApplyContext, snapshot: InvoiceSnapshot) -> Mapping | None:
    return ctx.mappings.get(ctx.tenant_id, ctx.realm_id, "invoices", snapshot.id)


def _skip(reason: str, qbo_id: str | None = None) -> Outcome:
    return Outcome("skipped", "invoices", reason=reason, qbo_id=qbo_id)


def _write_mapping_state(ctx: ApplyContext, mapping: Mapping, **changes: Any) -> Mapping:
    """Merge `changes` into the pair's state. The poll writes to the same pair (e.g. the status it last
    reported): on a lost race, re-read and merge again instead of failing the event."""
    for _ in range(5):
        try:
            return ctx.mappings.update_state(mapping, {**mapping.state, **changes})
        except ConflictError:
            fresh = ctx.mappings.get(mapping.tenant_id, mapping.realm_id, mapping.object_type, mapping.crm_id)
            if fresh is None:
                raise
            mapping = fresh
    raise RetryableError("the invoice's pairing kept changing; retrying the event", code="mapping_contention")


def exchange_rate_for(ctx: ApplyContext, currency: str, on: date, *,
                      crm_rate: Decimal | None) -> Decimal | None:
    """The ExchangeRate (home units per one `currency` unit) to book a transaction dated `on` (company-local)
    with; None when QBO takes none: the home currency, or a company without multicurrency (where the mapper
    refuses a foreign currency with `currency_not_enabled`). The CRM's own rate wins; otherwise QBO's rate
    table for that date, read at most once per event. QBO would fill in that same rate itself, but sending
    it puts the rate we book in our own request (and our QBO emulator insists on one)."""
    company = ctx.company
    code = currency.upper()
    if not company.multicurrency or code == company.home_currency.upper():
        return None
    if crm_rate is not None:
        return crm_rate
    key = f"exchange_rate:{code}:{on.isoformat()}"
    if key not in ctx.memo:
        try:
            ctx.memo[key] = ctx.qbo.exchange_rate(code, on)
        except QboNotFoundError as missing:
            # 610: the currency is not one of the QBO company's; no retry will add it.
            raise ValidationFailedError(
                f"{code} is not a currency of the QBO company: enable it in QuickBooks, then redrive",
                code="currency_not_enabled",
                details={"currency": code, "home_currency": company.home_currency, **missing.details},
            ) from None
    return ctx.memo[key]


PLACEHOLDER_REF = "0"


def precheck_invoice(ctx: ApplyContext, snapshot: InvoiceSnapshot, rate: Decimal | None) -> None:
    """Map with placeholder references before creating any customer or item: an invoice that cannot be
    represented (currency, tax mapping, numbering, totals) is refused before it leaves anything in QBO."""
    map_invoice(snapshot, company=ctx.company, settings=ctx.settings, customer_ref=PLACEHOLDER_REF,
                item_refs={line.id: PLACEHOLDER_REF for line in snapshot.lines}, exchange_rate=rate)


# ---------------------------------------------------------------------------------------------- sent
def _skip_for_good(ctx: ApplyContext, snapshot: InvoiceSnapshot, reason: str) -> Outcome:
    # A redriven sent may end here (e.g. invoice sync turned off meanwhile): what waits behind it follows
    # (and is skipped in turn) instead of waiting for ever.
    holds.release(ctx, snapshot.id)
    return _skip(reason)


def apply_sent(ctx: ApplyContext, snapshot: InvoiceSnapshot) -> Outcome:
    if not ctx.settings.sync.invoices:
        return _skip_for_good(ctx, snapshot, "invoice_sync_disabled")
    if snapshot.created_at < ctx.connection.connected_at.replace(microsecond=0):
        # HighLevel's rule: only invoices created after the company was connected are synced. CRMs stamp
        # whole seconds, so an invoice made in the same second as the connection counts as after it.
        return _skip_for_good(ctx, snapshot, "created_before_connection")
    existing = _invoice_mapping(ctx, snapshot)
    if existing is not None:
        if existing.state.get(holds.EVENTS_ON_HOLD):
            holds.release(ctx, snapshot.id)  # a retry after the pairing was written but before the release
        if (_state_time(existing) or snapshot.updated_at) >= snapshot.updated_at:
            return _skip_applied(ctx, snapshot, existing, "already_synced")
        return apply_updated(ctx, snapshot)

    held = ctx.mappings.get_hold(ctx.tenant_id, ctx.realm_id, snapshot.id) is not None
    rate = exchange_rate_for(ctx, snapshot.currency, snapshot.issue_date, crm_rate=snapshot.exchange_rate)
    precheck_invoice(ctx, snapshot, rate)
    customer_ref = resolve_customer(ctx, snapshot.customer, currency=snapshot.currency)
    item_refs = resolve_items(ctx, snapshot.lines)
    mapped = map_invoice(snapshot, company=ctx.company, settings=ctx.settings, customer_ref=customer_ref,
                         item_refs=item_refs, exchange_rate=rate)
    created = ctx.qbo.create("Invoice", mapped.body, request_key=ctx.request_key("invoice", snapshot.id, "create"))
    try:
        check_written_total(created, snapshot)
    except ValidationFailedError:
        # Never leave a wrong total in the books: take it back out, then dead-letter with both numbers.
        ctx.qbo.delete("Invoice", str(created["Id"]), str(created["SyncToken"]),
                       request_key=ctx.request_key("invoice", snapshot.id, "delete-mismatch"))
        raise
    # The doc number is kept for the one report made without QBO: a delete of an invoice QBO no longer has.
    state = {"origin": "crm", "updated_at": snapshot.updated_at.isoformat(), "amount_paid": "0",
             "customer_ref": customer_ref, INVOICE_STATE_DEAL_ID: snapshot.deal_id, "currency": snapshot.currency,
             "doc_number": created.get("DocNumber"), INVOICE_STATE_PAYMENTS_COUNTED: [], **_owed(ctx),
             **({holds.EVENTS_ON_HOLD: True} if held else {})}
    try:
        mapping = ctx.mappings.create(ctx.tenant_id, ctx.realm_id, "invoices", snapshot.id, str(created["Id"]),
                                      state=state)
    except MappingExistsError:
        # a concurrent delivery of the same event got the same QBO invoice back (requestid replay)
        mapping = _invoice_mapping(ctx, snapshot)
    if mapping is None:  # removed meanwhile: nothing to mark, the report is still due
        push_status(ctx, snapshot, created)
    else:
        report_status(ctx, snapshot, mapping, created)
    if held:
        holds.release(ctx, snapshot.id)
    return Outcome("applied", "invoices", qbo_id=str(created["Id"]))


# ------------------------------------------------------------------------------------------ follow-ups
FollowUp = Callable[..., Outcome]


def _follows_sent(object_type: str) -> Callable[[FollowUp], FollowUp]:
    """For the events after an invoice's sent: the wrapped change gets the invoice's mapping, in its turn
    (`holds.behind_its_sent`), or the event is skipped when qbsync never synced the invoice."""

    def wrap(apply: FollowUp) -> FollowUp:
        @wraps(apply)
        def follow_up(ctx: ApplyContext, snapshot: InvoiceSnapshot, *args: Any) -> Outcome:
            mapping = _invoice_mapping(ctx, snapshot)
            if mapping is not None and not mapping.state.get(holds.EVENTS_ON_HOLD):
                return apply(ctx, snapshot, mapping, *args)  # the usual case: no hold to look for
            with holds.behind_its_sent(ctx, snapshot.id):
                if mapping is None:
                    return Outcome("skipped", object_type, reason="invoice_not_synced")
                return apply(ctx, snapshot, mapping, *args)

        return follow_up

    return wrap


# ------------------------------------------------------------------------------------------- updated
@_follows_sent("invoices")
def apply_updated(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping) -> Outcome:
    if mapping.state.get("deleted"):
        return _skip_applied(ctx, snapshot, mapping, "invoice_deleted")
    last = _state_time(mapping)
    if last is not None and snapshot.updated_at <= last:
        return _skip_applied(ctx, snapshot, mapping, "stale_snapshot")
    rate = exchange_rate_for(ctx, snapshot.currency, snapshot.issue_date, crm_rate=snapshot.exchange_rate)
    customer_ref = resolve_customer(ctx, snapshot.customer, currency=snapshot.currency)
    item_refs = resolve_items(ctx, snapshot.lines)
    for attempt in range(STALE_RETRIES):
        current = ctx.qbo.read("Invoice", mapping.qbo_id)
        mapped = map_invoice_update(snapshot, qbo_invoice_id=mapping.qbo_id, sync_token=str(current["SyncToken"]),
                                    company=ctx.company, settings=ctx.settings, customer_ref=customer_ref,
                                    item_refs=item_refs, exchange_rate=rate)
        try:
            updated = ctx.qbo.sparse_update(
                "Invoice", mapping.qbo_id, str(current["SyncToken"]), _changes(mapped.body),
                request_key=ctx.request_key("invoice", snapshot.id, "update", ctx.event_id, str(attempt)))
            break
        except QboStaleObjectError:
            # Someone (a payment, a QBO user) changed it between our read and write: read again.
            if attempt == STALE_RETRIES - 1:
                raise
    check_written_total(updated, snapshot)
    mapping = _write_mapping_state(ctx, mapping, updated_at=snapshot.updated_at.isoformat(),
                                   customer_ref=customer_ref, doc_number=updated.get("DocNumber"),
                                   **{INVOICE_STATE_DEAL_ID: snapshot.deal_id}, **_owed(ctx))
    report_status(ctx, snapshot, mapping, updated)
    return Outcome("applied", "invoices", qbo_id=mapping.qbo_id)


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in ("Id", "SyncToken", "sparse")}


# ------------------------------------------------------------------------------------------ payments
def _payment_for_event(snapshot: InvoiceSnapshot, payment: Payment | None, paid_before: Decimal) -> Payment | None:
    """The CRM payment an event carries, or one standing for the rise in `amount_paid` since the last
    applied snapshot (its id names that amount, so a redelivery maps to the same QBO payment)."""
    if payment is not None:
        return payment
    rise = snapshot.totals.amount_paid - paid_before
    if rise <= 0:
        return None
    return Payment(id=f"amount_paid_{snapshot.totals.amount_paid}", amount=rise, currency=snapshot.currency,
                   paid_at=snapshot.updated_at, reference=None, method=None)


@_follows_sent("payments")
def apply_payment(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping, payment: Payment | None) -> Outcome:
    if mapping.state.get("deleted"):
        # A payment event delivered after the invoice's delete (the CRM retried a failed delivery late): in the
        # order the CRM emitted them, the delete took this payment out of QBO with the invoice.
        return _skip_applied(ctx, snapshot, mapping, "invoice_deleted", "payments")
    paid_before = Decimal(mapping.state.get("amount_paid", "0"))
    crm_payment = _payment_for_event(snapshot, payment, paid_before)
    if crm_payment is None:
        return _skip_applied(ctx, snapshot, mapping, "no_new_payment", "payments")
    payment_key = f"{snapshot.id}:{crm_payment.id}"
    existing = ctx.mappings.get(ctx.tenant_id, ctx.realm_id, "payments", payment_key)
    if existing is not None:
        counted = mapping.state.get(INVOICE_STATE_PAYMENTS_COUNTED)
        # A pair from before the list existed (None) counted every payment it paired.
        if counted is not None and payment_key not in counted:
            # An earlier attempt made the QBO payment and its pairing, then failed before adding it in.
            mapping = _count_payment(ctx, snapshot, mapping, payment_key, crm_payment.amount)
            report_status(ctx, snapshot, mapping, ctx.qbo.read("Invoice", mapping.qbo_id))
        else:
            _report_owed_status(ctx, snapshot, mapping)
        return Outcome("skipped", "payments", reason="payment_already_applied", qbo_id=existing.qbo_id)
    customer_ref = mapping.state.get("customer_ref") or str(
        ctx.qbo.read("Invoice", mapping.qbo_id)["CustomerRef"]["value"])
    # The snapshot's rate is the invoice's; it books the invoice's payments too (the CRM converts at one
    # rate, so the invoice's home balance clears exactly when it is paid).
    crm_rate = snapshot.exchange_rate if crm_payment.currency == snapshot.currency else None
    rate = exchange_rate_for(ctx, crm_payment.currency, company_date(crm_payment.paid_at, ctx.company),
                             crm_rate=crm_rate)
    body = map_payment(crm_payment, invoice_qbo_id=mapping.qbo_id, customer_ref=customer_ref,
                       company=ctx.company, exchange_rate=rate)
    created = ctx.qbo.create("Payment", body, request_key=ctx.request_key("payment", payment_key))
    try:
        ctx.mappings.create(ctx.tenant_id, ctx.realm_id, "payments", payment_key, str(created["Id"]),
                            state={"origin": "crm", "invoice_qbo_id": mapping.qbo_id, "invoice_crm_id": snapshot.id})
    except MappingExistsError:
        pass
    mapping = _count_payment(ctx, snapshot, mapping, payment_key, crm_payment.amount)
    report_status(ctx, snapshot, mapping, ctx.qbo.read("Invoice", mapping.qbo_id))
    return Outcome("applied", "payments", qbo_id=str(created["Id"]))


def _count_payment(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping, payment_key: str,
                   amount: Decimal) -> Mapping:
    """Add a payment QBO has (with its pairing) into the invoice's `amount_paid`, once: the key joins the
    counted list in the same write, with the report it owes."""
    paid_now = max(Decimal(mapping.state.get("amount_paid", "0")) + amount, snapshot.totals.amount_paid)
    counted = [*mapping.state.get(INVOICE_STATE_PAYMENTS_COUNTED, ()), payment_key]
    return _write_mapping_state(ctx, mapping, amount_paid=str(paid_now),
                                **{INVOICE_STATE_PAYMENTS_COUNTED: counted}, **_owed(ctx))


# --------------------------------------------------------------------------------------- void, delete
@_follows_sent("invoices")
def apply_voided(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping) -> Outcome:
    current = ctx.qbo.read("Invoice", mapping.qbo_id)
    if str(current.get("PrivateNote", "")).startswith("Voided"):
        voided = current
    else:
        # QBO unlinks the invoice's payments on void; they stay as the customer's credit (README).
        voided = ctx.qbo.void("Invoice", mapping.qbo_id, str(current["SyncToken"]),
                              request_key=ctx.request_key("invoice", snapshot.id, "void"))
    mapping = _write_mapping_state(ctx, mapping, voided=True, updated_at=snapshot.updated_at.isoformat(),
                                   **_owed(ctx))
    report_status(ctx, snapshot, mapping, voided)
    return Outcome("applied", "invoices", qbo_id=mapping.qbo_id)


@_follows_sent("invoices")
def apply_deleted(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping) -> Outcome:
    """QBO refuses to delete an invoice with payments linked; the payments qbsync made for this invoice
    (from CRM payment events) are deleted first. A payment qbsync did not make is someone's real money:
    the event is refused with a reason instead (README, "Deleting invoices")."""
    if mapping.state.get("deleted"):
        return _skip_applied(ctx, snapshot, mapping, "invoice_deleted")
    try:
        current = _delete_in_qbo(ctx, snapshot, mapping)
    except QboNotFoundError:
        # QBO no longer has it: an earlier attempt's delete committed and its answer was lost (the retry's
        # read finds nothing), or a QBO user deleted it. Either way the CRM's wish holds: record and report it.
        current = _last_known(snapshot, mapping)
    mapping = _write_mapping_state(ctx, mapping, deleted=True, updated_at=snapshot.updated_at.isoformat(),
                                   **_owed(ctx))
    report_status(ctx, snapshot, mapping, current, deleted=True)
    return Outcome("applied", "invoices", qbo_id=mapping.qbo_id)


def _last_known(snapshot: InvoiceSnapshot, mapping: Mapping) -> dict[str, Any]:
    """The invoice as the CRM last described it, for a status report when QBO can no longer be read."""
    return {"Id": mapping.qbo_id, "DocNumber": mapping.state.get("doc_number"),
            "TotalAmt": str(snapshot.totals.total), "Balance": str(snapshot.totals.amount_due),
            "CurrencyRef": {"value": snapshot.currency}, "DueDate": snapshot.due_date.isoformat()}


def _delete_in_qbo(ctx: ApplyContext, snapshot: InvoiceSnapshot, mapping: Mapping) -> dict[str, Any]:
    """Delete the invoice (its payments made by qbsync first); returns it as read just before. Raises
    `QboNotFoundError` when QBO has no such invoice."""
    current = ctx.qbo.read("Invoice", mapping.qbo_id)
    for linked in current.get("LinkedTxn", []) or []:
        if linked.get("TxnType") != "Payment":
            continue
        ours = ctx.mappings.find_by_qbo_id(ctx.tenant_id, ctx.realm_id, "payments", str(linked["TxnId"]))
        if ours is None:
            raise ValidationFailedError(
                "the QBO invoice has a payment qbsync did not create; remove it in QuickBooks first",
                code="invoice_has_foreign_payment", details={"qbo_payment_id": str(linked["TxnId"])})
        payment = ctx.qbo.read("Payment", ours.qbo_id)
        ctx.qbo.delete("Payment", ours.qbo_id, str(payment["SyncToken"]),
                       request_key=ctx.request_key("payment", ours.crm_id, "delete"))
    current = ctx.qbo.read("Invoice", mapping.qbo_id)
    ctx.qbo.delete("Invoice", mapping.qbo_id, str(current["SyncToken"]),
                   request_key=ctx.request_key("invoice", snapshot.id, "delete"))
    return current
