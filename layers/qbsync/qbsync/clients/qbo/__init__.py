"""QuickBooks Online Accounting API v3 and Intuit OAuth, stripe-python style.

    oauth = IntuitOAuthClient(client_id=..., client_secret=..., redirect_uri=..., token_url=settings...)
    tokens = oauth.exchange_code(code)                      # TokenSet, absolute expiries
    qbo = QboClient(realm_id=realm, api_base_url=settings.qbo_api_url,
                    session=oauth.api_session(tokens), limiter=QboRateLimiter(table_name=...))
    invoice = qbo.create("Invoice", body, request_key=(tenant_id, event_id, "create-invoice"))
    invoice["TotalAmt"]                                     # Decimal("362.07")

Entities are plain dicts exactly as QBO sends them (the envelope removed): amounts with a fraction are
`Decimal`, whole numbers `int`, never float. Send `Decimal` (or int) amounts: they go out as JSON numbers
with their exact digits. Typed models of what qbsync needs from an entity belong to `qbsync.models`;
keeping the client on dicts means a field QBO adds never breaks a read-modify-write.

Every failure is a `QboError` (a `qbsync.errors.UpstreamError`); the retryable ones are also
`qbsync.errors.RetryableError`. Writes take a `request_key` (business key, e.g. tenant, event, step) from
which the QBO `requestid` is derived, so a retried write never duplicates.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qbsync.clients.qbo.batch import MAX_BATCH_ITEMS, BatchItemResult, BatchOperation
    from qbsync.clients.qbo.cdc import CDC_MAX_LOOKBACK, CDC_MAX_OBJECTS, CdcChange, CdcPage, CdcResult
    from qbsync.clients.qbo.client import DEFAULT_TIMEOUT, MINOR_VERSION, HttpSession, QboClient, RequestLimiter
    from qbsync.clients.qbo.errors import (
        QboAuthError,
        QboCdcWindowError,
        QboConnectionError,
        QboDuplicateDocNumberError,
        QboDuplicateNameError,
        QboError,
        QboFaultEntry,
        QboInvalidGrantError,
        QboNotFoundError,
        QboQueryError,
        QboRetryableError,
        QboServerError,
        QboStaleObjectError,
        QboThrottledError,
        QboValidationError,
        error_from_fault,
        error_from_response,
    )
    from qbsync.clients.qbo.oauth import ACCOUNTING_SCOPE, AuthorizationRequest, IntuitOAuthClient
    from qbsync.clients.qbo.query import Condition
    from qbsync.clients.qbo.request_ids import RequestKey, request_id
    from qbsync.clients.qbo.retry import RetryPolicy
    from qbsync.clients.qbo.tokens import TokenSet

# The names above are loaded on first use (PEP 562), not with the package: importing any submodule runs this
# file, and eager re-exports made every importer of `qbsync.clients.qbo.errors` pay for requests-oauthlib
# and the whole client (bench/ cold start).
_SUBMODULE_OF = {
    **dict.fromkeys(["MAX_BATCH_ITEMS", "BatchItemResult", "BatchOperation"], "batch"),
    **dict.fromkeys(["CDC_MAX_LOOKBACK", "CDC_MAX_OBJECTS", "CdcChange", "CdcPage", "CdcResult"], "cdc"),
    **dict.fromkeys(["DEFAULT_TIMEOUT", "MINOR_VERSION", "HttpSession", "QboClient", "RequestLimiter"], "client"),
    **dict.fromkeys(["ACCOUNTING_SCOPE", "AuthorizationRequest", "IntuitOAuthClient"], "oauth"),
    "Condition": "query",
    **dict.fromkeys(["RequestKey", "request_id"], "request_ids"),
    "RetryPolicy": "retry",
    "TokenSet": "tokens",
}  # every other name of __all__ is in .errors


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE_OF.get(name) or ("errors" if name in __all__ else None)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ACCOUNTING_SCOPE",
    "CDC_MAX_LOOKBACK",
    "CDC_MAX_OBJECTS",
    "DEFAULT_TIMEOUT",
    "MAX_BATCH_ITEMS",
    "MINOR_VERSION",
    "AuthorizationRequest",
    "BatchItemResult",
    "BatchOperation",
    "CdcChange",
    "CdcPage",
    "CdcResult",
    "Condition",
    "HttpSession",
    "IntuitOAuthClient",
    "QboAuthError",
    "QboCdcWindowError",
    "QboClient",
    "QboConnectionError",
    "QboDuplicateDocNumberError",
    "QboDuplicateNameError",
    "QboError",
    "QboFaultEntry",
    "QboInvalidGrantError",
    "QboNotFoundError",
    "QboQueryError",
    "QboRetryableError",
    "QboServerError",
    "QboStaleObjectError",
    "QboThrottledError",
    "QboValidationError",
    "RequestKey",
    "RequestLimiter",
    "RetryPolicy",
    "TokenSet",
    "error_from_fault",
    "error_from_response",
    "request_id",
]
