"""Putting poll jobs on the poll FIFO queue: one message group per tenant, deduplication ids that say
which request a job answers.

The group is the tenant, so one tenant is never polled twice at once and a slow tenant delays only itself.
Deduplication ids (SQS forgets them after 5 minutes):
- schedule: the tick (`schedule:{tenant}:{realm}:{YYYYmmddTHHMM}`), so a retried tick adds nothing;
- QBO webhook: the realm and a `WEBHOOK_WINDOW` time bucket, so a burst of notifications makes one job.
  SQS drops a repeat of the id even after the first job ran, so the job does not read QBO before its bucket
  has ended (`webhook_bucket_end`; the runner waits at most one window): every notification of the bucket
  arrived before that read, and its change is in it;
- backfill: the tenant and realm, so the OAuth callback retried or reloaded enqueues one backfill.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel

from qbsync.models.queue_messages import PollJobMessage

WEBHOOK_WINDOW = timedelta(seconds=3)
_MAX_FIFO_ID = 128

Reason = Literal["schedule", "qbo_webhook", "sync_now", "backfill"]


class PollJobSink(Protocol):
    def publish(self, message: BaseModel, *, group_id: str, deduplication_id: str,
                attributes: dict[str, str] | None = None) -> str: ...


def fifo_id(value: str) -> str:
    """Our tenant and realm ids are already in SQS's alphabet; only the length can be too much."""
    return value if len(value) <= _MAX_FIFO_ID else hashlib.sha256(value.encode("utf-8")).hexdigest()


def webhook_bucket(requested_at: datetime) -> int:
    return int(requested_at.timestamp() // WEBHOOK_WINDOW.total_seconds())


def webhook_bucket_end(requested_at: datetime) -> datetime:
    return datetime.fromtimestamp((webhook_bucket(requested_at) + 1) * WEBHOOK_WINDOW.total_seconds(),
                                  tz=requested_at.tzinfo)


def deduplication_id(reason: Reason, tenant_id: str, realm_id: str, requested_at: datetime) -> str:
    if reason == "schedule":
        return fifo_id(f"schedule:{tenant_id}:{realm_id}:{requested_at:%Y%m%dT%H%M}")
    if reason == "qbo_webhook":
        return fifo_id(f"qbo_webhook:{realm_id}:{webhook_bucket(requested_at)}")
    if reason == "backfill":
        return fifo_id(f"backfill:{tenant_id}:{realm_id}")
    return fifo_id(f"{reason}:{tenant_id}:{realm_id}:{requested_at.isoformat()}")


def publish_poll_job(sink: PollJobSink, *, tenant_id: str, realm_id: str, reason: Reason,
                     requested_at: datetime) -> str:
    message = PollJobMessage(tenant_id=tenant_id, realm_id=realm_id, reason=reason, requested_at=requested_at)
    return sink.publish(
        message,
        group_id=fifo_id(tenant_id),
        deduplication_id=deduplication_id(reason, tenant_id, realm_id, requested_at),
        attributes={"tenant_id": tenant_id, "kind": "poll_job", "reason": reason},
    )
