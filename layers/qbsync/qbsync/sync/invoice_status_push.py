"""Telling the CRM where an invoice stands in QBO (SPEC F8): `PUT /invoices/{id}/accounting`, and the deal
roll-up `PUT /deals/{deal_id}/accounting` (total invoiced; the most recently updated invoice).

The deal roll-up needs every invoice of the deal; they are kept, per deal, in a "deals" mapping whose state
lists each invoice's latest figures (a conditional write, retried on a race).
Idempotency-Keys name the change that caused the call (SPEC): the same change re-sent reuses its key. They also
carry a hash of the body, as the poll's keys do: a redelivered event computes the body again from QBO and from
the deal's other invoices, and when either moved on meanwhile, the same key with a new body would be a 409 (a
permanent failure) instead of the newer state the CRM should have. The body is deterministic for one QBO state
(`updated_at` is QBO's LastUpdatedTime), so a redelivery with nothing changed still replays its key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qbsync.clients.crm.client import CrmClient
from qbsync.errors import ConflictError, RetryableError
from qbsync.models.crm_api import DealAccounting, InvoiceAccounting, LatestInvoice
from qbsync.repositories.mappings import MappingExistsError, MappingsRepository
from qbsync.sync.poll.content_hash import content_hash
from qbsync.sync.poll.idempotency import crm_key

_UNCOUNTED = ("voided", "deleted")


def deal_rollup(invoices: dict[str, dict[str, Any]], *, realm_id: str) -> DealAccounting | None:
    if not invoices:
        return None
    latest_id, latest = max(invoices.items(), key=lambda item: (item[1]["updated_at"], item[0]))
    total = sum((Decimal(v["total"]) for v in invoices.values() if v["status"] not in _UNCOUNTED), Decimal("0"))
    return DealAccounting(
        realm_id=realm_id,
        total_invoiced=total,
        currency=latest["currency"],
        latest_invoice=LatestInvoice(crm_invoice_id=latest_id, qbo_invoice_id=latest["qbo_invoice_id"],
                                     doc_number=latest.get("doc_number"), recipient=latest.get("recipient"),
                                     status=latest["status"], due_date=latest.get("due_date")),
    )


class InvoiceStatusPublisher:
    def __init__(self, *, crm: CrmClient, mappings: MappingsRepository) -> None:
        self._crm = crm
        self._mappings = mappings

    def publish(self, tenant_id: str, crm_invoice_id: str, accounting: InvoiceAccounting, *, change: str,
                deal_id: str | None = None, recipient: str | None = None) -> None:
        self._crm.put_invoice_accounting(tenant_id, crm_invoice_id, accounting,
                                         idempotency_key=crm_key(tenant_id, accounting.realm_id, "invoice-accounting",
                                                                 crm_invoice_id, change, content_hash(accounting)))
        if deal_id:
            rollup = self._record_in_deal(tenant_id, deal_id, crm_invoice_id, accounting, recipient)
            if rollup is not None:
                self._crm.put_deal_accounting(tenant_id, deal_id, rollup,
                                              idempotency_key=crm_key(tenant_id, rollup.realm_id, "deal-accounting",
                                                                      deal_id, change, content_hash(rollup)))

    def _record_in_deal(self, tenant_id: str, deal_id: str, crm_invoice_id: str, accounting: InvoiceAccounting,
                        recipient: str | None) -> DealAccounting | None:
        entry = {"qbo_invoice_id": accounting.qbo_invoice_id, "doc_number": accounting.doc_number,
                 "status": accounting.status, "due_date": accounting.due_date and str(accounting.due_date),
                 "total": str(accounting.total), "currency": accounting.currency, "recipient": recipient,
                 "updated_at": str(accounting.updated_at)}
        realm_id = accounting.realm_id
        for _ in range(5):
            deal = self._mappings.get(tenant_id, realm_id, "deals", deal_id)
            if deal is None:
                try:
                    self._mappings.create(tenant_id, realm_id, "deals", deal_id, deal_id,
                                          state={"invoices": {crm_invoice_id: entry}})
                    return deal_rollup({crm_invoice_id: entry}, realm_id=realm_id)
                except MappingExistsError:
                    continue
            invoices = {**deal.state.get("invoices", {}), crm_invoice_id: entry}
            try:
                self._mappings.update_state(deal, {**deal.state, "invoices": invoices})
            except ConflictError:
                continue
            return deal_rollup(invoices, realm_id=realm_id)
        raise RetryableError("the deal roll-up kept changing; retrying the event", code="deal_rollup_contention")
