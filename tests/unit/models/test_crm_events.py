"""Parsing the inbound CRM envelope: exact money, ISO dates, the discriminated union, errors naming the
field."""

import copy
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from qbsync.errors import BadRequestError
from qbsync.models.crm_events import (
    CrmEventParseError,
    InvoicePaidEvent,
    InvoiceSentEvent,
    PaymentSucceededEvent,
    Totals,
    UnknownEvent,
    crm_event_adapter,
    parse_event,
)

CUSTOMER = {
    "crm_contact_id": "con_1", "name": "Jane Doe", "company": "Doe Design", "email": "jane@example.com",
    "address": {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701",
                "country": "US"},
}
LINE = {"id": "line_1", "sku": "WEB", "name": "Website", "quantity": "2.5", "unit_price": "120.005",
        "taxes": [{"name": "Sales tax", "rate": "8.25", "inclusive": False}]}
TOTALS = {"subtotal": "300.01", "discount": "0.00", "tax": "24.75", "total": "324.76", "amount_paid": "0.00",
          "amount_due": "324.76"}
INVOICE = {
    "id": "inv_1", "number": "INV-1001", "status": "sent", "currency": "USD", "issue_date": "2026-11-23",
    "due_date": "2026-12-23", "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:00:00+01:00",
    "customer": CUSTOMER, "lines": [LINE], "discount": {"type": "percentage", "value": "10"},
    "totals": TOTALS,
}


def event(event_type: str = "invoice.sent", data: dict | None = None, **envelope) -> dict:
    built = {"id": "evt_1", "type": event_type, "tenant_id": "loc_123", "realm_id": None,
             "occurred_at": "2026-11-23T10:00:00Z", "data": copy.deepcopy(INVOICE if data is None else data)}
    built.update(envelope)
    return built


def raw(document: object) -> bytes:
    return json.dumps(document).encode()


def parse_error(document: object) -> CrmEventParseError:
    with pytest.raises(CrmEventParseError) as caught:
        parse_event(raw(document) if not isinstance(document, bytes) else document)
    return caught.value


def test_a_valid_invoice_event_parses_with_exact_money_and_typed_dates():
    parsed = parse_event(raw(event()))
    assert isinstance(parsed, InvoiceSentEvent)
    assert parsed.tenant_id == "loc_123" and parsed.realm_id is None
    assert parsed.data.lines[0].unit_price == Decimal("120.005")
    assert parsed.data.lines[0].quantity == Decimal("2.5")
    assert parsed.data.totals.total == Decimal("324.76")
    assert parsed.data.issue_date == date(2026, 11, 23)
    assert parsed.data.updated_at == datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    assert parsed.data.discount.type == "percentage"


def test_money_as_json_numbers_is_read_exactly_not_through_float():
    document = event()
    body = raw(document).replace(b'"unit_price": "120.005"', b'"unit_price": 0.1').replace(
        b'"total": "324.76"', b'"total": 324')
    parsed = parse_event(body)
    assert parsed.data.lines[0].unit_price == Decimal("0.1")  # float would give 0.1000000000000000055...
    assert parsed.data.totals.total == Decimal(324)


@pytest.mark.parametrize("bad", [
    "abc", "1e3", " 1.00", "1.00 ", "1,00", "+1", "NaN", "Infinity", "", ".5", "5.",
])
def test_money_strings_must_be_plain_decimals(bad):
    document = event()
    document["data"]["lines"][0]["quantity"] = bad
    error = parse_error(document)
    assert error.details["field"] == "data.lines.0.quantity"
    assert "data.lines.0.quantity" in error.message
    assert isinstance(error, BadRequestError) and error.http_status == 400


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_nan_and_infinity_literals_are_refused(literal):
    body = raw(event()).replace(b'"total": "324.76"', b'"total": ' + literal)
    assert parse_error(body).code == "malformed_json"


def test_a_json_number_with_an_exponent_is_exact_and_serialises_without_one():
    body = raw(event()).replace(b'"subtotal": "300.01"', b'"subtotal": 3.0001e2')
    parsed = parse_event(body)
    assert parsed.data.totals.subtotal == Decimal("300.01")
    assert parsed.model_dump(mode="json")["data"]["totals"]["subtotal"] == "300.01"


@pytest.mark.parametrize("value", [True, 1.5, None, [1]])
def test_booleans_floats_and_other_types_are_not_money(value):
    totals = {**TOTALS, "tax": value}
    with pytest.raises(ValidationError):
        Totals.model_validate(totals)


def test_money_serialises_to_json_as_a_string():
    parsed = parse_event(raw(event()))
    dumped = parsed.model_dump(mode="json")
    assert dumped["data"]["totals"]["total"] == "324.76"
    assert dumped["data"]["lines"][0]["unit_price"] == "120.005"


@pytest.mark.parametrize("field, value", [
    ("issue_date", "23/11/2026"),
    ("issue_date", 1795000000),
    ("issue_date", "2026-11-23T00:00:00Z"),
    ("due_date", "2026-02-30"),
    ("created_at", "2026-11-23T10:00:00"),  # no offset: ambiguous
    ("created_at", 1795000000),
    ("updated_at", "yesterday"),
])
def test_dates_and_datetimes_are_iso_8601_with_datetimes_carrying_an_offset(field, value):
    document = event()
    document["data"][field] = value
    assert parse_error(document).details["field"] == f"data.{field}"


