"""Standard Webhooks (https://www.standardwebhooks.com) symmetric signatures, version `v1`.

Signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; the signature is base64 HMAC-SHA256 keyed
with the decoded bytes of a `whsec_<base64>` secret. The header may carry several space-separated
signatures (the sender signs with every secret it is rotating through), and the receiver may accept
several secrets (the receiver is rotating): any (secret, signature) pair that matches verifies.

Nothing here logs, and no error message carries a secret, a signature or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from qbsync.errors import UnauthorizedError

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class WebhookVerificationError(UnauthorizedError):
    """Base of every refusal; `code` says which check failed (safe to return to the caller)."""

    code = "invalid_signature"


class MissingSignatureHeadersError(WebhookVerificationError):
    """A webhook-* header is absent, empty, ambiguous, or (timestamp) not an integer."""

    code = "missing_signature_headers"


class TimestampOutOfToleranceError(WebhookVerificationError):
    code = "timestamp_out_of_tolerance"


class InvalidSignatureError(WebhookVerificationError):
    code = "invalid_signature"


class InvalidSecretError(WebhookVerificationError):
    """A configured secret is not `whsec_<base64>` (a deployment mistake, never the caller's)."""

    code = "invalid_secret"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret. Settings call this once per cold start to fail early."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidSecretError("signing secret must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecretError("signing secret is not valid base64 after whsec_") from None
    if not key:
        raise InvalidSecretError("signing secret is empty")
    return key


def _signature_for_key(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    signed_content = f"{msg_id}.{timestamp}.".encode() + bytes(body)
    digest = hmac.new(key, signed_content, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` for one secret; join several with a space when signing with rotating secrets."""
    return f"{SIGNATURE_VERSION},{_signature_for_key(decode_secret(secret), msg_id, int(timestamp), body)}"


def signature_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a sender adds, signed with every given secret (rotation on the sender's side)."""
    if not secrets:
        raise InvalidSecretError("no signing secret configured")
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_SIGNATURE: " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    # Header names are case-insensitive. Two spellings with different values are refused rather than
    # guessed between: a proxy that keeps both could otherwise let a caller choose which one we check.
    values = {value for key, value in headers.items() if isinstance(key, str) and key.lower() == name}
    if len(values) != 1:
        raise MissingSignatureHeadersError(f"missing or ambiguous {name} header")
    value = values.pop()
    if not isinstance(value, str) or not value.strip():
        raise MissingSignatureHeadersError(f"missing {name} header")
    return value.strip()


def _parse_timestamp(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise MissingSignatureHeadersError(f"{HEADER_TIMESTAMP} must be unix seconds")
    return int(raw)


def _v1_signatures(header_value: str) -> list[bytes]:
    # Other versions (`v1a,` asymmetric, future ones) are skipped, not refused: the sender may add them
    # beside a v1 signature.
    prefix = f"{SIGNATURE_VERSION},"
    return [part[len(prefix):].encode() for part in header_value.split() if part.startswith(prefix)]


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return when some v1 signature in `headers` matches `body` under one of `secrets`; raise otherwise.

    Order of checks: secrets (our configuration), headers present, timestamp within `tolerance_seconds`
    of `now` in either direction, then the signatures (every candidate is compared, constant-time).
    """
    keys = [decode_secret(secret) for secret in secrets]
    if not keys:
        raise InvalidSecretError("no signing secret configured")

    msg_id = _header(headers, HEADER_ID)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    signature_header = _header(headers, HEADER_SIGNATURE)
    timestamp = _parse_timestamp(raw_timestamp)

    current = int(time.time()) if now is None else int(now)
    if abs(current - timestamp) > tolerance_seconds:
        raise TimestampOutOfToleranceError(
            f"{HEADER_TIMESTAMP} is more than {tolerance_seconds} seconds away from the receiver's clock"
        )

    candidates = _v1_signatures(signature_header)
    if not candidates:
        raise InvalidSignatureError(f"no {SIGNATURE_VERSION} signature in {HEADER_SIGNATURE}")

    matched = False
    for key in keys:
        expected = _signature_for_key(key, msg_id, raw_timestamp, body).encode()
        for candidate in candidates:
            # No early exit: the time taken does not tell which secret or which position matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignatureError("no signature matches")
