"""A company's exchange-rate table (the ExchangeRate entity, QBO.md §4.9): home-currency units per one unit
of a foreign currency, by date.

Two layers, as in QBO's Currency Center:
- a *market* rate for every enabled currency on every date, derived from a fixed table of plausible rates
  with a small deterministic daily drift (so "the rate for that date" differs from today's, and code that
  reads the wrong date is caught);
- rates *set* for a date (`POST /exchangerate`, or `emu.set_exchange_rate` acting as a user). A set rate
  applies from its AsOfDate until the next set rate, as Intuit's samples show (a read for 2015-07-07
  answered with the INR rate set on 2015-05-15). Each has its own SyncToken: "0" when set, +1 per change.

Reads answer the rate in effect on the date: the latest set rate on or before it, else the market rate
(AsOfDate = the date asked, SyncToken "0"). The home currency's rate is always 1 and cannot be set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from .errors import QboFault, business_error, required_param, stale_object, unknown_property
from .money import decimal_field

if TYPE_CHECKING:
    from .company import Company

RATE_PLACES = Decimal("0.000001")

# US dollars per one unit, roughly late-2026 levels: only the ratios matter (rate = usd[src] / usd[home]).
_USD_PER_UNIT: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "CAD": Decimal("0.73"),
    "AUD": Decimal("0.66"),
    "NZD": Decimal("0.60"),
    "CHF": Decimal("1.13"),
    "INR": Decimal("0.012"),
    "JPY": Decimal("0.0067"),
    "MXN": Decimal("0.058"),
}
# A currency enabled for a company but missing above still gets a market rate (1 against USD).
_UNKNOWN_USD_PER_UNIT = Decimal("1")


def market_rate(source: str, home: str, on: date) -> Decimal:
    """The seeded rate of `source` in `home` units on `on`: the table's ratio moved by at most ±0.2 %,
    the same every run."""
    if source == home:
        return Decimal(1)
    base = _USD_PER_UNIT.get(source, _UNKNOWN_USD_PER_UNIT) / _USD_PER_UNIT.get(home, _UNKNOWN_USD_PER_UNIT)
    drift = Decimal((on.toordinal() * 7919 + sum(map(ord, source))) % 41 - 20) / Decimal(10000)
    return (base * (1 + drift)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def currency_not_found(code: str) -> QboFault:
    return QboFault(
        "610",
        "Object Not Found",
        f"Object Not Found : Currency {code} is not one of this company's currencies",
        element="SourceCurrencyCode",
    )


@dataclass
class SetRate:
    rate: Decimal
    sync_token: int
    updated: datetime


class ExchangeRateTable:
    """One company's rates. Callers hold the company lock."""

    def __init__(self) -> None:
        self._set: dict[str, dict[date, SetRate]] = {}

    def effective(self, source: str, home: str, on: date) -> tuple[date, Decimal, int, datetime | None]:
        """(AsOfDate, Rate, SyncToken, LastUpdatedTime or None for a market rate) in effect on `on`."""
        if source == home:
            return on, Decimal(1), 0, None
        earlier = [day for day in self._set.get(source, {}) if day <= on]
        if earlier:
            day = max(earlier)
            entry = self._set[source][day]
            return day, entry.rate, entry.sync_token, entry.updated
        return on, market_rate(source, home, on), 0, None

    def put(self, source: str, on: date, rate: Decimal, now: datetime, *, sync_token: str | None) -> None:
        """Set the rate for `on`. `sync_token` None means a user in the Currency Center (never stale);
        otherwise it must match the record for that date ("0" when only the market rate exists yet)."""
        by_date = self._set.setdefault(source, {})
        current = by_date.get(on)
        if sync_token is not None and sync_token != str(current.sync_token if current else 0):
            raise stale_object()
        if current is None:
            by_date[on] = SetRate(rate, 0, now)
        else:
            current.rate, current.sync_token, current.updated = rate, current.sync_token + 1, now


