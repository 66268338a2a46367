"""The `intuit-signature` header of QBO webhooks: base64 HMAC-SHA256 of the raw body, keyed with the app's
verifier token (as UTF-8 text, not decoded). Check it on the raw bytes, before any parsing."""

from __future__ import annotations

import base64
import hashlib
import hmac

HEADER = "intuit-signature"


def intuit_signature(verifier_token: str, body: bytes) -> str:
    digest = hmac.new(verifier_token.encode("utf-8"), bytes(body), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_intuit_signature(verifier_token: str, header_value: str | None, body: bytes) -> bool:
    """True when `header_value` is the signature of `body`. Constant-time; a missing header is False."""
    if not verifier_token:
        # An unset token must never make every request (signed with the empty key) look genuine.
        raise ValueError("the Intuit verifier token is not configured")
    if not header_value:
        return False
    expected = intuit_signature(verifier_token, body).encode("ascii")
    # Compare bytes: hmac.compare_digest refuses non-ASCII str, and a hostile header may be anything.
    return hmac.compare_digest(expected, header_value.strip().encode("utf-8"))
