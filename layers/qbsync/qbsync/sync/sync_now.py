"""`POST /tenants/{t}/sync` (SPEC F19): a poll of QBO at once, for every connected company of the tenant (or
the one named), as a `sync_now` job on the poll FIFO queue.

The job goes through the same queue, group (the tenant) and worker as the scheduled ones, so a sync now never
runs beside a scheduled poll of the same tenant, and a job that finds a later poll already done is skipped by
the poll worker. Enqueueing uses issue 6's `publish_poll_job`, so ids and attributes are the poll's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from qbsync.errors import ConflictError, NotFoundError
from qbsync.models.connection_records import ConnectionRecord
from qbsync.models.management_api import EnqueuedPoll
from qbsync.sync.poll.jobs import PollJobSink, publish_poll_job


def _utcnow() -> datetime:
    return datetime.now(UTC)


def sync_now(tenant_id: str, *, companies: Sequence[ConnectionRecord], sink: PollJobSink,
             realm_id: str | None = None, clock: Callable[[], datetime] = _utcnow) -> list[EnqueuedPoll]:
    if realm_id is not None and not any(c.realm_id == realm_id for c in companies):
        raise NotFoundError("the tenant has no such QuickBooks company", code="connection_not_found")
    targets = [c for c in companies if c.status == "connected" and realm_id in (None, c.realm_id)]
    if not targets:
        raise ConflictError("no connected QuickBooks company to poll (reconnect first)", code="not_connected")
    now = clock()
    return [EnqueuedPoll(realm_id=c.realm_id,
                         message_id=publish_poll_job(sink, tenant_id=tenant_id, realm_id=c.realm_id,
                                                     reason="sync_now", requested_at=now))
            for c in targets]
