"""A tenant's settings document (SPEC "Contract details: Settings", F14, F15, F18).

`PUT /tenants/{t}/settings` replaces the whole document; unknown keys are refused (422), so a typo never
silently does nothing. Defaults are SPEC's. `invoice_fields` (F14) is qbsync's design:

- `recipient`: which CRM field names the QBO customer (its DisplayName): the contact's `name` or `company`
  (falling back to the name when the company is empty).
- `billing_address`, `email`, `tax_id`: copy the CRM customer's address / e-mail / tax id onto the QBO
  invoice (and onto a QBO customer qbsync creates), or leave QBO's own.
- `payment_terms_days`: when set, the QBO due date is the issue date plus N days (Pipedrive's "due N days
  after issue"); when null, the CRM's own due date is used.
- `memo`: put the CRM invoice message in QBO's customer-visible memo (`CustomerMemo`), or not.
- `custom_fields`: up to three QBO custom fields (QBO's limit), each filled from a CRM invoice field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Frequency = Literal["realtime", "5m", "hourly", "daily", "weekly"]
DeleteRule = Literal["ignore", "archive", "delete"]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncObjects(StrictModel):
    customers: bool = True
    products: bool = True
    invoices: bool = True
    sales_receipts: bool = True
    qbo_invoices_to_crm: bool = False


class DeleteRules(StrictModel):
    customers: DeleteRule = "archive"
    products: DeleteRule = "archive"


class ReviewRequestSettings(StrictModel):
    enabled: bool = True


class DefaultItem(StrictModel):
    qbo_item_id: NonEmpty | None = None
    income_account_id: NonEmpty | None = None


class CustomFieldMapping(StrictModel):
    qbo_definition_id: NonEmpty
    name: Annotated[str, StringConstraints(min_length=1, max_length=31)]
    source: Literal["number", "deal_id", "message", "customer.company", "customer.crm_contact_id"]


class InvoiceFields(StrictModel):
    recipient: Literal["customer.name", "customer.company"] = "customer.name"
    billing_address: Literal["customer.address", "none"] = "customer.address"
    email: Literal["customer.email", "none"] = "customer.email"
    tax_id: Literal["customer.tax_id", "none"] = "none"
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    memo: Literal["message", "none"] = "message"
    custom_fields: Annotated[list[CustomFieldMapping], Field(max_length=3)] = []


class TenantSettings(StrictModel):
    default_realm_id: NonEmpty | None = None
    sync: SyncObjects = SyncObjects()
    backfill_on_connect: bool = True
    frequency: Frequency = "realtime"
    delete_rules: DeleteRules = DeleteRules()
    review_request: ReviewRequestSettings = ReviewRequestSettings()
    update_qbo_customer: bool = False
    # CRM tax name (as in an invoice line's taxes[].name) → QBO TaxCode Id; non-US companies only (F15).
    tax_codes: dict[NonEmpty, NonEmpty] = {}
    default_item: DefaultItem = DefaultItem()
    invoice_fields: InvoiceFields = InvoiceFields()
