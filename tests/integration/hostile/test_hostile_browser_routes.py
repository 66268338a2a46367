"""Hostile requests on the routes a browser (or anyone) can open without a key (issue 9 §2): `GET /health`,
`GET /connect`, `GET /oauth/callback`, `GET /oauth/disconnected`. Each refusal gets its documented status
and machine-readable code and leaves nothing behind (`Trace`), except what the contract says a refusal
consumes (a callback's single-use state)."""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

import pytest
import requests
from connect_helpers import connect_link, query_of
from hostile_http import assert_refused, head, raw_request

from qbsync.signatures.connect_link import sign_connect_link
from qbsync_local.config import (
    DEFAULT_API_KEY,
    DEFAULT_CRM_INBOUND_SECRET,
    DEFAULT_CRM_OUTBOUND_SECRET,
    DEFAULT_INTUIT_CLIENT_SECRET,
    DEFAULT_VERIFIER_TOKEN,
)

SECRETS = (
    DEFAULT_API_KEY,
    DEFAULT_CRM_INBOUND_SECRET,
    DEFAULT_CRM_OUTBOUND_SECRET,
    DEFAULT_INTUIT_CLIENT_SECRET,
    DEFAULT_VERIFIER_TOKEN,
)


def _get(world, path: str, params: dict[str, str] | str | None = None, **kwargs) -> requests.Response:
    return requests.get(f"{world.api}{path}", params=params, allow_redirects=False, timeout=20, **kwargs)


def _refused_without_trace(world, send, status, code) -> requests.Response:
    before = world.trace()
    response = send()
    assert_refused(response, status, code)
    world.trace().assert_same_as(before)
    return response


def _host(world) -> str:
    return world.api.split("//", 1)[1]


def _signed(tenant_id: str, *, return_url: str | None = None, expires_in: int = 300) -> dict[str, str]:
    expires = int(time.time()) + expires_in
    params = {
        "tenant_id": tenant_id,
        "expires": str(expires),
        "signature": sign_connect_link(
            DEFAULT_CRM_INBOUND_SECRET, tenant_id=tenant_id, return_url=return_url, expires=expires
        ),
    }
    if return_url is not None:
        params["return_url"] = return_url
    return params


# --- GET /health ----------------------------------------------------------------------------------------


def test_health_shows_no_secret(world):
    answer = _get(world, "/health")
    assert answer.status_code == 200
    for secret in SECRETS:
        assert secret not in answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/health/..%2F..%2Fetc%2Fpasswd",
        "/health/../tenants",
        "/health%00",
        "/%2e%2e/health",
        "/health/" + "a" * 4096,
    ],
    ids=["encoded-traversal", "dot-segments", "nul", "encoded-dots", "long-path"],
)
def test_health_path_traversal(world, path):
    before = world.trace()
    answer = raw_request(world.api, head("GET", path, _host(world), []))
    assert answer.status in (400, 404), (answer.status, answer.body[:200])
    world.trace().assert_same_as(before)


def test_health_wrong_method(world):
    _refused_without_trace(
        world, lambda: requests.post(f"{world.api}/health", timeout=10), 405, "method_not_allowed"
    )


@pytest.mark.parametrize(
    "injected",
    [
        b"X-Forwarded-For: 1.2.3.4\rX-Injected: yes",
        b"Accept: */*\r\n X-Injected: yes",
        b"X-Big: " + b"b" * 60_000,
    ],
    ids=["bare-cr", "obs-fold", "oversized"],
)
def test_health_header_injection(world, injected):
    answer = raw_request(world.api, head("GET", "/health", _host(world), [injected]))
    assert answer.status in (200, 400, 431), answer.status
    assert all(name != "x-injected" for name, _ in answer.headers)


# --- GET /connect -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, status, code",
    [
        (lambda p: {k: v for k, v in p.items() if k != "signature"}, 403, "invalid_signature"),
        (lambda p: {**p, "signature": "AAAA"}, 403, "invalid_signature"),
        (
            lambda p: {**p, "signature": p["signature"][:-1] + ("A" if p["signature"][-1] != "A" else "B")},
            403,
            "invalid_signature",
        ),
        (lambda p: {**p, "tenant_id": "loc_hostile_b"}, 403, "invalid_signature"),
    ],
    ids=["unsigned", "bad-signature", "one-character-off", "another-tenants-link"],
)
def test_connect_unsigned_or_badly_signed(world, mutate, status, code):
    params = mutate(_signed(world.tenant_a))
    _refused_without_trace(world, lambda: _get(world, "/connect", params), status, code)


