"""Intuit OAuth 2.0 (QBO.md §1): authorization URL with `state`, code exchange, refresh and revoke, through
requests-oauthlib's `OAuth2Session` with HTTP Basic client authentication.

- Every endpoint URL is an option (defaults: Intuit's), so the local stack points them at the emulator.
  `OAuth2Session` refuses plain-http URLs unless `OAUTHLIB_INSECURE_TRANSPORT=1` is set: the local stack
  sets it for the loopback emulator; deployed code never does.
- Exchange and refresh send `x-include-refresh-token-hard-expires-in: true`, so the answer says when the
  refresh token's 5-year hard expiry falls (QBO.md §1.4).
- Each token answer goes through the one QBO error mapping *before* oauthlib reads it: `invalid_grant` is
  `QboInvalidGrantError` even when Intuit sends it with a 200 (QBO.md §8.2), a 5xx is retryable, and a
  2xx without an access token is never mistaken for tokens.
- This module does not retry and does not serialise refreshes: a refresh rotates the refresh token, so
  the token repository decides (one refresh per connection at a time, QBO.md §8.1).
- Nothing here logs a token, a code or the client secret; log lines carry Intuit's `intuit_tid`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from qbsync.clients.qbo.errors import (
    QboAuthError,
    QboConnectionError,
    QboServerError,
    error_from_response,
    intuit_tid,
)
from qbsync.clients.qbo.tokens import TokenSet
from qbsync.observability import logger

AUTHORIZATION_URL = "https://appcenter.intuit.com/connect/oauth2"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REVOKE_URL = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"
DEFAULT_TIMEOUT = (3.05, 30.0)
_NO_ANSWER = (requests.ConnectionError, requests.Timeout)

# requests-oauthlib and oauthlib write tokens, request bodies and headers at DEBUG ("Obtained token ...",
# "Adding token ... to request"). Whatever level the rest of a process logs at, these two stay quieter.
for _chatty in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_chatty).setLevel(logging.INFO)


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the user, and the `state` to keep (single-use) until Intuit sends them back."""

    url: str
    state: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IntuitOAuthClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        authorization_url: str = AUTHORIZATION_URL,
        token_url: str = TOKEN_URL,
        revoke_url: str = REVOKE_URL,
        scopes: Sequence[str] = (ACCOUNTING_SCOPE,),
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session_factory: Callable[..., OAuth2Session] = OAuth2Session,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("the Intuit client id and secret are required")
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri
        self._authorization_url = authorization_url
        self._token_url = token_url
        self._revoke_url = revoke_url
        self._scopes = list(scopes)
        self._timeout = timeout
        self._session_factory = session_factory
        self._clock = clock

    def __repr__(self) -> str:  # never the secret
        return f"IntuitOAuthClient(client_id={self._client_id!r}, token_url={self._token_url!r})"

    def authorization_url(self, *, state: str | None = None) -> AuthorizationRequest:
        """Intuit's consent page for our scopes. Without `state`, a fresh unguessable one is made."""
        session = self._session_factory(
            client_id=self._client_id, redirect_uri=self._redirect_uri, scope=self._scopes
        )
        url, chosen_state = session.authorization_url(
            self._authorization_url, state=state or secrets.token_urlsafe(32)
        )
        return AuthorizationRequest(url=url, state=chosen_state)

    def exchange_code(self, code: str) -> TokenSet:
        """The tokens for the `code` Intuit sent to the redirect URI (with `realmId`, which the caller
        keeps)."""
        session = self._session_factory(client_id=self._client_id, redirect_uri=self._redirect_uri)
        session.register_compliance_hook("access_token_response", self._checked_token_answer)
        token = self._token_call(
            "exchange",
            lambda: session.fetch_token(
                self._token_url,
                code=code,
                auth=self._basic_auth(),
                headers=self._token_headers(),
                timeout=self._timeout,
                include_client_id=False,
            ),
        )
        if not token.get("refresh_token"):
            raise QboServerError("Intuit's code exchange answer holds no refresh token")
        return TokenSet.from_token_response(token, received_at=self._clock())

    def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens. Persist the answer's refresh token before using it: the old one dies 24 h later."""
        session = self._session_factory(client_id=self._client_id)
        session.register_compliance_hook("refresh_token_response", self._checked_token_answer)
        token = self._token_call(
            "refresh",
            lambda: session.refresh_token(
                self._token_url,
                refresh_token=refresh_token,
                auth=self._basic_auth(),
                headers=self._token_headers(),
                timeout=self._timeout,
            ),
        )
        return TokenSet.from_token_response(token, received_at=self._clock())

    def revoke(self, token: str) -> None:
        """Revokes a refresh (or access) token. `QboInvalidGrantError` means it was already unusable."""
        session = self._session_factory(client_id=self._client_id)
        response = self._token_call(
            "revoke",
            lambda: session.post(
                self._revoke_url,
                json={"token": token},
                auth=self._basic_auth(),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                withhold_token=True,
            ),
        )
        self._raise_for_answer("revoke", response)

    def api_session(self, tokens: TokenSet) -> OAuth2Session:
        """A session that sends `tokens`' access token as a Bearer header: the `session` of a QboClient.
        It does not refresh by itself (the token repository does); an expired token fails with
        QboAuthError."""
        return self._session_factory(client_id=self._client_id, token=tokens.oauth2_token())

    # ------------------------------------------------------------------ plumbing

    def _basic_auth(self) -> HTTPBasicAuth:
        return HTTPBasicAuth(self._client_id, self._client_secret)

    @staticmethod
    def _token_headers() -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            HARD_EXPIRY_HEADER: "true",
        }

    @staticmethod
    def _token_call(operation: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except _NO_ANSWER as exc:
            logger.warning(
                "intuit oauth call got no answer",
                extra={"oauth_operation": operation, "error_type": type(exc).__name__},
            )
            raise QboConnectionError(
                f"no answer from Intuit OAuth to {operation} ({type(exc).__name__})"
            ) from None
        except OAuth2Error as exc:
            # Only reached if an answer slipped past our own checks; its text can quote the answer.
            raise QboAuthError(f"Intuit OAuth refused {operation} ({exc.error})") from None

    def _raise_for_answer(self, operation: str, response: requests.Response) -> None:
        tid = intuit_tid(response.headers)
        error = error_from_response(
            response.status_code, response.headers, response.content, now=self._clock().timestamp()
        )
        if error is not None:
            logger.warning(
                "intuit oauth call failed",
                extra={
                    "oauth_operation": operation,
                    "status": response.status_code,
                    "intuit_tid": tid,
                    "error_code": error.code,
                    "qbo_code": error.qbo_code,
                },
            )
            raise error
        logger.info(
            "intuit oauth call",
            extra={"oauth_operation": operation, "status": response.status_code, "intuit_tid": tid},
        )

    def _checked_token_answer(self, response: requests.Response) -> requests.Response:
        """Compliance hook: runs on the raw token answer before oauthlib parses it."""
        self._raise_for_answer("token", response)
        try:
            document = json.loads(response.content)
        except ValueError:
            document = None
        # A refresh answer without a refresh token keeps the old one (requests-oauthlib re-inserts it);
        # an exchange answer without one is refused in exchange_code.
        if not isinstance(document, dict) or not document.get("access_token"):
            raise QboServerError(
                f"Intuit's token answer ({response.status_code}) holds no tokens",
                upstream_status=response.status_code,
                intuit_tid=intuit_tid(response.headers),
            )
        return response
