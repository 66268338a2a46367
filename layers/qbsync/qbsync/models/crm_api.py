"""Bodies of the outbound CRM REST contract (SPEC "Outbound CRM REST contract") and the CRM's answers.

Requests are what *we* build, so they forbid unknown fields (a typo fails in our tests, not at the CRM);
answers come from the CRM, so they ignore fields they do not know. Money is `Decimal`, sent as a string.

Nullable-but-required fields (`doc_number`, `due_date` on invoice accounting) are keys the CRM always
receives, with `null` when QBO has no value; optional fields (`?` in SPEC) may be omitted or `null`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from qbsync.models.crm_events import (
    Address,
    CurrencyCode,
    DecimalNumber,
    IsoDate,
    IsoDatetime,
    Money,
    NonEmptyStr,
)

MAX_BATCH_ITEMS = 100

InvoiceStatus = Literal["open", "partially_paid", "paid", "overdue", "voided", "deleted"]
EmailStatus = Literal["not_sent", "sent"]
DeleteMode = Literal["delete", "archive"]
DeleteStatus = Literal["deleted", "archived", "not_found"]
ConnectionStatus = Literal["connected", "disconnected", "needs_reauth", "expiring"]


class CrmRequest(BaseModel):
    # defer_build (here and on CrmAnswer): a handler sends a few of these requests, not all; validators are
    # built on first use, not at import (bench/ cold start).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CrmAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


# --- contacts -----------------------------------------------------------------------------------------


class BillingAddress(Address):
    """The inbound address's fields, refusing unknown ones. QBO addresses are often partial: the keys are
    required as in SPEC, empty strings are allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactUpsert(CrmRequest):
    qbo_customer_id: NonEmptyStr
    realm_id: NonEmptyStr
    display_name: NonEmptyStr
    given_name: str | None = None
    family_name: str | None = None
    company_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    billing_address: BillingAddress | None = None
    active: StrictBool
    balance: Money | None = None
    qbo_updated_at: IsoDatetime


class ContactsBatchUpsert(CrmRequest):
    contacts: Annotated[list[ContactUpsert], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class ContactRef(CrmRequest):
    qbo_customer_id: NonEmptyStr
    realm_id: NonEmptyStr


class ContactsBatchDelete(CrmRequest):
    mode: DeleteMode
    contacts: Annotated[list[ContactRef], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class ContactUpsertResult(CrmAnswer):
    index: int
    qbo_id: str
    crm_contact_id: str
    created: bool


class ContactsBatchUpsertResult(CrmAnswer):
    results: list[ContactUpsertResult]


class ContactDeleteResult(CrmAnswer):
    index: int
    status: DeleteStatus
    crm_contact_id: str | None = None


class ContactsBatchDeleteResult(CrmAnswer):
    results: list[ContactDeleteResult]


# --- products -----------------------------------------------------------------------------------------


class ProductUpsert(CrmRequest):
    qbo_item_id: NonEmptyStr
    realm_id: NonEmptyStr
    name: NonEmptyStr
    sku: str | None = None
    description: str | None = None
    type: NonEmptyStr  # QBO's Item.Type as QBO spells it: Service, Inventory, NonInventory, Group, ...
    unit_price: Money | None = None
    taxable: StrictBool | None = None
    active: StrictBool
    qbo_updated_at: IsoDatetime


class ProductsBatchUpsert(CrmRequest):
    products: Annotated[list[ProductUpsert], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class ProductRef(CrmRequest):
    qbo_item_id: NonEmptyStr
    realm_id: NonEmptyStr


class ProductsBatchDelete(CrmRequest):
    mode: DeleteMode
    products: Annotated[list[ProductRef], Field(min_length=1, max_length=MAX_BATCH_ITEMS)]


class ProductUpsertResult(CrmAnswer):
    index: int
    qbo_id: str
    crm_product_id: str
    created: bool


class ProductsBatchUpsertResult(CrmAnswer):
    results: list[ProductUpsertResult]


class ProductDeleteResult(CrmAnswer):
    index: int
    status: DeleteStatus
    crm_product_id: str | None = None


class ProductsBatchDeleteResult(CrmAnswer):
    results: list[ProductDeleteResult]


# --- invoices and deals -------------------------------------------------------------------------------


class InvoiceAccounting(CrmRequest):
    """`PUT /tenants/{t}/invoices/{crm_invoice_id}/accounting`: the QBO side of a CRM invoice (F8)."""

    realm_id: NonEmptyStr
    qbo_invoice_id: NonEmptyStr
    doc_number: str | None
    status: InvoiceStatus
    email_status: EmailStatus
    total: Money
    balance: Money
    amount_paid: Money
    currency: CurrencyCode
    due_date: IsoDate | None
    qbo_url: NonEmptyStr
    updated_at: IsoDatetime


class LatestInvoice(CrmRequest):
    crm_invoice_id: NonEmptyStr
    qbo_invoice_id: NonEmptyStr
    doc_number: str | None
    recipient: str | None
    status: InvoiceStatus
    due_date: IsoDate | None


class DealAccounting(CrmRequest):
    """`PUT /tenants/{t}/deals/{deal_id}/accounting`: deal properties from its invoices (F8)."""

    realm_id: NonEmptyStr
    total_invoiced: Money
    currency: CurrencyCode
    latest_invoice: LatestInvoice


class QboInvoiceLine(CrmRequest):
    # QBO sales lines may carry an amount without quantity or unit price.
    description: str | None
    quantity: DecimalNumber | None
    unit_price: Money | None
    amount: Money


class QboInvoice(CrmRequest):
    """`PUT /tenants/{t}/qbo-invoices/{qbo_invoice_id}`: an invoice created in QBO itself (F9)."""

    realm_id: NonEmptyStr
    doc_number: str | None
    qbo_customer_id: NonEmptyStr
    crm_contact_id: str | None = None
    status: InvoiceStatus
    email_status: EmailStatus
    total: Money
    balance: Money
    amount_paid: Money
    currency: CurrencyCode
    txn_date: IsoDate
    due_date: IsoDate | None
    lines: list[QboInvoiceLine]
    qbo_url: NonEmptyStr


class QboInvoiceResult(CrmAnswer):
    crm_record_id: str


# --- review requests and connection -------------------------------------------------------------------


class ReviewRequest(CrmRequest):
    """`POST /tenants/{t}/review-requests`: a customer's first invoice was paid (F10)."""

    realm_id: NonEmptyStr
    qbo_customer_id: NonEmptyStr
    crm_contact_id: str | None = None
    email: str | None = None
    qbo_invoice_id: NonEmptyStr
    qbo_payment_id: NonEmptyStr
    paid_at: IsoDatetime


class ReviewRequestResult(CrmAnswer):
    id: str


class ConnectionUpdate(CrmRequest):
    """`PUT /tenants/{t}/connection`: the state of one QBO company's connection (F1, F2, expiry warnings)."""

    status: ConnectionStatus
    realm_id: NonEmptyStr
    company_name: str | None = None
    reason: str | None = None
    expires_at: IsoDatetime | None = None

    @model_validator(mode="after")
    def _expiring_says_when(self) -> "ConnectionUpdate":
        if self.status == "expiring" and self.expires_at is None:
            raise ValueError("status expiring needs expires_at")
        return self