@pytest.mark.parametrize(
    "expires_in, code",
    [
        (-1, "link_expired"),
        (-3600, "link_expired"),
        (660, "expires_too_far_ahead"),
        (10**8, "expires_too_far_ahead"),
    ],
    ids=["just-expired", "an-hour-old", "11-minutes", "years"],
)
def test_connect_timestamp_skew(world, expires_in, code):
    params = _signed(world.tenant_a, expires_in=expires_in)
    _refused_without_trace(world, lambda: _get(world, "/connect", params), 403, code)


@pytest.mark.parametrize(
    "params, status, code",
    [
        ({"tenant_id": "loc_hostile_a", "signature": "AAAA"}, 400, "missing_parameter"),
        (
            {"tenant_id": "loc_hostile_a", "expires": "soon", "signature": "AAAA"},
            (400, 403),
            ("invalid_connect_link", "missing_parameter"),
        ),
        (
            {"tenant_id": "loc_hostile_a", "expires": "1.7e9", "signature": "AAAA"},
            (400, 403),
            ("invalid_connect_link", "missing_parameter"),
        ),
        ({"expires": "1", "signature": "AAAA"}, 400, "invalid_tenant_id"),
        (
            "tenant_id=loc_hostile_a&tenant_id=loc_hostile_b&expires=1&signature=AAAA",
            400,
            "invalid_tenant_id",
        ),
        ({"tenant_id": "t" * 10_000, "expires": "1", "signature": "AAAA"}, 400, "invalid_tenant_id"),
        (
            {"tenant_id": "loc_hostile_a", "expires": "9" * 5000, "signature": "AAAA"},
            (400, 403),
            ("invalid_connect_link", "missing_parameter"),
        ),
    ],
    ids=[
        "no-expires",
        "expires-words",
        "expires-exponent",
        "no-tenant",
        "two-tenants",
        "huge-tenant",
        "huge-expires",
    ],
)
def test_connect_malformed_and_wrong_types(world, params, status, code):
    _refused_without_trace(world, lambda: _get(world, "/connect", params), status, code)


@pytest.mark.parametrize(
    "tenant_id",
    [
        "../loc_hostile_b",
        "loc_hostile_a/../loc_hostile_b",
        "..",
        "loc%2F..%2Fb",
        "loc_hostile_a\r\nX-Injected: yes",
    ],
    ids=["dotdot", "slashes", "only-dots", "encoded-slashes", "crlf"],
)
def test_connect_path_traversal_in_tenant_id_even_when_signed(world, tenant_id):
    params = _signed(tenant_id)  # the CRM signed whatever id it was given
    _refused_without_trace(world, lambda: _get(world, "/connect", params), 400, "invalid_tenant_id")


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example.com/x",
        "http://localhost:8080@evil.example.com/",
        "//evil.example.com/",
        "javascript:alert(1)",
        "http://localhost:8080.evil.example.com/",
        "https://localhost:8080/",
    ],
    ids=["other-origin", "userinfo-trick", "scheme-relative", "javascript", "suffix-trick", "other-scheme"],
)
def test_connect_return_url_off_the_allow_list_even_when_signed(world, return_url):
    params = _signed(world.tenant_a, return_url=return_url)
    _refused_without_trace(world, lambda: _get(world, "/connect", params), 400, "return_url_not_allowed")


