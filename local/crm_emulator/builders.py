"""Realistic inbound CRM events (SPEC envelopes) for tests and the local stack.

Every builder returns a JSON-ready envelope dict (money as decimal strings) that `qbsync.models.crm_events`
accepts; a builder that would produce an invalid event raises instead. Follow-up events take the previous
snapshot, so one invoice can be walked through its life:

    sent = invoice_sent("loc_1")
    part = invoice_partially_paid("loc_1", invoice=sent["data"], amount="100.00")
    paid = invoice_paid("loc_1", invoice=part["data"])

Keyword overrides go into the invoice (or payment) data: `lines=[line(...)]`, `discount=...`,
`currency="EUR"`, `customer=customer(email=...)`, `number=...`; `event_id`, `realm_id` and `occurred_at`
go to the envelope. Unless `totals=` is given (to build a deliberately inconsistent event), totals are
computed from the lines as documented in `compute_totals`.
"""

from __future__ import annotations

import copy
import itertools
import random
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qbsync.models.crm_events import parse_event
from qbsync.utils.jsonio import dumps

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
_invoice_numbers = itertools.count(random.SystemRandom().randint(10000, 89999))


# --- small pieces -------------------------------------------------------------------------------------


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        raise TypeError("pass money as str, int or Decimal, never float")
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


def _text(value: Decimal) -> str:
    return format(value, "f")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def tax(name: str = "Sales tax", rate: Any = "8.25", *, inclusive: bool = False) -> dict[str, Any]:
    """A tax on a line; `rate` is a percentage ("8.25" = 8.25 %)."""
    return {"name": name, "rate": _text(_decimal(rate)), "inclusive": inclusive}


def percentage_discount(value: Any) -> dict[str, str]:
    return {"type": "percentage", "value": _text(_decimal(value))}


def fixed_discount(value: Any) -> dict[str, str]:
    return {"type": "fixed", "value": _text(_decimal(value))}


