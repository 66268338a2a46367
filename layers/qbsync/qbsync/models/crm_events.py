"""The inbound CRM webhook: the SPEC envelope and its data, as pydantic v2 models.

`parse_event(raw)` is the one entry point: raw bytes (already signature-checked) → a typed event, an
`UnknownEvent` (acknowledged and ignored by the caller), or `CrmEventParseError` (400) naming the field.

Money and quantities are `Decimal` all the way: JSON is parsed with `parse_float=Decimal`, strings must be
plain decimal numbers (`"12.50"`, `"-3"`; no exponent, no spaces, no NaN/Infinity), and a Python float is
refused outright because it has already lost the exact value. Dates are ISO 8601 strings; datetimes
must carry a UTC offset (`Z` or `+02:00`) so snapshots from different servers order correctly.

Choices where SPEC is silent (the CRM vendor needs to know them):
- a tax `rate` is a percentage (`"8.25"` is 8.25 %), 0-100; a `percentage` discount `value` likewise;
- `data.payment` on `invoice.paid` / `invoice.partially_paid` may be absent (the worker then uses the rise
  in `totals.amount_paid`);
- unknown fields are ignored everywhere (the CRM may add fields); unknown *types* need only `id` and
  `type` to be acknowledged;
- `data.exchange_rate` (optional, on invoice snapshots and `payment.succeeded`) is the CRM's own rate for a
  foreign-currency record: home-currency units per one unit of `currency`, a positive decimal string
  (`"1.0825"`). When present qbsync books it instead of reading QBO's rate table for the record's date; an
  invoice's rate also books the payments of that invoice. Ignored in the home currency and when the QBO
  company has multicurrency off (a foreign record is refused there either way).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from qbsync.errors import BadRequestError

# --- field types shared by the CRM models (crm_api.py imports them too) -------------------------------

_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ISO_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):  # bool is an int subclass: True is not 1 dollar
        raise ValueError("must be a decimal number, not a boolean")
    if isinstance(value, float):
        raise ValueError("must be a decimal string or an exact number, never a binary float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("must be a finite number")
        return value
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise ValueError("must be a decimal number such as \"12.50\"")
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern already guarantees a valid literal
            raise ValueError("must be a decimal number") from None
    raise ValueError("must be a decimal number")


def _decimal_text(value: Decimal) -> str:
    # Fixed-point, never exponent notation: "1E+3" would be a valid Decimal but a surprising string.
    return format(value, "f")


def _iso_date_text(value: Any) -> Any:
    # Without this pydantic would also take unix timestamps and datetimes; the contract says ISO 8601.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TEXT.fullmatch(value):
        raise ValueError("must be an ISO 8601 date such as \"2026-11-23\"")
    return value


def _iso_datetime_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt ":
        raise ValueError("must be an ISO 8601 date-time with offset such as \"2026-11-23T10:00:00Z\"")
    return value


DecimalNumber = Annotated[
    Decimal,
    BeforeValidator(_to_decimal),
    PlainSerializer(_decimal_text, return_type=str, when_used="json"),
]
"""An exact decimal in major units: money, quantity, rate. Serialised to JSON as a string."""

Money = DecimalNumber
Percentage = Annotated[DecimalNumber, Field(ge=0, le=100)]
ExchangeRate = Annotated[DecimalNumber, Field(gt=0)]
"""Home-currency units per one foreign unit (QBO's direction, QBO.md §4.9): `"1.0825"` EUR→USD."""
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_text)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class CrmModel(BaseModel):
    # Extra fields are ignored: the CRM may add fields without breaking us. Validators are built on first use
    # (defer_build): a request carries one event type, and building all of them at import was a third of the
    # webhook ingest's cold start (bench/ cold start).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


# --- invoice snapshot ---------------------------------------------------------------------------------


class Address(CrmModel):
    line1: str
    line2: str | None = None
    city: str
    region: str
    postal_code: str
    country: str


class Customer(CrmModel):
    crm_contact_id: NonEmptyStr
    name: NonEmptyStr
    company: str | None = None
    email: NonEmptyStr
    phone: str | None = None
    tax_id: str | None = None
    address: Address


class Tax(CrmModel):
    name: NonEmptyStr
    rate: Percentage
    inclusive: StrictBool


class Discount(CrmModel):
    type: Literal["percentage", "fixed"]
    value: DecimalNumber

    @model_validator(mode="after")
    def _value_fits_type(self) -> "Discount":
        if self.value < 0 or (self.type == "percentage" and self.value > 100):
            raise ValueError("a discount value is 0-100 (percentage) or a non-negative amount (fixed)")
        return self


class InvoiceLine(CrmModel):
    id: NonEmptyStr
    product_id: str | None = None
    sku: str | None = None
    name: NonEmptyStr
    description: str | None = None
    quantity: DecimalNumber
    unit_price: Money
    taxes: list[Tax] = Field(default_factory=list)
    discount: Discount | None = None


class Totals(CrmModel):
    subtotal: Money
    discount: Money
    tax: Money
    total: Money
    amount_paid: Money
    amount_due: Money


class Payment(CrmModel):
    id: NonEmptyStr
    amount: Money
    currency: CurrencyCode
    paid_at: IsoDatetime
    method: str | None = None
    reference: str | None = None