@pytest.mark.parametrize(
    "return_url",
    [
        "http://localhost:8080/done\r\nSet-Cookie: session=stolen",
        "http://localhost:8080/done\nLocation: https://evil.example.com/",
    ],
    ids=["crlf-set-cookie", "lf-location"],
)
def test_connect_header_injection_through_a_signed_return_url(world, return_url):
    """The return_url comes back at the end of the dance as a Location header. Its origin is allowed, so the
    link is honoured; the CR/LF must not split the callback's answer into extra headers."""
    tenant = f"loc_hostile_crlf_{len(return_url)}"
    realm = world.stack.qbo_emulator.create_company(country="US", name=f"Hostile {tenant}")
    world.stack.qbo_emulator.set_consent(realm_id=realm)
    to_intuit = _get(world, "/connect", _signed(tenant, return_url=return_url))
    assert to_intuit.status_code in (302, 400), to_intuit.text
    if to_intuit.status_code == 400:  # refusing control characters outright is fine too
        assert_refused(to_intuit, 400, "return_url_not_allowed")
        return
    consent = requests.get(to_intuit.headers["Location"], allow_redirects=False, timeout=10)
    callback = raw_request(
        world.api, head("GET", consent.headers["Location"].split(_host(world), 1)[1], _host(world), [])
    )
    assert callback.status == 302, callback
    names = [name for name, _ in callback.headers]
    assert "set-cookie" not in names and names.count("location") == 1, callback.headers
    location = dict(callback.headers)["location"]
    assert location.startswith("http://localhost:8080/") and "\r" not in location and "\n" not in location


def test_connect_header_injection_in_the_request(world):
    params = urlencode(_signed(world.tenant_a))
    before = world.trace()
    answer = raw_request(
        world.api,
        head(
            "GET",
            f"/connect?{params}",
            _host(world),
            [b"Accept: text/html\rX-Injected: yes", b"X-Big: " + b"b" * 60_000],
        ),
    )
    assert answer.status != 500 and all(name != "x-injected" for name, _ in answer.headers), answer
    if answer.status != 302:
        world.trace().assert_same_as(before)


# --- GET /oauth/callback --------------------------------------------------------------------------------


def _state(tenant_id: str, nonce: str = "n" * 32) -> str:
    return f"{nonce}.{base64.urlsafe_b64encode(tenant_id.encode()).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"code": "abc", "realmId": "123"},
        {"state": "", "code": "abc", "realmId": "123"},
        {"state": "no-dot-at-all", "code": "abc", "realmId": "123"},
        {"state": "nonce.!!!not-base64!!!", "code": "abc", "realmId": "123"},
        {"state": "n" * 1000, "code": "abc", "realmId": "123"},
    ],
    ids=["nothing", "no-state", "empty-state", "no-dot", "bad-tenant-part", "huge-state"],
)
def test_callback_without_a_valid_state(world, params):
    _refused_without_trace(world, lambda: _get(world, "/oauth/callback", params), 400, "invalid_state")


@pytest.mark.parametrize(
    "tenant_id",
    ["loc_hostile_a", "loc_hostile_b", "../loc_hostile_b", "..", "x" * 200],
    ids=["tenant-a", "tenant-b", "dotdot", "only-dots", "long"],
)
def test_callback_with_a_forged_state(world, tenant_id):
    params = {"state": _state(tenant_id), "code": "forged", "realmId": world.realm_b}
    _refused_without_trace(world, lambda: _get(world, "/oauth/callback", params), 400, "invalid_state")


def test_callback_injection_in_parameters(world):
    params = {"state": _state(world.tenant_a) + "\r\nX-Injected: yes", "code": "a\r\nb", "realmId": "1\r\n2"}
    response = _refused_without_trace(
        world, lambda: _get(world, "/oauth/callback", params), 400, "invalid_state"
    )
    assert "x-injected" not in {name.lower() for name in response.headers}


def _fresh_callback(world, tenant_id: str) -> str:
    """Our /connect → the emulator's consent → the callback URL Intuit would send the browser to."""
    realm = world.stack.qbo_emulator.create_company(country="US", name=f"Hostile {tenant_id}")
    world.stack.qbo_emulator.set_consent(realm_id=realm)
    to_intuit = requests.get(connect_link(world.api, tenant_id), allow_redirects=False, timeout=10)
    assert to_intuit.status_code == 302, to_intuit.text
    consent = requests.get(to_intuit.headers["Location"], allow_redirects=False, timeout=10)
    return consent.headers["Location"]


def test_callback_replayed(world):
    callback = _fresh_callback(world, "loc_hostile_replay")
    first = requests.get(callback, allow_redirects=False, timeout=20)
    assert first.status_code == 302, first.text
    _refused_without_trace(
        world, lambda: requests.get(callback, allow_redirects=False, timeout=20), 400, "invalid_state"
    )


