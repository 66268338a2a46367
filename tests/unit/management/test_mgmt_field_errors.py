"""Pydantic errors become our 422 field list: dotted paths, list positions, dict keys; values never echoed."""

from __future__ import annotations

import pytest

from qbsync.errors import ValidationFailedError
from qbsync.models.field_errors import field_path, parse_model
from qbsync.models.tenant_settings import TenantSettings


@pytest.mark.parametrize(("loc", "path"), [
    (("sync", "customerz"), "sync.customerz"),
    (("invoice_fields", "custom_fields", 0, "source"), "invoice_fields.custom_fields[0].source"),
    (("tax_codes", "VAT", "[key]"), "tax_codes.VAT"),
    ((), "(body)"),
])
def test_field_paths(loc, path):
    assert field_path(loc) == path


def test_every_bad_field_is_named_once_without_its_value():
    with pytest.raises(ValidationFailedError) as raised:
        parse_model(TenantSettings, {"sync": {"customerz": "SECRET-VALUE"}, "frequency": "SECRET-2",
                                     "tax_codes": {"": "1"}})
    error = raised.value
    assert error.http_status == 422 and error.code == "validation_failed"
    fields = {(f["field"], f["type"]): f["reason"] for f in error.details["fields"]}
    assert fields[("sync.customerz", "extra_forbidden")] == "unknown field"
    assert ("frequency", "literal_error") in fields
    assert fields[("tax_codes.", "string_too_short")].startswith("key: ")
    assert "SECRET" not in str(error.to_body())
