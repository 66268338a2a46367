"""Property-based tests of envelope and money parsing (issue 9 §2, G5): `parse_event` raises nothing but its
documented `CrmEventParseError` (400) whatever it is given, money is a `Decimal` equal to the text the CRM
sent (never a binary float), and the cents arithmetic the mappers share keeps its promises."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from crm_emulator.builders import invoice_paid, invoice_sent, payment_succeeded
from qbsync.models.crm_events import CrmEventParseError, DecimalNumber, UnknownEvent, parse_event
from qbsync.sync.money import MAX_QTY_PRICE_PLACES, cents, decimal_places, line_amount, net_unit_price

settings.register_profile("qbsync-hostile", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("qbsync-hostile")

VALID = {
    "invoice.sent": invoice_sent("loc_props"),
    "invoice.paid": invoice_paid("loc_props"),
    "payment.succeeded": payment_succeeded("loc_props"),
}
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _parse(raw: bytes) -> Any:
    """parse_event, allowed to refuse only with its documented error."""
    try:
        return parse_event(raw)
    except CrmEventParseError as error:
        assert error.http_status == 400 and error.code in ("invalid_event", "malformed_json")
        assert "field" in error.details
        return None


def _no_float_anywhere(value: Any, where: str = "event") -> None:
    if isinstance(value, float):
        raise AssertionError(f"{where} is a float: {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_float_anywhere(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _no_float_anywhere(item, f"{where}[{index}]")


@given(raw=st.binary(max_size=4096))
@example(raw=b"[" * 100_000)
@example(raw=b'{"type": "invoice.sent", "a": NaN}')
@example(raw=b'{"type": "invoice.sent", "data": {"totals": {"total": 1e400}}}')
@example(raw=b"\xef\xbb\xbf{}")
def test_arbitrary_bytes_never_escape_as_anything_but_a_400(raw):
    _parse(raw)


@given(document=json_values)
def test_arbitrary_json_never_escapes_as_anything_but_a_400(document):
    _parse(json.dumps(document).encode())


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@given(kind=st.sampled_from(sorted(VALID)), data=st.data(), replacement=json_values)
def test_any_field_of_a_valid_event_replaced_by_anything(kind, data, replacement):
    """The hostile CRM (or a man in the middle with the secret): each field swapped for any JSON at all."""
    event = copy.deepcopy(VALID[kind])
    path = data.draw(st.sampled_from([p for p in _paths(event) if p]))
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = replacement
    parsed = _parse(json.dumps(event).encode())
    if parsed is not None and not isinstance(parsed, UnknownEvent):
        _no_float_anywhere(parsed.model_dump())


decimal_texts = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6, allow_nan=False, allow_infinity=False
).map(lambda d: format(d, "f"))


@given(price=decimal_texts, total=decimal_texts)
@example(price="0.1", total="0.30000000000000004")
def test_money_sent_as_json_numbers_stays_exact(price, total):
    """Money should come as decimal strings, but a JSON number must not pass through a binary float."""
    event = copy.deepcopy(VALID["invoice.sent"])
    body = json.dumps(event)
    line = event["data"]["lines"][0]
    body = body.replace(json.dumps(line["unit_price"]), price, 1).replace(
        json.dumps(event["data"]["totals"]["total"]), total, 1
    )
    parsed = _parse(body.encode())
    assert parsed is not None, body
    assert parsed.data.lines[0].unit_price == Decimal(price)
    assert parsed.data.totals.total == Decimal(total)
    _no_float_anywhere(parsed.model_dump())


money = TypeAdapter(DecimalNumber)


@given(text=st.from_regex(r"-?[0-9]{1,15}(\.[0-9]{1,10})?", fullmatch=True))
def test_decimal_strings_parse_to_exactly_that_decimal(text):
    value = money.validate_python(text)
    assert isinstance(value, Decimal) and value == Decimal(text)
    assert money.dump_python(value, mode="json") == format(Decimal(text), "f")


@given(text=st.text(max_size=30))
@example(text="1e3")
@example(text="NaN")
@example(text="Infinity")
@example(text=" 12.50")
@example(text="12.50 ")
@example(text="1_000")
@example(text="١٢")  # Arabic-Indic digits: Decimal() takes them, the contract does not
@example(text="+5")
@example(text=".5")
def test_anything_else_as_money_is_refused(text):
    import re

    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        return
    with pytest.raises(ValidationError):
        money.validate_python(text)


@given(value=st.one_of(st.floats(), st.booleans(), st.lists(st.integers(), max_size=2), st.none()))
def test_floats_booleans_and_other_types_are_never_money(value):
    with pytest.raises(ValidationError):
        money.validate_python(value)


# --- the shared cents arithmetic (qbsync.sync.money) -----------------------------------------------------

amounts = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=8, allow_nan=False, allow_infinity=False
)


@given(value=amounts)
def test_cents_is_half_up_to_the_nearest_cent(value):
    rounded = cents(value)
    assert decimal_places(rounded) <= 2
    assert abs(rounded - value) <= Decimal("0.005")
    assert cents(rounded) == rounded
    if abs(value * 1000) % 10 == 5 and decimal_places(value) == 3:  # an exact half cent goes away from zero
        assert abs(rounded) > abs(value)


@given(
    quantity=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4),
    target=st.decimals(min_value=Decimal("0"), max_value=Decimal("1000000"), places=2),
)
def test_net_unit_price_reproduces_the_amount_or_says_it_cannot(quantity, target):
    price = net_unit_price(quantity, target)
    if price is None:
        # then no 7-decimal price works: the three around the quotient are the only candidates
        step = Decimal(1).scaleb(-MAX_QTY_PRICE_PLACES)
        near = (target / quantity).quantize(step)
        assert all(line_amount(quantity, near + k * step) != target for k in range(-3, 4))
        return
    assert decimal_places(price) <= MAX_QTY_PRICE_PLACES
    assert line_amount(quantity, price) == target
