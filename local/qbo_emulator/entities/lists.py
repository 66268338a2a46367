"""Item and Term (writable name lists) and the read-only lists: Account, TaxCode, TaxRate."""

from __future__ import annotations

from typing import Any

from ..errors import business_error, duplicate_name, invalid_enum, malformed_request, required_param
from ..money import decimal_field
from ..store import Record
from .base import EntityType, WriteContext, boolean, date_field, field_prop, make_ref, text

ITEM_TYPES = ("Service", "NonInventory", "Inventory")


def _unique_name(ctx: WriteContext, entity: str, name: str, existing: Record | None) -> None:
    wanted = " ".join(name.split()).casefold()
    for other in ctx.company.store.live(entity):
        if existing is not None and other.id == existing.id:
            continue
        if " ".join(other.data.get("Name", "").split()).casefold() == wanted:
            raise duplicate_name(other.id)


class Item(EntityType):
    name = "Item"
    url = "item"
    name_list = True
    writable = frozenset(
        {
            "Name",
            "Description",
            "Active",
            "SubItem",
            "ParentRef",
            "Taxable",
            "SalesTaxIncluded",
            "UnitPrice",
            "RatePercent",
            "Type",
            "IncomeAccountRef",
            "PurchaseDesc",
            "PurchaseTaxIncluded",
            "PurchaseCost",
            "ExpenseAccountRef",
            "AssetAccountRef",
            "TrackQtyOnHand",
            "QtyOnHand",
            "InvStartDate",
            "SalesTaxCodeRef",
            "PurchaseTaxCodeRef",
            "Sku",
            "ClassRef",
            "PrefVendorRef",
            "ReorderPoint",
            "ItemCategoryType",
            "AbatementRate",
            "ReverseChargeRate",
            "ServiceType",
            "TaxClassificationRef",
            "UQCDisplayText",
            "UQCId",
            "Source",
        }
    )
    read_only = frozenset({"FullyQualifiedName", "Level"})
    props = (
        field_prop("Name", "string"),
        field_prop("Active", "bool"),
        field_prop("Type", "string"),
        field_prop("Sku", "string"),
        field_prop("FullyQualifiedName", "string"),
    )

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        name = text(data, "Name", 100, required=True)
        assert name is not None
        name = name.strip()
        if ":" in name:
            raise business_error("Name cannot contain a colon (:)", element="Name")
        _unique_name(ctx, "Item", name, existing)
        data["Name"] = name
        data["FullyQualifiedName"] = name
        text(data, "Description", 4000)
        text(data, "Sku", 100)
        item_type = data.get("Type")
        if item_type is None:
            raise required_param("Type")
        if item_type not in ITEM_TYPES:
            # Category and Group items exist in QBO but are not emulated.
            raise invalid_enum("Type", item_type)
        if existing is not None and existing.data["Type"] == "Inventory" and item_type != "Inventory":
            raise business_error("An Inventory item cannot change to another type", element="Type")
        boolean(data, "Active", True)
        boolean(data, "Taxable", False)
        for key in ("UnitPrice", "PurchaseCost", "QtyOnHand"):
            if data.get(key) is not None:
                data[key] = decimal_field(data[key], key)
        # Stricter choice: NonInventory needs an income account too (QBO.md §4.2 leaves it unconfirmed).
        income = ctx.ref("Account", data.get("IncomeAccountRef"), "IncomeAccountRef")
        assert income is not None
        data["IncomeAccountRef"] = make_ref(income)
        if item_type == "Inventory":
            for key in ("ExpenseAccountRef", "AssetAccountRef"):
                account = ctx.ref("Account", data.get(key), key)
                assert account is not None
                data[key] = make_ref(account)
            if date_field(data, "InvStartDate") is None:
                raise required_param("InvStartDate")
            if data.get("QtyOnHand") is None:
                raise required_param("QtyOnHand")
            if data.get("TrackQtyOnHand") is not True:
                raise business_error("Inventory items need TrackQtyOnHand=true", element="TrackQtyOnHand")
        else:
            boolean(data, "TrackQtyOnHand", False)
        tax_code = ctx.ref("TaxCode", data.get("SalesTaxCodeRef"), "SalesTaxCodeRef", required=False)
        if tax_code is not None:
            data["SalesTaxCodeRef"] = make_ref(tax_code)
        return data


class Term(EntityType):
    name = "Term"
    url = "term"
    name_list = True
    writable = frozenset(
        {
            "Name",
            "Active",
            "DueDays",
            "DiscountPercent",
            "DiscountDays",
            "DayOfMonthDue",
            "DueNextMonthDays",
            "DiscountDayOfMonth",
        }
    )
    read_only = frozenset({"Type"})
    props = (field_prop("Name", "string"), field_prop("Active", "bool"))

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        name = text(data, "Name", 31, required=True)
        assert name is not None
        _unique_name(ctx, "Term", name.strip(), existing)
        data["Name"] = name.strip()
        boolean(data, "Active", True)
        for key in ("DueDays", "DiscountDays", "DayOfMonthDue", "DueNextMonthDays", "DiscountDayOfMonth"):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise malformed_request(f"{key} must be a whole number of days")
        if data.get("DiscountPercent") is not None:
            data["DiscountPercent"] = decimal_field(data["DiscountPercent"], "DiscountPercent")
        standard = data.get("DueDays") is not None
        date_driven = data.get("DayOfMonthDue") is not None
        if standard == date_driven:
            raise business_error("A term needs either DueDays (standard) or DayOfMonthDue (date driven)")
        if date_driven and not 1 <= data["DayOfMonthDue"] <= 31:
            raise business_error("DayOfMonthDue must be between 1 and 31", element="DayOfMonthDue")
        data["Type"] = "STANDARD" if standard else "DATE_DRIVEN"
        return data


class _ReadOnlyList(EntityType):
    name_list = True
    api_writable = False

    def validate(self, ctx: WriteContext, data: dict[str, Any], existing: Record | None) -> dict[str, Any]:
        raise AssertionError("read-only entity")


class Account(_ReadOnlyList):
    name = "Account"
    url = "account"
    props = tuple(
        field_prop(n, "string")
        for n in ("Name", "AccountType", "AccountSubType", "Classification", "FullyQualifiedName")
    ) + (field_prop("Active", "bool"), field_prop("CurrentBalance", "number"))


class TaxCode(_ReadOnlyList):
    name = "TaxCode"
    url = "taxcode"
    cdc_supported = False
    props = (field_prop("Name", "string"), field_prop("Active", "bool"), field_prop("Taxable", "bool"))


class TaxRate(_ReadOnlyList):
    name = "TaxRate"
    url = "taxrate"
    cdc_supported = False
    props = (field_prop("Name", "string"), field_prop("Active", "bool"), field_prop("RateValue", "number"))
