"""CompanyInfo + Preferences → the facts the invoice mapping depends on (F1, F15, F16)."""

from __future__ import annotations

from typing import Any

from qbsync.models.connection_records import CompanyFacts


def _flag(section: dict[str, Any], name: str) -> bool:
    value = section.get(name, False)
    return value is True or str(value).lower() == "true"


def company_facts(company_info: dict[str, Any], preferences: dict[str, Any]) -> CompanyFacts:
    currency = preferences.get("CurrencyPrefs", {})
    sales_forms = preferences.get("SalesFormsPrefs", {})
    tax = preferences.get("TaxPrefs", {})
    home_currency = currency.get("HomeCurrency", {})
    country = company_info.get("Country") or company_info.get("CompanyAddr", {}).get("Country") or ""
    return CompanyFacts(
        company_name=company_info.get("CompanyName") or company_info.get("LegalName") or "",
        country=country.upper(),
        home_currency=(home_currency.get("value") if isinstance(home_currency, dict) else home_currency) or "USD",
        multicurrency=_flag(currency, "MultiCurrencyEnabled"),
        custom_txn_numbers=_flag(sales_forms, "CustomTxnNumbers"),
        # Automated sales tax (QBO.md §4.6): PartnerTaxEnabled on US companies.
        automated_sales_tax=_flag(tax, "PartnerTaxEnabled"),
        using_sales_tax=_flag(tax, "UsingSalesTax"),
        time_zone=company_info.get("DefaultTimeZone"),
    )
