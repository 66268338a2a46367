"""The settings rules beyond the model (cross-field) and the ETag / If-Match decisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qbsync.errors import PreconditionFailedError, ValidationFailedError
from qbsync.models.connection_records import ConnectionRecord
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.tenant_settings import VersionedSettings
from qbsync.sync.settings_document import expected_version, validate_settings

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def company(realm_id, status="connected"):
    return ConnectionRecord(tenant_id="loc_1", realm_id=realm_id, status=status, connected_at=NOW, updated_at=NOW)


COMPANIES = [company("111"), company("222", "needs_reauth"), company("333", "disconnected")]


def fields_of(document):
    with pytest.raises(ValidationFailedError) as raised:
        validate_settings(document, COMPANIES)
    return {(f["field"], f["type"]) for f in raised.value.details["fields"]}


def test_default_realm_must_be_a_company_of_the_tenant_that_is_not_disconnected():
    assert validate_settings({"default_realm_id": "111"}, COMPANIES).default_realm_id == "111"
    assert validate_settings({"default_realm_id": "222"}, COMPANIES).default_realm_id == "222"
    assert fields_of({"default_realm_id": "333"}) == {("default_realm_id", "not_connected")}
    assert fields_of({"default_realm_id": "999"}) == {("default_realm_id", "not_connected")}


def test_qbo_ids_must_be_qbo_ids_and_custom_fields_unique():
    assert fields_of({"tax_codes": {"GST": "7", "VAT": "TAX"}, "default_item": {"qbo_item_id": "x"},
                      "invoice_fields": {"custom_fields": [
                          {"qbo_definition_id": "1", "name": "PO", "source": "number"},
                          {"qbo_definition_id": "one", "name": "Po", "source": "deal_id"}]}}) == {
        ("tax_codes.VAT", "qbo_id"), ("default_item.qbo_item_id", "qbo_id"),
        ("invoice_fields.custom_fields[1].qbo_definition_id", "qbo_id"),
        ("invoice_fields.custom_fields[1].name", "duplicate")}


def test_the_model_is_checked_before_the_cross_field_rules():
    assert fields_of({"default_realm_id": "999", "colour": 1}) == {("colour", "extra_forbidden")}


def versioned(version):
    return VersionedSettings(TenantSettings(), version)


@pytest.mark.parametrize(("version", "if_match", "expected"), [
    (0, None, 0), (0, "", 0), (3, '"v3"', 3), (3, '"v1", "v3"', 3), (3, "*", 3), (0, '"v0"', 0)])
def test_if_match_that_names_the_current_version(version, if_match, expected):
    assert expected_version(versioned(version), if_match) == expected


@pytest.mark.parametrize("if_match", ['"v2"', "v3", 'W/"v3"', "garbage", '"v4"'])
def test_if_match_that_does_not_is_a_412(if_match):
    with pytest.raises(PreconditionFailedError) as raised:
        expected_version(versioned(3), if_match)
    assert raised.value.http_status == 412 and raised.value.details == {"etag": '"v3"'}


@pytest.mark.parametrize("if_match", [None, "", "  "])
def test_no_if_match_writes_over_whatever_version_is_current(if_match):
    assert expected_version(versioned(0), if_match) == 0
    assert expected_version(versioned(7), if_match) == 7
