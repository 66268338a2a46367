"""The connect link: base64url (no padding) HMAC-SHA256 of `connect.{tenant_id}.{return_url}.{expires}`."""

import base64
import hashlib
import hmac

import pytest

from qbsync.errors import ForbiddenError
from qbsync.signatures.connect_link import (
    ConnectLinkExpiredError,
    ConnectLinkExpiresTooLateError,
    ConnectLinkRejectedError,
    ConnectLinkSignatureError,
    connect_link_message,
    sign_connect_link,
    verify_connect_link,
)
from qbsync.signatures.standard_webhooks import InvalidSecretError

KEY = b"connect-link-test-key-0123456789"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-previous-secret-0123456789ab").decode()
NOW = 1_800_000_000
RETURN_URL = "https://crm.example.com/settings/integrations?tab=quickbooks&x=a.b"


def independent_signature(message: str) -> str:
    digest = hmac.new(KEY, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_the_signature_follows_the_spec_formula():
    expected = independent_signature(f"connect.loc_123.{RETURN_URL}.{NOW + 300}")
    signature = sign_connect_link(SECRET, tenant_id="loc_123", return_url=RETURN_URL, expires=NOW + 300)
    assert signature == expected
    assert "=" not in expected and "+" not in expected and "/" not in expected


def test_without_return_url_the_signed_string_has_an_empty_part():
    assert connect_link_message("loc_123", None, NOW) == f"connect.loc_123..{NOW}".encode()
    assert sign_connect_link(SECRET, tenant_id="loc_123", return_url=None, expires=NOW) == \
        independent_signature(f"connect.loc_123..{NOW}")


def test_a_genuine_current_link_verifies_and_returns_its_expiry():
    signature = sign_connect_link(SECRET, tenant_id="loc_123", return_url=RETURN_URL, expires=NOW + 600)
    assert verify_connect_link([SECRET], tenant_id="loc_123", return_url=RETURN_URL, expires=str(NOW + 600),
                               signature=signature, now=NOW) == NOW + 600


def test_any_accepted_secret_verifies():
    signature = sign_connect_link(OLD_SECRET, tenant_id="loc_1", return_url=None, expires=NOW + 60)
    verify_connect_link([SECRET, OLD_SECRET], tenant_id="loc_1", return_url=None, expires=NOW + 60,
                        signature=signature, now=NOW)


def test_padding_left_on_by_a_sender_is_tolerated():
    signature = sign_connect_link(SECRET, tenant_id="loc_1", return_url=None, expires=NOW + 60)
    verify_connect_link([SECRET], tenant_id="loc_1", return_url=None, expires=NOW + 60,
                        signature=signature + "=", now=NOW)


@pytest.mark.parametrize("field, value", [
    ("tenant_id", "loc_999"),
    ("return_url", "https://evil.example.com/"),
    ("return_url", None),
    ("expires", NOW + 61),
    ("signature", ""),
    ("signature", None),
    ("signature", "ünïcode"),
])
def test_a_changed_link_is_refused_with_403(field, value):
    link = {"tenant_id": "loc_1", "return_url": RETURN_URL, "expires": NOW + 60}
    link["signature"] = sign_connect_link(SECRET, **link)
    link[field] = value
    with pytest.raises(ConnectLinkSignatureError) as caught:
        verify_connect_link([SECRET], now=NOW, **link)
    assert isinstance(caught.value, ForbiddenError) and caught.value.http_status == 403
    assert caught.value.code == "invalid_signature"


@pytest.mark.parametrize("expires, error", [
    (NOW, ConnectLinkExpiredError),
    (NOW - 1, ConnectLinkExpiredError),
    (NOW + 601, ConnectLinkExpiresTooLateError),
])
def test_expiry_is_checked_after_the_signature(expires, error):
    signature = sign_connect_link(SECRET, tenant_id="loc_1", return_url=None, expires=expires)
    with pytest.raises(error):
        verify_connect_link([SECRET], tenant_id="loc_1", return_url=None, expires=expires,
                            signature=signature, now=NOW)


@pytest.mark.parametrize("expires", ["", "soon", "-5", "1.5", "1e9"])
def test_expires_must_be_unix_seconds(expires):
    with pytest.raises(ConnectLinkRejectedError):
        verify_connect_link([SECRET], tenant_id="loc_1", return_url=None, expires=expires,
                            signature="x", now=NOW)


def test_a_malformed_secret_is_a_configuration_error():
    with pytest.raises(InvalidSecretError):
        verify_connect_link(["not-a-secret"], tenant_id="loc_1", return_url=None, expires=NOW + 60,
                            signature="x", now=NOW)
    with pytest.raises(InvalidSecretError):
        verify_connect_link([], tenant_id="loc_1", return_url=None, expires=NOW + 60, signature="x", now=NOW)
