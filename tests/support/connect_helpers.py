"""Drive the OAuth connect dance against the local stack the way a browser would."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import requests

from qbsync.signatures.connect_link import sign_connect_link
from qbsync_local.config import DEFAULT_API_KEY, DEFAULT_CRM_INBOUND_SECRET

RETURN_URL = "http://localhost:8080/integrations/qbo"
API_HEADERS = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def connect_link(api_url: str, tenant_id: str, *, return_url: str | None = RETURN_URL, expires_in: int = 300,
                 secret: str = DEFAULT_CRM_INBOUND_SECRET) -> str:
    expires = int(time.time()) + expires_in
    signature = sign_connect_link(secret, tenant_id=tenant_id, return_url=return_url, expires=expires)
    params = {"tenant_id": tenant_id, "expires": str(expires), "signature": signature}
    if return_url:
        params["return_url"] = return_url
    return requests.Request("GET", f"{api_url}/connect", params=params).prepare().url


def follow_to_callback(stack, link: str) -> requests.Response:
    """Our /connect → Intuit's consent (the emulator consents at once) → our callback; the callback's answer."""
    to_intuit = requests.get(link, allow_redirects=False, timeout=10)
    assert to_intuit.status_code == 302, to_intuit.text
    assert to_intuit.headers["Location"].startswith(stack.qbo_emulator.auth_url)
    consent = requests.get(to_intuit.headers["Location"], allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    callback_url = consent.headers["Location"]
    assert callback_url.startswith(f"{stack.public_url}/oauth/callback")
    return requests.get(callback_url, allow_redirects=False, timeout=20)


def connect(stack, tenant_id: str, **company) -> str:
    """A connected company for `tenant_id`; returns its realm id."""
    realm = stack.qbo_emulator.create_company(**{"country": "US", **company})
    stack.qbo_emulator.set_consent(realm_id=realm)
    answer = follow_to_callback(stack, connect_link(stack.api.url, tenant_id))
    assert answer.status_code == 302, answer.text
    return realm


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def issued_tokens(stack) -> set[str]:
    """Every authorization code, access and refresh token the QBO emulator has handed out (to look for
    leaks)."""
    oauth = stack.qbo_emulator.oauth
    return set(oauth._refresh_index) | set(oauth._access) | set(oauth._codes)