def line(name: str, quantity: Any = 1, unit_price: Any = "0.00", *, taxes: Iterable[Mapping[str, Any]] = (),
         discount: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """An invoice line; `fields` may set id, product_id, sku, description."""
    built = {
        "id": fields.pop("id", None) or _new_id("line"),
        "product_id": fields.pop("product_id", None),
        "sku": fields.pop("sku", None),
        "name": name,
        "description": fields.pop("description", None),
        "quantity": _text(_decimal(quantity)),
        "unit_price": _text(_decimal(unit_price)),
        "taxes": [dict(item) for item in taxes],
        "discount": dict(discount) if discount else None,
    }
    if fields:
        raise TypeError(f"unknown line fields: {sorted(fields)}")
    return built


def address(**overrides: Any) -> dict[str, Any]:
    return {"line1": "500 Market Street", "line2": "Suite 300", "city": "San Francisco", "region": "CA",
            "postal_code": "94105", "country": "US", **overrides}


def customer(**overrides: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:6]
    return {"crm_contact_id": f"con_{suffix}", "name": "Jane Doe", "company": "Doe Design LLC",
            "email": f"jane.{suffix}@example.com", "phone": "+1 415 555 0100", "tax_id": None,
            "address": address(), **overrides}


def default_lines() -> list[dict[str, Any]]:
    sales_tax = tax("CA sales tax", "8.25")
    return [
        line("Website redesign", 1, "1500.00", sku="WEB-REDESIGN", taxes=[sales_tax]),
        line("Consulting", "2.5", "120.00", sku="CONSULT-HR", description="Hours, November",
             taxes=[sales_tax]),
        line("Hosting (monthly)", 12, "19.99", sku="HOST-M", taxes=[sales_tax]),
    ]


# --- totals -------------------------------------------------------------------------------------------


def _discount_amount(discount: Mapping[str, Any] | None, base: Decimal) -> Decimal:
    if not discount:
        return Decimal("0.00")
    value = _decimal(discount["value"])
    if discount["type"] == "percentage":
        return cents(base * value / HUNDRED)
    return min(cents(value), base)


def _allocate(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `amount` over lines in proportion to `weights`, in cents; the last weighted line takes the
    rounding rest."""
    total = sum(weights, Decimal(0))
    shares = [Decimal("0.00")] * len(weights)
    if amount == 0 or total == 0:
        return shares
    last = max(i for i, weight in enumerate(weights) if weight != 0)
    for i, weight in enumerate(weights):
        if i != last:
            shares[i] = cents(amount * weight / total)
    shares[last] = amount - sum(shares, Decimal(0))
    return shares


def compute_totals(lines: list[Mapping[str, Any]], discount: Mapping[str, Any] | None = None,
                   amount_paid: Any = "0.00") -> dict[str, str]:
    """The CRM's arithmetic, half-up to cents at each step:

    - line amount = quantity × unit_price, rounded per line; `subtotal` = sum of line amounts;
    - a line discount applies to its line; the invoice discount applies to the sum of the discounted
      lines and is spread over them in proportion (for tax), the last line taking the rounding rest;
    - each tax is computed per line on the line's discounted amount: exclusive = base × rate / 100;
      inclusive (the base already contains it) = base × rate / (100 + sum of the line's inclusive rates);
    - `discount` = all discounts; `tax` = all taxes; `total` = subtotal − discount + exclusive taxes
      (inclusive taxes are inside the subtotal already); `amount_due` = total − amount_paid.
    """
    gross = [cents(_decimal(item["quantity"]) * _decimal(item["unit_price"])) for item in lines]
    line_discounts = [_discount_amount(item.get("discount"), amount) for item, amount in zip(lines, gross)]
    net = [amount - off for amount, off in zip(gross, line_discounts)]
    invoice_discount = _discount_amount(discount, sum(net, Decimal("0.00")))
    shares = _allocate(invoice_discount, net)

    tax_total = exclusive_tax = Decimal("0.00")
    for item, amount, share in zip(lines, net, shares):
        base = amount - share
        taxes = item.get("taxes") or []
        inclusive_rates = sum((_decimal(t["rate"]) for t in taxes if t["inclusive"]), Decimal(0))
        for entry in taxes:
            rate = _decimal(entry["rate"])
            if entry["inclusive"]:
                tax_total += cents(base * rate / (HUNDRED + inclusive_rates))
            else:
                portion = cents(base * rate / HUNDRED)
                tax_total += portion
                exclusive_tax += portion

    subtotal = sum(gross, Decimal("0.00"))
    discount_total = sum(line_discounts, Decimal("0.00")) + invoice_discount
    total = subtotal - discount_total + exclusive_tax
    paid = cents(_decimal(amount_paid))
    return {"subtotal": _text(subtotal), "discount": _text(discount_total), "tax": _text(tax_total),
            "total": _text(total), "amount_paid": _text(paid), "amount_due": _text(total - paid)}


# --- invoice snapshots --------------------------------------------------------------------------------


def _new_invoice(now: datetime) -> dict[str, Any]:
    return {
        "id": _new_id("inv"),
        "number": f"INV-{next(_invoice_numbers)}",
        "status": "sent",
        "currency": "USD",
        "issue_date": now.date().isoformat(),
        "due_date": (now.date() + timedelta(days=30)).isoformat(),
        "created_at": _iso(now),
        "updated_at": _iso(now),
        "deal_id": None,
        "message": "Thank you for your business.",
        "customer": customer(),
        "lines": default_lines(),
        "discount": None,
    }


def _later_than(previous: str | None, now: datetime) -> datetime:
    # A follow-up snapshot must be newer than the one it follows, even within the same second.
    if previous is None:
        return now
    before = datetime.fromisoformat(previous.replace("Z", "+00:00"))
    return max(now, before + timedelta(seconds=1))


def invoice_snapshot(*, invoice: Mapping[str, Any] | None = None, status: str | None = None,
                     amount_paid: Any = None, **overrides: Any) -> dict[str, Any]:
    """A full invoice snapshot: a new invoice, or `invoice` (an earlier snapshot) with changes."""
    now = _now()
    snapshot = copy.deepcopy(dict(invoice)) if invoice is not None else _new_invoice(now)
    snapshot.pop("payment", None)
    if invoice is not None:
        snapshot["updated_at"] = _iso(_later_than(snapshot.get("updated_at"), now))
    explicit_totals = overrides.pop("totals", None)
    for key, value in overrides.items():
        if isinstance(value, date) and not isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, datetime):
            value = _iso(value)
        snapshot[key] = copy.deepcopy(value)
    if status is not None:
        snapshot["status"] = status
    if amount_paid is None:
        amount_paid = (snapshot.get("totals") or {}).get("amount_paid", "0.00")
    snapshot["totals"] = (copy.deepcopy(explicit_totals) if explicit_totals is not None
                          else compute_totals(snapshot["lines"], snapshot.get("discount"), amount_paid))
    return snapshot


def _payment(amount: Decimal, currency: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    payment = {"id": _new_id("pay"), "amount": _text(amount), "currency": currency, "paid_at": _iso(_now()),
               "method": "card", "reference": _new_id("ch")}
    payment.update(overrides or {})
    return payment


# --- envelopes ----------------------------------------------------------------------------------------

ENVELOPE_FIELDS = ("event_id", "realm_id", "occurred_at")


def envelope(event_type: str, tenant_id: str, data: Mapping[str, Any], *, event_id: str | None = None,
             realm_id: str | None = None, occurred_at: datetime | str | None = None) -> dict[str, Any]:
    """Wrap `data` in the SPEC envelope and check it parses (the builders must never lie)."""
    if isinstance(occurred_at, datetime):
        occurred_at = _iso(occurred_at)
    built = {"id": event_id or _new_id("evt"), "type": event_type, "tenant_id": tenant_id,
             "realm_id": realm_id, "occurred_at": occurred_at or _iso(_now()), "data": dict(data)}
    parse_event(dumps(built).encode("utf-8"))
    return built


def _envelope_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    """Take `event_id`, `realm_id`, `occurred_at` out of the overrides: they belong to the envelope."""
    return {name: overrides.pop(name) for name in ENVELOPE_FIELDS if name in overrides}


def _snapshot_event(event_type: str, tenant_id: str, invoice: Mapping[str, Any] | None,
                    overrides: dict[str, Any]) -> dict[str, Any]:
    fields = _envelope_fields(overrides)
    return envelope(event_type, tenant_id, invoice_snapshot(invoice=invoice, **overrides), **fields)


def invoice_sent(tenant_id: str, *, invoice: Mapping[str, Any] | None = None,
                 **overrides: Any) -> dict[str, Any]:
    """A new invoice (or `invoice` re-sent). `event_id`, `realm_id`, `occurred_at` go to the envelope."""
    overrides.setdefault("status", "sent")
    return _snapshot_event("invoice.sent", tenant_id, invoice, overrides)


def invoice_updated(tenant_id: str, *, invoice: Mapping[str, Any] | None = None,
                    **overrides: Any) -> dict[str, Any]:
    """`invoice` (default: a new one) with `overrides` applied and a later `updated_at`."""
    return _snapshot_event("invoice.updated", tenant_id, invoice or invoice_snapshot(), overrides)


def invoice_voided(tenant_id: str, *, invoice: Mapping[str, Any] | None = None,
                   **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("status", "voided")
    return _snapshot_event("invoice.voided", tenant_id, invoice or invoice_snapshot(), overrides)


def invoice_deleted(tenant_id: str, *, invoice: Mapping[str, Any] | None = None,
                    **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("status", "deleted")
    return _snapshot_event("invoice.deleted", tenant_id, invoice or invoice_snapshot(), overrides)


def invoice_partially_paid(tenant_id: str, *, amount: Any = None, payment: Mapping[str, Any] | None = None,
                           invoice: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A payment of `amount` (default: half of what is due) that leaves part of the invoice due;
    `payment` overrides fields of `data.payment`."""
    fields = _envelope_fields(overrides)
    before = invoice_snapshot(invoice=invoice or invoice_snapshot(), **overrides)
    due = _decimal(before["totals"]["amount_due"])
    paid_now = cents(due / 2) if amount is None else cents(_decimal(amount))
    if not Decimal(0) < paid_now < due:
        raise ValueError(f"a partial payment is between 0 and {due}; use invoice_paid for the rest")
    data = invoice_snapshot(invoice=before, status="partially_paid",
                            amount_paid=_decimal(before["totals"]["amount_paid"]) + paid_now)
    data["payment"] = _payment(paid_now, data["currency"], payment)
    return envelope("invoice.partially_paid", tenant_id, data, **fields)


def invoice_paid(tenant_id: str, *, payment: Mapping[str, Any] | None = None,
                 invoice: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """The payment of everything still due; `payment` overrides fields of `data.payment`."""
    fields = _envelope_fields(overrides)
    before = invoice_snapshot(invoice=invoice or invoice_snapshot(), **overrides)
    due = _decimal(before["totals"]["amount_due"])
    data = invoice_snapshot(invoice=before, status="paid", amount_paid=before["totals"]["total"])
    data["payment"] = _payment(due, data["currency"], payment)
    return envelope("invoice.paid", tenant_id, data, **fields)


def payment_succeeded(tenant_id: str, *, source: str = "order_form", **overrides: Any) -> dict[str, Any]:
    """A paid order form / subscription renewal / membership / booking: the data of a SalesReceipt."""
    fields = _envelope_fields(overrides)
    lines = overrides.pop("lines", None) or [
        line("Monthly membership", 1, "49.00", sku="MEMBER-M", taxes=[tax("CA sales tax", "8.25")])]
    # A payment has no invoice-level discount in the contract; discounts ride on its lines.
    explicit_totals = overrides.pop("totals", None)
    totals = explicit_totals or compute_totals(lines)
    if explicit_totals is None:
        totals["amount_paid"], totals["amount_due"] = totals["total"], "0.00"
    data = _payment(_decimal(totals["total"]), overrides.pop("currency", "USD"), None)
    data.update({"source": source, "customer": overrides.pop("customer", None) or customer(),
                 "lines": lines, "totals": totals})
    data.update(overrides)
    return envelope("payment.succeeded", tenant_id, data, **fields)
