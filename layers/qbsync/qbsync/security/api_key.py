"""`Authorization: Bearer <api key>` for the management API.

Only the key's SHA-256 is stored (in Secrets Manager); the presented key is hashed and the digests are
compared in constant time, so neither the key nor timing leaks anything.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from qbsync.errors import UnauthorizedError


class ApiKeyError(UnauthorizedError):
    code = "invalid_api_key"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def verify_api_key(headers: Mapping[str, str], *, expected_sha256: str) -> None:
    token = bearer_token(headers)
    if token is None:
        raise ApiKeyError("an `Authorization: Bearer <api key>` header is required", code="missing_api_key")
    presented = hashlib.sha256(token.encode("utf-8")).hexdigest()
    if not expected_sha256 or not hmac.compare_digest(presented, expected_sha256.strip().lower()):
        raise ApiKeyError("the API key is not valid")
