"""QboClient: the QuickBooks Online Accounting API v3 for one company (realm), stripe-python style.

Every call: `minorversion` in the query; timeouts set; through the limiter when there is one (each attempt
holds a slot only while on the wire, never while sleeping before a retry); answers read by the one error
mapping (`errors.error_from_response`), so a 200 carrying a Fault still raises; retryable errors retried by
the `RetryPolicy` with the injected `sleep`; one log line with QBO's `intuit_tid` (never a body or token).

Every write (create, sparse update, delete, void, send, batch) carries a `requestid` derived from the
caller's `request_key` plus the realm, entity and operation, so retrying it - here after a timeout, or in
another Lambda after a redelivery - returns the original answer instead of writing twice. Retries after a
timeout or a dropped connection therefore resend the very same request.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import requests

from qbsync.clients.qbo import json_codec
from qbsync.clients.qbo.batch import (
    MAX_BATCH_ITEMS,
    BatchItemResult,
    BatchOperation,
    assign_bids,
    chunked,
    correlate,
    request_body,
)
from qbsync.clients.qbo.cdc import CdcPage, CdcResult, collect_changes, parse_cdc_page
from qbsync.clients.qbo.errors import (
    QboAuthError,
    QboConnectionError,
    QboError,
    QboServerError,
    error_from_response,
    intuit_tid,
)
from qbsync.clients.qbo.query import MAX_PAGE_SIZE, Condition, checked_entity, count, entities_in, select
from qbsync.clients.qbo.request_ids import RequestKey, request_id
from qbsync.clients.qbo.retry import RetryPolicy
from qbsync.observability import logger

DEFAULT_TIMEOUT = (3.05, 30.0)  # (connect, read); QBO itself gives up on a request after 120 s
MINOR_VERSION = 75  # every lower minor version is treated as 75 since 2025-08-01 (QBO.md §2.2)
JSON = "application/json"
# Invoice is voided with operation=void; these with a sparse update that includes void (QBO.md §5).
_VOID_BY_OPERATION = frozenset({"invoice"})
_VOID_BY_UPDATE = frozenset({"payment", "salesreceipt", "billpayment"})
_NO_ANSWER = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _token_expired() -> tuple[type[BaseException], ...]:
    """oauthlib's TokenExpiredError, raised only by an `OAuth2Session` (requests-oauthlib), which has imported
    oauthlib already. Not imported here: the workers' sessions never raise it, and oauthlib is a heavy import
    on their cold start (bench/ cold start)."""
    oauth2 = sys.modules.get("oauthlib.oauth2")
    return (oauth2.TokenExpiredError,) if oauth2 is not None else ()


class HttpSession(Protocol):
    """What QboClient needs of a session: an `OAuth2Session` (it adds the Bearer token), or any
    requests.Session."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response: ...


class RequestLimiter(Protocol):
    """The per-realm limiter (`qbsync.repositories.rate_limiter.QboRateLimiter`), or a test double."""

    def acquire(self, realm_id: str) -> AbstractContextManager[object]: ...


class _NoLimiter:
    def acquire(self, realm_id: str) -> AbstractContextManager[object]:
        return nullcontext()


