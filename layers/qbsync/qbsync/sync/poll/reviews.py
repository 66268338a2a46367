"""Review requests (F10): when a QBO payment settles a customer's first invoice, the CRM is asked once.

A payment qualifies when it links the customer's first invoice (the earliest created), that invoice is now
fully paid, and it is the latest payment applied to it (the earlier ones left a balance). Payments qbsync
itself wrote (tagged, or paired in the mappings) are the CRM's own payments: the CRM already knows about
them, so they ask for nothing.

"Exactly once per customer": before calling the CRM, a marker with the exact request body is created with a
conditional put (`REVIEW#{realm}#{customer}`); only one writer ever creates it. The call uses a key that names
the customer, so a retry after a lost answer, or after a crash between the marker and the call, sends the same
body under the same key and the CRM answers it once. A later payment finds the marker and asks nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from qbsync.clients.crm.client import CrmClient
from qbsync.clients.qbo.cdc import parse_time
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.query import select
from qbsync.models.crm_api import ReviewRequest
from qbsync.models.poll_messages import ReviewMarker
from qbsync.repositories.sync_state import SyncStateRepository
from qbsync.sync.invoice_status import is_voided
from qbsync.sync.poll.idempotency import crm_key
from qbsync.sync.poll.loop_guard import written_by_crm_side
from qbsync.sync.poll.mapping_index import MappingIndex
from qbsync.sync.poll.qbo_objects import (
    amount,
    is_deleted,
    latest_by_id,
    linked_invoice_ids,
    qbo_id,
    ref_value,
    updated_at_text,
)


def created_at_text(obj: dict[str, Any]) -> str:
    return str((obj.get("MetaData") or {}).get("CreateTime") or "")


def _created_order(payment: dict[str, Any]) -> tuple[datetime, int]:
    created = created_at_text(payment)
    identifier = qbo_id(payment)
    return (parse_time(created) if created else datetime.min.replace(tzinfo=UTC),
            int(identifier) if identifier.isdigit() else 0)


class ReviewRequests:
    def __init__(self, *, tenant_id: str, realm_id: str, qbo: QboClient, crm: CrmClient,
                 sync_state: SyncStateRepository, payments: MappingIndex, customers: MappingIndex,
                 counts: Counter[str], clock: Callable[[], datetime]) -> None:
        self._tenant_id = tenant_id
        self._realm_id = realm_id
        self._qbo = qbo
        self._crm = crm
        self._sync_state = sync_state
        self._payments = payments
        self._customers = customers
        self._counts = counts
        self._clock = clock

    def process(self, payments: Sequence[dict[str, Any]]) -> None:
        latest = [payment for payment in latest_by_id(payments) if not is_deleted(payment)]
        self._payments.load(qbo_id(payment) for payment in latest)
        by_customer: dict[str, list[dict[str, Any]]] = {}
        for payment in latest:
            customer_id = ref_value(payment, "CustomerRef")
            if not customer_id or not linked_invoice_ids(payment) or is_voided(payment):
                continue
            if written_by_crm_side(payment, self._payments.get(qbo_id(payment))):
                self._counts["reviews_skipped_own_payment"] += 1
                continue
            by_customer.setdefault(customer_id, []).append(payment)
        for customer_id, candidates in by_customer.items():
            marker = self._sync_state.review_marker(self._tenant_id, self._realm_id, customer_id)
            if marker is None:
                marker = self._claim(customer_id, candidates)
            if marker is not None and marker.status == "pending":
                self._send(marker)

    def _claim(self, customer_id: str, candidates: list[dict[str, Any]]) -> ReviewMarker | None:
        first = self._qbo.query(select("Invoice", conditions=[("CustomerRef", "=", customer_id)],
                                       order_by="MetaData.CreateTime", max_results=1))
        if not first or is_voided(first[0]) or amount(first[0], "Balance") != 0:
            return None
        paying = [payment for payment in candidates if qbo_id(first[0]) in linked_invoice_ids(payment)]
        if not paying:
            return None
        # Of the payments applied to it, the latest is the one that settled it (earlier ones left a balance).
        payment = max(paying, key=_created_order)
        customer = self._customers.get(customer_id)
        email = (self._qbo.read("Customer", customer_id).get("PrimaryEmailAddr") or {}).get("Address")
        request = ReviewRequest(
            realm_id=self._realm_id, qbo_customer_id=customer_id,
            crm_contact_id=customer.crm_id if customer else None, email=email or None,
            qbo_invoice_id=qbo_id(first[0]), qbo_payment_id=qbo_id(payment),
            paid_at=created_at_text(payment) or updated_at_text(payment),
        )
        return self._sync_state.claim_review(ReviewMarker(
            tenant_id=self._tenant_id, realm_id=self._realm_id, qbo_customer_id=customer_id, status="pending",
            request=request.model_dump(mode="json"), created_at=self._clock(),
        ))

    def _send(self, marker: ReviewMarker) -> None:
        self._crm.create_review_request(
            self._tenant_id, ReviewRequest.model_validate(marker.request),
            idempotency_key=crm_key(self._tenant_id, self._realm_id, "review-request",
                                    marker.qbo_customer_id))
        self._sync_state.mark_review_sent(marker)
        self._counts["review_requests"] += 1
