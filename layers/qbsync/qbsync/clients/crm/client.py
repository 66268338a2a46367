"""`CrmClient`: the generic outbound CRM REST contract (SPEC "Outbound CRM REST contract"), stripe-style.

Every call is a JSON body signed with Standard Webhooks headers under our outbound secret, plus an
`Idempotency-Key` the caller derives from the *operation* (tenant, target, source event or QBO change).
A retry keeps that key and the body bytes, but gets a fresh `webhook-id` and `webhook-timestamp`:
the CRM checks the timestamp against its clock (a retry after a long `Retry-After` must not go stale),
and a receiver that dedupes on `webhook-id` must not swallow our retry as a duplicate delivery. The
Idempotency-Key, not the webhook-id, is what makes the CRM apply the call once.

Nothing here logs a body, a header value or the secret.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ValidationError

from qbsync.clients.crm.errors import (
    CrmError,
    CrmInvalidAnswerError,
    error_from_response,
    error_from_transport,
)
from qbsync.clients.crm.retry import RetryPolicy
from qbsync.models.crm_api import (
    ConnectionUpdate,
    ContactsBatchDelete,
    ContactsBatchDeleteResult,
    ContactsBatchUpsert,
    ContactsBatchUpsertResult,
    DealAccounting,
    InvoiceAccounting,
    ProductsBatchDelete,
    ProductsBatchDeleteResult,
    ProductsBatchUpsert,
    ProductsBatchUpsertResult,
    QboInvoice,
    QboInvoiceResult,
    ReviewRequest,
    ReviewRequestResult,
)
from qbsync.observability import logger, traced
from qbsync.signatures.standard_webhooks import decode_secret, signature_headers
from qbsync.utils.jsonio import dumps

AnswerT = TypeVar("AnswerT", bound=BaseModel)

USER_AGENT = "qbsync-crm-client/1"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def _segment(value: str) -> str:
    # Ids go into the path verbatim but encoded: a "/" in a CRM id must not change the route.
    if not value:
        raise ValueError("path ids must not be empty")
    # "." and ".." survive encoding and are dot-segments: URL normalisation (ours, a proxy's, the CRM's)
    # would turn /tenants/../connection into another route. Ids are checked at ingest; this is the backstop.
    if value in (".", ".."):
        raise ValueError("path ids must not be '.' or '..'")
    return quote(value, safe="")


def _check_idempotency_key(key: str) -> None:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValueError("idempotency_key must be 1-255 printable ASCII characters")


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class CrmClient:
    """One method per call of the outbound contract. Raises `CrmError` subclasses (see `errors.py`)."""

    def __init__(
        self,
        base_url: str,
        outbound_secret: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (3.05, 10),
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        decode_secret(outbound_secret)  # a malformed secret fails here, at cold start, not on a call
        self._base_url = base_url.rstrip("/")
        self._secret = outbound_secret
        self._session = session or requests.Session()
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self.retry_policy = retry_policy or RetryPolicy(max_retries=max_retries)

    def __repr__(self) -> str:  # never show the secret
        return f"CrmClient(base_url={self._base_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "CrmClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the contract ---------------------------------------------------------------------------------

    def upsert_contacts(
        self, tenant_id: str, body: ContactsBatchUpsert, *, idempotency_key: str
    ) -> ContactsBatchUpsertResult:
        return self._call("POST", "/tenants/{t}/contacts/batch-upsert", (tenant_id,), body,
                          idempotency_key, ContactsBatchUpsertResult)

    def delete_contacts(
        self, tenant_id: str, body: ContactsBatchDelete, *, idempotency_key: str
    ) -> ContactsBatchDeleteResult:
        return self._call("POST", "/tenants/{t}/contacts/batch-delete", (tenant_id,), body,
                          idempotency_key, ContactsBatchDeleteResult)

    def upsert_products(
        self, tenant_id: str, body: ProductsBatchUpsert, *, idempotency_key: str
    ) -> ProductsBatchUpsertResult:
        return self._call("POST", "/tenants/{t}/products/batch-upsert", (tenant_id,), body,
                          idempotency_key, ProductsBatchUpsertResult)

    def delete_products(
        self, tenant_id: str, body: ProductsBatchDelete, *, idempotency_key: str
    ) -> ProductsBatchDeleteResult:
        return self._call("POST", "/tenants/{t}/products/batch-delete", (tenant_id,), body,
                          idempotency_key, ProductsBatchDeleteResult)

    def put_invoice_accounting(
        self, tenant_id: str, crm_invoice_id: str, body: InvoiceAccounting, *, idempotency_key: str
    ) -> None:
        self._call("PUT", "/tenants/{t}/invoices/{id}/accounting", (tenant_id, crm_invoice_id), body,
                   idempotency_key, None)

    def put_deal_accounting(
        self, tenant_id: str, deal_id: str, body: DealAccounting, *, idempotency_key: str
    ) -> None:
        self._call("PUT", "/tenants/{t}/deals/{id}/accounting", (tenant_id, deal_id), body,
                   idempotency_key, None)

    def put_qbo_invoice(
        self, tenant_id: str, qbo_invoice_id: str, body: QboInvoice, *, idempotency_key: str
    ) -> QboInvoiceResult:
        return self._call("PUT", "/tenants/{t}/qbo-invoices/{id}", (tenant_id, qbo_invoice_id), body,
                          idempotency_key, QboInvoiceResult)

    def create_review_request(
        self, tenant_id: str, body: ReviewRequest, *, idempotency_key: str
    ) -> ReviewRequestResult:
        return self._call("POST", "/tenants/{t}/review-requests", (tenant_id,), body,
                          idempotency_key, ReviewRequestResult)

    def put_connection(self, tenant_id: str, body: ConnectionUpdate, *, idempotency_key: str) -> None:
        self._call("PUT", "/tenants/{t}/connection", (tenant_id,), body, idempotency_key, None)

    # --- one call, with retries -----------------------------------------------------------------------

    def _call(
        self,
        method: str,
        route: str,
        ids: tuple[str, ...],
        body: BaseModel,
        idempotency_key: str,
        answer_model: type[AnswerT] | None,
    ) -> AnswerT | None:
        _check_idempotency_key(idempotency_key)
        operation = f"{method} {route}"
        path = route
        for placeholder, value in zip(("{t}", "{id}"), ids):
            path = path.replace(placeholder, _segment(value), 1)
        # Serialised once: every attempt sends the same bytes, so the CRM sees the same body for the key.
        payload = dumps(body.model_dump(mode="json")).encode("utf-8")

        with traced("crm", tenant_id=ids[0], crm_operation=operation):
            return self._call_with_retries(method, path, payload, idempotency_key, operation, answer_model)

    def _call_with_retries(self, method: str, path: str, payload: bytes, idempotency_key: str, operation: str,
                           answer_model: type[AnswerT] | None) -> AnswerT | None:
        attempt = 0
        while True:
            try:
                response = self._send_once(method, path, payload, idempotency_key, operation, attempt)
                return self._answer(response, answer_model, operation)
            except CrmError as error:
                if not self.retry_policy.should_retry(error, attempt):
                    raise
                wait = self.retry_policy.sleep_seconds(error, attempt)
                logger.warning("crm call failed, retrying", extra={
                    "operation": operation, "error_code": error.code, "status": error.status,
                    "attempt": attempt + 1, "wait_seconds": round(wait, 3),
                    "idempotency_key": idempotency_key})
                self._sleep(wait)
                attempt += 1

    def _send_once(
        self, method: str, path: str, payload: bytes, idempotency_key: str, operation: str, attempt: int
    ) -> requests.Response:
        timestamp = int(self._clock())
        headers = {
            **signature_headers([self._secret], new_message_id(), timestamp, payload),
            "Idempotency-Key": idempotency_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        started = time.monotonic()
        try:
            response = self._session.request(
                method, f"{self._base_url}{path}", data=payload, headers=headers,
                timeout=self._timeout, allow_redirects=False,
            )
        except requests.RequestException as error:
            raise error_from_transport(error, operation=operation) from None
        logger.info("crm call", extra={
            "operation": operation, "status": response.status_code, "attempt": attempt + 1,
            "duration_ms": round((time.monotonic() - started) * 1000), "idempotency_key": idempotency_key})
        if not 200 <= response.status_code < 300:
            raise error_from_response(response, now=self._clock(), operation=operation)
        return response

    @staticmethod
    def _answer(
        response: requests.Response, answer_model: type[AnswerT] | None, operation: str
    ) -> AnswerT | None:
        if answer_model is None:
            return None
        try:
            document = json.loads(response.content, parse_float=Decimal)
            return answer_model.model_validate(document)
        except (ValueError, ValidationError):
            raise CrmInvalidAnswerError(
                f"CRM answered {response.status_code} to {operation} with a body that is not the contract's",
                status=response.status_code, details={"status": response.status_code, "operation": operation},
            ) from None
