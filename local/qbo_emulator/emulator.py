"""QboEmulator: the public face. Owns the companies, the OAuth server, the faults, the counters, the
webhook dispatcher and the HTTP server thread; every method here has a /_emulator/... twin (control.py)."""

from __future__ import annotations

import itertools
import sys
import threading
import traceback
from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any, Self

from .clock import Clock
from .company import COUNTRY_DEFAULTS, Company, CompanySettings, parse_timezone
from .counters import Counters
from .exchange_rates import read_rate, write_rate
from .entities import EntityType, lookup
from .entities.base import deleted_stub
from .faults import Faults
from .oauth import App, OAuthServer
from .operations import Engine
from .seeds import seed_company
from .server import EmulatorApp, ServerThread
from .webhooks import WebhookDispatcher

_DEFAULT_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD")


class QboEmulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Clock | None = None,
        customer_email_filterable: bool = True,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.clock = clock or Clock()
        self.stats = Counters()
        self.faults = Faults(self.clock)
        self.companies: dict[str, Company] = {}
        self._companies_lock = threading.RLock()
        self._realm_numbers = itertools.count(1)
        self.settings: dict[str, Any] = {"customer_email_filterable": customer_email_filterable}
        self.oauth = OAuthServer(self.clock, self._consent_realm, lambda realm: realm in self.companies)
        self.webhooks = WebhookDispatcher(
            self.clock,
            self.stats,
            self.oauth.connected_apps,
            self.oauth.apps.get,
            lambda realm: self.companies[realm].tz,
            timeout=webhook_timeout,
        )
        self.engine = Engine(self.clock, self.webhooks.publish)
        self.wsgi_app = EmulatorApp(self)
        # Unexpected exceptions inside handlers (emulator bugs); tests assert this stays empty.
        self.internal_errors: list[str] = []
        self._server: ServerThread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is None:
            self._server = ServerThread(self.host, self._requested_port, self.wsgi_app)
            self._server.start()
            self.webhooks.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self.webhooks.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/v3"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/v1/tokens/bearer"

    @property
    def revoke_url(self) -> str:
        return f"{self.url}/v2/oauth2/tokens/revoke"

    @property
    def control_url(self) -> str:
        return f"{self.url}/_emulator"

    # ---- companies ---------------------------------------------------------------------------------
    def create_company(
        self,
        country: str = "US",
        home_currency: str | None = None,
        multicurrency: bool = False,
        custom_txn_numbers: bool = False,
        automated_sales_tax: bool = True,
        tax_codes: list[Any] | None = None,
        name: str | None = None,
        *,
        timezone: str | None = None,
        currencies: list[str] | None = None,
        realm_id: str | None = None,
    ) -> str:
        """A new company with seeded accounts, terms, items and tax codes; returns its realmId.
        home_currency and timezone default from the country (US: USD, America/Los_Angeles)."""
        country = country.upper()
        default_currency, default_tz = COUNTRY_DEFAULTS.get(country, (None, "UTC"))
        home = (home_currency or default_currency or "").upper()
        if not home:
            raise ValueError(f"home_currency is required for country {country}")
        zone = timezone or default_tz
        parse_timezone(zone)  # fail now, not on the first response
        available = tuple(dict.fromkeys([home, *(c.upper() for c in (currencies or _DEFAULT_CURRENCIES))]))
        with self._companies_lock:
            realm = realm_id or str(9130350000000000000 + next(self._realm_numbers))
            if realm in self.companies:
                raise ValueError(f"company {realm} already exists")
            settings = CompanySettings(
                name=name or f"Sandbox Company {country}_{len(self.companies) + 1}",
                country=country,
                home_currency=home,
                multicurrency=bool(multicurrency),
                custom_txn_numbers=bool(custom_txn_numbers),
                automated_sales_tax=bool(automated_sales_tax) and country == "US",
                timezone=zone,
                currencies=available if multicurrency else (home,),
            )
            company = Company(realm, settings, self.clock.now())
            seed_company(company, company.created, tax_codes)
            self.companies[realm] = company
        return realm

    def update_company(self, realm_id: str, **changes: Any) -> None:
        """Flip a company preference (custom_txn_numbers, multicurrency, automated_sales_tax, name)."""
        company = self.company(realm_id)
        allowed = {"custom_txn_numbers", "multicurrency", "automated_sales_tax", "name"}
        with company.lock:
            for key, value in changes.items():
                if key not in allowed:
                    raise ValueError(f"cannot change {key!r}; allowed: {sorted(allowed)}")
                setattr(company.settings, key, value)
            if company.settings.multicurrency and len(company.settings.currencies) == 1:
                company.settings.currencies = tuple(
                    dict.fromkeys([company.settings.home_currency, *_DEFAULT_CURRENCIES])
                )

    def company(self, realm_id: str) -> Company:
        company = self.companies.get(str(realm_id))
        if company is None:
            raise KeyError(f"no company {realm_id}")
        return company

    def _consent_realm(self, app: App, hint: str | None) -> str:
        """Which company an authorization lands in: the hint, else the app's first connected company,
        else the oldest company, else a new US company."""
        if hint:
            return hint
        connected = self.oauth.app_realms(app.client_id)
        if connected:
            return connected[0]
        with self._companies_lock:
            if self.companies:
                return next(iter(self.companies))
        return self.create_company()

    # ---- apps and OAuth ----------------------------------------------------------------------------
    def register_app(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | None = None,
        verifier_token: str = "",
        webhook_url: str | None = None,
        webhook_format: str = "cloudevents",
    ) -> None:
        if webhook_format not in ("cloudevents", "legacy"):
            raise ValueError("webhook_format must be 'cloudevents' or 'legacy'")
        self.oauth.register_app(
            App(
                client_id,
                client_secret,
                list(redirect_uris or []),
                verifier_token,
                webhook_url,
                webhook_format,
            )
        )

    def set_oauth(self, **knobs: int) -> dict[str, int]:
        """access_token_ttl, refresh_token_ttl, refresh_grace_seconds, code_ttl, hard_ttl (seconds)."""
        return self.oauth.configure(**knobs)

    def set_consent(
        self, client_id: str | None = None, realm_id: str | None = None, deny: bool = False
    ) -> None:
        """What the next authorizations answer: land in realm_id, or deny (error=access_denied)."""
        self.oauth.set_consent(client_id, realm_id, deny)

    def issue_tokens(self, client_id: str, realm_id: str) -> dict[str, Any]:
        self.company(realm_id)
        return self.oauth.issue_tokens(client_id, realm_id)

    def expire_access_tokens(self, realm_id: str | None = None) -> int:
        return self.oauth.expire_access_tokens(realm_id)

    # ---- faults, counters, settings ----------------------------------------------------------------
    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """error_rate_500, error_rate_429, drop_answer_rate, latency_ms, seed, rate_limit_per_minute,
        max_in_flight, time_scale, drop_mode ("close" | "502"). Unnamed knobs keep their value."""
        return self.faults.configure(**knobs)

    def counters(self) -> dict[str, Any]:
        return self.stats.snapshot(self.faults.max_in_flight_seen)

    def reset_counters(self) -> None:
        self.stats.reset()
        self.faults.reset_windows()

    def configure(self, **settings: Any) -> None:
        """Emulator-wide behaviour switches: customer_email_filterable."""
        for key, value in settings.items():
            if key not in self.settings:
                raise ValueError(f"unknown setting {key!r}")
            self.settings[key] = value

    def record_internal_error(self, where: str, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc))
        self.internal_errors.append(f"{where}\n{text}")
        print(f"qbo_emulator internal error at {where}:\n{text}", file=sys.stderr)

    # ---- acting as a QBO user (no token; fires webhooks like API changes) --------------------------
    def _etype(self, entity: str) -> EntityType:
        etype = lookup(entity)
        if etype is None or not etype.api_writable:
            raise ValueError(f"unknown or read-only entity {entity!r}")
        return etype

    def user_create(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.engine.create(self.company(realm_id), self._etype(entity), body, as_user=True)

    def user_update(self, realm_id: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """A sparse change by a user in the QBO UI: needs Id, ignores SyncToken (the UI is always current)."""
        return self.engine.update(
            self.company(realm_id), self._etype(entity), body, sparse=True, as_user=True
        )

    def user_delete(self, realm_id: str, entity: str, record_id: str) -> dict[str, Any]:
        """Deletes a transaction; for name lists (Customer, Item...) makes the record inactive, as QBO does."""
        etype = self._etype(entity)
        company = self.company(realm_id)
        if etype.deletable:
            return self.engine.delete(company, etype, {"Id": str(record_id)}, as_user=True)
        return self.engine.update(
            company, etype, {"Id": str(record_id), "Active": False}, sparse=True, as_user=True
        )

    def user_void(self, realm_id: str, entity: str, record_id: str) -> dict[str, Any]:
        return self.engine.void(
            self.company(realm_id), self._etype(entity), {"Id": str(record_id)}, style=None, as_user=True
        )

    def user_merge_customers(self, realm_id: str, from_id: str, into_id: str) -> dict[str, Any]:
        return self.engine.merge_customers(
            self.company(realm_id), self._etype("Customer"), str(from_id), str(into_id)
        )

    def set_exchange_rate(
        self, realm_id: str, currency: str, rate: Any, as_of: date | str | None = None
    ) -> dict[str, Any]:
        """A user in the Currency Center sets `currency`'s rate (home units per one unit) from `as_of`
        (default: today in the company's zone) until the next rate set; no SyncToken needed."""
        if isinstance(rate, bool) or not isinstance(rate, (int, float, str, Decimal)):
            raise ValueError(f"rate must be a number, got {rate!r}")
        company = self.company(realm_id)
        now = self.clock.now()
        body = {
            "SourceCurrencyCode": currency,
            "Rate": Decimal(str(rate)),
            "AsOfDate": as_of or company.today(now),
        }
        with company.lock:
            return write_rate(company, body, now, as_user=True)

    def exchange_rate(
        self, realm_id: str, currency: str, as_of: date | str | None = None
    ) -> dict[str, Any]:
        """The ExchangeRate `GET /exchangerate` answers for that date (default: today in the company's
        zone); `Rate` is a Decimal."""
        company = self.company(realm_id)
        with company.lock:
            return read_rate(company, currency, as_of, self.clock.now())

    # ---- direct reads for assertions ---------------------------------------------------------------
    def entity(self, realm_id: str, entity: str, record_id: str) -> dict[str, Any] | None:
        """The stored object as the API would render it; a deleted one as its {"status": "Deleted"} stub."""
        etype = lookup(entity)
        if etype is None:
            raise ValueError(f"unknown entity {entity!r}")
        company = self.company(realm_id)
        with company.lock:
            record = company.store.get(etype.name, str(record_id))
            if record is None:
                return None
            return deleted_stub(company, record) if record.deleted else etype.render(company, record)

    def entities(self, realm_id: str, entity: str) -> list[dict[str, Any]]:
        """Every live object of a type, inactive ones included, by Id."""
        etype = lookup(entity)
        if etype is None:
            raise ValueError(f"unknown entity {entity!r}")
        company = self.company(realm_id)
        with company.lock:
            return [etype.render(company, record) for record in company.store.live(etype.name)]

    # ---- webhooks ----------------------------------------------------------------------------------
    def set_webhooks(self, auto: bool = True) -> None:
        """auto=False queues changes until send_webhooks() (e.g. to batch or to time a delivery)."""
        self.webhooks.set_auto(auto)

    def send_webhooks(self, realm_id: str | None = None) -> list[dict[str, Any]]:
        """Deliver the queued (or previously failed) notifications now, synchronously."""
        return [asdict(d) for d in self.webhooks.flush(realm_id)]

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        return self.webhooks.deliveries()