class InvoiceSnapshot(CrmModel):
    """An invoice as the CRM holds it. `exchange_rate` is optional: the CRM's rate for a foreign-currency
    invoice (home units per one `currency` unit); absent, qbsync uses QBO's rate for `issue_date`."""

    id: NonEmptyStr
    number: NonEmptyStr
    status: NonEmptyStr
    currency: CurrencyCode
    issue_date: IsoDate
    due_date: IsoDate
    created_at: IsoDatetime
    updated_at: IsoDatetime
    deal_id: str | None = None
    message: str | None = None
    customer: Customer
    lines: list[InvoiceLine]
    discount: Discount | None = None
    totals: Totals
    exchange_rate: ExchangeRate | None = None


class InvoicePaymentSnapshot(InvoiceSnapshot):
    """`invoice.paid` / `invoice.partially_paid`: the snapshot plus the payment that caused the event."""

    payment: Payment | None = None


PaymentSource = Literal["order_form", "subscription", "membership", "calendar", "other"]


class SucceededPayment(Payment):
    """`payment.succeeded` (a SalesReceipt). `exchange_rate` is optional: the CRM's rate for a
    foreign-currency payment (home units per one `currency` unit); absent, qbsync uses QBO's rate for the
    company-local day of `paid_at`."""

    source: PaymentSource
    customer: Customer
    lines: list[InvoiceLine]
    totals: Totals
    exchange_rate: ExchangeRate | None = None


# --- envelopes ----------------------------------------------------------------------------------------


class EventEnvelope(CrmModel):
    id: NonEmptyStr
    tenant_id: NonEmptyStr
    realm_id: str | None = None
    occurred_at: IsoDatetime


class InvoiceSentEvent(EventEnvelope):
    type: Literal["invoice.sent"]
    data: InvoiceSnapshot


class InvoiceUpdatedEvent(EventEnvelope):
    type: Literal["invoice.updated"]
    data: InvoiceSnapshot


class InvoicePaidEvent(EventEnvelope):
    type: Literal["invoice.paid"]
    data: InvoicePaymentSnapshot


class InvoicePartiallyPaidEvent(EventEnvelope):
    type: Literal["invoice.partially_paid"]
    data: InvoicePaymentSnapshot


class InvoiceVoidedEvent(EventEnvelope):
    type: Literal["invoice.voided"]
    data: InvoiceSnapshot


class InvoiceDeletedEvent(EventEnvelope):
    type: Literal["invoice.deleted"]
    data: InvoiceSnapshot


class PaymentSucceededEvent(EventEnvelope):
    type: Literal["payment.succeeded"]
    data: SucceededPayment


InvoiceEvent = Union[
    InvoiceSentEvent,
    InvoiceUpdatedEvent,
    InvoicePaidEvent,
    InvoicePartiallyPaidEvent,
    InvoiceVoidedEvent,
    InvoiceDeletedEvent,
]
CrmEvent = Annotated[Union[InvoiceEvent, PaymentSucceededEvent], Field(discriminator="type")]
crm_event_adapter: TypeAdapter[Any] = TypeAdapter(CrmEvent, config=ConfigDict(defer_build=True))
"""Validates any known event (e.g. one read back from the queue) by its `type`."""

EVENT_MODELS: dict[str, type[EventEnvelope]] = {
    "invoice.sent": InvoiceSentEvent,
    "invoice.updated": InvoiceUpdatedEvent,
    "invoice.paid": InvoicePaidEvent,
    "invoice.partially_paid": InvoicePartiallyPaidEvent,
    "invoice.voided": InvoiceVoidedEvent,
    "invoice.deleted": InvoiceDeletedEvent,
    "payment.succeeded": PaymentSucceededEvent,
}
KNOWN_EVENT_TYPES = frozenset(EVENT_MODELS)


class UnknownEvent(CrmModel):
    """A type this version does not know: acknowledged and ignored, never retried. Only `id` and `type` are
    checked; the rest is kept as sent (for logs) because a future envelope may differ."""

    id: NonEmptyStr
    type: NonEmptyStr
    tenant_id: Any = None
    realm_id: Any = None
    occurred_at: Any = None
    data: Any = None


# --- parsing ------------------------------------------------------------------------------------------


class CrmEventParseError(BadRequestError):
    """The body is not JSON, or a known event type has the wrong shape. `details["field"]` says where."""

    code = "invalid_event"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(body)"


def _parse_error(error: ValidationError, event_type: str) -> CrmEventParseError:
    problems = [
        {"field": _field_path(item["loc"]), "reason": item["msg"]}
        for item in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = problems[0]
    return CrmEventParseError(
        f"invalid {event_type} event: {first['field']}: {first['reason']}",
        details={"field": first["field"], "reason": first["reason"], "type": event_type,
                 "errors": problems[:20]},
    )


def parse_event(raw: bytes) -> InvoiceEvent | PaymentSucceededEvent | UnknownEvent:
    try:
        # NaN/Infinity are valid for Python's json module but not in JSON, and never money.
        document = json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not valid JSON"
        raise CrmEventParseError(
            f"body is not valid JSON: {reason}", code="malformed_json",
            details={"field": "(body)", "reason": reason},
        ) from None

    if not isinstance(document, dict):
        raise CrmEventParseError("the event must be a JSON object", details={"field": "(body)"})
    event_type = document.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise CrmEventParseError("the event has no type", details={"field": "type",
                                                                   "reason": "missing or not a string"})

    model: type[BaseModel] = EVENT_MODELS.get(event_type, UnknownEvent)
    try:
        return model.model_validate(document)  # type: ignore[return-value]
    except ValidationError as error:
        raise _parse_error(error, event_type) from None
