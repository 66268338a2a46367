"""Intuit OAuth 2.0 as QBO.md §1 describes it: apps, consent, codes, grants, rotating refresh tokens.

A grant is one app's connection to one company. Its refresh token rotates on every refresh; a superseded
refresh token keeps working for `refresh_grace_seconds` (24 h by default) and answers with the grant's
*current* refresh token, then fails with invalid_grant. Revoking any token of a grant revokes the grant.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .clock import Clock
from .errors import OAuthError, authentication_failed, authorization_failed

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
DAY = 86400


@dataclass
class App:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    verifier_token: str
    webhook_url: str | None = None
    webhook_format: str = "cloudevents"

    def public(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "redirect_uris": self.redirect_uris,
            "webhook_url": self.webhook_url,
            "webhook_format": self.webhook_format,
        }


@dataclass
class AuthCode:
    client_id: str
    realm_id: str
    redirect_uri: str
    scopes: list[str]
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    grant_id: str
    client_id: str
    realm_id: str
    scopes: list[str]
    hard_expires_at: float
    refresh_token: str
    refresh_expires_at: float
    superseded: dict[str, float] = field(default_factory=dict)  # old refresh token -> when it was replaced
    revoked: bool = False


@dataclass
class AccessToken:
    grant_id: str
    realm_id: str
    client_id: str
    expires_at: float


@dataclass
class OAuthSettings:
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 100 * DAY  # rolling: extended on every refresh
    refresh_grace_seconds: int = DAY  # how long a superseded refresh token still works
    code_ttl: int = 300  # UNCONFIRMED in QBO.md §1.3: 5 minutes
    hard_ttl: int = 5 * 365 * DAY  # the 5-year maximum validity (QBO.md §1.6)


def _token(prefix: str, size: int) -> str:
    return prefix + secrets.token_urlsafe(size)


class OAuthServer:
    def __init__(
        self,
        clock: Clock,
        choose_realm: Callable[[App, str | None], str],
        company_exists: Callable[[str], bool],
    ) -> None:
        self.clock = clock
        self.settings = OAuthSettings()
        self._choose_realm = choose_realm
        self._company_exists = company_exists
        self._lock = threading.RLock()
        self.apps: dict[str, App] = {}
        self._codes: dict[str, AuthCode] = {}
        self._grants: dict[str, Grant] = {}
        self._refresh_index: dict[str, str] = {}  # refresh token (current or superseded) -> grant id
        self._access: dict[str, AccessToken] = {}
        # Consent knobs: per client id (or None = any app): {"realm_id": ..., "deny": bool}
        self.consent: dict[str | None, dict[str, Any]] = {}

    # ---- configuration -----------------------------------------------------------------------------
    def register_app(self, app: App) -> None:
        with self._lock:
            self.apps[app.client_id] = app

    def configure(self, **knobs: int) -> dict[str, int]:
        with self._lock:
            for key, value in knobs.items():
                if not hasattr(self.settings, key):
                    raise ValueError(f"unknown OAuth setting {key!r}")
                setattr(self.settings, key, int(value))
            return dict(vars(self.settings))

    def set_consent(
        self, client_id: str | None = None, realm_id: str | None = None, deny: bool = False
    ) -> None:
        with self._lock:
            self.consent[client_id] = {"realm_id": realm_id, "deny": deny}

    def grants(self, realm_id: str | None = None, *, include_revoked: bool = False) -> list[Grant]:
        """The live grants (app-to-company connections), oldest first; for assertions on rotation."""
        with self._lock:
            return [
                g
                for g in self._grants.values()
                if (realm_id is None or g.realm_id == realm_id) and (include_revoked or not g.revoked)
            ]

    def connected_apps(self, realm_id: str) -> list[App]:
        with self._lock:
            clients = {g.client_id for g in self._grants.values() if g.realm_id == realm_id and not g.revoked}
            return [self.apps[c] for c in sorted(clients) if c in self.apps]

    def app_realms(self, client_id: str) -> list[str]:
        with self._lock:
            realms: list[str] = []
            for grant in self._grants.values():
                if grant.client_id == client_id and not grant.revoked and grant.realm_id not in realms:
                    realms.append(grant.realm_id)
            return realms

    # ---- authorization endpoint --------------------------------------------------------------------
    def authorize(self, params: dict[str, str]) -> tuple[int, str]:
        """Returns (302, location) or (400, error text) when it must not redirect (unknown client/URI)."""
        app = self.apps.get(params.get("client_id", ""))
        if app is None:
            return 400, "invalid_client: unknown client_id"
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            return 400, "invalid_request: redirect_uri is not registered for this app"
        state = params.get("state")

        def back(**query: str) -> tuple[int, str]:
            if state is not None:
                query["state"] = state
            separator = "&" if "?" in redirect_uri else "?"
            return 302, f"{redirect_uri}{separator}{urlencode(query)}"

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scopes = params.get("scope", "").split()
        if ACCOUNTING_SCOPE not in scopes:
            return back(error="invalid_scope")
        if not state:
            # Stricter choice: state is the CSRF defence; a request without one is refused.
            return back(error="invalid_request", error_description="state is required")
        with self._lock:
            consent = self.consent.get(app.client_id) or self.consent.get(None) or {}
            if consent.get("deny"):
                return back(error="access_denied")
            hint = params.get("realm_hint") or consent.get("realm_id")
            if hint and not self._company_exists(hint):
                return 400, f"invalid_request: no company {hint}"
            realm_id = self._choose_realm(app, hint)
            code = _token("AB11", 36)
            self._codes[code] = AuthCode(
                app.client_id, realm_id, redirect_uri, scopes, self.clock.time() + self.settings.code_ttl
            )
        return back(code=code, realmId=realm_id)

    # ---- token endpoint ----------------------------------------------------------------------------
    def authenticate_client(self, authorization: str | None, form: dict[str, str]) -> App:
        client_id = secret = None
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            client_id, _, secret = decoded.partition(":")
        elif "client_id" in form:  # client_secret_post is in the discovery document too
            client_id, secret = form.get("client_id"), form.get("client_secret")
        app = self.apps.get(client_id or "")
        if app is None or not secrets.compare_digest(app.client_secret, secret or ""):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return app

    def token(self, app: App, form: dict[str, str], include_hard_expiry: bool) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._exchange_code(app, form)
            elif grant_type == "refresh_token":
                grant = self._refresh(app, form)
            elif not grant_type:
                raise OAuthError("invalid_request", "grant_type is required")
            else:
                raise OAuthError("unsupported_grant_type", f"unsupported grant_type {grant_type}")
            return self._token_response(grant, include_hard_expiry)

    def _exchange_code(self, app: App, form: dict[str, str]) -> Grant:
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code or not redirect_uri:
            raise OAuthError("invalid_request", "code and redirect_uri are required")
        entry = self._codes.get(code)
        now = self.clock.time()
        if entry is None or entry.client_id != app.client_id:
            raise OAuthError("invalid_grant", "Invalid authorization code")
        if entry.used:
            raise OAuthError("invalid_grant", "Authorization code has already been used")
        if now > entry.expires_at:
            raise OAuthError("invalid_grant", "Authorization code has expired")
        if entry.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        entry.used = True
        return self._new_grant(app.client_id, entry.realm_id, entry.scopes)

    def _new_grant(self, client_id: str, realm_id: str, scopes: list[str]) -> Grant:
        now = self.clock.time()
        grant = Grant(
            grant_id=secrets.token_hex(8),
            client_id=client_id,
            realm_id=realm_id,
            scopes=scopes,
            hard_expires_at=now + self.settings.hard_ttl,
            refresh_token=_token("AB11", 36),
            refresh_expires_at=now + self.settings.refresh_token_ttl,
        )
        self._grants[grant.grant_id] = grant
        self._refresh_index[grant.refresh_token] = grant.grant_id
        return grant

    def _refresh(self, app: App, form: dict[str, str]) -> Grant:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "refresh_token is required")
        grant = self._grants.get(self._refresh_index.get(token, ""))
        now = self.clock.time()
        if grant is None or grant.client_id != app.client_id or grant.revoked:
            raise OAuthError("invalid_grant", "Incorrect or invalid refresh token")
        if now > grant.hard_expires_at or now > grant.refresh_expires_at:
            raise OAuthError("invalid_grant", "Refresh token has expired")
        if token != grant.refresh_token:
            superseded_at = grant.superseded[token]
            if now - superseded_at > self.settings.refresh_grace_seconds:
                raise OAuthError("invalid_grant", "Incorrect or invalid refresh token")
            return grant  # within the grace: answer with the current refresh token, no new rotation
        # Rotation (stricter than Intuit, which may return the same value within ~24 h): always a new one.
        grant.superseded[token] = now
        grant.refresh_token = _token("AB11", 36)
        grant.refresh_expires_at = min(now + self.settings.refresh_token_ttl, grant.hard_expires_at)
        self._refresh_index[grant.refresh_token] = grant.grant_id
        return grant

    def _token_response(self, grant: Grant, include_hard_expiry: bool) -> dict[str, Any]:
        now = self.clock.time()
        access = _token("eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..", 300)
        self._access[access] = AccessToken(
            grant.grant_id, grant.realm_id, grant.client_id, now + self.settings.access_token_ttl
        )
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": self.settings.access_token_ttl,
            "refresh_token": grant.refresh_token,
            "x_refresh_token_expires_in": max(0, int(grant.refresh_expires_at - now)),
        }
        if include_hard_expiry:
            body["x_refresh_token_hard_expires_in"] = max(0, int(grant.hard_expires_at - now))
        return body

    def issue_tokens(self, client_id: str, realm_id: str, scopes: list[str] | None = None) -> dict[str, Any]:
        """Test shortcut: a fresh grant and token response without the browser dance."""
        with self._lock:
            if client_id not in self.apps:
                raise KeyError(f"no app {client_id!r}")
            grant = self._new_grant(client_id, realm_id, scopes or [ACCOUNTING_SCOPE])
            return self._token_response(grant, include_hard_expiry=True)

    # ---- revoke ------------------------------------------------------------------------------------
    def revoke(self, app: App, token: str) -> bool:
        with self._lock:
            grant_id = self._refresh_index.get(token)
            if grant_id is None and token in self._access:
                grant_id = self._access[token].grant_id
            grant = self._grants.get(grant_id or "")
            if grant is None or grant.client_id != app.client_id:
                return False  # RFC 7009: unknown tokens still answer 200
            grant.revoked = True
            return True

    def expire_access_tokens(self, realm_id: str | None = None) -> int:
        with self._lock:
            now = self.clock.time()
            count = 0
            for token in self._access.values():
                if (realm_id is None or token.realm_id == realm_id) and token.expires_at > now:
                    token.expires_at = now - 1
                    count += 1
            return count

    # ---- resource-server check ---------------------------------------------------------------------
    def check_bearer(self, authorization: str | None, realm_id: str) -> AccessToken:
        if not authorization or not authorization.startswith("Bearer "):
            raise authentication_failed("Authorization header missing or not a Bearer token")
        value = authorization[len("Bearer ") :].strip()
        if len(value) < 20:
            raise authentication_failed("Malformed bearer token: too short or too long")
        with self._lock:
            token = self._access.get(value)
            if token is None:
                raise authentication_failed("Token invalid")
            grant = self._grants[token.grant_id]
            if grant.revoked:
                raise authentication_failed("Token revoked")
            if self.clock.time() >= token.expires_at:
                raise authentication_failed("Token expired: the access token has expired, refresh it")
            if token.realm_id != realm_id:
                raise authorization_failed(f"The token is not authorized for company {realm_id}")
            return token