# ---- reads and writes as the API and the control knob make them ----------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What a client may send back: the object it read (Intuit's update sample echoes MetaData).
_POST_FIELDS = frozenset(
    {"SourceCurrencyCode", "TargetCurrencyCode", "Rate", "AsOfDate", "SyncToken", "MetaData", "CustomField",
     "domain", "sparse"}
)


def render(company: Company, source: str, on: date) -> dict[str, Any]:
    """The ExchangeRate object in effect for `source` on `on`, as QBO writes it."""
    home = company.settings.home_currency
    as_of, rate, sync_token, updated = company.exchange_rates.effective(source, home, on)
    return {
        "SyncToken": str(sync_token),
        "domain": "QBO",
        "AsOfDate": as_of.isoformat(),
        "SourceCurrencyCode": source,
        "Rate": rate,
        "sparse": False,
        "TargetCurrencyCode": home,
        "MetaData": {"LastUpdatedTime": company.meta_time(updated or company.created)},
    }


def read_rate(company: Company, source: Any, as_of: Any, now: datetime) -> dict[str, Any]:
    """`GET /exchangerate?sourcecurrencycode=&asofdate=`; no asofdate means today in the company's zone."""
    code = _currency(company, source, "sourcecurrencycode")
    on = _date(as_of, "asofdate") or company.today(now)
    return render(company, code, on)


def write_rate(company: Company, body: Any, now: datetime, *, as_user: bool = False) -> dict[str, Any]:
    """`POST /exchangerate`: SourceCurrencyCode, Rate and AsOfDate required; TargetCurrencyCode, if sent,
    must be the home currency; SyncToken required (and current) unless a user sets it in the UI."""
    if not isinstance(body, dict):
        raise business_error("the request body must be an ExchangeRate object")
    for key in body:
        if key not in _POST_FIELDS:
            raise unknown_property(key, "ExchangeRate")
    code = _currency(company, body.get("SourceCurrencyCode"), "SourceCurrencyCode")
    home = company.settings.home_currency
    target = body.get("TargetCurrencyCode")
    if target not in (None, "") and str(target).upper() != home:
        raise business_error(
            f"TargetCurrencyCode must be the home currency {home}", element="TargetCurrencyCode"
        )
    if code == home:
        raise business_error(
            f"The home currency {home} has no exchange rate to set", element="SourceCurrencyCode"
        )
    rate = rate_value(body.get("Rate"))
    on = _date(body.get("AsOfDate"), "AsOfDate")
    if on is None:
        raise required_param("AsOfDate")
    sync_token = None
    if not as_user:
        raw_token = body.get("SyncToken")
        if raw_token is None or raw_token == "":
            raise required_param("SyncToken")
        sync_token = str(raw_token)
    company.exchange_rates.put(code, on, rate, now, sync_token=sync_token)
    return render(company, code, on)


def _date(value: Any, field: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise business_error(f"{field} must be a date like 2015-07-24, got {value!r}", element=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise business_error(f"{field} is not a valid date: {value!r}", element=field) from None


def _currency(company: Company, value: Any, field: str) -> str:
    settings = company.settings
    return currency_code(settings.currencies, settings.multicurrency, value, field)


# ---- request parsing -------------------------------------------------------------------------------------


def currency_code(company_currencies: tuple[str, ...], multicurrency: bool, value: Any, field: str) -> str:
    """A currency the company has enabled, upper-cased. Without multicurrency the company has no rate table
    (6000); an unknown or not enabled currency is 610, as QBO answers for a missing object."""
    if value is None or value == "":
        raise required_param(field)
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        raise business_error(f"{field} must be a three-letter ISO 4217 code, got {value!r}", element=field)
    code = value.strip().upper()
    if not multicurrency:
        raise business_error("Multicurrency is not enabled for this company: it has no exchange rates",
                             element=field)
    if code not in company_currencies:
        raise currency_not_found(code)
    return code


def rate_value(value: Any) -> Decimal:
    """A JSON number (strings are refused, as for amounts); positive."""
    if value is None:
        raise required_param("Rate")
    rate = decimal_field(value, "Rate")
    if rate <= 0:
        raise business_error("Rate must be positive", element="Rate")
    return rate
