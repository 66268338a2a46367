"""The schedule tick: one poll job per connected company that is due, grouped by tenant.

Grouping by tenant on the FIFO queue means one tenant is never polled twice at once, and a slow tenant only
delays itself. The deduplication id names the tick, so a tick retried by EventBridge enqueues nothing twice.
Which companies are due under their tenant's frequency (F18) and daily overdue check is
`qbsync.sync.poll.due`; `CompanyDueness` reads what that needs (settings once per tenant, the sync state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from qbsync.models.connection_records import ConnectionSummary
from qbsync.models.poll_messages import SyncState
from qbsync.models.tenant_settings import TenantSettings
from qbsync.sync.poll.due import is_due
from qbsync.sync.poll.jobs import PollJobSink, publish_poll_job

__all__ = ["CompanyDueness", "PollJobSink", "enqueue_poll_jobs"]


class SettingsSource(Protocol):
    def get(self, tenant_id: str):  # noqa: ANN201 - a VersionedSettings
        ...


class SyncStateSource(Protocol):
    def get(self, tenant_id: str, realm_id: str) -> SyncState: ...


class CompanyDueness:
    def __init__(self, *, settings: SettingsSource, sync_state: SyncStateSource, tick: timedelta) -> None:
        self._settings = settings
        self._sync_state = sync_state
        self._tick = tick
        self._by_tenant: dict[str, TenantSettings] = {}

    def __call__(self, connection: ConnectionSummary, now: datetime) -> bool:
        tenant_settings = self._by_tenant.get(connection.tenant_id)
        if tenant_settings is None:
            tenant_settings = self._settings.get(connection.tenant_id).settings
            self._by_tenant[connection.tenant_id] = tenant_settings
        state = self._sync_state.get(connection.tenant_id, connection.realm_id)
        return is_due(tenant_settings, state, now=now, tick=self._tick)


def enqueue_poll_jobs(
    connections: Iterable[ConnectionSummary], *, sink: PollJobSink, tick: datetime,
    due: Callable[[ConnectionSummary, datetime], bool] | None = None,
) -> int:
    enqueued = 0
    for connection in connections:
        if connection.status != "connected":
            continue
        if due is not None and not due(connection, tick):
            continue
        publish_poll_job(sink, tenant_id=connection.tenant_id, realm_id=connection.realm_id,
                         reason="schedule", requested_at=tick)
        enqueued += 1
    return enqueued
