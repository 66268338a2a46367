"""The dry run's recording ports: reads pass through, writes are recorded and answered plausibly."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from qbsync.models.crm_api import InvoiceAccounting
from qbsync.models.mapping_records import Mapping
from qbsync.repositories.mappings import MappingExistsError
from qbsync.sync.dry_run.recorders import RecordingCrm, RecordingMappings, RecordingQbo, RecordingStore, WriteLog

NOW = datetime(2026, 11, 23, tzinfo=UTC)


class FakeQbo:
    realm_id = "42"

    def __init__(self):
        self.objects = {("Invoice", "7"): {"Id": "7", "SyncToken": "2", "TotalAmt": Decimal("100.00"),
                                           "Balance": Decimal("100.00"), "CustomerRef": {"value": "3"}}}
        self.calls = []

    def read(self, entity, entity_id):
        self.calls.append(("read", entity, entity_id))
        return dict(self.objects[(entity, entity_id)])

    def query(self, statement):
        self.calls.append(("query", statement))
        return []

    def __getattr__(self, name):  # any write reaching the real client is a bug
        raise AssertionError(f"{name} reached QBO")


def test_qbo_writes_are_recorded_and_read_back_reads_pass_through():
    log, qbo = WriteLog(), FakeQbo()
    recorder = RecordingQbo(qbo, log, total_for=lambda entity, body: Decimal("250.00"), clock=lambda: NOW)
    assert recorder.query("select * from Customer") == []
    customer = recorder.create("Customer", {"DisplayName": "Jane"}, request_key=("t", "r", "customer", "c1"))
    assert customer["Id"] == "dry-run-customer-1" and customer["DisplayName"] == "Jane"
    invoice = recorder.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": []},
                              request_key=("t", "r", "invoice", "i1", "create"))
    assert invoice["TotalAmt"] == Decimal("250.00") and invoice["Balance"] == Decimal("250.00")
    assert recorder.read("Invoice", invoice["Id"])["CustomerRef"] == {"value": "dry-run-customer-1"}
    # a payment on a real invoice lowers the balance the dry run then reads
    recorder.create("Payment", {"TotalAmt": Decimal("40"), "Line": [
        {"Amount": Decimal("40"), "LinkedTxn": [{"TxnId": "7", "TxnType": "Invoice"}]}]}, request_key=("p",))
    assert recorder.read("Invoice", "7")["Balance"] == Decimal("60.00")
    assert qbo.objects[("Invoice", "7")]["Balance"] == Decimal("100.00")  # the real one is untouched
    voided = recorder.void("Invoice", "7", "2", request_key=("v",))
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"].startswith("Voided")
    assert [(w["operation"], w["entity"]) for w in log.of("qbo")] == [
        ("create", "Customer"), ("create", "Invoice"), ("create", "Payment"), ("void", "Invoice")]
    assert log.of("qbo")[0]["key"] == "t:r:customer:c1"
    assert log.of("qbo")[2]["body"]["TotalAmt"] == "40"  # JSON-ready: money as a decimal string


def test_sparse_update_merges_and_bumps_the_sync_token():
    log = WriteLog()
    recorder = RecordingQbo(FakeQbo(), log, total_for=lambda entity, body: Decimal("120.00"))
    updated = recorder.sparse_update("Invoice", "7", "2", {"DueDate": "2026-12-01"}, request_key=("u",))
    assert updated["SyncToken"] == "3" and updated["DueDate"] == "2026-12-01"
    assert updated["TotalAmt"] == Decimal("120.00") and updated["Balance"] == Decimal("120.00")
    assert log.of("qbo")[0]["body"] == {"DueDate": "2026-12-01", "Id": "7", "SyncToken": "2", "sparse": True}


def test_crm_calls_are_recorded_with_path_body_and_key():
    log = WriteLog()
    crm = RecordingCrm(log)
    body = InvoiceAccounting(realm_id="42", qbo_invoice_id="7", doc_number=None, status="open",
                             email_status="not_sent", total=Decimal("1.00"), balance=Decimal("1.00"),
                             amount_paid=Decimal("0"), currency="USD", due_date=None, qbo_url="https://x",
                             updated_at=NOW)
    crm.put_invoice_accounting("loc_1", "inv_1", body, idempotency_key="k1")
    (write,) = log.of("crm")
    assert write["operation"] == "PUT /tenants/loc_1/invoices/inv_1/accounting"
    assert write["body"]["total"] == "1.00" and write["key"] == "k1"


class FakeMappings:
    def __init__(self, existing):
        self.existing = existing

    def get(self, tenant_id, realm_id, object_type, crm_id):
        return self.existing.get((object_type, crm_id))

    def find_by_qbo_id(self, tenant_id, realm_id, object_type, qbo_id):
        return next((m for (kind, _), m in self.existing.items() if kind == object_type and m.qbo_id == qbo_id), None)

    def __getattr__(self, name):
        raise AssertionError(f"{name} reached the mappings table")


def mapping(crm_id, qbo_id, object_type="customers"):
    return Mapping(tenant_id="t", realm_id="r", object_type=object_type, crm_id=crm_id, qbo_id=qbo_id,
                   created_at=NOW, updated_at=NOW)


def test_mappings_overlay_the_real_pairs_without_writing():
    log = WriteLog()
    real = mapping("c1", "3")
    mappings = RecordingMappings(FakeMappings({("customers", "c1"): real}), log, clock=lambda: NOW)
    with pytest.raises(MappingExistsError):
        mappings.create("t", "r", "customers", "c1", "9")
    made = mappings.create("t", "r", "customers", "c2", "dry-run-customer-1", state={"origin": "crm"})
    assert mappings.get("t", "r", "customers", "c2") == made
    assert mappings.find_by_qbo_id("t", "r", "customers", "dry-run-customer-1") == made
    changed = mappings.update_state(real, {"x": 1})
    assert mappings.get("t", "r", "customers", "c1").state == {"x": 1} and changed.version == real.version + 1
    assert mappings.delete("t", "r", "customers", "c2") is True
    assert mappings.get("t", "r", "customers", "c2") is None
    assert [w["operation"] for w in log.of("mappings")] == ["create", "update_state", "delete"]


def test_a_store_records_every_method_but_its_reads():
    class Store:
        def get(self, key):
            return {"key": key}

        def save(self, record):
            raise AssertionError("written")

    log = WriteLog()
    store = RecordingStore(Store(), log, target="sync_state", reads=("get",))
    assert store.get("a") == {"key": "a"}
    assert store.save({"watermark": "x"}) == {"watermark": "x"}
    assert log.of("sync_state")[0]["operation"] == "save"
