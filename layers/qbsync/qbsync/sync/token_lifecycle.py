"""The life of a connection's tokens (SPEC F2, F3; QBO.md §1.6, §8.1).

- An access token with less than `refresh_margin` (5 minutes) left is refreshed before use.
- Exactly one refresh per connection at a time, across all Lambdas: the refresher first takes a lease that
  is conditional on the token version it read; everyone else waits for the version to move and then uses
  the winner's token. Without the lease, two workers would both spend the same refresh token, and the loser
  would later hold a superseded one (invalid_grant after Intuit's 24-hour grace).
- The rotated refresh token is persisted (encrypted) before the new access token is handed to anyone.
- `invalid_grant` means the company must be reconnected: the connection becomes `needs_reauth`, the CRM is
  told once, and callers get `NeedsReauthError` (permanent: a queued event dead-letters with that reason and
  is redriven after the reconnect).
- Expiry warnings: 30 and 7 days before the rolling or the hard refresh-token expiry, once per threshold
  per expiry, the CRM gets `PUT /connection` with status `expiring`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import SecretStr

from qbsync.clients.qbo.errors import QboInvalidGrantError
from qbsync.clients.qbo.tokens import TokenSet
from qbsync.errors import ConflictError, QbsyncError, RetryableError
from qbsync.models.connection_records import ConnectionRecord, EncryptedTokens
from qbsync.models.crm_api import ConnectionUpdate
from qbsync.observability import logger
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.sync.connection_status import ConnectionNotifier, ConnectionStatusReporter
from qbsync.security.token_cipher import TokenCipher

REFRESH_MARGIN = timedelta(minutes=5)
REFRESH_LEASE = timedelta(seconds=30)
WAIT_FOR_OTHER_REFRESH = timedelta(seconds=20)
EXPIRY_WARNING_THRESHOLDS = (timedelta(days=30), timedelta(days=7))


@dataclass(frozen=True)
class AccessGrant:
    token: SecretStr
    version: int


class NotConnectedError(QbsyncError):
    code = "not_connected"
    http_status = 409


class NeedsReauthError(QbsyncError):
    code = "needs_reauth"
    http_status = 409


class TokenRefresher(Protocol):
    def refresh(self, refresh_token: str) -> TokenSet: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TokenLifecycle:
    def __init__(
        self,
        *,
        repository: ConnectionsRepository,
        cipher: TokenCipher,
        refresher: TokenRefresher,
        notifier: ConnectionNotifier,
        status_reporter: ConnectionStatusReporter,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], None] = time.sleep,
        refresh_margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self._repository = repository
        self._cipher = cipher
        self._refresher = refresher
        self._notifier = notifier
        self._status_reporter = status_reporter
        self._clock = clock
        self._sleep = sleep
        self._refresh_margin = refresh_margin

    # ------------------------------------------------------------------ encryption
    def encrypt(self, tenant_id: str, realm_id: str, tokens: TokenSet) -> EncryptedTokens:
        return EncryptedTokens(
            access_token=self._cipher.encrypt(tokens.access_token.get_secret_value(), tenant_id=tenant_id,
                                              realm_id=realm_id, purpose="access_token"),
            refresh_token=self._cipher.encrypt(tokens.refresh_token.get_secret_value(), tenant_id=tenant_id,
                                               realm_id=realm_id, purpose="refresh_token"),
            obtained_at=tokens.obtained_at,
            access_token_expires_at=tokens.access_token_expires_at,
            refresh_token_expires_at=tokens.refresh_token_expires_at,
            refresh_token_hard_expires_at=tokens.refresh_token_hard_expires_at,
        )

    def _decrypt(self, record: ConnectionRecord, purpose: str) -> SecretStr:
        assert record.tokens is not None
        blob = record.tokens.access_token if purpose == "access_token" else record.tokens.refresh_token
        return SecretStr(self._cipher.decrypt(blob, tenant_id=record.tenant_id, realm_id=record.realm_id,
                                              purpose=purpose))  # type: ignore[arg-type]

    def refresh_token(self, tenant_id: str, realm_id: str) -> SecretStr | None:
        """The stored refresh token (for revoke at disconnect), or None when there is none."""
        record = self._repository.get(tenant_id, realm_id)
        return None if record is None or record.tokens is None else self._decrypt(record, "refresh_token")

    # ------------------------------------------------------------------ access
    def access_token(self, tenant_id: str, realm_id: str, *, force_refresh: bool = False) -> SecretStr:
        """A usable access token; `force_refresh` refreshes whatever token is stored now."""
        stale = self._repository.get(tenant_id, realm_id) if force_refresh else None
        return self.access_grant(tenant_id, realm_id,
                                 stale_version=stale.token_version if stale else None).token

    def access_grant(self, tenant_id: str, realm_id: str, *, stale_version: int | None = None) -> AccessGrant:
        """A usable access token and the token version it belongs to. `stale_version`: QBO answered 401 to
        that version's token, so refresh it, unless someone already has (the version moved on)."""
        deadline = self._clock() + WAIT_FOR_OTHER_REFRESH
        while True:
            record = self._usable_record(tenant_id, realm_id)
            needs_refresh = (
                record.tokens.access_token_expires_at - self._clock() <= self._refresh_margin  # type: ignore[union-attr]
                or record.token_version == stale_version
            )
            if not needs_refresh:
                return AccessGrant(token=self._decrypt(record, "access_token"), version=record.token_version)
            if self._repository.acquire_refresh_lease(
                tenant_id, realm_id, expected_version=record.token_version, now=self._clock(), lease=REFRESH_LEASE
            ):
                return self._refresh(record)
            if self._clock() >= deadline:
                raise RetryableError("another worker is refreshing this connection's tokens",
                                     code="token_refresh_in_progress")
            self._sleep(0.1)  # someone else holds the lease: wait for their tokens

    def _usable_record(self, tenant_id: str, realm_id: str) -> ConnectionRecord:
        record = self._repository.get(tenant_id, realm_id)
        if record is None or record.status == "disconnected":
            raise NotConnectedError("this tenant has no connection to that QuickBooks company",
                                    details={"realm_id": realm_id})
        if record.status == "needs_reauth" or record.tokens is None:
            # The CRM may not have acknowledged the change yet (it was down): tell it again now.
            self._status_reporter.tell_crm(record, best_effort=True)
            raise NeedsReauthError("QuickBooks must be reconnected for this company", details={"realm_id": realm_id})
        return record

    def _refresh(self, record: ConnectionRecord) -> AccessGrant:
        refresh_token = self._decrypt(record, "refresh_token")
        try:
            tokens = self._refresher.refresh(refresh_token.get_secret_value())
        except QboInvalidGrantError:
            self.mark_needs_reauth(record.tenant_id, record.realm_id, reason="invalid_grant")
            raise NeedsReauthError("Intuit refused the refresh token; QuickBooks must be reconnected",
                                   details={"realm_id": record.realm_id}) from None
        encrypted = self.encrypt(record.tenant_id, record.realm_id, tokens)
        try:
            saved = self._repository.replace_tokens(record.tenant_id, record.realm_id, encrypted,
                                                    expected_version=record.token_version, now=self._clock())
        except ConflictError:
            # Only possible if our lease lapsed mid-refresh; the newer tokens win, ours are dropped.
            logger.warning("refreshed tokens lost the race after the lease lapsed", extra={"realm_id": record.realm_id})
            current = self._usable_record(record.tenant_id, record.realm_id)
            return AccessGrant(token=self._decrypt(current, "access_token"), version=current.token_version)
        logger.info("tokens refreshed", extra={"realm_id": record.realm_id, "token_version": saved.token_version})
        self.warn_if_expiring(saved)
        return AccessGrant(token=tokens.access_token, version=saved.token_version)

    # ------------------------------------------------------------------ state changes the CRM hears about
    def mark_needs_reauth(self, tenant_id: str, realm_id: str, *, reason: str) -> None:
        if self._repository.change_status(tenant_id, realm_id, "needs_reauth", now=self._clock(), reason=reason,
                                          only_from="connected", drop_tokens=True):
            logger.warning("connection needs reauthorisation", extra={"realm_id": realm_id, "reason": reason})
        record = self._repository.get(tenant_id, realm_id)
        if record is not None:
            self._status_reporter.tell_crm(record, best_effort=True)

    def warn_if_expiring(self, record: ConnectionRecord) -> int:
        """Send the due 30-day / 7-day warnings for this connection; returns how many were sent."""
        if record.tokens is None or record.status != "connected":
            return 0
        now, sent = self._clock(), 0
        # The refresh token stops working at the earlier of its rolling and its hard expiry; that moment
        # is what the CRM must hear about (the two often coincide once the hard cap is near).
        expiries = [e for e in (record.tokens.refresh_token_expires_at,
                                record.tokens.refresh_token_hard_expires_at) if e is not None]
        for expiry in sorted(expiries)[:1]:
            # Only the nearest threshold that is due: a company 5 days from expiry gets the 7-day warning,
            # not a 30-day one as well.
            due = [t for t in EXPIRY_WARNING_THRESHOLDS if expiry - now <= t]
            if not due:
                continue
            threshold = min(due)
            # Day precision: the same expiry reported a second apart by two token answers is one expiry.
            marker = f"{threshold.days}d:{expiry:%Y-%m-%d}"
            if marker in record.expiry_warnings_sent:
                continue
            # Tell first, remember after: a crash in between re-sends with the same Idempotency-Key, which
            # the CRM answers from its replay; the other order could lose the warning.
            self._notifier.connection_changed(
                record.tenant_id,
                ConnectionUpdate(status="expiring", realm_id=record.realm_id, expires_at=expiry,
                                 reason=f"QuickBooks authorisation ends within {threshold.days} days"),
                idempotency_key=f"connection:{record.tenant_id}:{record.realm_id}:{marker}",
            )
            if self._repository.record_expiry_warning(record.tenant_id, record.realm_id, marker):
                sent += 1
        return sent
