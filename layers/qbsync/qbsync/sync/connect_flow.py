"""Connecting and disconnecting a QBO company (SPEC F1, F2, F4; issue 4).

connect link → Intuit consent → callback → tokens stored encrypted, company facts read, the CRM told.
Every failure is a qbsync error with a machine-readable code; the handler turns it into a page or JSON.
Nothing is stored for a refused request (the single-use state is consumed, which is the point of it).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from qbsync.clients.qbo.errors import QboError, QboInvalidGrantError, QboThrottledError
from qbsync.clients.qbo.oauth import AuthorizationRequest
from qbsync.clients.qbo.tokens import TokenSet
from qbsync.errors import BadRequestError, NotFoundError, UpstreamError
from qbsync.models.connection_records import CompanyFacts, ConnectionRecord, OAuthState
from qbsync.models.identifiers import is_crm_id, is_qbo_id
from qbsync.observability import logger
from qbsync.repositories.connections import ConnectionsRepository, RealmClaimedError
from qbsync.signatures.connect_link import verify_connect_link
from qbsync.sync.connection_status import ConnectionStatusReporter
from qbsync.sync.token_lifecycle import TokenLifecycle

STATE_LIFETIME = timedelta(minutes=10)
# Intuit's disconnect landing is anonymous: however often it is opened, Intuit is asked about one company at
# most this many times a minute (a person lands once, seconds after disconnecting; room for a reload and a
# spoof just before).
DISCONNECT_CHECKS_PER_MINUTE = 3


class OAuthStateError(BadRequestError):
    code = "invalid_state"


class ConsentDeniedError(BadRequestError):
    code = "access_denied"

    def __init__(self, message: str, *, return_url: str | None, intuit_error: str) -> None:
        super().__init__(message, details={"intuit_error": intuit_error})
        self.return_url = return_url
        self.intuit_error = intuit_error


class CodeExchangeError(UpstreamError):
    code = "code_exchange_failed"


class OAuthPort(Protocol):
    def authorization_url(self, *, state: str | None = None) -> AuthorizationRequest: ...
    def exchange_code(self, code: str) -> TokenSet: ...
    def revoke(self, token: str) -> None: ...


CompanyReader = Callable[[str, TokenSet], CompanyFacts]


@dataclass(frozen=True)
class ConnectedCompany:
    tenant_id: str
    realm_id: str
    company_name: str
    return_url: str | None


def _encode_tenant(tenant_id: str) -> str:
    return base64.urlsafe_b64encode(tenant_id.encode()).rstrip(b"=").decode()


def _decode_tenant(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise OAuthStateError("the state parameter is malformed") from None


def make_state(tenant_id: str, nonce: str) -> str:
    """The `state` sent to Intuit: an unguessable nonce plus the tenant it is stored under (every key of
    ours carries its tenant, and the callback needs the key before it knows anything else)."""
    return f"{nonce}.{_encode_tenant(tenant_id)}"


def parse_state(state: str) -> tuple[str, str]:
    nonce, _, encoded_tenant = state.partition(".")
    if not nonce or not encoded_tenant or len(state) > 400:
        raise OAuthStateError("the state parameter is malformed")
    tenant_id = _decode_tenant(encoded_tenant)
    if not is_crm_id(tenant_id):
        raise OAuthStateError("the state parameter is malformed")
    return tenant_id, nonce


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return None
    try:
        port_number = parts.port
    except ValueError:  # "localhost:8080.evil.example.com": not a port, not an origin we know
        return None
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = port_number if port_number not in (None, default_port) else None
    return f"{parts.scheme}://{parts.hostname}{f':{port}' if port else ''}".lower()


def check_return_url(return_url: str | None, allowlist: Sequence[str]) -> None:
    if not return_url:
        return
    origin = origin_of(return_url)
    allowed = {origin_of(entry) or entry.lower() for entry in allowlist}
    if origin is None or origin not in allowed:
        raise BadRequestError("return_url is not on the allow-list", code="return_url_not_allowed")


def with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ConnectFlow:
    def __init__(
        self,
        *,
        repository: ConnectionsRepository,
        oauth: OAuthPort,
        lifecycle: TokenLifecycle,
        status_reporter: ConnectionStatusReporter,
        read_company: CompanyReader,
        link_secrets: Sequence[str],
        return_url_allowlist: Sequence[str],
        on_connected: Callable[[str, str], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repository = repository
        self._oauth = oauth
        self._lifecycle = lifecycle
        self._status_reporter = status_reporter
        self._read_company = read_company
        self._link_secrets = link_secrets
        self._allowlist = return_url_allowlist
        self._on_connected = on_connected
        self._clock = clock

    # ------------------------------------------------------------------ GET /connect
    def start(self, params: Mapping[str, str]) -> str:
        """Check the signed link and send the browser to Intuit. Returns Intuit's authorization URL."""
        tenant_id = params.get("tenant_id", "")
        if not is_crm_id(tenant_id):
            raise BadRequestError("tenant_id is missing or malformed", code="invalid_tenant_id")
        if not params.get("expires"):
            raise BadRequestError("expires is required", code="missing_parameter", details={"parameter": "expires"})
        return_url = params.get("return_url") or None
        verify_connect_link(
            self._link_secrets, tenant_id=tenant_id, return_url=return_url, expires=params["expires"],
            signature=params.get("signature"), now=int(self._clock().timestamp()),
        )
        check_return_url(return_url, self._allowlist)
        now = self._clock()
        nonce = secrets.token_urlsafe(24)
        self._repository.save_oauth_state(OAuthState(
            tenant_id=tenant_id, nonce=nonce, return_url=return_url, created_at=now, expires_at=now + STATE_LIFETIME,
        ))
        logger.info("connect started", extra={"tenant_id": tenant_id})
        return self._oauth.authorization_url(state=make_state(tenant_id, nonce)).url

    # ------------------------------------------------------------------ GET /oauth/callback
    def complete(self, params: Mapping[str, str]) -> ConnectedCompany:
        state_text = params.get("state")
        if not state_text:
            raise OAuthStateError("the state parameter is missing")
        tenant_id, nonce = parse_state(state_text)
        state = self._repository.consume_oauth_state(tenant_id, nonce, now=self._clock())
        if state is None:
            raise OAuthStateError("this sign-in link is unknown, expired or already used; start again from the CRM")
        if params.get("error"):
            raise ConsentDeniedError("QuickBooks access was not granted", return_url=state.return_url,
                                     intuit_error=params["error"][:64])
        code, realm_id = params.get("code"), params.get("realmId")
        if not code or not is_qbo_id(realm_id):
            raise BadRequestError("Intuit's answer lacks the code or the company id", code="invalid_callback")
        try:
            tokens = self._oauth.exchange_code(code)
        except QboError as error:
            raise CodeExchangeError("Intuit did not accept the authorization code",
                                    details={"reason": error.code, **error.details}) from None
        now = self._clock()
        try:
            self._repository.claim_realm(tenant_id, realm_id, now=now)  # type: ignore[arg-type]
        except RealmClaimedError:
            self._revoke_quietly(tokens.refresh_token.get_secret_value())  # never keep a grant we will not use
            raise
        try:
            company = self._read_company(realm_id, tokens)  # type: ignore[arg-type]
        except QboError as error:
            # Nothing is kept (the worker needs the company's facts before it can apply any event): the
            # customer simply connects again. A QBO still throttling after the callback's short retries says so.
            self._repository.release_realm(tenant_id, realm_id)  # type: ignore[arg-type]
            raise CodeExchangeError("QuickBooks is busy and did not return the company's details; please connect "
                                    "again in a minute" if isinstance(error, QboThrottledError) else
                                    "QuickBooks did not return the company's details",
                                    details={"reason": error.code, **error.details}) from None
        record = self._repository.store_connected(
            tenant_id=tenant_id, realm_id=realm_id, company=company,  # type: ignore[arg-type]
            tokens=self._lifecycle.encrypt(tenant_id, realm_id, tokens), now=now,  # type: ignore[arg-type]
        )
        self._repository.set_default_realm_if_absent(tenant_id, realm_id, now=now)  # type: ignore[arg-type]
        logger.info("company connected", extra={"tenant_id": tenant_id, "realm_id": realm_id})
        self._status_reporter.tell_crm(record, best_effort=True)
        self._lifecycle.warn_if_expiring(record)
        if self._on_connected is not None:
            # Events that waited for this (re)connection in the dead-letter queue go through now.
            try:
                self._on_connected(tenant_id, realm_id)  # type: ignore[arg-type]
            except Exception as error:  # noqa: BLE001 - the browser still gets its answer; operators can redrive
                logger.warning("after-connect step failed", extra={"error_type": type(error).__name__})
        return ConnectedCompany(tenant_id=tenant_id, realm_id=realm_id,  # type: ignore[arg-type]
                                company_name=company.company_name, return_url=state.return_url)

    # ------------------------------------------------------------------ disconnect (API and Intuit)
    def disconnect(self, tenant_id: str, realm_id: str | None = None) -> list[str]:
        """Revoke at Intuit, drop the tokens, stop syncing, tell the CRM. Returns the realms disconnected."""
        connections = [c for c in self._repository.list_for_tenant(tenant_id)
                       if c.status != "disconnected" and (realm_id is None or c.realm_id == realm_id)]
        if not connections:
            raise NotFoundError("no such connection", code="connection_not_found")
        for connection in connections:
            refresh_token = self._lifecycle.refresh_token(tenant_id, connection.realm_id)
            if refresh_token is not None:
                self._revoke_quietly(refresh_token.get_secret_value())
            self._drop(connection, reason="disconnected_by_crm")
        return [c.realm_id for c in connections]

    def intuit_disconnected(self, realm_id: str) -> bool:
        """Intuit's disconnect landing. Anyone can call this URL, so it is only believed when Intuit agrees:
        the stored refresh token must now be refused (invalid_grant). Returns whether it was disconnected."""
        if not is_qbo_id(realm_id):
            raise BadRequestError("realmId is missing or malformed", code="invalid_realm_id")
        tenant_id = self._repository.realm_owner(realm_id)
        record = self._repository.get(tenant_id, realm_id) if tenant_id else None
        if record is None or record.status == "disconnected":
            return False
        if not self._repository.claim_disconnect_check(record.tenant_id, realm_id, now=self._clock(),
                                                       window=timedelta(minutes=1),
                                                       limit=DISCONNECT_CHECKS_PER_MINUTE):
            # The URL was opened over and over: Intuit is not asked again this minute. A real disconnect
            # this hides still shows at the connection's next token refresh (needs_reauth).
            logger.info("disconnect landing: checked too often, Intuit not asked", extra={"realm_id": realm_id})
            return False
        try:
            self._lifecycle.access_token(tenant_id, realm_id, force_refresh=True)  # type: ignore[arg-type]
        except QboInvalidGrantError:
            pass
        except Exception as error:  # noqa: BLE001 - any other outcome: not proven disconnected
            if getattr(error, "code", None) != "needs_reauth":
                logger.info("disconnect landing not confirmed by Intuit", extra={"realm_id": realm_id})
                return False
        else:
            logger.info("disconnect landing for a connection Intuit still honours", extra={"realm_id": realm_id})
            return False
        current = self._repository.get(tenant_id, realm_id)  # type: ignore[arg-type]
        if current is not None:
            self._drop(current, reason="disconnected_in_quickbooks")
        return True

    def _drop(self, connection: ConnectionRecord, *, reason: str) -> None:
        self._repository.change_status(connection.tenant_id, connection.realm_id, "disconnected",
                                       now=self._clock(), reason=reason, drop_tokens=True)
        self._repository.release_realm(connection.tenant_id, connection.realm_id)
        logger.info("company disconnected", extra={"tenant_id": connection.tenant_id,
                                                    "realm_id": connection.realm_id, "reason": reason})
        record = self._repository.get(connection.tenant_id, connection.realm_id)
        if record is not None:
            self._status_reporter.tell_crm(record, best_effort=True)

    def _revoke_quietly(self, token: str) -> None:
        try:
            self._oauth.revoke(token)
        except QboError as error:
            # Already revoked (invalid_grant) or Intuit unavailable: the tokens are dropped either way.
            logger.warning("revoke at Intuit failed", extra={"error_code": error.code})
