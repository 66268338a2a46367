"""The schedule tick: one poll job per connected company, grouped by tenant.

Grouping by tenant on the FIFO queue means one tenant is never polled twice at once, and a slow tenant only
delays itself. The deduplication id names the tick, so a tick retried by EventBridge enqueues nothing twice.
Which tenants are due under their frequency setting (F18) arrives with issue 6; until then every connected
company is polled on every tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from qbsync.models.connection_records import ConnectionSummary
from qbsync.models.queue_messages import PollJobMessage


class PollJobSink(Protocol):
    def publish(self, message: BaseModel, *, group_id: str, deduplication_id: str,
                attributes: dict[str, str] | None = None) -> str: ...


def enqueue_poll_jobs(
    connections: Iterable[ConnectionSummary], *, sink: PollJobSink, tick: datetime
) -> int:
    enqueued = 0
    for connection in connections:
        if connection.status != "connected":
            continue
        message = PollJobMessage(
            tenant_id=connection.tenant_id, realm_id=connection.realm_id, reason="schedule", requested_at=tick
        )
        sink.publish(
            message,
            group_id=connection.tenant_id,
            deduplication_id=f"schedule:{connection.tenant_id}:{connection.realm_id}:{tick:%Y%m%dT%H%M}",
            attributes={"tenant_id": connection.tenant_id, "kind": "poll_job"},
        )
        enqueued += 1
    return enqueued
