"""The poll run's orchestration with in-memory ports: the watermark moves only after the CRM accepted
everything, QBO's time (not ours) becomes the watermark, own writes are left alone, a scan resumes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from qbsync.clients.crm.errors import CrmServerError
from qbsync.clients.qbo.cdc import CdcChange, CdcResult
from qbsync.errors import ConflictError
from qbsync.models.connection_records import CompanyFacts, ConnectionRecord, EncryptedTokens
from qbsync.models.crm_api import ContactsBatchUpsertResult, ProductsBatchUpsertResult
from qbsync.models.mapping_records import INVOICE_STATE_DEAL_ID, Mapping
from qbsync.models.queue_messages import PollJobMessage
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.poll.runner import PollDependencies, PollJobRunner, ScanContinuesError

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
QBO_TIME = datetime(2026, 11, 23, 9, 59, 58, tzinfo=datetime.fromisoformat("2026-01-01T00:00-08:00").tzinfo)
META = {"CreateTime": "2026-11-23T09:00:00-08:00", "LastUpdatedTime": "2026-11-23T09:30:00-08:00"}


class Connections:
    def get(self, tenant_id: str, realm_id: str) -> ConnectionRecord:
        return ConnectionRecord(
            tenant_id=tenant_id, realm_id=realm_id, status="connected", connected_at=NOW - timedelta(days=1),
            updated_at=NOW, company=CompanyFacts(company_name="Co", country="US", home_currency="USD",
                                                 multicurrency=False, custom_txn_numbers=False,
                                                 automated_sales_tax=True, time_zone="America/Los_Angeles"),
            tokens=EncryptedTokens(access_token=b"a", refresh_token=b"r", obtained_at=NOW,
                                   access_token_expires_at=NOW + timedelta(hours=1)))


@dataclass
class Versioned:
    settings: TenantSettings
    version: int = 1


class Settings:
    def __init__(self, settings: TenantSettings | None = None) -> None:
        self.value = settings or TenantSettings()

    def get(self, tenant_id: str) -> Versioned:
        return Versioned(self.value)


class SyncStates:
    """SyncStateRepository in memory, with its version checks."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, ...], Any] = {}

    def _save(self, key: tuple[str, ...], record: Any) -> Any:
        stored = self.docs.get(key)
        if (stored.version if stored else 0) != record.version:
            raise ConflictError("moved")
        saved = record.model_copy(update={"version": record.version + 1})
        self.docs[key] = saved
        return saved

    def get(self, tenant_id, realm_id):  # noqa: ANN001, ANN201
        from qbsync.models.poll_messages import SyncState

        return self.docs.get(("sync", realm_id)) or SyncState(tenant_id=tenant_id, realm_id=realm_id)

    def save(self, state):  # noqa: ANN001, ANN201
        return self._save(("sync", state.realm_id), state)

    def review_marker(self, tenant_id, realm_id, customer_id):  # noqa: ANN001, ANN201
        return self.docs.get(("review", customer_id))

    def claim_review(self, marker):  # noqa: ANN001, ANN201
        return self.docs.setdefault(("review", marker.qbo_customer_id), marker)

    def mark_review_sent(self, marker):  # noqa: ANN001, ANN201
        self.docs[("review", marker.qbo_customer_id)] = marker.model_copy(update={"status": "sent"})

    def deal_rollup(self, tenant_id, realm_id, deal_id):  # noqa: ANN001, ANN201
        from qbsync.models.poll_messages import DealRollup

        return self.docs.get(("deal", deal_id)) or DealRollup(tenant_id=tenant_id, realm_id=realm_id,
                                                               deal_id=deal_id)

    def save_deal_rollup(self, rollup):  # noqa: ANN001, ANN201
        return self._save(("deal", rollup.deal_id), rollup)

    def qbo_invoice(self, tenant_id, realm_id, invoice_id):  # noqa: ANN001, ANN201
        return self.docs.get(("qboinv", invoice_id))

    def save_qbo_invoice(self, record):  # noqa: ANN001, ANN201
        return self._save(("qboinv", record.qbo_invoice_id), record)


