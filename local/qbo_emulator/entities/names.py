"""Customer and Vendor: DisplayName rules shared across both lists (QBO.md §4.1)."""

from __future__ import annotations

from typing import Any

from ..company import Company
from ..errors import business_error, duplicate_name, malformed_request, required_param
from ..store import Record
from .balances import ZERO, customer_balances
from .base import EntityType, Prop, WriteContext, base_render, boolean, enum, field_prop, make_ref, text

NAME_PARTS = ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
DISPLAY_NAME_MAX = 100
_LIMITS = {
    "Title": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "Suffix": 16,
    "CompanyName": 100,
    "PrintOnCheckName": 110,
    "Notes": 2000,
    "ResaleNum": 16,
    "AcctNum": 100,
}
_OBJECT_FIELDS = (
    "BillAddr",
    "ShipAddr",
    "OtherAddr",
    "PrimaryPhone",
    "AlternatePhone",
    "Mobile",
    "Fax",
    "PrimaryEmailAddr",
    "WebAddr",
    "OtherContactInfo",
)
# QBO keeps one name space for customers, vendors and employees (we have no employees).
_NAME_SPACE = ("Customer", "Vendor")


def _canonical(name: str) -> str:
    # Stricter choice (documented): names collide case-insensitively and ignoring surrounding spaces.
    return " ".join(name.split()).casefold()


def validate_display_name(
    ctx: WriteContext, data: dict[str, Any], existing: Record | None, entity: str
) -> str:
    for key, limit in _LIMITS.items():
        text(data, key, limit)
    for key in _OBJECT_FIELDS:
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise malformed_request(f"{key} must be an object")
    display = data.get("DisplayName")
    if display is not None and not isinstance(display, str):
        raise malformed_request("DisplayName must be a string")
    if not display or not display.strip():
        parts = [data[p].strip() for p in NAME_PARTS if isinstance(data.get(p), str) and data[p].strip()]
        if not parts:
            raise required_param("DisplayName")
        display = " ".join(parts)
    display = display.strip()
    for bad, label in ((":", "a colon (:)"), ("\t", "a tab"), ("\n", "a new line")):
        if bad in display:
            raise business_error(f"DisplayName cannot contain {label}", element="DisplayName")
    # QBO.md §4.1 CONFLICT (500 vs 100 characters): the stricter limit, so a client that fits here fits there.
    text({"DisplayName": display}, "DisplayName", DISPLAY_NAME_MAX)
    wanted = _canonical(display)
    for other_entity in _NAME_SPACE:
        for other in ctx.company.store.live(other_entity):
            if existing is not None and other_entity == entity and other.id == existing.id:
                continue
            if _canonical(other.data.get("DisplayName", "")) == wanted:
                raise duplicate_name(other.id)
    data["DisplayName"] = display
    return display