def test_callback_tampered_to_another_tenants_company(world):
    """The browser's owner edits realmId to tenant B's company: the claim fails, B's connection is untouched
    and the grant qbsync was given is revoked, not kept."""
    callback = _fresh_callback(world, "loc_hostile_tamper")
    params = query_of(callback)
    params["realmId"] = world.realm_b
    connections = world.stack.deployed.physical_ids["ConnectionsTable"]
    dynamodb = world.stack.aws_client("dynamodb")

    def b_items():
        return [
            item
            for item in dynamodb.scan(TableName=connections)["Items"]
            if world.tenant_b in item["pk"]["S"] or world.realm_b in item["pk"]["S"]
        ]

    before = b_items()
    answer = _get(world, "/oauth/callback", params)
    assert_refused(answer, 409, "realm_connected_to_another_tenant")
    assert b_items() == before
    tampered = [
        item
        for item in dynamodb.scan(TableName=connections)["Items"]
        if item["pk"]["S"] == "TENANT#loc_hostile_tamper" and item["sk"]["S"].startswith("CONNECTION#")
    ]
    assert tampered == []


def test_callback_with_a_valid_state_but_no_code(world):
    callback = _fresh_callback(world, "loc_hostile_nocode")
    params = {k: v for k, v in query_of(callback).items() if k != "code"}
    answer = _get(world, "/oauth/callback", params)
    assert_refused(answer, 400, "invalid_callback")


# --- GET /oauth/disconnected ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"realmId": ""},
        {"realmId": "../1"},
        {"realmId": "1/../2"},
        {"realmId": "1%2F..%2F2"},
        {"realmId": "9" * 5000},
        {"realmId": "123\r\nX-Injected: yes"},
        {"realmId": "１２３"},
    ],
    ids=["missing", "empty", "dotdot", "slashes", "encoded", "huge", "crlf", "fullwidth"],
)
def test_disconnected_landing_malformed_realm(world, params):
    _refused_without_trace(world, lambda: _get(world, "/oauth/disconnected", params), 400, "invalid_realm_id")


def test_disconnected_landing_unknown_realm_changes_nothing(world):
    before = world.trace()
    answer = _get(world, "/oauth/disconnected", {"realmId": "4620816365999"})
    assert answer.status_code == 200 and answer.json()["status"] == "not_connected"
    world.trace().assert_same_as(before)


def test_disconnected_landing_cannot_disconnect_a_company_intuit_still_honours(world):
    """Anyone can open this URL with tenant B's realm: B stays connected (qbsync asks Intuit first)."""
    answer = _get(world, "/oauth/disconnected", {"realmId": world.realm_b})
    assert answer.status_code == 200 and answer.json()["status"] == "not_connected"
    connections = world.stack.deployed.physical_ids["ConnectionsTable"]
    item = world.stack.aws_client("dynamodb").get_item(
        TableName=connections,
        Key={"pk": {"S": f"TENANT#{world.tenant_b}"}, "sk": {"S": f"CONNECTION#{world.realm_b}"}},
    )["Item"]
    assert item["status"]["S"] == "connected"


@pytest.mark.parametrize(
    "path",
    ["/oauth/..%2Fhealth", "/oauth/disconnected/..%2F..%2Fhealth", "/oauth/callback%2F..%2Fdisconnected"],
    ids=["oauth-dotdot", "disconnected-dotdot", "callback-encoded"],
)
def test_oauth_path_traversal(world, path):
    before = world.trace()
    answer = raw_request(world.api, head("GET", path, _host(world), []))
    assert answer.status in (400, 404), (answer.status, answer.body[:200])
    world.trace().assert_same_as(before)


def test_oauth_routes_wrong_method(world):
    for path in ("/connect", "/oauth/callback", "/oauth/disconnected"):
        _refused_without_trace(
            world, lambda: requests.post(f"{world.api}{path}", timeout=10), 405, "method_not_allowed"
        )


def test_pages_escape_what_they_show(world):
    params = _signed(world.tenant_a, return_url="https://evil.example.com/<script>alert(1)</script>")
    answer = _get(world, "/connect", params, headers={"Accept": "text/html"})
    assert answer.status_code == 400 and "<script>" not in answer.text
    assert '<meta name="qbsync-code" content="return_url_not_allowed">' in answer.text
