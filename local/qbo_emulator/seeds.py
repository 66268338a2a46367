"""What a new QBO company already contains: accounts, terms, two items, and tax codes for its country."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from .company import Company
from .store import Record

# (Name, Classification, AccountType, AccountSubType)
_ACCOUNTS = [
    ("Services", "Revenue", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Revenue", "Income", "SalesOfProductIncome"),
    ("Discounts given", "Revenue", "Income", "DiscountsRefundsGiven"),
    ("Undeposited Funds", "Asset", "Other Current Asset", "UndepositedFunds"),
    ("Accounts Receivable (A/R)", "Asset", "Accounts Receivable", "AccountsReceivable"),
    ("Checking", "Asset", "Bank", "Checking"),
    ("Inventory Asset", "Asset", "Other Current Asset", "Inventory"),
    ("Cost of Goods Sold", "Expense", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
]

# (Name, DueDays); "Net 30" is the company default, as in Intuit's samples (SalesTermRef "3").
_TERMS = [("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)]

_DEFAULT_TAX_CODES: dict[str, list[dict[str, Any]]] = {
    "US": [{"name": "California", "rates": [{"name": "California State", "rate": "8"}]}],
    "GB": [
        {"name": "20.0% S", "rates": [{"name": "20.0% S", "rate": "20"}]},
        {"name": "5.0% R", "rates": [{"name": "5.0% R", "rate": "5"}]},
        {"name": "0.0% Z", "rates": [{"name": "0.0% Z", "rate": "0"}]},
        {"name": "Exempt", "rates": [{"name": "Exempt", "rate": "0"}]},
    ],
    "CA": [
        {"name": "GST", "rates": [{"name": "GST", "rate": "5"}]},
        {"name": "HST ON", "rates": [{"name": "HST ON", "rate": "13"}]},
        {"name": "GST/QST QC", "rates": [{"name": "GST", "rate": "5"}, {"name": "QST", "rate": "9.975"}]},
        {"name": "Zero-rated", "rates": [{"name": "Zero-rated", "rate": "0"}]},
    ],
    "AU": [
        {"name": "GST", "rates": [{"name": "GST (sales)", "rate": "10"}]},
        {"name": "GST free", "rates": [{"name": "GST free (sales)", "rate": "0"}]},
    ],
}
_GENERIC_TAX_CODES = [
    {"name": "Standard", "rates": [{"name": "Standard", "rate": "20"}]},
    {"name": "Zero", "rates": [{"name": "Zero", "rate": "0"}]},
]


def normalise_tax_codes(specs: list[Any]) -> list[dict[str, Any]]:
    """Accept {"name", "rate"} or {"name", "rates": ["5", {"name", "rate"}]} (+ optional "active")."""
    codes = []
    for spec in specs:
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ValueError(f"a tax code needs a name: {spec!r}")
        raw_rates = spec.get("rates")
        if raw_rates is None:
            raw_rates = [] if spec.get("rate") is None else [spec["rate"]]
        rates = []
        for raw in raw_rates:
            if isinstance(raw, dict):
                rates.append(
                    {"name": str(raw.get("name") or spec["name"]), "rate": Decimal(str(raw["rate"]))}
                )
            else:
                rates.append({"name": str(spec["name"]), "rate": Decimal(str(raw))})
        codes.append({"name": str(spec["name"]), "active": bool(spec.get("active", True)), "rates": rates})
    return codes


def _add(company: Company, entity: str, record_id: str, data: dict[str, Any], now: datetime) -> Record:
    return company.store.add(Record(entity=entity, id=record_id, data=data, created=now, updated=now))


def seed_company(company: Company, now: datetime, tax_codes: list[Any] | None) -> None:
    home = company.currency_ref(company.settings.home_currency)
    defaults: dict[str, str] = {}
    for name, classification, account_type, sub_type in _ACCOUNTS:
        record_id = company.store.next_id("Account")
        _add(
            company,
            "Account",
            record_id,
            {
                "Name": name,
                "FullyQualifiedName": name,
                "SubAccount": False,
                "Active": True,
                "Classification": classification,
                "AccountType": account_type,
                "AccountSubType": sub_type,
                "CurrentBalance": Decimal("0.00"),
                "CurrentBalanceWithSubAccounts": Decimal("0.00"),
                "CurrencyRef": home,
            },
            now,
        )
        defaults[name] = record_id
    company.defaults = {
        "income_account": defaults["Services"],
        "product_income_account": defaults["Sales of Product Income"],
        "discount_account": defaults["Discounts given"],
        "undeposited_funds": defaults["Undeposited Funds"],
    }
    for name, days in _TERMS:
        record_id = company.store.next_id("Term")
        _add(
            company,
            "Term",
            record_id,
            {"Name": name, "Active": True, "Type": "STANDARD", "DueDays": days},
            now,
        )
        if name == "Net 30":
            company.defaults["term"] = record_id
    for name in ("Services", "Hours"):
        record_id = company.store.next_id("Item")
        _add(
            company,
            "Item",
            record_id,
            {
                "Name": name,
                "FullyQualifiedName": name,
                "Active": True,
                "Type": "Service",
                "Taxable": False,
                "UnitPrice": 0,
                "IncomeAccountRef": {"value": defaults["Services"], "name": "Services"},
                "TrackQtyOnHand": False,
            },
            now,
        )
    _seed_tax(company, now, tax_codes)


def _seed_tax(company: Company, now: datetime, tax_codes: list[Any] | None) -> None:
    if company.is_us:
        # US lines use the pseudo codes TAX/NON; real codes are tax groups for TxnTaxCodeRef (non-AST).
        for code, taxable in (("TAX", True), ("NON", False)):
            _add(
                company,
                "TaxCode",
                code,
                {
                    "Name": code,
                    "Description": "Taxable" if taxable else "Non-taxable",
                    "Active": True,
                    "Hidden": False,
                    "Taxable": taxable,
                    "TaxGroup": False,
                    "SalesTaxRateList": {"TaxRateDetail": []},
                    "PurchaseTaxRateList": {"TaxRateDetail": []},
                },
                now,
            )
    specs = normalise_tax_codes(
        tax_codes
        if tax_codes is not None
        else _DEFAULT_TAX_CODES.get(company.settings.country, _GENERIC_TAX_CODES)
    )
    for spec in specs:
        details = []
        for order, rate in enumerate(spec["rates"]):
            rate_id = company.store.next_id("TaxRate")
            _add(
                company,
                "TaxRate",
                rate_id,
                {
                    "Name": rate["name"],
                    "Description": rate["name"],
                    "Active": spec["active"],
                    "RateValue": rate["rate"],
                    "AgencyRef": {"value": "1"},
                    "SpecialTaxType": "NONE",
                    "DisplayType": "ReadOnly",
                },
                now,
            )
            details.append(
                {
                    "TaxRateRef": {"value": rate_id, "name": rate["name"]},
                    "TaxTypeApplicable": "TaxOnAmount",
                    "TaxOrder": order,
                }
            )
        code_id = company.store.next_id("TaxCode")
        _add(
            company,
            "TaxCode",
            code_id,
            {
                "Name": spec["name"],
                "Description": spec["name"],
                "Active": spec["active"],
                "Hidden": False,
                "Taxable": any(r["rate"] != 0 for r in spec["rates"]),
                "TaxGroup": len(spec["rates"]) > 1,
                "SalesTaxRateList": {"TaxRateDetail": details},
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            },
            now,
        )
