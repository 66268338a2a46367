"""A deal's accounting properties from its invoices (F8, issue 6 §6): `PUT /deals/{deal_id}/accounting`.

The CRM invoices of a deal are reported one at a time, so their latest reported state is kept per deal in the
sync state (`DEAL#...`). Each change to an entry bumps the roll-up's `revision`; the CRM is told each revision
once (`published_revision`), under a key that names the revision, so a retry after a lost answer resends
the same body and a later change sends a new one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from qbsync.clients.crm.client import CrmClient
from qbsync.errors import ConflictError
from qbsync.models.crm_api import InvoiceAccounting
from qbsync.repositories.sync_state import SyncStateRepository
from qbsync.sync.poll.idempotency import crm_key
from qbsync.sync.poll.invoices import deal_accounting, deal_entry

_ATTEMPTS = 3


class DealRollups:
    def __init__(self, *, tenant_id: str, realm_id: str, crm: CrmClient, sync_state: SyncStateRepository,
                 counts: Counter[str]) -> None:
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._crm = crm
        self._sync_state = sync_state
        self._counts = counts

    def update(self, deal_id: str, *, crm_invoice_id: str, accounting: InvoiceAccounting,
               invoice: dict[str, Any]) -> None:
        rollup = self._sync_state.deal_rollup(self._tenant_id, self._realm_id, deal_id)
        for attempt in range(_ATTEMPTS):
            entry = deal_entry(accounting, crm_invoice_id=crm_invoice_id, invoice=invoice,
                               previous=rollup.invoices.get(crm_invoice_id))
            if rollup.invoices.get(crm_invoice_id) == entry:
                break
            changed = rollup.model_copy(update={"invoices": {**rollup.invoices, crm_invoice_id: entry},
                                                "revision": rollup.revision + 1})
            try:
                rollup = self._sync_state.save_deal_rollup(changed)
                break
            except ConflictError:  # another company's poll or the other side changed it: read again
                if attempt == _ATTEMPTS - 1:
                    raise
                rollup = self._sync_state.deal_rollup(self._tenant_id, self._realm_id, deal_id)
        if rollup.published_revision >= rollup.revision:
            return
        body = deal_accounting(rollup, realm_id=self._realm_id)
        if body is None:
            return
        self._crm.put_deal_accounting(self._tenant_id, deal_id, body, idempotency_key=crm_key(
            self._tenant_id, self._realm_id, "deal-accounting", deal_id, f"r{rollup.revision}"))
        self._counts["deals_reported"] += 1
        try:
            published = rollup.model_copy(update={"published_revision": rollup.revision})
            self._sync_state.save_deal_rollup(published)
        except ConflictError:
            pass  # a newer revision was saved meanwhile; whoever saved it publishes it
