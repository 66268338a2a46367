"""Everything the emulator remembers: what each tenant's CRM received, the idempotency records, the call
log and counters, and the fault plan. One lock guards it all; the emulator serves calls one at a time
while it holds state, which also makes concurrent calls with the same Idempotency-Key replay, not race."""

from __future__ import annotations

import copy
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crm_emulator.faults import FaultPlan


@dataclass
class TenantRecords:
    """One tenant's side of the CRM. Keys mirror what makes a record unique in the contract."""

    contacts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (realm, qbo id)
    products: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    invoice_accounting: dict[str, dict[str, Any]] = field(default_factory=dict)  # crm_invoice_id
    deal_accounting: dict[str, dict[str, Any]] = field(default_factory=dict)  # deal_id
    qbo_invoices: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (realm, qbo id)
    review_requests: list[dict[str, Any]] = field(default_factory=list)
    connection_updates: list[dict[str, Any]] = field(default_factory=list)

    def dump(self) -> dict[str, Any]:
        return copy.deepcopy({
            "contacts": list(self.contacts.values()),
            "products": list(self.products.values()),
            "invoice_accounting": self.invoice_accounting,
            "deal_accounting": self.deal_accounting,
            "qbo_invoices": list(self.qbo_invoices.values()),
            "review_requests": self.review_requests,
            "connection_updates": self.connection_updates,
        })


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status: int
    body: dict[str, Any]


class EmulatorState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tenants: dict[str, TenantRecords] = {}
            self.answers: dict[str, StoredAnswer] = {}  # Idempotency-Key → the first answer
            self.call_log: list[dict[str, Any]] = []
            self.counts: Counter[str] = Counter()
            self.by_route: Counter[str] = Counter()
            self.seen_webhook_ids: set[str] = set()
            self.faults = FaultPlan()
            self._sequences: dict[str, itertools.count[int]] = {}

    def tenant(self, tenant_id: str) -> TenantRecords:
        return self.tenants.setdefault(tenant_id, TenantRecords())

    def new_id(self, prefix: str) -> str:
        # Sequential ids make failures readable ("crm_contact_3"); stable per (realm, qbo id) by storage.
        sequence = self._sequences.setdefault(prefix, itertools.count(1))
        return f"{prefix}_{next(sequence)}"

    def counters(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": self.counts["calls"],
                "by_route": dict(self.by_route),
                "rejected_signature": self.counts["rejected_signature"],
                "replayed": self.counts["replayed"],
                "faults": self.counts["faults"],
                "conflicts": self.counts["conflicts"],
                "invalid_bodies": self.counts["invalid_bodies"],
                "duplicate_webhook_ids": self.counts["duplicate_webhook_ids"],
            }

    def calls(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.call_log)

    def tenant_dump(self, tenant_id: str) -> dict[str, Any]:
        with self.lock:
            records = self.tenants.get(tenant_id)
            return (records or TenantRecords()).dump()

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {
                "counters": self.counters(),
                "faults": self.faults.describe(),
                "tenants": {tenant_id: records.dump() for tenant_id, records in self.tenants.items()},
                "calls": self.calls(),
            }