class Mappings:
    """MappingsRepository and RealmMappingsReader in memory."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], Mapping] = {}

    def get(self, tenant_id, realm_id, object_type, crm_id):  # noqa: ANN001, ANN201
        return self.pairs.get((object_type, crm_id))

    def find_by_qbo_id(self, tenant_id, realm_id, object_type, qbo_id):  # noqa: ANN001, ANN201
        return next((m for (kind, _), m in self.pairs.items() if kind == object_type and m.qbo_id == qbo_id),
                    None)

    def iter_all(self, tenant_id, realm_id, object_type):  # noqa: ANN001, ANN201
        return iter([m for (kind, _), m in self.pairs.items() if kind == object_type])

    def create(self, tenant_id, realm_id, object_type, crm_id, qbo_id, *, state=None, now=None):  # noqa: ANN001, ANN201
        if (object_type, crm_id) in self.pairs:
            raise MappingExistsError(self.pairs[(object_type, crm_id)])
        mapping = Mapping(tenant_id=tenant_id, realm_id=realm_id, object_type=object_type, crm_id=crm_id,
                          qbo_id=qbo_id, created_at=NOW, updated_at=NOW, state=state or {})
        self.pairs[(object_type, crm_id)] = mapping
        return mapping

    def put_new(self, tenant_id, realm_id, object_type, pairs, *, now):  # noqa: ANN001, ANN201
        return [self.create(tenant_id, realm_id, object_type, crm_id, qbo_id, state=state)
                for crm_id, qbo_id, state in pairs]

    def update_state(self, mapping, state, *, qbo_id=None, now=None):  # noqa: ANN001, ANN201
        current = self.pairs[(mapping.object_type, mapping.crm_id)]
        if current.version != mapping.version:
            raise ConflictError("moved")
        updated = current.model_copy(update={"state": state, "version": current.version + 1})
        self.pairs[(mapping.object_type, mapping.crm_id)] = updated
        return updated

    def delete(self, tenant_id, realm_id, object_type, crm_id):  # noqa: ANN001, ANN201
        return self.pairs.pop((object_type, crm_id), None) is not None


class Crm:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.fail_with: Exception | None = None
        self._ids: dict[str, str] = {}

    def _call(self, name: str, key: str, body: Any) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append((name, key, body))

    def upsert_contacts(self, tenant_id, body, *, idempotency_key):  # noqa: ANN001, ANN201
        self._call("contacts", idempotency_key, body)
        return ContactsBatchUpsertResult(results=[
            {"index": i, "qbo_id": c.qbo_customer_id, "created": True,
             "crm_contact_id": self._ids.setdefault(c.qbo_customer_id, f"crm_{c.qbo_customer_id}")}
            for i, c in enumerate(body.contacts)])

    def upsert_products(self, tenant_id, body, *, idempotency_key):  # noqa: ANN001, ANN201
        self._call("products", idempotency_key, body)
        return ProductsBatchUpsertResult(results=[
            {"index": i, "qbo_id": p.qbo_item_id, "crm_product_id": f"prod_{p.qbo_item_id}", "created": True}
            for i, p in enumerate(body.products)])

    def put_invoice_accounting(self, tenant_id, crm_invoice_id, body, *, idempotency_key):  # noqa: ANN001, ANN201
        self._call(f"invoice:{crm_invoice_id}", idempotency_key, body)

    def put_deal_accounting(self, tenant_id, deal_id, body, *, idempotency_key):  # noqa: ANN001, ANN201
        self._call(f"deal:{deal_id}", idempotency_key, body)

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


class Qbo:
    def __init__(self) -> None:
        self.changes: list[CdcChange] = []
        self.pages: dict[str, list[dict]] = defaultdict(list)
        self.calls = 0

    def changes_since(self, entities, since):  # noqa: ANN001, ANN201
        self.calls += 1
        self.asked_since = since
        return CdcResult(changes=[c for c in self.changes if c.entity in entities],
                         next_changed_since=QBO_TIME)

    def iter_query(self, entity, *, conditions=()):  # noqa: ANN001, ANN201
        return iter([])

    def query(self, statement):  # noqa: ANN001, ANN201
        self.calls += 1
        entity = statement.split(" FROM ")[1].split(" ")[0]
        start = int(statement.split("STARTPOSITION ")[1].split(" ")[0]) if "STARTPOSITION" in statement else 1
        size = int(statement.split("MAXRESULTS ")[1]) if "MAXRESULTS" in statement else 100
        return self.pages[entity][start - 1:start - 1 + size]

    def batch(self, operations, *, request_key):  # noqa: ANN001, ANN201
        from qbsync.clients.qbo.batch import BatchItemResult

        self.calls += 1
        results = []
        for op in operations:
            entity = op.statement.split(" FROM ")[1].split(" ")[0]
            if op.statement.startswith("SELECT COUNT"):
                total = {"totalCount": len(self.pages[entity])}
                results.append(BatchItemResult("1", op, query_response=total))
            else:
                self.calls -= 1
                results.append(BatchItemResult("1", op, query_response={entity: self.query(op.statement)}))
        return results


@pytest.fixture
def world():  # noqa: ANN201
    class World:
        qbo, crm, sync_state, mappings, settings = Qbo(), Crm(), SyncStates(), Mappings(), Settings()
        remaining = 100.0

        def runner(self) -> PollJobRunner:
            return PollJobRunner(PollDependencies(
                connections=Connections(), tenant_settings=self.settings, sync_state=self.sync_state,
                mappings=self.mappings, mapping_reader=self.mappings, new_pairs=self.mappings, crm=self.crm,
                qbo_for=lambda t, r: self.qbo,
                environment="sandbox", clock=lambda: NOW, remaining_seconds=lambda: self.remaining,
                sleep=lambda seconds: None))

        def run(self, reason: str = "sync_now"):  # noqa: ANN202
            return self.runner().run(PollJobMessage(tenant_id="t", realm_id="1", reason=reason,
                                                    requested_at=NOW))

    w = World()
    from qbsync.models.poll_messages import SyncState

    # a company that was backfilled before: CDC from here on
    w.sync_state.docs[("sync", "1")] = SyncState(tenant_id="t", realm_id="1",
                                                 watermark=NOW - timedelta(minutes=5),
                                                 overdue_checked_on=NOW.date(), version=3)
    return w


def customer(identifier: str, name: str, **extra: Any) -> CdcChange:
    return CdcChange("Customer", {"Id": identifier, "SyncToken": "0", "DisplayName": name, "Active": True,
                                  "MetaData": META, **extra})


def test_the_watermark_becomes_qbo_time_after_the_crm_accepted(world):
    world.qbo.changes = [customer("7", "Ann")]
    outcome = world.run()
    assert outcome.status == "done" and outcome.counts["customers_upserted"] == 1
    state = world.sync_state.get("t", "1")
    assert state.watermark == QBO_TIME and state.last_success_started_at == NOW
    assert world.qbo.asked_since == NOW - timedelta(minutes=7)  # the old watermark less the overlap
    assert world.mappings.find_by_qbo_id("t", "1", "customers", "7").state["origin"] == "qbo"


def test_a_crm_failure_leaves_the_watermark_where_it_was(world):
    world.qbo.changes = [customer("7", "Ann")]
    world.crm.fail_with = CrmServerError("503", status=503)
    before = world.sync_state.get("t", "1")
    with pytest.raises(CrmServerError):
        world.run()
    assert world.sync_state.get("t", "1") == before


def test_an_unchanged_customer_is_not_sent_again(world):
    world.qbo.changes = [customer("7", "Ann")]
    world.run()
    world.qbo.changes = [customer("7", "Ann", SyncToken="1")]  # saved again in QBO, nothing visible changed
    world.run()
    assert world.crm.names() == ["contacts"]


def test_own_writes_do_not_come_back_but_their_invoice_status_does(world):
    world.mappings.create("t", "1", "invoices", "inv_1", "31", state={"origin": "crm", INVOICE_STATE_DEAL_ID: "d_1"})
    world.qbo.changes = [
        customer("8", "Made by qbsync", Notes="CRM contact [qbsync crm_contact_id=c_8]"),
        CdcChange("Invoice", {"Id": "31", "SyncToken": "1", "CustomerRef": {"value": "8", "name": "Made"},
                              "TotalAmt": Decimal("50.00"), "Balance": Decimal("0"), "DueDate": "2026-12-01",
                              "PrivateNote": "CRM invoice [qbsync crm_invoice_id=inv_1]", "MetaData": META}),
    ]
    world.run()
    assert world.crm.names() == ["invoice:inv_1", "deal:d_1"]
    assert world.crm.calls[0][2].status == "paid"
    world.run()  # the same changes again (the overlap): nothing new is sent
    assert world.crm.names() == ["invoice:inv_1", "deal:d_1"]


def test_a_backfill_pages_and_resumes_from_saved_progress(world):
    world.sync_state.docs.clear()
    world.qbo.pages["Customer"] = [{"Id": str(i), "SyncToken": "0", "DisplayName": f"C{i}", "Active": True,
                                    "MetaData": META} for i in range(1, 2501)]
    pages_read = []
    read_page = world.qbo.query

    def query_until_time_runs_short(statement):  # noqa: ANN001, ANN202
        pages_read.append(statement)
        if len(pages_read) == 2:
            world.remaining = 1.0  # the Lambda's time runs short after the second page
        return read_page(statement)

    world.qbo.query = query_until_time_runs_short
    with pytest.raises(ScanContinuesError):
        world.run()
    saved = world.sync_state.get("t", "1")
    assert saved.scan.status == "running" and saved.scan.cursors["Customer"].next_start == 2001
    assert saved.watermark is None

    # When SQS delivers the job again
    world.remaining = 100.0
    world.run()
    state = world.sync_state.get("t", "1")
    assert state.watermark == NOW - timedelta(minutes=5)  # a scan hands over its start, less the margin
    assert state.scan.status == "done" and state.scan.cursors["Customer"].sent == 2500
    assert state.scan.cursors["Item"].total == 0
    assert len({key for name, key, _ in world.crm.calls if name == "contacts"}) == 25
    assert world.qbo.calls == 3  # batch(counts, page 1), page 2; after the redelivery, page 3


def test_a_tag_a_qbo_user_typed_cannot_steer_the_crm_call(world):
    world.qbo.changes = [CdcChange("Invoice", {
        "Id": "40", "SyncToken": "0", "CustomerRef": {"value": "8"}, "TotalAmt": Decimal("5.00"),
        "Balance": Decimal("5.00"), "PrivateNote": "see [qbsync crm_invoice_id=..]", "MetaData": META})]
    outcome = world.run()
    assert world.crm.calls == [] and outcome.counts["invoices_skipped_bad_tag"] == 1