@dataclass(frozen=True)
class _Answer:
    body: Any
    intuit_tid: str | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QboClient:
    def __init__(
        self,
        *,
        realm_id: str,
        api_base_url: str,
        session: HttpSession,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        minor_version: int = MINOR_VERSION,
        limiter: RequestLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 2,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`api_base_url` ends in `/v3` (sandbox or production, or an emulator). `retry_policy`, when given,
        replaces the default `RetryPolicy(max_retries=max_retries)`. `clock` is for the CDC 30-day check and
        HTTP-date Retry-After."""
        if not realm_id:
            raise ValueError("realm_id is required")
        if timeout is None:
            raise ValueError("a QBO call always has a timeout")
        if minor_version < MINOR_VERSION:
            raise ValueError(f"QBO treats minor versions below {MINOR_VERSION} as {MINOR_VERSION}")
        self.realm_id = realm_id
        self._base_url = f"{api_base_url.rstrip('/')}/company/{quote(realm_id, safe='')}"
        self._session = session
        self._timeout = timeout
        self._minor_version = minor_version
        self._limiter: RequestLimiter = limiter or _NoLimiter()
        self._sleep = sleep
        self._retry = retry_policy or RetryPolicy(max_retries=max_retries)
        self._clock = clock

    # ------------------------------------------------------------------ entities

    def create(
        self,
        entity: str,
        body: Mapping[str, Any],
        *,
        request_key: RequestKey,
        allow_duplicate_doc_number: bool = False,
    ) -> dict[str, Any]:
        params = [("include", "allowduplicatedocnum")] if allow_duplicate_doc_number else []
        answer = self._write(entity, "create", request_key, params=params, body=body)
        return self._unwrap(answer, entity)

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        answer = self._call("GET", f"{self._entity_path(entity)}/{quote(str(entity_id), safe='')}")
        return self._unwrap(answer, entity)

    def sparse_update(
        self,
        entity: str,
        entity_id: str,
        sync_token: str,
        changes: Mapping[str, Any],
        *,
        request_key: RequestKey,
    ) -> dict[str, Any]:
        """Changes only the fields given; a full update would null every omitted field (QBO.md §8.7)."""
        body = {**changes, "Id": entity_id, "SyncToken": sync_token, "sparse": True}
        return self._unwrap(self._write(entity, "update", request_key, body=body), entity)

    def delete(
        self, entity: str, entity_id: str, sync_token: str, *, request_key: RequestKey
    ) -> dict[str, Any]:
        """Returns QBO's stub `{"status": "Deleted", "Id": ...}`."""
        body = {"Id": entity_id, "SyncToken": sync_token}
        answer = self._write(entity, "delete", request_key, params=[("operation", "delete")], body=body)
        return self._unwrap(answer, entity)

    def void(
        self, entity: str, entity_id: str, sync_token: str, *, request_key: RequestKey
    ) -> dict[str, Any]:
        kind = checked_entity(entity).lower()
        if kind in _VOID_BY_OPERATION:
            params = [("operation", "void")]
            body: dict[str, Any] = {"Id": entity_id, "SyncToken": sync_token}
        elif kind in _VOID_BY_UPDATE:
            params = [("operation", "update"), ("include", "void")]
            body = {"Id": entity_id, "SyncToken": sync_token, "sparse": True}
        else:
            raise ValueError(f"QBO cannot void a {entity}")
        return self._unwrap(self._write(entity, "void", request_key, params=params, body=body), entity)

    def send_invoice(
        self, invoice_id: str, *, request_key: RequestKey, send_to: str | None = None
    ) -> dict[str, Any]:
        """Emails the invoice; `send_to` replaces BillEmail. Returns the invoice (EmailStatus,
        DeliveryInfo)."""
        params = [("sendTo", send_to)] if send_to else []
        answer = self._call(
            "POST",
            f"/invoice/{quote(str(invoice_id), safe='')}/send",
            params=params,
            body=b"",
            content_type="application/octet-stream",
            request_id=self._request_id("Invoice", "send", request_key),
        )
        return self._unwrap(answer, "Invoice")

    def invoice_pdf(self, invoice_id: str) -> bytes:
        answer = self._call(
            "GET",
            f"/invoice/{quote(str(invoice_id), safe='')}/pdf",
            accept="application/pdf",
            expect_json=False,
        )
        return answer.body

    def company_info(self) -> dict[str, Any]:
        answer = self._call("GET", f"/companyinfo/{quote(self.realm_id, safe='')}")
        return self._unwrap(answer, "CompanyInfo")

    def preferences(self) -> dict[str, Any]:
        return self._unwrap(self._call("GET", "/preferences"), "Preferences")

    def exchange_rate(self, source_currency: str, as_of: date | None = None) -> Decimal:
        """Home-currency units per one `source_currency` unit in the company's rate table on `as_of` (a
        company-local calendar date; QBO takes today when it is omitted) - the rate QBO itself would give a
        transaction of that date (QBO.md §4.9). Multicurrency companies only: QBO refuses the call otherwise,
        and an unknown currency is a 610 (`QboNotFoundError`)."""
        code = source_currency.strip().upper()
        if len(code) != 3 or not (code.isascii() and code.isalpha()):
            raise ValueError(f"not an ISO 4217 currency code: {source_currency!r}")
        if isinstance(as_of, datetime):
            raise TypeError("as_of is a calendar date in the company's zone, not a datetime")
        params = [("sourcecurrencycode", code)]
        if as_of is not None:
            params.append(("asofdate", as_of.isoformat()))
        answer = self._call("GET", "/exchangerate", params=params)
        rate = self._unwrap(answer, "ExchangeRate").get("Rate")
        if isinstance(rate, bool) or not isinstance(rate, (int, Decimal)) or not rate > 0:
            raise QboServerError(f"QBO's ExchangeRate for {code} has no positive Rate",
                                 intuit_tid=answer.intuit_tid)
        return Decimal(rate)

    # ------------------------------------------------------------------ queries

    def query(self, statement: str) -> list[dict[str, Any]]:
        """One page of a statement built with `qbsync.clients.qbo.query` (which escapes values)."""
        return entities_in(self._query_response(statement))

    def count(self, entity: str, *, conditions: Sequence[Condition] = ()) -> int:
        return int(self._query_response(count(entity, conditions=conditions)).get("totalCount", 0))

    def iter_query(
        self,
        entity: str,
        *,
        conditions: Sequence[Condition] = (),
        order_by: str = "Id",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every match, page by page (STARTPOSITION is 1-based, MAXRESULTS at most 1000). A stable order
        keeps pages from overlapping; inactive name-list objects need `("Active", "IN", [True, False])`."""
        start = 1
        while True:
            statement = select(
                entity, conditions=conditions, order_by=order_by, start_position=start, max_results=page_size
            )
            page = self.query(statement)
            yield from page
            if len(page) < page_size:
                return
            start += len(page)

    # ------------------------------------------------------------------ change data capture

    def cdc(self, entities: Sequence[str], changed_since: datetime) -> CdcPage:
        """One CDC call, as QBO answers it (capped at 1000 objects). Prefer `changes_since`."""
        if changed_since.tzinfo is None:
            raise ValueError("changed_since needs a UTC offset")
        params = [
            ("entities", ",".join(checked_entity(name) for name in entities)),
            ("changedSince", changed_since.isoformat(timespec="seconds")),
        ]
        return parse_cdc_page(self._call("GET", "/cdc", params=params).body)

    def changes_since(self, entities: Sequence[str], changed_since: datetime) -> CdcResult:
        """Every change since `changed_since` (at most 30 days ago), narrowing windows that hit the cap."""
        return collect_changes(self.cdc, entities, changed_since, now=self._clock())

    # ------------------------------------------------------------------ batch

    def batch(
        self,
        operations: Sequence[BatchOperation],
        *,
        request_key: RequestKey,
        batch_size: int = MAX_BATCH_ITEMS,
    ) -> list[BatchItemResult]:
        """Results in the order of `operations`; a failed item is a result with `error`, never a raise.

        Each request's requestid also covers its exact content: a retry with the same operations replays
        QBO's answer, while a different set of operations under the same key cannot be answered with
        another set's results (which would pair bIds with the wrong items)."""
        pairs = assign_bids(operations)
        results: list[BatchItemResult] = []
        for index, chunk in enumerate(chunked(pairs, batch_size)):
            body = json_codec.dumps(request_body(chunk))
            content = hashlib.sha256(body).hexdigest()[:16]
            answer = self._call(
                "POST",
                "/batch",
                body=body,
                content_type=JSON,
                request_id=self._request_id("batch", f"chunk-{index}-{content}", request_key),
            )
            results.extend(correlate(chunk, answer.body, intuit_tid=answer.intuit_tid))
        return results

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _entity_path(entity: str) -> str:
        return f"/{checked_entity(entity).lower()}"

    def _request_id(self, entity: str, operation: str, request_key: RequestKey) -> str:
        if isinstance(request_key, (str, bytes)):
            raise TypeError("request_key is a sequence of parts, e.g. (tenant_id, event_id, step)")
        # Realm, entity and operation are mixed in so one business key reused by mistake for another
        # write, or another company, can never be answered with the first write's result.
        return request_id((self.realm_id, entity.lower(), operation, *request_key))

    def _write(
        self,
        entity: str,
        operation: str,
        request_key: RequestKey,
        *,
        body: Mapping[str, Any],
        params: Sequence[tuple[str, str]] = (),
    ) -> _Answer:
        return self._call(
            "POST",
            self._entity_path(entity),
            params=params,
            body=json_codec.dumps(body),
            content_type=JSON,
            request_id=self._request_id(entity, operation, request_key),
        )

    def _query_response(self, statement: str) -> dict[str, Any]:
        answer = self._call("GET", "/query", params=[("query", statement)])
        response = answer.body.get("QueryResponse") if isinstance(answer.body, dict) else None
        if not isinstance(response, dict):
            raise QboServerError("QBO's query answer has no QueryResponse", intuit_tid=answer.intuit_tid)
        return response

    @staticmethod
    def _unwrap(answer: _Answer, entity: str) -> dict[str, Any]:
        """`{"Invoice": {...}, "time": ...}` → the invoice."""
        if isinstance(answer.body, dict):
            for key, value in answer.body.items():
                if key.lower() == entity.lower() and isinstance(value, dict):
                    return value
        raise QboServerError(f"QBO's answer has no {entity}", intuit_tid=answer.intuit_tid)

    def _url(self, path: str, params: Sequence[tuple[str, str]]) -> str:
        # Encoded here, with %20 for spaces and nothing left "safe", so the query statement reaches QBO
        # exactly as built (a backslash escape must survive, QBO.md §2.4).
        query = urlencode([("minorversion", str(self._minor_version)), *params], quote_via=quote, safe="")
        return f"{self._base_url}{path}?{query}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str = JSON,
        request_id: str | None = None,
        expect_json: bool = True,
    ) -> _Answer:
        all_params = [*params, ("requestid", request_id)] if request_id else list(params)
        url = self._url(path, all_params)
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        retries = 0
        while True:
            try:
                return self._send_once(method, url, path, body, headers, retries, expect_json)
            except QboError as error:
                if not self._retry.should_retry(error, retries):
                    raise
                delay = self._retry.sleep_seconds(error, retries)
                logger.warning(
                    "qbo call will be retried",
                    extra={
                        "realm_id": self.realm_id,
                        "qbo_path": path,
                        "error_code": error.code,
                        "intuit_tid": error.intuit_tid,
                        "retry": retries + 1,
                        "sleep_seconds": round(delay, 3),
                    },
                )
                self._sleep(delay)
                retries += 1

    def _send_once(
        self,
        method: str,
        url: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        retries: int,
        expect_json: bool,
    ) -> _Answer:
        log_fields: dict[str, Any] = {
            "realm_id": self.realm_id,
            "qbo_method": method,
            "qbo_path": path,
            "retry": retries,
        }
        with self._limiter.acquire(self.realm_id):
            started = time.monotonic()
            try:
                response = self._session.request(
                    method, url, data=body, headers=headers, timeout=self._timeout
                )
            except _token_expired():
                raise QboAuthError("the access token expired before the call: refresh it") from None
            except _NO_ANSWER as exc:
                # `from None`: the exception text holds the URL, whose query may quote customer data.
                logger.warning(
                    "qbo call got no answer", extra={**log_fields, "error_type": type(exc).__name__}
                )
                raise QboConnectionError(
                    f"no answer from QBO to {method} {path} ({type(exc).__name__})"
                ) from None
            elapsed_ms = round((time.monotonic() - started) * 1000)

        tid = intuit_tid(response.headers)
        log_fields.update(status=response.status_code, intuit_tid=tid, elapsed_ms=elapsed_ms)
        error = error_from_response(
            response.status_code, response.headers, response.content, now=self._clock().timestamp()
        )
        if error is not None:
            logger.warning(
                "qbo call failed", extra={**log_fields, "error_code": error.code, "qbo_code": error.qbo_code}
            )
            raise error
        logger.info("qbo call", extra=log_fields)
        if not expect_json:
            return _Answer(response.content, tid)
        try:
            return _Answer(json_codec.loads(response.content), tid)
        except ValueError:
            raise QboServerError(
                f"QBO answered {response.status_code} to {method} {path} with a body that is not JSON",
                upstream_status=response.status_code,
                intuit_tid=tid,
            ) from None
