"""Content hashes (unchanged records are skipped), Idempotency-Keys that name the QBO change, and the
loop guard that recognises qbsync's own writes."""

from __future__ import annotations

from datetime import UTC, datetime

from qbsync.models.mapping_records import Mapping
from qbsync.sync.poll.contacts import contact_upsert
from qbsync.sync.poll.content_hash import content_hash
from qbsync.sync.poll.idempotency import changes_digest, crm_key
from qbsync.sync.poll.loop_guard import qbsync_tag, written_by_crm_side
from qbsync.sync.poll.qbo_objects import latest_by_id

CUSTOMER = {"Id": "7", "SyncToken": "1", "DisplayName": "Ann Lee", "Active": True,
            "MetaData": {"LastUpdatedTime": "2026-11-22T10:00:00-08:00"}}


def test_the_hash_ignores_a_resave_and_sees_a_real_change():
    first = content_hash(contact_upsert(CUSTOMER, realm_id="1"))
    resaved = {**CUSTOMER, "SyncToken": "2", "MetaData": {"LastUpdatedTime": "2026-11-23T10:00:00-08:00"}}
    renamed = {**CUSTOMER, "DisplayName": "Ann Lee-Smith"}
    assert content_hash(contact_upsert(resaved, realm_id="1")) == first
    assert content_hash(contact_upsert(renamed, realm_id="1")) != first


def test_keys_name_the_change_not_only_the_body():
    a_v1, a_v2 = {**CUSTOMER, "SyncToken": "1"}, {**CUSTOMER, "SyncToken": "2"}
    assert changes_digest([(a_v1, "h")]) == changes_digest([(dict(a_v1), "h")])  # the same change again
    assert changes_digest([(a_v1, "h")]) != changes_digest([(a_v2, "h")])  # a new change, same body
    assert changes_digest([(a_v1, "h")]) != changes_digest([(a_v1, "other")])  # e.g. a computed balance moved
    deleted = {"Id": "7", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-23T10:00:00-08:00"}}
    assert changes_digest([(deleted, "archive")]) != changes_digest([(a_v1, "archive")])


def test_keys_stay_within_the_crm_limit_and_printable():
    key = crm_key("t" * 128, "9" * 20, "customers", "upsert", "f" * 32)
    assert len(key) <= 255 and key.isascii() and key.isprintable()
    assert crm_key("t", "1", "x", 2) == "qbsync:t:1:x:2"


def test_the_newest_version_of_each_object_wins_and_a_deletion_beats_a_live_copy():
    old = {**CUSTOMER, "SyncToken": "1"}
    new = {**CUSTOMER, "SyncToken": "2", "MetaData": {"LastUpdatedTime": "2026-11-22T11:00:00-08:00"}}
    assert latest_by_id([new, old]) == [new]
    stub = {"Id": "7", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-22T09:00:00-08:00"}}
    assert latest_by_id([old, stub]) == [stub]


def test_qbsync_tags_and_crm_side_mappings_mark_own_writes():
    now = datetime(2026, 11, 23, tzinfo=UTC)
    tagged = {**CUSTOMER, "Notes": "CRM contact [qbsync crm_contact_id=c_1]"}
    invoice = {"Id": "9", "PrivateNote": "Voided - CRM invoice INV-1 [qbsync crm_invoice_id=inv_1]"}
    assert qbsync_tag(tagged) == "c_1" and qbsync_tag(invoice, "crm_invoice_id") == "inv_1"
    assert qbsync_tag(invoice, "crm_payment_id") is None

    def pair(**state) -> Mapping:  # noqa: ANN003
        return Mapping(tenant_id="t", realm_id="1", object_type="customers", crm_id="c", qbo_id="7",
                       created_at=now, updated_at=now, state=state)

    assert written_by_crm_side(tagged, None)
    assert written_by_crm_side(CUSTOMER, pair(origin="crm"))
    assert written_by_crm_side(CUSTOMER, pair())  # a pair without origin was made by the CRM → QBO side
    assert not written_by_crm_side(CUSTOMER, pair(origin="qbo"))
    assert not written_by_crm_side(CUSTOMER, None)
