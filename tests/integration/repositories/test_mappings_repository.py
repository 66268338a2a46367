"""MappingsRepository on moto, with the table created from the template's own definition."""

from __future__ import annotations

import pytest

from qbsync.errors import ConflictError
from qbsync.repositories.mappings import MappingExistsError, MappingsRepository


@pytest.fixture
def repo(template_table):
    return MappingsRepository(table_name="mappings", dynamodb=template_table("MappingsTable", "mappings"))


def test_pair_is_found_from_both_sides_and_only_within_its_tenant(repo):
    repo.create("loc_1", "9130", "invoices", "inv_1", "145", state={"updated_at": "2026-11-23T10:00:00Z"})
    assert repo.get("loc_1", "9130", "invoices", "inv_1").qbo_id == "145"
    assert repo.find_by_qbo_id("loc_1", "9130", "invoices", "145").crm_id == "inv_1"
    # another tenant, another company or another object type sees nothing
    assert repo.get("loc_2", "9130", "invoices", "inv_1") is None
    assert repo.find_by_qbo_id("loc_2", "9130", "invoices", "145") is None
    assert repo.get("loc_1", "4620", "invoices", "inv_1") is None
    assert repo.get("loc_1", "9130", "customers", "inv_1") is None


def test_first_writer_wins_and_the_loser_gets_the_existing_pair(repo):
    repo.create("loc_1", "9130", "customers", "c_1", "58")
    with pytest.raises(MappingExistsError) as lost:
        repo.create("loc_1", "9130", "customers", "c_1", "59")
    assert lost.value.existing.qbo_id == "58"


def test_state_updates_are_conditional_on_the_version_read(repo):
    created = repo.create("loc_1", "9130", "invoices", "inv_1", "145", state={"amount_paid": "0"})
    updated = repo.update_state(created, {"amount_paid": "40.00"})
    assert updated.version == 2 and updated.state == {"amount_paid": "40.00"}
    with pytest.raises(ConflictError):
        repo.update_state(created, {"amount_paid": "10.00"})  # stale copy
    relinked = repo.update_state(updated, updated.state, qbo_id="146")
    assert repo.find_by_qbo_id("loc_1", "9130", "invoices", "146").crm_id == "inv_1"
    assert repo.find_by_qbo_id("loc_1", "9130", "invoices", "145") is None
    assert relinked.version == 3


def test_delete_unpairs(repo):
    repo.create("loc_1", "9130", "customers", "c_1", "58")
    assert repo.delete("loc_1", "9130", "customers", "c_1") is True
    assert repo.delete("loc_1", "9130", "customers", "c_1") is False
    assert repo.get("loc_1", "9130", "customers", "c_1") is None
