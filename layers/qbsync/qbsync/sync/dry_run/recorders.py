"""Stand-ins for the write side of the sync's ports, for a dry run (SPEC F19): reads go to the real thing,
writes are recorded in a `WriteLog` and answered with what the real thing would plausibly answer, so the
same sync code runs to the end and shows every write it would make.

- `RecordingQbo` wraps a QboClient. Objects "created" get ids `dry-run-{entity}-{n}`; later reads of them
  (and of real objects the dry run "changed") see the dry run's version, so a flow that creates a customer
  and then an invoice for it reads back what it wrote. Sales transactions (Invoice, SalesReceipt) are
  answered with `TotalAmt` from `total_for(entity, body)` when given: the mappers' own pre-write totals
  check (`check_totals`) still runs for real, but only QBO can compute the post-write total, so the replay
  says which total QBO should come back with (the event's).
- `RecordingCrm` stands for the CRM client: every call of the outbound contract is recorded with its path,
  JSON body and Idempotency-Key; answers carry `dry-run-...` CRM ids.
- `RecordingMappings` wraps the mappings repository: reads see the real pairs plus the ones the dry run
  "made"; creates, state changes and deletes are recorded, never written.
- `RecordingStore` does the same for any other repository of bookkeeping (the poll's sync state): the
  methods named as reads pass through, every other call is recorded and answered with its first argument.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from qbsync.models.mapping_records import Mapping as MappingRecord
from qbsync.repositories.mappings import MappingExistsError
from qbsync.utils.jsonio import dumps, loads

_SALES = ("Invoice", "SalesReceipt")


def _plain(value: Any) -> Any:
    """A JSON-ready copy (Decimals as strings, models dumped), detached from the caller's objects."""
    return loads(dumps(value))


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WriteLog:
    """Every write a dry run would have made, in order."""

    writes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, target: str, operation: str, *, entity: str | None = None, path: str | None = None,
            body: Any = None, key: str | None = None) -> None:
        self.writes.append({"target": target, "operation": operation, "entity": entity, "path": path,
                            "body": _plain(body), "key": key})

    def of(self, target: str) -> list[dict[str, Any]]:
        return [write for write in self.writes if write["target"] == target]


def _key(parts: Iterable[Any]) -> str:
    return ":".join(str(part) for part in parts)


