"""OAuth 2.0 as QBO.md §1 describes it: consent redirect, single-use codes, rotation with grace, revoke,
and the gateway's 401/403 answers on the API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests

SCOPE = "com.intuit.quickbooks.accounting openid"


class OAuthFlow:
    """The browser and the client side of the dance, against the emulator's endpoints."""

    def __init__(self, emu, creds):
        self.emu = emu
        self.client_id = creds["client_id"]
        self.secret = creds["client_secret"]
        self.redirect_uri = creds["redirect_uri"]

    def authorize(self, **overrides):
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": SCOPE,
            "redirect_uri": self.redirect_uri,
            "state": "csrf-123",
            **overrides,
        }
        return requests.get(self.emu.auth_url, params=params, allow_redirects=False, timeout=5)

    def callback(self, response):
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(self.redirect_uri)
        return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}

    def token_request(self, data, *, secret=None, headers=None):
        return requests.post(
            self.emu.token_url,
            data=data,
            auth=(self.client_id, secret or self.secret),
            headers={"Accept": "application/json", **(headers or {})},
            timeout=5,
        )

    def exchange(self, code, **extra):
        return self.token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}, **extra
        )

    def refresh(self, refresh_token):
        return self.token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def revoke(self, token, secret=None):
        return requests.post(
            self.emu.revoke_url,
            json={"token": token},
            auth=(self.client_id, secret or self.secret),
            timeout=5,
        )

    def api(self, realm, access_token):
        return requests.get(
            f"{self.emu.api_base_url}/company/{realm}/companyinfo/{realm}",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=5,
        )


@pytest.fixture
def flow(emu, app_credentials):
    return OAuthFlow(emu, app_credentials)


def test_consent_redirects_with_code_state_and_realm_then_code_is_single_use(emu, realm, flow):
    # Given an app and a company, When the user consents
    params = flow.callback(flow.authorize())
    assert params["state"] == "csrf-123"
    assert params["realmId"] == realm
    # Then the code exchanges once for a full token response
    first = flow.exchange(params["code"])
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    assert 8_000_000 < body["x_refresh_token_expires_in"] <= 8_640_000
    assert "x_refresh_token_hard_expires_in" not in body
    assert first.headers["intuit_tid"]
    assert flow.api(realm, body["access_token"]).status_code == 200
    # And a second exchange of the same code is refused
    second = flow.exchange(params["code"])
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_code_expires_and_redirect_uri_must_match(emu, realm, flow):
    code = flow.callback(flow.authorize())["code"]
    wrong_uri = flow.token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/other"}
    )
    assert wrong_uri.json()["error"] == "invalid_grant"
    stale = flow.callback(flow.authorize())["code"]
    emu.clock.advance(301)
    assert flow.exchange(stale).json()["error"] == "invalid_grant"


def test_hard_expiry_field_only_on_request(emu, realm, flow):
    code = flow.callback(flow.authorize())["code"]
    body = flow.exchange(code, headers={"x-include-refresh-token-hard-expires-in": "true"}).json()
    assert 5 * 365 * 86400 - 5 < body["x_refresh_token_hard_expires_in"] <= 5 * 365 * 86400


def test_bad_client_credentials_are_invalid_client(emu, realm, flow):
    code = flow.callback(flow.authorize())["code"]
    response = flow.exchange(code, secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (
        flow.token_request({"grant_type": "client_credentials"}).json()["error"] == "unsupported_grant_type"
    )


def test_consent_can_deny_or_choose_the_company(emu, realm, flow):
    other = emu.create_company(country="GB")
    assert flow.callback(flow.authorize(realm_hint=other))["realmId"] == other
    emu.set_consent(realm_id=other)
    assert flow.callback(flow.authorize())["realmId"] == other
    emu.set_consent(deny=True)
    denied = flow.callback(flow.authorize())
    assert denied == {"error": "access_denied", "state": "csrf-123"}


def test_authorize_rejects_unregistered_redirect_and_missing_scope(emu, realm, flow):
    unregistered = flow.authorize(redirect_uri="http://evil.example/cb")
    assert unregistered.status_code == 400 and "Location" not in unregistered.headers
    assert flow.callback(flow.authorize(scope="openid"))["error"] == "invalid_scope"


def test_refresh_rotates_old_token_works_during_grace_then_invalid_grant(emu, realm, flow):
    tokens = emu.issue_tokens(flow.client_id, realm)
    first = flow.refresh(tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    # Within the grace, the superseded token answers with the current refresh token (no new rotation)
    emu.clock.advance(23 * 3600)
    again = flow.refresh(tokens["refresh_token"]).json()
    assert again["refresh_token"] == rotated["refresh_token"]
    assert flow.api(realm, again["access_token"]).status_code == 200
    # After the grace it fails; the current one still works
    emu.clock.advance(2 * 3600)
    late = flow.refresh(tokens["refresh_token"])
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
    assert flow.refresh(rotated["refresh_token"]).status_code == 200
    [grant] = emu.oauth.grants(realm)
    assert grant.refresh_token != rotated["refresh_token"] and len(grant.superseded) == 2


def test_refresh_grace_is_configurable(emu, realm, flow):
    emu.set_oauth(refresh_grace_seconds=60)
    tokens = emu.issue_tokens(flow.client_id, realm)
    flow.refresh(tokens["refresh_token"])
    emu.clock.advance(61)
    assert flow.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoke_kills_refresh_and_access_tokens(emu, realm, flow):
    tokens = emu.issue_tokens(flow.client_id, realm)
    response = flow.revoke(tokens["refresh_token"])
    assert response.status_code == 200
    assert flow.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert flow.api(realm, tokens["access_token"]).status_code == 401
    bad_client = flow.revoke("x", secret="nope")
    assert bad_client.status_code == 401


def test_expired_access_token_gets_lower_case_gateway_fault(emu, realm, flow):
    tokens = emu.issue_tokens(flow.client_id, realm)
    emu.clock.advance(3600)
    response = flow.api(realm, tokens["access_token"])
    assert response.status_code == 401
    body = response.json()
    assert "Fault" not in body
    error = body["fault"]["error"][0]
    assert error["code"] == "3200"
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert body["fault"]["type"] == "AUTHENTICATION"
    assert response.headers["intuit_tid"]
    # A refresh brings a working access token back
    fresh = flow.refresh(tokens["refresh_token"]).json()
    assert flow.api(realm, fresh["access_token"]).status_code == 200
    emu.expire_access_tokens(realm)
    assert flow.api(realm, fresh["access_token"]).status_code == 401


def test_missing_token_is_401_and_other_realms_token_is_403(emu, realm, flow):
    other = emu.create_company(country="US")
    tokens = emu.issue_tokens(flow.client_id, other)
    assert requests.get(f"{emu.api_base_url}/company/{realm}/preferences", timeout=5).status_code == 401
    forbidden = flow.api(realm, tokens["access_token"])
    assert forbidden.status_code == 403
    assert forbidden.json()["fault"]["error"][0]["code"] == "3100"
