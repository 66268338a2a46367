"""`POST /webhooks/qbo` (issue 6 §8): verify, find the companies, enqueue one immediate poll job per company.

- The signature (`intuit-signature`, HMAC-SHA256 of the raw body with the verifier token) is checked on the
  raw bytes before anything is parsed; a bad or missing one is 401, counted, and enqueues nothing.
- Both payloads are read: the legacy `{"eventNotifications": [...]}` and the CloudEvents array (also a single
  CloudEvent), whatever the content type says (`application/cloudevents+json` included).
- A signed request is always answered 200 once its jobs are durably enqueued, even when an entity in it is
  odd, a realm is unknown or the body is not what we expected: Intuit holds back later notifications after a
  failure (QBO.md §7.4), and the poll reads the changes from CDC anyway. Only a failure to enqueue is a 5xx,
  so that Intuit retries.
- Only changes the poll acts on (customers, items, invoices, payments) enqueue a job; the job is
  deduplicated per realm within `WEBHOOK_WINDOW`, so a burst of notifications costs one poll.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from qbsync.models.identifiers import is_qbo_id
from qbsync.models.poll_messages import CloudEvent, LegacyPayload
from qbsync.signatures.intuit import HEADER, verify_intuit_signature
from qbsync.sync.poll.jobs import PollJobSink, publish_poll_job

RELEVANT_ENTITIES = frozenset({"customer", "item", "invoice", "payment"})


@dataclass(frozen=True)
class WebhookOutcome:
    status: Literal["accepted", "ignored", "rejected"]
    reason: str | None = None
    enqueued: list[str] = field(default_factory=list)  # realm ids
    unknown_realms: int = 0

    @property
    def http_status(self) -> int:
        return 401 if self.status == "rejected" else 200

    def body(self) -> dict[str, Any]:
        if self.status == "rejected":
            return {"error": {"code": "invalid_signature", "message": "the intuit-signature does not match"}}
        return {"status": self.status, "enqueued": len(self.enqueued),
                **({"reason": self.reason} if self.reason else {})}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def changed_realms(document: Any) -> list[str]:
    """The realms with a relevant change, in order of appearance; odd entries are skipped, never fatal."""
    realms: dict[str, None] = {}
    if isinstance(document, Mapping) and "eventNotifications" in document:
        try:
            payload = LegacyPayload.model_validate(document)
        except ValidationError:
            return []
        for notification in payload.event_notifications:
            names = {entity.name.lower() for entity in notification.data_change_event.entities}
            if names & RELEVANT_ENTITIES:
                realms[notification.realm_id] = None
    else:
        events = document if isinstance(document, list) else [document]
        for raw in events:
            if not isinstance(raw, Mapping):
                continue
            try:
                event = CloudEvent.model_validate(raw)
            except ValidationError:
                continue
            if event.entity.lower() in RELEVANT_ENTITIES:
                realms[event.intuit_account_id] = None
    return [realm for realm in realms if is_qbo_id(realm)]


def ingest_qbo_webhook(
    *,
    body: bytes,
    headers: Mapping[str, str],
    verifier_token: str,
    realm_owner: Callable[[str], str | None],
    queue: PollJobSink,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WebhookOutcome:
    if not verify_intuit_signature(verifier_token, _header(headers, HEADER), body):
        return WebhookOutcome("rejected", "invalid_signature")
    try:
        document = json.loads(body)
    except ValueError:
        return WebhookOutcome("ignored", "not_json")
    realms = changed_realms(document)
    if not realms:
        return WebhookOutcome("ignored", "no_relevant_change")
    now = clock()
    enqueued: list[str] = []
    unknown = 0
    for realm_id in realms:
        tenant_id = realm_owner(realm_id)
        if tenant_id is None:
            unknown += 1  # not (or no longer) connected to any tenant: nothing to poll
            continue
        publish_poll_job(queue, tenant_id=tenant_id, realm_id=realm_id, reason="qbo_webhook",
                         requested_at=now)
        enqueued.append(realm_id)
    if not enqueued:
        return WebhookOutcome("ignored", "unknown_realm", unknown_realms=unknown)
    return WebhookOutcome("accepted", enqueued=enqueued, unknown_realms=unknown)
