"""Intuit OAuth through a real OAuth2Session over a stub transport: the authorization URL, what the token
calls send (Basic auth, form body, the hard-expiry opt-in), token parsing into absolute expiries, and
invalid_grant however Intuit sends it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import (
    QboAuthError,
    QboConnectionError,
    QboInvalidGrantError,
    QboServerError,
    QboThrottledError,
)
from qbsync.clients.qbo.oauth import HARD_EXPIRY_HEADER, IntuitOAuthClient
from qbo_stub_transport import StubResponse, StubTransport
from qbsync.clients.qbo.tokens import TokenSet
from requests_oauthlib import OAuth2Session

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "client-secret-value"
TOKEN_ANSWER = {
    "token_type": "bearer",
    "access_token": "eyJhbGciOiJkaXIi.access",
    "expires_in": 3600,
    "refresh_token": "AB11730000000refresh",
    "x_refresh_token_expires_in": 8726400,
    "x_refresh_token_hard_expires_in": 156032154,
}


def oauth_client(responder, **options) -> tuple[IntuitOAuthClient, StubTransport]:
    transport = StubTransport(responder)
    client = IntuitOAuthClient(
        client_id="ABclientid",
        client_secret=SECRET,
        redirect_uri="https://qbsync.example/oauth/callback",
        authorization_url="https://auth.emulator.example/connect/oauth2",
        token_url="https://auth.emulator.example/oauth2/v1/tokens/bearer",
        revoke_url="https://auth.emulator.example/v2/oauth2/tokens/revoke",
        session_factory=lambda **kwargs: transport.mount_on(OAuth2Session(**kwargs)),
        clock=lambda: NOW,
        **options,
    )
    return client, transport


def answer(document, status: int = 200) -> Callable[[requests.PreparedRequest], StubResponse]:
    return lambda request: StubResponse.json(document, status=status, headers={"intuit_tid": "tid-oauth"})


def form(request: requests.PreparedRequest) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(request.body).items()}


def basic_credentials(request: requests.PreparedRequest) -> str:
    scheme, encoded = request.headers["Authorization"].split(" ", 1)
    assert scheme == "Basic"
    return base64.b64decode(encoded).decode()


def test_authorization_url_carries_client_scope_redirect_and_state():
    client, transport = oauth_client(answer({}))

    request = client.authorization_url(state="state-123")

    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.emulator.example/connect/oauth2"
    params = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert params == {
        "response_type": "code",
        "client_id": "ABclientid",
        "redirect_uri": "https://qbsync.example/oauth/callback",
        "scope": "com.intuit.quickbooks.accounting",
        "state": "state-123",
    }
    assert request.state == "state-123"
    assert transport.requests == []  # building the URL is not a call


def test_a_fresh_unguessable_state_is_made_when_none_is_given():
    client, _ = oauth_client(answer({}))
    first, second = client.authorization_url(), client.authorization_url()
    assert first.state != second.state and len(first.state) >= 32
    assert f"state={first.state}" in first.url


def test_several_scopes_are_space_separated():
    client, _ = oauth_client(answer({}), scopes=("com.intuit.quickbooks.accounting", "openid"))
    params = parse_qs(urlsplit(client.authorization_url(state="s").url).query)
    assert params["scope"] == ["com.intuit.quickbooks.accounting openid"]


def test_code_exchange_sends_basic_auth_a_form_and_the_hard_expiry_opt_in():
    client, transport = oauth_client(answer(TOKEN_ANSWER))

    tokens = client.exchange_code("code-from-callback")

    [sent] = transport.requests
    assert sent.method == "POST" and sent.url == "https://auth.emulator.example/oauth2/v1/tokens/bearer"
    assert basic_credentials(sent) == f"ABclientid:{SECRET}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers[HARD_EXPIRY_HEADER] == "true"
    assert form(sent) == {
        "grant_type": "authorization_code",
        "code": "code-from-callback",
        "redirect_uri": "https://qbsync.example/oauth/callback",
    }
    assert transport.timeouts == [(3.05, 30.0)]
    assert tokens.access_token.get_secret_value() == TOKEN_ANSWER["access_token"]


def test_token_answers_become_absolute_expiries():
    client, _ = oauth_client(answer(TOKEN_ANSWER))

    tokens = client.exchange_code("code")

    assert tokens.obtained_at == NOW
    assert tokens.access_token_expires_at == NOW + timedelta(hours=1)
    assert tokens.refresh_token_expires_at == NOW + timedelta(seconds=8726400)
    assert tokens.refresh_token_hard_expires_at == NOW + timedelta(seconds=156032154)
    assert tokens.refresh_token_usable_until == tokens.refresh_token_expires_at
    assert tokens.access_token_expires_within(timedelta(minutes=5), now=NOW + timedelta(minutes=56))
    assert not tokens.access_token_expires_within(timedelta(minutes=5), now=NOW + timedelta(minutes=54))


def test_an_answer_without_the_hard_expiry_leaves_it_unknown():
    legacy = {key: value for key, value in TOKEN_ANSWER.items() if key != "x_refresh_token_hard_expires_in"}
    tokens = TokenSet.from_token_response(legacy, received_at=NOW)
    assert tokens.refresh_token_hard_expires_at is None
    assert tokens.refresh_token_usable_until == NOW + timedelta(seconds=8726400)


def test_tokens_never_show_in_a_repr_or_log_line():
    client, _ = oauth_client(answer(TOKEN_ANSWER))
    tokens = client.exchange_code("code")
    shown = f"{tokens!r} {tokens} {client!r}"
    assert TOKEN_ANSWER["access_token"] not in shown
    assert TOKEN_ANSWER["refresh_token"] not in shown
    assert SECRET not in shown


def test_refresh_sends_the_refresh_token_with_basic_auth_and_the_opt_in():
    rotated = {**TOKEN_ANSWER, "refresh_token": "AB11730000000rotated"}
    client, transport = oauth_client(answer(rotated))

    tokens = client.refresh("AB11730000000refresh")

    [sent] = transport.requests
    assert form(sent) == {"grant_type": "refresh_token", "refresh_token": "AB11730000000refresh"}
    assert basic_credentials(sent) == f"ABclientid:{SECRET}"
    assert sent.headers[HARD_EXPIRY_HEADER] == "true"
    assert "Bearer" not in sent.headers.get("Authorization", "")
    assert tokens.refresh_token.get_secret_value() == "AB11730000000rotated"


def test_a_refresh_answer_without_a_refresh_token_keeps_the_one_sent():
    without = {key: value for key, value in TOKEN_ANSWER.items() if key != "refresh_token"}
    client, _ = oauth_client(answer(without))
    assert client.refresh("AB-old").refresh_token.get_secret_value() == "AB-old"


@pytest.mark.parametrize("status", [400, 200])
def test_invalid_grant_is_detected_even_on_a_200(status):
    client, _ = oauth_client(answer({"error": "invalid_grant", "error_description": "Token invalid"}, status))

    with pytest.raises(QboInvalidGrantError) as raised:
        client.refresh("AB-superseded")

    assert raised.value.intuit_tid == "tid-oauth"
    assert "AB-superseded" not in str(raised.value)


def test_invalid_grant_on_code_exchange_too():
    client, _ = oauth_client(answer({"error": "invalid_grant"}, 400))
    with pytest.raises(QboInvalidGrantError):
        client.exchange_code("reused-code")


def test_bad_client_credentials_are_a_permanent_auth_error():
    client, _ = oauth_client(answer({"error": "invalid_client"}, 401))
    with pytest.raises(QboAuthError) as raised:
        client.refresh("AB")
    assert not raised.value.retryable


@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        (lambda r: StubResponse(503, b"<html>down</html>"), QboServerError),
        (lambda r: StubResponse(429, b""), QboThrottledError),
        (lambda r: StubResponse(200, b"<html>not json</html>"), QboServerError),
        (lambda r: StubResponse.json({"token_type": "bearer"}), QboServerError),
    ],
)
def test_answers_that_are_not_tokens_are_never_taken_for_tokens(respond, expected):
    client, _ = oauth_client(respond)
    with pytest.raises(expected):
        client.refresh("AB")


def test_no_answer_is_retryable():
    def respond(request):
        raise requests.ConnectTimeout("connect timed out")

    client, _ = oauth_client(respond)
    with pytest.raises(QboConnectionError) as raised:
        client.refresh("AB")
    assert raised.value.retryable


def test_revoke_posts_the_token_as_json_with_basic_auth():
    client, transport = oauth_client(lambda request: StubResponse(200, b""))

    client.revoke("AB-refresh")

    [sent] = transport.requests
    assert sent.url == "https://auth.emulator.example/v2/oauth2/tokens/revoke"
    assert json.loads(sent.body) == {"token": "AB-refresh"}
    assert sent.headers["Content-Type"] == "application/json"
    assert basic_credentials(sent) == f"ABclientid:{SECRET}"


def test_revoking_a_dead_token_says_so():
    client, _ = oauth_client(answer({"error": "invalid_grant"}, 400))
    with pytest.raises(QboInvalidGrantError):
        client.revoke("AB-dead")


def test_the_api_session_sends_the_access_token_as_bearer_to_qbo():
    client, transport = oauth_client(answer({"CompanyInfo": {"CompanyName": "Sandbox Co"}, "time": "t"}))
    tokens = TokenSet.from_token_response(TOKEN_ANSWER, received_at=datetime.now(UTC))

    qbo = QboClient(
        realm_id="123", api_base_url="https://qbo.emulator.example/v3", session=client.api_session(tokens)
    )

    assert qbo.company_info() == {"CompanyName": "Sandbox Co"}
    assert transport.requests[0].headers["Authorization"] == f"Bearer {TOKEN_ANSWER['access_token']}"


def test_an_expired_access_token_fails_before_the_call():
    client, transport = oauth_client(answer({}))
    stale = TokenSet.from_token_response(TOKEN_ANSWER, received_at=datetime.now(UTC) - timedelta(hours=2))
    qbo = QboClient(
        realm_id="123", api_base_url="https://qbo.emulator.example/v3", session=client.api_session(stale)
    )

    with pytest.raises(QboAuthError):
        qbo.preferences()
    assert transport.requests == []
