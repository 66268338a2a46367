"""The signed "Connect QuickBooks" link (SPEC "Public contracts", "Contract details: Connect").

The CRM signs `connect.{tenant_id}.{return_url}.{expires}` (return_url empty when absent, so
`connect.{tenant_id}..{expires}`) with HMAC-SHA256 keyed by the decoded bytes of one of its `whsec_`
signing secrets, and sends the digest as base64url without padding in `signature`. The values signed are
the query parameters' *decoded* values, exactly as the CRM put them in (before percent-encoding).

A link is refused (403, `ForbiddenError`) when its signature matches none of the accepted secrets, when
`expires` is past, or when `expires` is more than ten minutes ahead (a long-lived link is a leaked link).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

from qbsync.errors import ForbiddenError
from qbsync.signatures.standard_webhooks import InvalidSecretError, decode_secret

MAX_LIFETIME_SECONDS = 600


class ConnectLinkRejectedError(ForbiddenError):
    code = "invalid_connect_link"


class ConnectLinkSignatureError(ConnectLinkRejectedError):
    code = "invalid_signature"


class ConnectLinkExpiredError(ConnectLinkRejectedError):
    code = "link_expired"


class ConnectLinkExpiresTooLateError(ConnectLinkRejectedError):
    code = "expires_too_far_ahead"


def _expires_text(expires: int | str) -> str:
    # The signature covers the text of `expires` as sent; it must be plain unix seconds.
    text = str(expires)
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ConnectLinkRejectedError("expires must be unix seconds")
    return text


def connect_link_message(tenant_id: str, return_url: str | None, expires: int | str) -> bytes:
    return f"connect.{tenant_id}.{return_url or ''}.{_expires_text(expires)}".encode("utf-8")


def _signature_for_key(key: bytes, message: bytes) -> str:
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_connect_link(secret: str, *, tenant_id: str, return_url: str | None, expires: int) -> str:
    """The `signature` query parameter for a link (what the CRM computes; used by tests and the emulator)."""
    return _signature_for_key(decode_secret(secret), connect_link_message(tenant_id, return_url, expires))


def verify_connect_link(
    secrets: Sequence[str],
    *,
    tenant_id: str,
    return_url: str | None,
    expires: int | str,
    signature: str | None,
    now: int | None = None,
    max_lifetime_seconds: int = MAX_LIFETIME_SECONDS,
) -> int:
    """Return `expires` as an int when the link is genuine and current; raise `ConnectLinkRejectedError`.

    The signature is checked before the expiry: an unsigned link's `expires` means nothing.
    """
    keys = [decode_secret(secret) for secret in secrets]
    if not keys:
        raise InvalidSecretError("no signing secret configured")
    if not signature:
        raise ConnectLinkSignatureError("the link has no signature")
    message = connect_link_message(tenant_id, return_url, expires)
    # Tolerate padding a sender may have left on; compare bytes (compare_digest refuses non-ASCII str).
    candidate = signature.strip().rstrip("=").encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(_signature_for_key(key, message).encode("ascii"), candidate)
    if not matched:
        raise ConnectLinkSignatureError("the link's signature does not match")

    expires_at = int(_expires_text(expires))
    current = int(time.time()) if now is None else int(now)
    if expires_at <= current:
        raise ConnectLinkExpiredError("the link has expired; open Connect again from the CRM")
    if expires_at - current > max_lifetime_seconds:
        raise ConnectLinkExpiresTooLateError(
            f"the link expires more than {max_lifetime_seconds} seconds from now"
        )
    return expires_at