def validate_currency(ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> None:
    """A name's currency: home currency unless multicurrency is on; fixed after create (QBO.md §4.9)."""
    settings = ctx.company.settings
    requested = data.get("CurrencyRef")
    code = None
    if requested is not None:
        if not isinstance(requested, dict) or not isinstance(requested.get("value"), str):
            raise malformed_request('CurrencyRef must be an object like {"value": "USD"}')
        code = requested["value"].upper()
    if existing is not None:
        current = existing.data["CurrencyRef"]["value"]
        if code is not None and code != current:
            raise business_error(
                "CurrencyRef cannot be changed after the record is created", element="CurrencyRef"
            )
        code = current
    code = code or settings.home_currency
    if not settings.multicurrency and code != settings.home_currency:
        raise business_error(
            f"Multicurrency is not enabled for this company: only {settings.home_currency} is accepted",
            element="CurrencyRef",
        )
    if settings.multicurrency and code not in settings.currencies:
        raise business_error(f"Currency {code} is not enabled for this company", element="CurrencyRef")
    data["CurrencyRef"] = ctx.company.currency_ref(code)


class Customer(EntityType):
    name = "Customer"
    url = "customer"
    name_list = True
    writable = frozenset(
        {
            *NAME_PARTS,
            "CompanyName",
            "DisplayName",
            "PrintOnCheckName",
            "Notes",
            "Active",
            "Job",
            "BillWithParent",
            "Taxable",
            "PreferredDeliveryMethod",
            "ResaleNum",
            "OpenBalanceDate",
            "PrimaryTaxIdentifier",
            "SecondaryTaxIdentifier",
            "BillAddr",
            "ShipAddr",
            "OtherAddr",
            "PrimaryPhone",
            "AlternatePhone",
            "Mobile",
            "Fax",
            "PrimaryEmailAddr",
            "WebAddr",
            "DefaultTaxCodeRef",
            "SalesTermRef",
            "PaymentMethodRef",
            "CurrencyRef",
            "ParentRef",
            "ARAccountRef",
            "CustomerTypeRef",
            "TaxExemptionReasonId",
            "GSTIN",
            "GSTRegistrationType",
            "BusinessNumber",
            "IsProject",
            "Source",
            "ClientEntityId",
        }
    )
    read_only = frozenset({"FullyQualifiedName", "Balance", "BalanceWithJobs", "Level", "V4IDPseudonym"})
    keep_on_full_update = frozenset({"CurrencyRef"})

    def query_props(self, company: Company, settings: dict[str, Any]) -> dict[str, Prop]:
        props = super().query_props(company, settings)
        extra = [
            field_prop(n, "string")
            for n in (
                "DisplayName",
                "GivenName",
                "MiddleName",
                "FamilyName",
                "CompanyName",
                "FullyQualifiedName",
                "PrintOnCheckName",
            )
        ]
        extra += [
            field_prop("Active", "bool"),
            field_prop("Balance", "number"),
            field_prop("Job", "bool"),
            field_prop("ParentRef", "ref"),
        ]
        if settings.get("customer_email_filterable", True):
            # UNCONFIRMED in QBO.md §2.4: configurable per emulator (customer_email_filterable).
            extra.append(field_prop("PrimaryEmailAddr", "string", "PrimaryEmailAddr.Address"))
        props.update({p.name.lower(): p for p in extra})
        return props

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        display = validate_display_name(ctx, data, existing, self.name)
        validate_currency(ctx, data, existing)
        active = boolean(data, "Active", True)
        boolean(data, "Job", False)
        boolean(data, "BillWithParent", False)
        boolean(data, "Taxable")
        enum(data, "PreferredDeliveryMethod", ("Print", "Email", "None"), "Print")
        data.setdefault("PrintOnCheckName", display)
        parent = ctx.ref("Customer", data.get("ParentRef"), "ParentRef", required=False)
        if parent is not None:
            if existing is not None and parent.id == existing.id:
                raise business_error("A customer cannot be its own parent", element="ParentRef")
            data["ParentRef"] = make_ref(parent, "DisplayName")
            data["Job"] = data.get("Job") or True
            level = parent.data.get("Level", 0) + 1
            if level > 4:
                raise business_error("Sub-customers can be nested at most 4 levels deep", element="ParentRef")
            data["Level"] = level
            data["FullyQualifiedName"] = f"{parent.data['FullyQualifiedName']}:{display}"
        else:
            data["Level"] = 0
            data["FullyQualifiedName"] = display
        term = ctx.ref("Term", data.get("SalesTermRef"), "SalesTermRef", required=False)
        if term is not None:
            data["SalesTermRef"] = make_ref(term)
        tax_code = ctx.ref("TaxCode", data.get("DefaultTaxCodeRef"), "DefaultTaxCodeRef", required=False)
        if tax_code is not None:
            data["DefaultTaxCodeRef"] = make_ref(tax_code)
        was_active = existing is None or existing.data.get("Active") is not False
        if existing is not None and was_active and active is False:
            balance = customer_balances(ctx.company).get(existing.id, ZERO)
            if balance != 0:
                raise business_error(
                    "Delete List Has Balance Error: this customer has an open balance and cannot be made inactive",
                    element="Active",
                )
        return data

    def render(self, company: Company, record: Record) -> dict[str, Any]:
        body = dict(record.data)
        balance = customer_balances(company).get(record.id, ZERO)
        body["Balance"] = balance
        body["BalanceWithJobs"] = balance
        return base_render(company, record, body)


class Vendor(EntityType):
    name = "Vendor"
    url = "vendor"
    name_list = True
    writable = frozenset(
        {
            *NAME_PARTS,
            "CompanyName",
            "DisplayName",
            "PrintOnCheckName",
            "Active",
            "BillAddr",
            "PrimaryPhone",
            "AlternatePhone",
            "Mobile",
            "Fax",
            "PrimaryEmailAddr",
            "WebAddr",
            "OtherContactInfo",
            "TaxIdentifier",
            "AcctNum",
            "Vendor1099",
            "CurrencyRef",
            "TermRef",
            "BillRate",
            "CostRate",
            "APAccountRef",
            "GSTIN",
            "GSTRegistrationType",
            "BusinessNumber",
            "TaxReportingBasis",
            "T4AEligible",
            "T5018Eligible",
            "HasTPAR",
            "Source",
            "VendorPaymentBankDetail",
        }
    )
    read_only = frozenset({"Balance", "V4IDPseudonym"})
    keep_on_full_update = frozenset({"CurrencyRef"})
    props = tuple(
        field_prop(n, "string")
        for n in ("DisplayName", "GivenName", "FamilyName", "CompanyName", "PrintOnCheckName")
    ) + (field_prop("Active", "bool"), field_prop("Balance", "number"))

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        display = validate_display_name(ctx, data, existing, self.name)
        validate_currency(ctx, data, existing)
        boolean(data, "Active", True)
        boolean(data, "Vendor1099")
        data.setdefault("PrintOnCheckName", display)
        return data

    def render(self, company: Company, record: Record) -> dict[str, Any]:
        body = dict(record.data)
        body["Balance"] = ZERO  # bills are not emulated
        return base_render(company, record, body)
