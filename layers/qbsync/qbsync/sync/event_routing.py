"""Which of a tenant's QBO companies an event goes to, or why it goes nowhere."""

from __future__ import annotations

from qbsync.models.connection_records import ConnectionStatus
from qbsync.repositories.connections import ConnectionsRepository


class TenantConnections:
    """`ConnectionLookup` over the connections table: the event's named realm, else the tenant's default.

    A company that needs reconnecting still takes events: they wait in the dead-letter queue with reason
    `needs_reauth` and are redriven after the reconnect (nothing lost). A tenant with no connection, or a
    disconnected one, does not: its events are acknowledged and ignored with that reason.

    Consistent reads, never remembered: a named realm's status is one `GetItem`; an event without `realm_id`
    reads the tenant record (its default company), then that company's status: two small `GetItem`s. So a
    `PUT /settings` that moves the default, or a disconnect, applies to the very next event, in every Lambda.
    (One `Query` of the tenant's partition would read both at once, but the partition also holds the poll's
    per-customer and per-invoice records: its cost would grow with the tenant's books.)
    """

    def __init__(self, repository: ConnectionsRepository) -> None:
        self._repository = repository

    def realm_for_event(self, tenant_id: str, realm_id: str | None) -> tuple[str | None, str | None]:
        if realm_id is not None:
            return self._usable(realm_id, self._repository.connection_status(tenant_id, realm_id), named=True)
        default = self._repository.default_realm(tenant_id)
        if default is None:
            return None, "tenant_not_connected"
        return self._usable(default, self._repository.connection_status(tenant_id, default), named=False)

    @staticmethod
    def _usable(realm_id: str, status: ConnectionStatus | None, *, named: bool) -> tuple[str | None, str | None]:
        if status is None:
            return None, "realm_not_connected" if named else "tenant_not_connected"
        if status == "disconnected":
            return None, "tenant_disconnected"
        return realm_id, None