@pytest.mark.parametrize("path, value, field", [
    (("data", "lines", 0, "taxes", 0, "rate"), "100.01", "data.lines.0.taxes.0.rate"),
    (("data", "lines", 0, "taxes", 0, "inclusive"), "true", "data.lines.0.taxes.0.inclusive"),
    (("data", "discount", "value"), "120", "data.discount"),
    (("data", "discount", "type"), "bogus", "data.discount.type"),
    (("data", "currency"), "usd", "data.currency"),
    (("data", "customer", "email"), "", "data.customer.email"),
    (("data", "customer", "address"), None, "data.customer.address"),
])
def test_wrong_shapes_name_the_field(path, value, field):
    document = event()
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert parse_error(document).details["field"] == field


@pytest.mark.parametrize("missing", ["id", "tenant_id", "occurred_at", "data"])
def test_the_envelope_fields_of_a_known_type_are_required(missing):
    document = event()
    del document[missing]
    assert parse_error(document).details["field"] == missing


def test_missing_lines_and_totals_are_named():
    document = event()
    del document["data"]["totals"]
    assert parse_error(document).details["field"] == "data.totals"


def test_every_problem_is_listed_and_no_input_value_is_echoed():
    document = event()
    document["data"]["lines"][0]["quantity"] = "secret-looking-value"
    document["data"]["currency"] = "dollars"
    error = parse_error(document)
    fields = [problem["field"] for problem in error.details["errors"]]
    assert "data.lines.0.quantity" in fields and "data.currency" in fields
    assert "secret-looking-value" not in json.dumps(error.to_body())


def test_unknown_fields_are_ignored():
    document = event(extra_envelope_field=1)
    document["data"]["pipeline_stage"] = "won"
    document["data"]["lines"][0]["color"] = "blue"
    document["data"]["customer"]["address"]["planet"] = "Earth"
    assert isinstance(parse_event(raw(document)), InvoiceSentEvent)


def test_an_unknown_type_is_returned_to_be_acknowledged_and_ignored():
    parsed = parse_event(raw({"id": "evt_9", "type": "deal.won", "tenant_id": "loc_1", "data": {"x": [1]}}))
    assert isinstance(parsed, UnknownEvent)
    assert parsed.type == "deal.won" and parsed.tenant_id == "loc_1"


def test_an_unknown_type_still_needs_an_id():
    assert parse_error({"type": "deal.won"}).details["field"] == "id"


@pytest.mark.parametrize("document, field", [
    ({"id": "evt_1"}, "type"),
    ({"id": "evt_1", "type": 7}, "type"),
    ({"id": "evt_1", "type": ""}, "type"),
    ([event()], "(body)"),
    ("just a string", "(body)"),
])
def test_a_body_that_is_not_an_event_object(document, field):
    error = parse_error(document)
    assert error.code == "invalid_event" and error.details["field"] == field


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b'{"a": 1} trailing', b"[" * 100000])
def test_malformed_json_is_a_400_not_a_crash(body):
    error = parse_error(body)
    assert error.code == "malformed_json" and error.http_status == 400


def test_paid_events_carry_the_payment_that_caused_them():
    data = {**INVOICE, "payment": {"id": "pay_1", "amount": "324.76", "currency": "USD",
                                   "paid_at": "2026-11-24T08:00:00Z", "method": "card"}}
    parsed = parse_event(raw(event("invoice.paid", data)))
    assert isinstance(parsed, InvoicePaidEvent)
    assert parsed.data.payment.amount == Decimal("324.76")


def test_a_paid_event_without_payment_is_accepted():
    # The worker then uses the rise of totals.amount_paid (issue 5).
    parsed = parse_event(raw(event("invoice.partially_paid")))
    assert parsed.data.payment is None


def test_a_payment_with_a_bad_amount_names_the_field():
    data = {**INVOICE, "payment": {"id": "pay_1", "amount": "lots", "currency": "USD",
                                   "paid_at": "2026-11-24T08:00:00Z"}}
    assert parse_error(event("invoice.paid", data)).details["field"] == "data.payment.amount"


PAYMENT = {"id": "pay_1", "amount": "53.04", "currency": "USD", "paid_at": "2026-11-23T10:00:00Z",
           "source": "subscription", "customer": CUSTOMER,
           "lines": [{"id": "l1", "name": "Membership", "quantity": "1", "unit_price": "49.00",
                      "taxes": [{"name": "Sales tax", "rate": "8.25", "inclusive": False}]}],
           "totals": {"subtotal": "49.00", "discount": "0.00", "tax": "4.04", "total": "53.04",
                      "amount_paid": "53.04", "amount_due": "0.00"}}


@pytest.mark.parametrize("source", ["order_form", "subscription", "membership", "calendar", "other"])
def test_payment_succeeded_for_every_source(source):
    parsed = parse_event(raw(event("payment.succeeded", {**PAYMENT, "source": source})))
    assert isinstance(parsed, PaymentSucceededEvent)
    assert parsed.data.source == source and parsed.data.amount == Decimal("53.04")


def test_payment_succeeded_with_an_unknown_source_is_refused():
    error = parse_error(event("payment.succeeded", {**PAYMENT, "source": "gift"}))
    assert error.details["field"] == "data.source"


@pytest.mark.parametrize("event_type", ["invoice.sent", "invoice.updated", "invoice.paid",
                                        "invoice.partially_paid", "invoice.voided", "invoice.deleted"])
def test_the_union_adapter_picks_the_model_by_type(event_type):
    parsed = crm_event_adapter.validate_python(json.loads(raw(event(event_type)), parse_float=Decimal))
    assert parsed.type == event_type
    assert parse_event(raw(event(event_type))).model_dump(mode="json") == parsed.model_dump(mode="json")


def test_an_unknown_type_keeps_odd_envelope_fields_instead_of_refusing_them():
    parsed = parse_event(raw({"id": "evt_9", "type": "v2.thing", "tenant_id": 42, "occurred_at": 1795000000}))
    assert isinstance(parsed, UnknownEvent) and parsed.tenant_id == 42
