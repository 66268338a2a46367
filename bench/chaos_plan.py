"""The chaos run's script: which tenants, which CRM events in which order, which deliveries are repeated,
which errors are planted, and the state QBO and the CRM must end in. Pure and seeded: the same seed gives
the same tenants, ids, amounts, lifecycles, duplicates and delivery order (only timestamps differ).

Lifecycles per invoice (weights in `LIFECYCLES`): sent; sent → updated; sent → partially paid → paid;
sent → updated → partially paid; sent → voided; sent → deleted; sent → partially paid → deleted; sent →
partially paid → voided. Sales receipts: payment.succeeded, some repeated later with changed lines (the same
CRM payment id: the receipt must be updated, never doubled).

Planted permanent errors (each fixable, then redriven):
- `tax_code_unmapped`: on the one non-US (GB) tenant, a few single-event invoices whose lines carry a VAT
  rate the tenant's `tax_codes` setting does not map. Fix: add the mapping (PUT settings), redrive.
- `needs_reauth`: one tenant whose QBO authorization is revoked at Intuit before its events arrive (as when
  the refresh token has expired): every one of its events is dead-lettered. Fix: the customer reconnects
  (the OAuth dance again), redrive.
- `invoice_sent_dead_lettered`: the events after a planted `invoice.sent` (updated, paid, voided, deleted)
  wait on the DLQ behind it; once the sent is applied they go back to the queue by themselves, in order.

Duplicates: `duplicate_rate` of the events are delivered 2 or 3 times in all. Each extra delivery is one of:
the sender's immediate retry (same webhook-id), a late redelivery (same webhook-id, after later events of
the same invoice), or the CRM emitting the event again as a new message (new webhook-id, same event id),
immediately or late. Deliveries of one invoice (or payment) keep their order; different invoices and
tenants are interleaved at random.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
LIFECYCLES: list[tuple[tuple[str, ...], int]] = [
    (("sent",), 15),
    (("sent", "updated"), 15),
    (("sent", "partially_paid", "paid"), 15),
    (("sent", "updated", "partially_paid"), 10),
    (("sent", "voided"), 10),
    (("sent", "deleted"), 8),
    (("sent", "partially_paid", "deleted"), 7),
    (("sent", "partially_paid", "voided"), 5),
    (("receipt",), 12),
    (("receipt", "receipt_changed"), 3),
]
US_TAX = ("CA sales tax", "8.25")
GB_TAX = ("VAT", "20")
GB_PLANTED_TAX = ("VAT reduced", "5")
WAITING_BEHIND_SENT = "invoice_sent_dead_lettered"  # an invoice's later events, behind its dead-lettered sent
PRODUCTS = [("Consulting", "120.00"), ("Design", "95.50"), ("Hosting", "19.99"), ("Support plan", "49.00"),
            ("Training day", "850.00"), ("Setup fee", "199.00")]
# GB prices are multiples of 0.20, so 20 % and 5 % VAT are whole cents on every line: whether VAT is rounded
# per line (the CRM) or per rate on the total (QBO) is a mapping rule with its own tests (a difference is a
# `total_mismatch` by design); the chaos run is about delivery and faults.
GB_PRODUCTS = [("Consulting", "120.00"), ("Design", "95.60"), ("Hosting", "20.00"), ("Support plan", "49.00"),
               ("Training day", "850.00"), ("Setup fee", "199.00")]


@dataclass
class TenantPlan:
    tenant_id: str
    country: str = "US"
    revoked: bool = False  # planted needs_reauth
    contacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Delivery:
    event: dict[str, Any]
    webhook_id: str
    kind: str  # "first", "retry", "late", "new_id", "new_id_late"

    @property
    def group(self) -> str:
        data = self.event["data"]
        kind = "payment" if self.event["type"] == "payment.succeeded" else "invoice"
        return f"{self.event['tenant_id']}#{kind}#{data['id']}"


@dataclass
class ChaosPlan:
    seed: int
    tenants: list[TenantPlan]
    events: list[dict[str, Any]]  # unique events, in the order the CRM emitted them per group
    deliveries: list[Delivery]  # everything sent, in sending order
    planted: dict[str, str]  # event id → the reason code it must be dead-lettered with

    @property
    def gb_tenant(self) -> TenantPlan:
        return next(t for t in self.tenants if t.country == "GB")

    @property
    def revoked_tenant(self) -> TenantPlan:
        return next(t for t in self.tenants if t.revoked)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{self._rng.getrandbits(64):016x}"


def tenant_plans(*, seed: int, tenants: int) -> list[TenantPlan]:
    """The tenants alone: they are connected first, and the events are built after (qbsync syncs only invoices
    created after the connection)."""
    plans = [TenantPlan(tenant_id=f"chaos_{seed % 1000}_{k:02d}") for k in range(tenants)]
    plans[0].country = "GB"
    plans[1].revoked = True
    return plans


def build_plan(*, seed: int = 20261123, events: int = 1000, tenants: int = 20, duplicate_rate: float = 0.2,
               planted_tax_invoices: int | None = None) -> ChaosPlan:
    from crm_emulator import builders as b

    rng = random.Random(seed)
    new_id = _Ids(rng)
    plans = tenant_plans(seed=seed, tenants=tenants)
    for k, tenant in enumerate(plans):
        address = (b.address(line1="1 Chaos Lane", city="London", region="LND", postal_code="EC1A 1BB", country="GB")
                   if tenant.country == "GB" else b.address())
        tenant.contacts = [b.customer(crm_contact_id=f"con_{k}_{j}", name=f"Chaos Customer {k}-{j}",
                                      company=f"Chaos {k}-{j} Ltd", email=f"c{k}.{j}@chaos.example.com",
                                      address=address) for j in range(4)]

    def lines(tenant: TenantPlan, tax: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        tax = tax or (GB_TAX if tenant.country == "GB" else US_TAX)
        chosen = rng.sample(GB_PRODUCTS if tenant.country == "GB" else PRODUCTS, rng.randint(1, 3))
        return [b.line(name, rng.randint(1, 4), price, id=new_id("line"),
                       sku=f"{name.upper().replace(' ', '-')}", taxes=[b.tax(*tax)]) for name, price in chosen]

    def currency(tenant: TenantPlan) -> str:
        return "GBP" if tenant.country == "GB" else "USD"

    per_group: dict[str, list[dict[str, Any]]] = {}
    planted: dict[str, str] = {}
    planted_left = planted_tax_invoices if planted_tax_invoices is not None else max(2, events // 250)
    kinds, weights = zip(*LIFECYCLES)
    total = 0
    while total < events:
        tenant = plans[rng.randrange(len(plans))]
        contact = rng.choice(tenant.contacts)
        if tenant.country == "GB" and planted_left > 0:
            lifecycle: tuple[str, ...] = ("sent_planted",)
            planted_left -= 1
        else:
            lifecycle = rng.choices(kinds, weights)[0]
        lifecycle = lifecycle[: events - total]
        group: list[dict[str, Any]] = []
        if lifecycle[0] in ("receipt",):
            payment_id = new_id("pay")
            first = b.payment_succeeded(tenant.tenant_id, source=rng.choice(["order_form", "subscription",
                                                                              "membership", "calendar", "other"]),
                                        customer=contact, lines=lines(tenant), currency=currency(tenant),
                                        event_id=new_id("evt"), id=payment_id)
            group.append(first)
            if "receipt_changed" in lifecycle:
                # The CRM emits the change later: its occurred_at is what orders a payment's repeats.
                later = datetime.fromisoformat(first["occurred_at"]) + timedelta(minutes=1)
                group.append(b.payment_succeeded(tenant.tenant_id, source=first["data"]["source"], customer=contact,
                                                 lines=lines(tenant), currency=currency(tenant),
                                                 event_id=new_id("evt"), id=payment_id, occurred_at=later))
        else:
            planted_event = lifecycle[0] == "sent_planted"
            sent = b.invoice_sent(tenant.tenant_id, id=new_id("inv"), number=f"CH-{rng.randrange(10**6):06d}",
                                  customer=contact, currency=currency(tenant), event_id=new_id("evt"),
                                  lines=lines(tenant, GB_PLANTED_TAX if planted_event else None))
            group.append(sent)
            if planted_event:
                planted[sent["id"]] = "tax_code_unmapped"
            for step in lifecycle[1:]:
                data = group[-1]["data"]
                if step == "updated":
                    group.append(b.invoice_updated(tenant.tenant_id, invoice=data, event_id=new_id("evt"),
                                                   lines=[*data["lines"], *lines(tenant)][:4]))
                elif step == "partially_paid":
                    due = Decimal(data["totals"]["amount_due"])
                    amount = cents(due * Decimal(rng.randint(20, 60)) / 100)
                    group.append(b.invoice_partially_paid(tenant.tenant_id, invoice=data, amount=str(amount),
                                                          event_id=new_id("evt"), payment={"id": new_id("pay")}))
                elif step == "paid":
                    group.append(b.invoice_paid(tenant.tenant_id, invoice=data, event_id=new_id("evt"),
                                                payment={"id": new_id("pay")}))
                elif step == "voided":
                    group.append(b.invoice_voided(tenant.tenant_id, invoice=data, event_id=new_id("evt")))
                elif step == "deleted":
                    group.append(b.invoice_deleted(tenant.tenant_id, invoice=data, event_id=new_id("evt")))
        key = Delivery(group[0], "", "first").group
        per_group[key] = group
        total += len(group)
    for tenant in plans:
        if tenant.revoked:
            for group in per_group.values():
                for event in group:
                    if event["tenant_id"] == tenant.tenant_id:
                        planted[event["id"]] = "needs_reauth"
    for group in per_group.values():
        # The events after a dead-lettered invoice.sent wait on the DLQ behind it (qbsync.sync.crm_events.holds).
        if group[0]["type"] == "invoice.sent" and group[0]["id"] in planted:
            for event in group[1:]:
                planted[event["id"]] = WAITING_BEHIND_SENT

    # ---------------------------------------------------------------- deliveries
    group_deliveries: dict[str, list[Delivery]] = {}
    for key, group in per_group.items():
        sequence = [Delivery(event, event["id"], "first") for event in group]
        for index, event in enumerate(group):
            if rng.random() >= duplicate_rate:
                continue
            for _ in range(rng.choice([1, 2])):
                kind = rng.choice(["retry", "late", "new_id", "new_id_late"])
                webhook_id = event["id"] if kind in ("retry", "late") else new_id("msg")
                extra = Delivery(event, webhook_id, kind)
                position = next(i for i, d in enumerate(sequence) if d.event is event and d.kind == "first") + 1
                if kind in ("late", "new_id_late"):
                    position = rng.randint(position, len(sequence))
                sequence.insert(position, extra)
        group_deliveries[key] = sequence
    # Random merge: every group's deliveries keep their order; groups interleave.
    queues = {key: list(seq) for key, seq in group_deliveries.items()}
    deliveries: list[Delivery] = []
    keys = list(queues)
    while keys:
        weights_left = [len(queues[k]) for k in keys]
        key = rng.choices(keys, weights_left)[0]
        deliveries.append(queues[key].pop(0))
        if not queues[key]:
            keys.remove(key)
    unique = [event for group in per_group.values() for event in group]
    return ChaosPlan(seed=seed, tenants=plans, events=unique, deliveries=deliveries, planted=planted)


# ---------------------------------------------------------------------------------------------- expected
@dataclass
class ExpectedInvoice:
    tenant_id: str
    crm_id: str
    total: Decimal = Decimal("0")
    amount_paid: Decimal = Decimal("0")
    payments: dict[str, Decimal] = field(default_factory=dict)
    voided: bool = False
    deleted: bool = False
    contact_email: str = ""

    @property
    def status(self) -> str:
        if self.deleted:
            return "deleted"
        if self.voided:
            return "voided"
        if self.amount_paid >= self.total and self.total > 0:
            return "paid"
        return "partially_paid" if self.amount_paid > 0 else "open"

    @property
    def balance(self) -> Decimal:
        return Decimal("0") if self.voided or self.deleted else self.total - self.amount_paid


@dataclass
class ExpectedReceipt:
    tenant_id: str
    crm_id: str
    total: Decimal
    contact_email: str


@dataclass
class Expected:
    invoices: dict[str, ExpectedInvoice]
    receipts: dict[str, ExpectedReceipt]
    contacts: dict[str, set[str]]  # tenant → e-mails that must exist exactly once in QBO


def expected_state(plan: ChaosPlan, *, leave_out: set[str] | frozenset[str] = frozenset()) -> Expected:
    """What QBO and the CRM must hold once every event but `leave_out` (event ids) has been applied."""
    invoices: dict[str, ExpectedInvoice] = {}
    receipts: dict[str, ExpectedReceipt] = {}
    contacts: dict[str, set[str]] = defaultdict(set)
    for event in plan.events:
        if event["id"] in leave_out:
            continue
        data, tenant = event["data"], event["tenant_id"]
        email = data["customer"]["email"].lower()
        if event["type"] == "payment.succeeded":
            receipts[data["id"]] = ExpectedReceipt(tenant, data["id"], Decimal(data["totals"]["total"]), email)
            contacts[tenant].add(email)
            continue
        invoice = invoices.get(data["id"])
        if event["type"] == "invoice.sent":
            invoice = invoices[data["id"]] = ExpectedInvoice(tenant, data["id"], contact_email=email)
            contacts[tenant].add(email)
        if invoice is None:
            continue  # its invoice.sent was left out: nothing to update
        invoice.total = Decimal(data["totals"]["total"])
        invoice.amount_paid = Decimal(data["totals"]["amount_paid"])
        if event["type"] in ("invoice.partially_paid", "invoice.paid"):
            invoice.payments[data["payment"]["id"]] = Decimal(data["payment"]["amount"])
        elif event["type"] == "invoice.voided":
            invoice.voided = True
        elif event["type"] == "invoice.deleted":
            invoice.deleted = True
    return Expected(invoices=invoices, receipts=receipts, contacts=dict(contacts))