class RecordingQbo:
    def __init__(self, qbo: Any, log: WriteLog, *, total_for: Callable[[str, Mapping[str, Any]], Decimal | None]
                 | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self._qbo = qbo
        self._log = log
        self._total_for = total_for or (lambda entity, body: None)
        self._clock = clock
        self._objects: dict[tuple[str, str], dict[str, Any]] = {}  # what the dry run made or changed
        self._counter = 0
        self.realm_id = getattr(qbo, "realm_id", None)

    # --- reads: to QBO, unless the dry run has its own version --------------------------------------
    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        mine = self._objects.get((entity, str(entity_id)))
        return copy.deepcopy(mine) if mine is not None else self._qbo.read(entity, entity_id)

    def query(self, statement: str) -> list[dict[str, Any]]:
        return self._qbo.query(statement)

    def count(self, entity: str, **kwargs: Any) -> int:
        return self._qbo.count(entity, **kwargs)

    def iter_query(self, entity: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._qbo.iter_query(entity, **kwargs)

    def company_info(self) -> dict[str, Any]:
        return self._qbo.company_info()

    def preferences(self) -> dict[str, Any]:
        return self._qbo.preferences()

    def invoice_pdf(self, invoice_id: str) -> bytes:
        return self._qbo.invoice_pdf(invoice_id)

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> Any:
        return self._qbo.cdc(entities, changed_since)

    def changes_since(self, entities: Sequence[str], changed_since: datetime) -> Any:
        return self._qbo.changes_since(entities, changed_since)

    # --- writes: recorded, answered plausibly -------------------------------------------------------
    def _keep(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._objects[(entity, str(obj["Id"]))] = obj
        return copy.deepcopy(obj)

    def _stamp(self, obj: dict[str, Any], entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        now = self._clock().isoformat()
        obj["MetaData"] = {**(obj.get("MetaData") or {"CreateTime": now}), "LastUpdatedTime": now}
        total = self._total_for(entity, body) if entity in _SALES else None
        if total is not None:
            paid = Decimal(str(obj.get("TotalAmt", total))) - Decimal(str(obj.get("Balance", obj.get("TotalAmt", total))))
            obj["TotalAmt"] = total
            if entity == "Invoice":
                obj["Balance"] = total - paid
        return obj

    def _answer_create(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._counter += 1
        obj = {**copy.deepcopy(dict(body)), "Id": f"dry-run-{entity.lower()}-{self._counter}", "SyncToken": "0"}
        if entity == "Invoice":
            obj.setdefault("EmailStatus", "NotSet")
        if entity == "SalesReceipt":
            obj["Balance"] = Decimal(0)
        if entity == "Payment":
            self._apply_payment(obj)
        return self._stamp(obj, entity, body)

    def _apply_payment(self, payment: Mapping[str, Any]) -> None:
        """A payment lowers the balance of the invoices it is linked to, as QBO does."""
        for line in payment.get("Line") or []:
            for linked in line.get("LinkedTxn") or []:
                if linked.get("TxnType") != "Invoice":
                    continue
                invoice = self.read("Invoice", str(linked["TxnId"]))
                balance = Decimal(str(invoice.get("Balance", invoice.get("TotalAmt", 0))))
                invoice["Balance"] = balance - Decimal(str(line.get("Amount", 0)))
                self._keep("Invoice", invoice)

    def create(self, entity: str, body: Mapping[str, Any], *, request_key: Sequence[Any],
               allow_duplicate_doc_number: bool = False) -> dict[str, Any]:
        self._log.add("qbo", "create", entity=entity, body=body, key=_key(request_key))
        return self._keep(entity, self._answer_create(entity, body))

    def sparse_update(self, entity: str, entity_id: str, sync_token: str, changes: Mapping[str, Any], *,
                      request_key: Sequence[Any]) -> dict[str, Any]:
        body = {**changes, "Id": entity_id, "SyncToken": sync_token, "sparse": True}
        self._log.add("qbo", "sparse_update", entity=entity, body=body, key=_key(request_key))
        current = self.read(entity, entity_id)
        updated = {**current, **copy.deepcopy(dict(changes)), "SyncToken": str(int(sync_token) + 1)
                   if str(sync_token).isdigit() else sync_token}
        return self._keep(entity, self._stamp(updated, entity, body))

    def delete(self, entity: str, entity_id: str, sync_token: str, *, request_key: Sequence[Any]) -> dict[str, Any]:
        self._log.add("qbo", "delete", entity=entity, body={"Id": entity_id, "SyncToken": sync_token},
                      key=_key(request_key))
        self._objects.pop((entity, str(entity_id)), None)
        return {"status": "Deleted", "Id": entity_id}

    def void(self, entity: str, entity_id: str, sync_token: str, *, request_key: Sequence[Any]) -> dict[str, Any]:
        self._log.add("qbo", "void", entity=entity, body={"Id": entity_id, "SyncToken": sync_token},
                      key=_key(request_key))
        current = self.read(entity, entity_id)
        current.update({"TotalAmt": Decimal(0), "Balance": Decimal(0),
                        "PrivateNote": f"Voided{(' - ' + current['PrivateNote']) if current.get('PrivateNote') else ''}"})
        return self._keep(entity, current)

    def send_invoice(self, invoice_id: str, *, request_key: Sequence[Any], send_to: str | None = None
                     ) -> dict[str, Any]:
        self._log.add("qbo", "send", entity="Invoice", body={"Id": invoice_id, "sendTo": send_to},
                      key=_key(request_key))
        current = self.read("Invoice", invoice_id)
        current["EmailStatus"] = "EmailSent"
        if send_to:
            current["BillEmail"] = {"Address": send_to}
        return self._keep("Invoice", current)

    def batch(self, operations: Sequence[Any], *, request_key: Sequence[Any], **kwargs: Any) -> list[Any]:
        """Queries go to QBO in one batch; each write is recorded and answered as the single call would be."""
        from qbsync.clients.qbo.batch import BatchItemResult, assign_bids

        pairs = assign_bids(operations)
        queries = [op for _, op in pairs if op.operation == "query"]
        answered = iter(self._qbo.batch(queries, request_key=request_key, **kwargs) if queries else [])
        results = []
        for bid, op in pairs:
            if op.operation == "query":
                results.append(BatchItemResult(bid=bid, operation=op, query_response=next(answered).query_response))
                continue
            body = dict(op.body or {})
            if op.operation == "create":
                entity = self.create(op.entity, body, request_key=(*request_key, bid))
            elif op.operation == "delete":
                entity = self.delete(op.entity, str(body["Id"]), str(body["SyncToken"]), request_key=(*request_key, bid))
            else:
                changes = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "sparse")}
                entity = self.sparse_update(op.entity, str(body["Id"]), str(body["SyncToken"]), changes,
                                            request_key=(*request_key, bid))
            results.append(BatchItemResult(bid=bid, operation=op, entity=entity))
        return results


class RecordingCrm:
    """The outbound CRM contract, recorded (same paths and bodies as `CrmClient`, nothing sent)."""

    def __init__(self, log: WriteLog) -> None:
        self._log = log
        self._counter = 0

    def _record(self, method: str, path: str, body: BaseModel, idempotency_key: str) -> None:
        self._log.add("crm", f"{method} {path}", path=path, body=body.model_dump(mode="json"), key=idempotency_key)

    def _new_id(self, kind: str) -> str:
        self._counter += 1
        return f"dry-run-{kind}-{self._counter}"

    def upsert_contacts(self, tenant_id: str, body: Any, *, idempotency_key: str) -> Any:
        from qbsync.models.crm_api import ContactsBatchUpsertResult

        self._record("POST", f"/tenants/{tenant_id}/contacts/batch-upsert", body, idempotency_key)
        return ContactsBatchUpsertResult(results=[
            {"index": i, "qbo_id": c.qbo_customer_id, "crm_contact_id": self._new_id("contact"), "created": True}
            for i, c in enumerate(body.contacts)])

    def delete_contacts(self, tenant_id: str, body: Any, *, idempotency_key: str) -> Any:
        from qbsync.models.crm_api import ContactsBatchDeleteResult

        self._record("POST", f"/tenants/{tenant_id}/contacts/batch-delete", body, idempotency_key)
        status = "deleted" if body.mode == "delete" else "archived"
        return ContactsBatchDeleteResult(results=[{"index": i, "status": status} for i in range(len(body.contacts))])

    def upsert_products(self, tenant_id: str, body: Any, *, idempotency_key: str) -> Any:
        from qbsync.models.crm_api import ProductsBatchUpsertResult

        self._record("POST", f"/tenants/{tenant_id}/products/batch-upsert", body, idempotency_key)
        return ProductsBatchUpsertResult(results=[
            {"index": i, "qbo_id": p.qbo_item_id, "crm_product_id": self._new_id("product"), "created": True}
            for i, p in enumerate(body.products)])

    def delete_products(self, tenant_id: str, body: Any, *, idempotency_key: str) -> Any:
        from qbsync.models.crm_api import ProductsBatchDeleteResult

        self._record("POST", f"/tenants/{tenant_id}/products/batch-delete", body, idempotency_key)
        status = "deleted" if body.mode == "delete" else "archived"
        return ProductsBatchDeleteResult(results=[{"index": i, "status": status} for i in range(len(body.products))])

    def put_invoice_accounting(self, tenant_id: str, crm_invoice_id: str, body: Any, *, idempotency_key: str) -> None:
        self._record("PUT", f"/tenants/{tenant_id}/invoices/{crm_invoice_id}/accounting", body, idempotency_key)

    def put_deal_accounting(self, tenant_id: str, deal_id: str, body: Any, *, idempotency_key: str) -> None:
        self._record("PUT", f"/tenants/{tenant_id}/deals/{deal_id}/accounting", body, idempotency_key)

    def put_qbo_invoice(self, tenant_id: str, qbo_invoice_id: str, body: Any, *, idempotency_key: str) -> Any:
        from qbsync.models.crm_api import QboInvoiceResult

        self._record("PUT", f"/tenants/{tenant_id}/qbo-invoices/{qbo_invoice_id}", body, idempotency_key)
        return QboInvoiceResult(crm_record_id=self._new_id("qbo-invoice"))

    def create_review_request(self, tenant_id: str, body: Any, *, idempotency_key: str) -> Any:
        from qbsync.models.crm_api import ReviewRequestResult

        self._record("POST", f"/tenants/{tenant_id}/review-requests", body, idempotency_key)
        return ReviewRequestResult(id=self._new_id("review-request"))

    def put_connection(self, tenant_id: str, body: Any, *, idempotency_key: str) -> None:
        self._record("PUT", f"/tenants/{tenant_id}/connection", body, idempotency_key)


class RecordingMappings:
    """The mappings repository for a dry run: the real pairs, overlaid with the ones the run "wrote"."""

    def __init__(self, mappings: Any, log: WriteLog, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._mappings = mappings
        self._log = log
        self._clock = clock
        # (tenant, realm, object, crm id) → the pair as the dry run left it (None: deleted)
        self._overlay: dict[tuple[str, str, str, str], MappingRecord | None] = {}

    def get(self, tenant_id: str, realm_id: str, object_type: str, crm_id: str) -> MappingRecord | None:
        key = (tenant_id, realm_id, object_type, crm_id)
        if key in self._overlay:
            return self._overlay[key]
        return self._mappings.get(tenant_id, realm_id, object_type, crm_id)

    def find_by_qbo_id(self, tenant_id: str, realm_id: str, object_type: str, qbo_id: str) -> MappingRecord | None:
        for (tenant, realm, kind, _), mapping in self._overlay.items():
            if (tenant, realm, kind) == (tenant_id, realm_id, object_type) and mapping and mapping.qbo_id == qbo_id:
                return mapping
        found = self._mappings.find_by_qbo_id(tenant_id, realm_id, object_type, qbo_id)
        if found is not None and (tenant_id, realm_id, object_type, found.crm_id) in self._overlay:
            return None  # changed or deleted by the dry run
        return found

    def create(self, tenant_id: str, realm_id: str, object_type: str, crm_id: str, qbo_id: str, *,
               state: dict[str, Any] | None = None, now: datetime | None = None) -> MappingRecord:
        existing = self.get(tenant_id, realm_id, object_type, crm_id)
        if existing is not None:
            raise MappingExistsError(existing)
        moment = now or self._clock()
        mapping = MappingRecord(tenant_id=tenant_id, realm_id=realm_id, object_type=object_type, crm_id=crm_id,
                                qbo_id=qbo_id, created_at=moment, updated_at=moment, state=state or {}, version=1)
        self._log.add("mappings", "create", entity=object_type,
                      body={"crm_id": crm_id, "qbo_id": qbo_id, "state": state or {}})
        self._overlay[(tenant_id, realm_id, object_type, crm_id)] = mapping
        return mapping

    def update_state(self, mapping: MappingRecord, state: dict[str, Any], *, qbo_id: str | None = None,
                     now: datetime | None = None) -> MappingRecord:
        updated = mapping.model_copy(update={"state": state, "qbo_id": qbo_id or mapping.qbo_id,
                                             "updated_at": now or self._clock(), "version": mapping.version + 1})
        self._log.add("mappings", "update_state", entity=mapping.object_type,
                      body={"crm_id": mapping.crm_id, "qbo_id": updated.qbo_id, "state": state})
        self._overlay[(mapping.tenant_id, mapping.realm_id, mapping.object_type, mapping.crm_id)] = updated
        return updated

    def delete(self, tenant_id: str, realm_id: str, object_type: str, crm_id: str) -> bool:
        existed = self.get(tenant_id, realm_id, object_type, crm_id) is not None
        self._log.add("mappings", "delete", entity=object_type, body={"crm_id": crm_id})
        self._overlay[(tenant_id, realm_id, object_type, crm_id)] = None
        return existed

    def __getattr__(self, name: str) -> Any:
        # Any other reader of the real repository (e.g. a listing) passes through.
        return getattr(self._mappings, name)


class RecordingStore:
    """Any bookkeeping repository for a dry run: `reads` pass through (seeing the run's own saves, keyed by
    the saved record's identity), every other method is recorded and returns the record it was given."""

    def __init__(self, store: Any, log: WriteLog, *, target: str, reads: Sequence[str]) -> None:
        self._store = store
        self._log = log
        self._target = target
        self._reads = frozenset(reads)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name in self._reads or not callable(attribute):
            return attribute

        def record(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else next(iter(kwargs.values()), None)
            self._log.add(self._target, name, entity=type(first).__name__ if first is not None else None, body=first)
            return first

        return record
