"""CompanyInfo and Preferences: one per company, rendered from the company's settings (read-only here)."""

from __future__ import annotations

from typing import Any

from ..company import Company

_COUNTRY_NAMES = {
    "US": "US",
    "GB": "GB",
    "UK": "GB",
    "CA": "CA",
    "AU": "AU",
    "FR": "FR",
    "IE": "IE",
    "IN": "IN",
}


def _meta(company: Company) -> dict[str, Any]:
    stamp = company.meta_time(company.created)
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}


def company_info(company: Company) -> dict[str, Any]:
    s = company.settings
    address = {
        "Id": "1",
        "Line1": "2600 Marine Way",
        "City": "Mountain View",
        "Country": s.country,
        "PostalCode": "94043",
    }
    return {
        "CompanyName": s.name,
        "LegalName": s.name,
        "CompanyAddr": address,
        "CustomerCommunicationAddr": address,
        "LegalAddr": address,
        "Country": _COUNTRY_NAMES.get(s.country, s.country),
        "Email": {"Address": "noreply@example.invalid"},
        "WebAddr": {},
        "PrimaryPhone": {},
        "CompanyStartDate": company.today(company.created).isoformat(),
        "FiscalYearStartMonth": "January",
        "SupportedLanguages": "en",
        "DefaultTimeZone": s.timezone,
        "NameValue": [
            {"Name": "NeoEnabled", "Value": "true"},
            {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
            {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
            {"Name": "IsQbdtMigrated", "Value": "false"},
        ],
        "Id": "1",
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "MetaData": _meta(company),
    }


def preferences(company: Company) -> dict[str, Any]:
    s = company.settings
    return {
        "AccountingInfoPrefs": {
            "TrackDepartments": False,
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
        },
        "SalesFormsPrefs": {
            "CustomTxnNumbers": s.custom_txn_numbers,
            "AllowDeposit": False,
            "AllowDiscount": True,
            "AllowEstimates": True,
            "AllowShipping": False,
            "AllowServiceDate": False,
            "DefaultTerms": {"value": company.defaults.get("term", "3")},
            "AutoApplyCredit": True,
            "AutoApplyPayments": True,
            "PrintItemWithZeroAmount": True,
            "ETransactionEnabledStatus": "NotApplicable",
        },
        "EmailMessagesPrefs": {},
        "VendorAndPurchasesPrefs": {"TrackingByCustomer": False, "BillableExpenseTracking": False},
        "TimeTrackingPrefs": {"UseServices": False, "BillCustomers": False, "ShowBillRateToAll": False},
        "TaxPrefs": {
            "UsingSalesTax": True,
            "PartnerTaxEnabled": bool(company.is_us and s.automated_sales_tax),
        },
        "CurrencyPrefs": {
            "MultiCurrencyEnabled": s.multicurrency,
            "HomeCurrency": {"value": s.home_currency},
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": ""}]},
        "Id": "1",
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "MetaData": _meta(company),
    }
