"""Is this a tenant qbsync knows? One that has connected a QuickBooks company at least once (a disconnect
keeps the connection record, so a disconnected tenant is still known). Any other id is a 404."""

from __future__ import annotations

from qbsync.errors import NotFoundError
from qbsync.models.connection_records import ConnectionRecord
from qbsync.repositories.connections import ConnectionsRepository


def known_tenant(connections: ConnectionsRepository, tenant_id: str) -> list[ConnectionRecord]:
    """The tenant's companies; 404 `tenant_not_found` for a tenant that never connected one."""
    records = connections.list_for_tenant(tenant_id)
    if not records:
        raise NotFoundError("unknown tenant: it has never connected QuickBooks", code="tenant_not_found")
    return records
