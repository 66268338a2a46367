"""`POST /webhooks/crm`: check, parse, claim the webhook id, enqueue (SPEC "Inbound CRM webhooks"; issue 5 §1).

Order matters: size first (cheap), then the signature on the raw bytes (nothing unsigned is parsed), then
the envelope, then the tenant's connection, then the webhook id is claimed for this event, and then the durable
enqueue. A refused request enqueues nothing. The FIFO group is the tenant plus the invoice (or payment), so
events for one invoice are applied in the order the CRM sent them while other invoices go on in parallel.

Claim first, enqueue second, one write besides the enqueue (issue 8), because SPEC says a repeated `webhook-id`
is acknowledged and *ignored*, and a repeat is harmless on the queue while a lost event is not (G1, G2):
- the id is new: claimed for this event, enqueued, `202 accepted`;
- the id was claimed for this same event (a redelivery): enqueued again and `200 duplicate`. Enqueueing again
  is what makes the claim safe: a delivery that claimed and then could not enqueue (an error, or a Lambda
  that died) is enqueued by the CRM's retry. The FIFO deduplication id (`tenant#event_id`, 5 minutes) and
  then the worker's business keys (one QBO change per invoice, payment and step) absorb the extra message;
- the id was claimed for another event (a sender reusing ids): `200 duplicate`, nothing enqueued;
- the enqueue fails: the claim is given back (best effort) and the answer is an error, so the retry is a first
  delivery again. `200 duplicate` is only ever answered once the event is on the queue or was never ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel

from qbsync.errors import BadRequestError, PayloadTooLargeError
from qbsync.models.crm_events import PaymentSucceededEvent, UnknownEvent, parse_event
from qbsync.models.identifiers import is_crm_id, is_qbo_id
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.signatures.standard_webhooks import verify

MAX_BODY_BYTES = 256 * 1024
MAX_DEDUPLICATION_ID = 128


class ConnectionLookup(Protocol):
    def realm_for_event(self, tenant_id: str, realm_id: str | None) -> tuple[str | None, str | None]:
        """(realm id to use, None) when the tenant can take the event; (None, reason) when it cannot."""


class EventQueue(Protocol):
    def publish(self, message: BaseModel, *, group_id: str, deduplication_id: str,
                attributes: dict[str, str] | None = None) -> str: ...


class ReceivedWebhooks(Protocol):
    def claim(self, tenant_id: str, webhook_id: str, *, event_id: str, now: datetime) -> str | None:
        """None for the tenant's first delivery of `webhook_id` (now claimed for `event_id`); else the event id
        it was first received with."""

    def unclaim(self, tenant_id: str, webhook_id: str, *, event_id: str) -> None: ...


@dataclass(frozen=True)
class IngestOutcome:
    status: Literal["accepted", "duplicate", "ignored"]
    event_id: str | None = None
    reason: str | None = None
    tenant_id: str | None = None  # for logs and traces, not the body: known once the event is checked

    @property
    def http_status(self) -> int:
        return 202 if self.status == "accepted" else 200

    def body(self) -> dict[str, str]:
        return {k: v for k, v in {"status": self.status, "event_id": self.event_id, "reason": self.reason}.items()
                if v is not None}


def header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def fifo_id(value: str) -> str:
    """SQS group and deduplication ids: ≤ 128 characters of a limited alphabet; anything else is hashed."""
    if len(value) <= MAX_DEDUPLICATION_ID and all(c.isalnum() or c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
                                                  for c in value):
        return value
    return hashlib.sha256(value.encode()).hexdigest()


def message_group(tenant_id: str, event: object) -> str:
    if isinstance(event, PaymentSucceededEvent):
        return fifo_id(f"{tenant_id}#payment#{event.data.id}")
    return fifo_id(f"{tenant_id}#invoice#{event.data.id}")  # type: ignore[attr-defined]


def _record_ids(event: object) -> list[tuple[str, str | None]]:
    data = event.data  # type: ignore[attr-defined]
    ids = [("data.id", data.id), ("data.customer.crm_contact_id", data.customer.crm_contact_id)]
    if getattr(data, "deal_id", None) is not None:
        ids.append(("data.deal_id", data.deal_id))
    payment = getattr(data, "payment", None)
    if payment is not None:
        ids.append(("data.payment.id", payment.id))
    return ids


def check_record_ids(event: object) -> None:
    """CRM ids become keys, QBO notes and CRM URL path segments later: refuse any that could change a path
    (`..`, `/`) or a key, naming the field (same rule as tenant ids: qbsync.models.identifiers)."""
    for field, value in _record_ids(event):
        if value is not None and not is_crm_id(value):
            raise BadRequestError(f"{field} is not a valid CRM id", code="invalid_event",
                                  details={"field": field, "reason": "letters, digits and _ . : @ - only; no '..'"})


def ingest_crm_webhook(
    *,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    connections: ConnectionLookup,
    queue: EventQueue,
    deduplicate: ReceivedWebhooks,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestOutcome:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body is larger than {MAX_BODY_BYTES // 1024} KB")
    verify(secrets, headers, body, now=int(clock().timestamp()))
    webhook_id = header(headers, "webhook-id") or ""
    event = parse_event(body)
    if isinstance(event, UnknownEvent):
        return IngestOutcome("ignored", event_id=event.id, reason="unknown_event_type")
    if not is_crm_id(event.tenant_id):
        raise BadRequestError("tenant_id is malformed", code="invalid_event", details={"field": "tenant_id"})
    if event.realm_id is not None and not is_qbo_id(event.realm_id):
        raise BadRequestError("realm_id is malformed", code="invalid_event", details={"field": "realm_id"})
    check_record_ids(event)
    realm_id, reason = connections.realm_for_event(event.tenant_id, event.realm_id)
    if realm_id is None:
        return IngestOutcome("ignored", event_id=event.id, reason=reason, tenant_id=event.tenant_id)

    message = CrmEventMessage(
        tenant_id=event.tenant_id, realm_id=realm_id, event_id=event.id, event_type=event.type,
        webhook_id=webhook_id, received_at=clock(), envelope=body.decode("utf-8"),
    )
    owner = deduplicate.claim(event.tenant_id, webhook_id, event_id=event.id, now=message.received_at)
    if owner is not None and owner != event.id:
        return IngestOutcome("duplicate", event_id=event.id, reason="webhook_id_already_received",
                             tenant_id=event.tenant_id)
    try:
        queue.publish(
            message,
            group_id=message_group(event.tenant_id, event),
            deduplication_id=fifo_id(f"{event.tenant_id}#{event.id}"),
            attributes={"tenant_id": event.tenant_id, "event_type": event.type, "event_id": event.id},
        )
    except Exception:
        if owner is None:
            deduplicate.unclaim(event.tenant_id, webhook_id, event_id=event.id)
        raise
    if owner is not None:
        return IngestOutcome("duplicate", event_id=event.id, reason="webhook_id_already_received",
                             tenant_id=event.tenant_id)
    return IngestOutcome("accepted", event_id=event.id, tenant_id=event.tenant_id)
