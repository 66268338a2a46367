"""One QBO company (realm): its settings, its clock formatting, its records and its locks."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .exchange_rates import ExchangeRateTable
from .store import EntityStore

COUNTRY_DEFAULTS: dict[str, tuple[str, str]] = {
    # country: (home currency, time zone)
    "US": ("USD", "America/Los_Angeles"),
    "GB": ("GBP", "Europe/London"),
    "UK": ("GBP", "Europe/London"),
    "CA": ("CAD", "America/Toronto"),
    "AU": ("AUD", "Australia/Sydney"),
    "FR": ("EUR", "Europe/Paris"),
    "IE": ("EUR", "Europe/Dublin"),
    "IN": ("INR", "Asia/Kolkata"),
}

CURRENCY_NAMES: dict[str, str] = {
    "USD": "United States Dollar",
    "GBP": "British Pound Sterling",
    "EUR": "Euro",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
    "INR": "Indian Rupee",
    "JPY": "Japanese Yen",
    "CHF": "Swiss Franc",
    "MXN": "Mexican Peso",
    "NZD": "New Zealand Dollar",
}

_FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def parse_timezone(name: str) -> tzinfo:
    """An IANA zone ("America/Los_Angeles": DST-dependent offsets, like QBO) or a fixed "-07:00"."""
    match = _FIXED_OFFSET.match(name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    return ZoneInfo(name)


@dataclass
class CompanySettings:
    name: str
    country: str
    home_currency: str
    multicurrency: bool
    custom_txn_numbers: bool
    automated_sales_tax: bool
    timezone: str
    currencies: tuple[str, ...]


class Company:
    def __init__(self, realm_id: str, settings: CompanySettings, created: datetime) -> None:
        self.realm_id = realm_id
        self.settings = settings
        self.tz = parse_timezone(settings.timezone)
        self.created = created
        # One lock per company: every read-modify-write of its records runs under it, so concurrent
        # requests see QBO-like serialised writes (and a SyncToken race yields 5010, not corruption).
        self.lock = threading.RLock()
        self.store = EntityStore()
        self.request_cache: dict[str, tuple[int, bytes, str]] = {}
        # invoice id -> {payment id -> amount applied}; the source of truth for Invoice.Balance.
        self.applications: dict[str, dict[str, Decimal]] = {}
        self.emails_sent = 0
        # Ids of seeded records that rules fall back to (income account, Undeposited Funds, Net 30...).
        self.defaults: dict[str, str] = {}
        self.doc_counters: dict[str, int] = {}
        # Rates set for a date (API or Currency Center); market rates fill every other date.
        self.exchange_rates = ExchangeRateTable()

    @property
    def is_us(self) -> bool:
        return self.settings.country == "US"

    def currency_ref(self, code: str) -> dict[str, str]:
        return {"value": code, "name": CURRENCY_NAMES.get(code, code)}

    # Times: QBO writes MetaData in the company's local offset, the envelope `time` with milliseconds.
    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def meta_time(self, moment: datetime) -> str:
        return self.local(moment).isoformat(timespec="seconds")

    def response_time(self, moment: datetime) -> str:
        return self.local(moment).isoformat(timespec="milliseconds")

    def today(self, moment: datetime) -> date:
        return self.local(moment).date()

    def applied_to(self, invoice_id: str) -> Decimal:
        return sum(self.applications.get(invoice_id, {}).values(), Decimal("0.00"))

    def summary(self) -> dict[str, Any]:
        s = self.settings
        return {
            "realmId": self.realm_id,
            "name": s.name,
            "country": s.country,
            "homeCurrency": s.home_currency,
            "multicurrency": s.multicurrency,
            "customTxnNumbers": s.custom_txn_numbers,
            "automatedSalesTax": s.automated_sales_tax,
            "timezone": s.timezone,
            "currencies": list(s.currencies),
        }
