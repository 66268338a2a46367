"""Invoice status back to the CRM (F8), deal roll-ups, and invoices made in QBO itself (F9).

Which path an invoice takes:
- it has a mapping (the CRM → QBO side made or linked it), or carries the tag that side writes into
  `PrivateNote` (the moment before its mapping exists): `PUT /invoices/{crm_invoice_id}/accounting`, then the
  deal roll-up when the mapping state names a deal (`INVOICE_STATE_DEAL_ID`, written by the CRM event side);
- otherwise it was made in QBO: `PUT /qbo-invoices/{qbo_invoice_id}` when the tenant turned
  `sync.qbo_invoices_to_crm` on, remembered in the sync state (`QBOINV#...`), never in the mappings table.

What was last reported (SyncToken + status) is remembered per invoice, so an overlap or a replayed job sends
nothing, and a status that changes without a QBO change (overdue) is still sent: the daily check feeds the
invoices past due through the same path (`report`). The newest QBO state either side reported (the CRM events
worker reports after each change it makes) is remembered too, and a state older than it is never sent: a poll
that read QBO just before the worker's change would otherwise land its report last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from qbsync.clients.crm.client import CrmClient
from qbsync.models.connection_records import CompanyFacts
from qbsync.models.crm_api import QboInvoice
from qbsync.models.identifiers import is_crm_id
from qbsync.models.mapping_records import (
    INVOICE_STATE_DEAL_ID,
    INVOICE_STATE_REPORTED_VERSION,
    Mapping,
    is_older_than_reported,
    newest_reported_version,
)
from qbsync.models.poll_messages import QboInvoiceRecord
from qbsync.repositories.mappings import MappingsRepository
from qbsync.repositories.sync_state import SyncStateRepository
from qbsync.sync.invoice_status import invoice_accounting
from qbsync.sync.poll.content_hash import content_hash
from qbsync.sync.poll.deal_rollups import DealRollups
from qbsync.sync.poll.idempotency import crm_key
from qbsync.sync.poll.invoices import deleted_accounting, qbo_invoice_body
from qbsync.sync.poll.loop_guard import made_by_qbo_side, qbsync_tag
from qbsync.sync.poll.mapping_index import MappingIndex
from qbsync.sync.poll.mapping_state import merge_state
from qbsync.sync.poll.qbo_objects import (
    is_deleted,
    latest_by_id,
    qbo_id,
    ref_value,
    updated_at_text,
    version_of,
)

REPORTED_KEY = "qbo_reported"


class InvoiceSync:
    def __init__(self, *, tenant_id: str, realm_id: str, company: CompanyFacts, environment: str,
                 crm: CrmClient, mappings: MappingsRepository, invoices: MappingIndex,
                 customers: MappingIndex, sync_state: SyncStateRepository, qbo_invoices_to_crm: bool,
                 counts: Counter[str]) -> None:
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._company = company
        self._environment = environment
        self._crm = crm
        self._mappings = mappings
        self._invoices = invoices
        self._customers = customers
        self._sync_state = sync_state
        self._qbo_invoices_to_crm = qbo_invoices_to_crm
        self._counts = counts
        self._deals = DealRollups(tenant_id=tenant_id, realm_id=realm_id, crm=crm, sync_state=sync_state,
                                  counts=counts)

    def report(self, objects: Sequence[dict[str, Any]], *, today: date,
               new_qbo_invoices: bool = True) -> None:
        """Send what changed for these invoices. `new_qbo_invoices=False` (the overdue check) only updates
        QBO-made invoices the CRM already has."""
        latest = latest_by_id(objects)
        self._invoices.load(qbo_id(obj) for obj in latest)
        for invoice in latest:
            mapping = self._invoices.get(qbo_id(invoice))
            if mapping is not None and not made_by_qbo_side(mapping):
                self._report_crm_invoice(invoice, mapping.crm_id, mapping, today)
                continue
            tagged = None if is_deleted(invoice) else qbsync_tag(invoice, "crm_invoice_id")
            if tagged and not is_crm_id(tagged):
                # PrivateNote is free text a QBO user can edit: an id that is not one could steer the CRM
                # call's path ("..") and is never ours.
                self._counts["invoices_skipped_bad_tag"] += 1
            elif tagged:
                self._report_crm_invoice(invoice, tagged, None, today)
            elif self._qbo_invoices_to_crm:
                self._report_qbo_invoice(invoice, today, allow_new=new_qbo_invoices)
            else:
                self._counts["invoices_skipped_not_ours"] += 1

    # ------------------------------------------------------------------ F8: invoices the CRM made
    def _report_crm_invoice(self, invoice: dict[str, Any], crm_invoice_id: str, mapping: Mapping | None,
                            today: date) -> None:
        if not is_crm_id(crm_invoice_id):
            self._counts["invoices_skipped_bad_crm_id"] += 1
            return
        identifier = qbo_id(invoice)
        reported = (mapping.state.get(REPORTED_KEY) if mapping else None) or {}
        if is_deleted(invoice):
            body = deleted_accounting(reported.get("body"), invoice_id=identifier, realm_id=self._realm_id,
                                      home_currency=self._company.home_currency,
                                      environment=self._environment,
                                      deleted_at=updated_at_text(invoice) or "")
        else:
            body = invoice_accounting(invoice, realm_id=self._realm_id,
                                      home_currency=self._company.home_currency,
                                      environment=self._environment, today=today)
        marker = {"version": version_of(invoice), "status": body.status, "email_status": body.email_status}
        if reported.get("marker") == marker:
            self._counts["invoices_unchanged"] += 1
            return
        if mapping is not None:
            # Read again, consistently, just before sending: the batch's index was loaded before this poll's
            # other calls, and the worker may have reported a newer state since.
            mapping = self._mappings.get(mapping.tenant_id, mapping.realm_id, "invoices", mapping.crm_id) or mapping
        newest = mapping.state.get(INVOICE_STATE_REPORTED_VERSION) if mapping else None
        if is_older_than_reported(newest, invoice):
            # The event worker reported a newer QBO state since this poll read QBO: sending this one now
            # would land after it and leave the CRM a step behind.
            self._counts["invoices_older_than_reported"] += 1
            return
        key = crm_key(self._tenant_id, self._realm_id, "invoice-accounting", identifier, version_of(invoice),
                      body.status, content_hash(body))
        self._crm.put_invoice_accounting(self._tenant_id, crm_invoice_id, body, idempotency_key=key)
        self._counts["invoices_reported"] += 1
        if mapping is None:
            return
        updated = merge_state(self._mappings, mapping, {
            REPORTED_KEY: {"marker": marker, "body": body.model_dump(mode="json")},
            INVOICE_STATE_REPORTED_VERSION: newest_reported_version(newest, invoice)})
        if updated is not None:
            self._invoices.remember(updated)
            deal_id = updated.state.get(INVOICE_STATE_DEAL_ID)
            if deal_id and is_crm_id(str(deal_id)):
                self._deals.update(str(deal_id), crm_invoice_id=crm_invoice_id, accounting=body,
                                   invoice=invoice)

    # ------------------------------------------------------------------ F9: invoices made in QBO
    def _report_qbo_invoice(self, invoice: dict[str, Any], today: date, *, allow_new: bool) -> None:
        identifier = qbo_id(invoice)
        record = self._sync_state.qbo_invoice(self._tenant_id, self._realm_id, identifier)
        if record is None and (is_deleted(invoice) or not allow_new):
            return
        if is_deleted(invoice):
            assert record is not None
            body_json = {**record.last_body, "status": "deleted"}
        else:
            customer = self._customers.get(ref_value(invoice, "CustomerRef") or "")
            body_json = qbo_invoice_body(invoice, realm_id=self._realm_id,
                                         crm_contact_id=customer.crm_id if customer else None,
                                         home_currency=self._company.home_currency,
                                         environment=self._environment, today=today).model_dump(mode="json")
        version, status = version_of(invoice), body_json["status"]
        if record is not None and (record.reported_sync_token, record.reported_status) == (version, status):
            self._counts["qbo_invoices_unchanged"] += 1
            return
        body = QboInvoice.model_validate(body_json)
        key = crm_key(self._tenant_id, self._realm_id, "qbo-invoice", identifier, version, status,
                      content_hash(body))
        answer = self._crm.put_qbo_invoice(self._tenant_id, identifier, body, idempotency_key=key)
        self._counts["qbo_invoices_reported"] += 1
        self._sync_state.save_qbo_invoice(QboInvoiceRecord(
            tenant_id=self._tenant_id, realm_id=self._realm_id, qbo_invoice_id=identifier,
            crm_record_id=answer.crm_record_id, reported_sync_token=version, reported_status=status,
            last_body=body_json, version=record.version if record else 0,
        ))
