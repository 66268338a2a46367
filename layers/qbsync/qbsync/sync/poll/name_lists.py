"""QBO customers and items → CRM contacts and products (F5-F7): batch upserts, the delete rules, the pairs.

For each object, newest version first: qbsync's own writes are left alone (`loop_guard`), deleted, merged-away
and inactive ones follow the tenant's rule (`delete_rules`), and the rest are upserted in batches of up to
100 unless their content hash says the CRM already has exactly this. After each CRM answer the pair (CRM id,
QBO id) is stored with `origin: "qbo"`, the hash and the SyncToken (in bulk for records the CRM created in
that answer); a job that fails halfway therefore resends only what the CRM has not confirmed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from qbsync.clients.crm.client import CrmClient
from qbsync.models.crm_api import (
    MAX_BATCH_ITEMS,
    ContactRef,
    ContactsBatchDelete,
    ContactsBatchUpsert,
    ProductRef,
    ProductsBatchDelete,
    ProductsBatchUpsert,
)
from qbsync.models.mapping_records import MappedObject, Mapping
from qbsync.models.tenant_settings import DeleteRule
from qbsync.observability import logger
from qbsync.repositories.mappings import MappingExistsError, MappingsRepository
from qbsync.sync.poll.contacts import contact_upsert
from qbsync.sync.poll.content_hash import content_hash
from qbsync.sync.poll.delete_rules import decide
from qbsync.sync.poll.idempotency import changes_digest, crm_key
from qbsync.sync.poll.loop_guard import ORIGIN_QBO, written_by_crm_side
from qbsync.sync.poll.mapping_index import MappingIndex
from qbsync.sync.poll.mapping_state import merge_state
from qbsync.sync.poll.products import product_upsert
from qbsync.sync.poll.qbo_objects import latest_by_id, qbo_id

DeleteMode = Literal["archive", "delete"]


@dataclass(frozen=True)
class Written:
    qbo_id: str
    crm_id: str | None
    created: bool = False


class NewPairs(Protocol):
    """Writes pairs for CRM records created just now, in bulk (`RealmMappings.put_new`)."""

    def put_new(self, tenant_id: str, realm_id: str, object_type: MappedObject,
                pairs: Sequence[tuple[str, str, dict[str, Any]]], *, now: datetime) -> list[Mapping]: ...


class NameListWriter(Protocol):
    """One CRM record kind of the contract: contacts or products."""

    entity: str
    object_type: MappedObject

    def body(self, obj: dict[str, Any], *, realm_id: str) -> BaseModel: ...

    def upsert(self, tenant_id: str, bodies: Sequence[BaseModel], *,
               idempotency_key: str) -> list[Written]: ...

    def remove(self, tenant_id: str, mode: DeleteMode, realm_id: str, qbo_ids: Sequence[str], *,
               idempotency_key: str) -> list[Written]: ...


class ContactsWriter:
    entity = "Customer"
    object_type: MappedObject = "customers"

    def __init__(self, crm: CrmClient) -> None:
        self._crm = crm

    def body(self, obj: dict[str, Any], *, realm_id: str) -> BaseModel:
        return contact_upsert(obj, realm_id=realm_id)

    def upsert(self, tenant_id: str, bodies: Sequence[BaseModel], *, idempotency_key: str) -> list[Written]:
        answer = self._crm.upsert_contacts(tenant_id, ContactsBatchUpsert(contacts=list(bodies)),  # type: ignore[arg-type]
                                           idempotency_key=idempotency_key)
        return [Written(result.qbo_id, result.crm_contact_id, result.created) for result in answer.results]

    def remove(self, tenant_id: str, mode: DeleteMode, realm_id: str, qbo_ids: Sequence[str], *,
               idempotency_key: str) -> list[Written]:
        body = ContactsBatchDelete(mode=mode, contacts=[ContactRef(qbo_customer_id=i, realm_id=realm_id)
                                                        for i in qbo_ids])
        answer = self._crm.delete_contacts(tenant_id, body, idempotency_key=idempotency_key)
        return [Written(qbo_ids[result.index], result.crm_contact_id) for result in answer.results]


class ProductsWriter:
    entity = "Item"
    object_type: MappedObject = "items"

    def __init__(self, crm: CrmClient) -> None:
        self._crm = crm

    def body(self, obj: dict[str, Any], *, realm_id: str) -> BaseModel:
        return product_upsert(obj, realm_id=realm_id)

    def upsert(self, tenant_id: str, bodies: Sequence[BaseModel], *, idempotency_key: str) -> list[Written]:
        answer = self._crm.upsert_products(tenant_id, ProductsBatchUpsert(products=list(bodies)),  # type: ignore[arg-type]
                                           idempotency_key=idempotency_key)
        return [Written(result.qbo_id, result.crm_product_id, result.created) for result in answer.results]

    def remove(self, tenant_id: str, mode: DeleteMode, realm_id: str, qbo_ids: Sequence[str], *,
               idempotency_key: str) -> list[Written]:
        body = ProductsBatchDelete(mode=mode, products=[ProductRef(qbo_item_id=i, realm_id=realm_id)
                                                        for i in qbo_ids])
        answer = self._crm.delete_products(tenant_id, body, idempotency_key=idempotency_key)
        return [Written(qbo_ids[result.index], result.crm_product_id) for result in answer.results]


def chunks(items: Sequence[Any], size: int = MAX_BATCH_ITEMS) -> list[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


@dataclass
class _Upsert:
    obj: dict[str, Any]
    body: BaseModel
    digest: str


class NameListSync:
    def __init__(self, *, tenant_id: str, realm_id: str, writer: NameListWriter, index: MappingIndex,
                 mappings: MappingsRepository, new_pairs: NewPairs | None, delete_rule: DeleteRule,
                 counts: Counter[str], clock: Callable[[], datetime]) -> None:
        self._tenant_id = tenant_id
        self._new_pairs = new_pairs
        self._clock = clock
        self._realm_id = realm_id
        self._writer = writer
        self._index = index
        self._mappings = mappings
        self._rule = delete_rule
        self._counts = counts
        self._name = writer.object_type

    def sync(self, objects: Sequence[dict[str, Any]]) -> None:
        latest = latest_by_id(objects)
        self._index.load(qbo_id(obj) for obj in latest)
        upserts: list[_Upsert] = []
        removals: dict[DeleteMode, list[dict[str, Any]]] = {"archive": [], "delete": []}
        for obj in latest:
            mapping = self._index.get(qbo_id(obj))
            if written_by_crm_side(obj, mapping):
                self._count("skipped_own_write")
                continue
            decision = decide(obj, rule=self._rule, mapping=mapping)
            if decision.action == "skip":
                self._count(f"skipped_{decision.reason}")
            elif decision.action == "upsert":
                body = self._writer.body(obj, realm_id=self._realm_id)
                digest = content_hash(body)
                known = mapping.state if mapping is not None else {}
                if known.get("hash") == digest and not known.get("archived"):
                    self._count("unchanged")
                else:
                    upserts.append(_Upsert(obj, body, digest))
            else:
                removals[decision.action].append(obj)  # type: ignore[index]
        for batch in chunks(upserts):
            self._upsert(batch)
        for mode, objs in removals.items():
            for batch in chunks(objs):
                self._remove(mode, batch)

    # ------------------------------------------------------------------ CRM calls, then the pairs
    def _upsert(self, batch: Sequence[_Upsert]) -> None:
        key = crm_key(self._tenant_id, self._realm_id, self._name, "upsert",
                      changes_digest((item.obj, item.digest) for item in batch))
        results = self._writer.upsert(self._tenant_id, [item.body for item in batch], idempotency_key=key)
        by_qbo_id = {result.qbo_id: result for result in results}
        fresh: list[tuple[str, str, dict[str, Any]]] = []
        for item in batch:
            result = by_qbo_id.get(qbo_id(item.obj))
            if result is None or not result.crm_id:
                continue
            if self._new_pairs is not None and result.created and self._index.get(result.qbo_id) is None:
                fresh.append((result.crm_id, result.qbo_id, self._state(item)))
            else:
                self._remember(item.obj, result.crm_id, self._state(item))
        if fresh and self._new_pairs is not None:
            for mapping in self._new_pairs.put_new(self._tenant_id, self._realm_id, self._name, fresh,
                                                   now=self._clock()):
                self._index.remember(mapping)
        self._count("upserted", len(batch))

    @staticmethod
    def _state(item: _Upsert) -> dict[str, Any]:
        return {"origin": ORIGIN_QBO, "hash": item.digest, "sync_token": str(item.obj.get("SyncToken", "")),
                "archived": False}

    def _remove(self, mode: DeleteMode, batch: Sequence[dict[str, Any]]) -> None:
        ids = [qbo_id(obj) for obj in batch]
        key = crm_key(self._tenant_id, self._realm_id, self._name, mode,
                      changes_digest((obj, mode) for obj in batch))
        self._writer.remove(self._tenant_id, mode, self._realm_id, ids, idempotency_key=key)
        for identifier in ids:
            mapping = self._index.get(identifier)
            if mapping is None:
                continue
            if mode == "delete":
                # The CRM record is gone: a later reactivation in QBO makes a new one, with a new pair.
                self._mappings.delete(self._tenant_id, self._realm_id, self._name, mapping.crm_id)
                self._index.forget(identifier)
            else:
                updated = merge_state(self._mappings, mapping, {"archived": True})
                if updated is not None:
                    self._index.remember(updated)
        self._count("archived" if mode == "archive" else "deleted", len(batch))

    def _remember(self, obj: dict[str, Any], crm_id: str, state: dict[str, Any]) -> None:
        """Pair a CRM record that may have been paired before: conditional writes, one at a time."""
        identifier = qbo_id(obj)
        existing = self._index.get(identifier)
        if existing is not None and existing.crm_id == crm_id:
            updated = merge_state(self._mappings, existing, state)
            if updated is not None:
                self._index.remember(updated)
            return
        if existing is not None:
            # The CRM answered with another record than the one paired (it re-created or merged it).
            self._mappings.delete(self._tenant_id, self._realm_id, self._name, existing.crm_id)
        try:
            created = self._mappings.create(self._tenant_id, self._realm_id, self._name, crm_id, identifier,
                                            state=state)
        except MappingExistsError as clash:
            if clash.existing.qbo_id == identifier:  # the same pair, written by a concurrent run
                created = merge_state(self._mappings, clash.existing, state) or clash.existing
            else:
                # That CRM record is paired with another QBO object (e.g. by the CRM → QBO side): keep the
                # existing pair rather than steal it; the CRM has the data either way.
                logger.warning("crm record already paired", extra={
                    "object": self._name, "qbo_id": identifier, "paired_qbo_id": clash.existing.qbo_id})
                return
        self._index.remember(created)

    def _count(self, name: str, amount: int = 1) -> None:
        self._counts[f"{self._name}_{name}"] += amount
