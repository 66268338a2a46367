"""Which of a tenant's QBO companies an event goes to, or why it goes nowhere."""

from __future__ import annotations

from qbsync.repositories.connections import ConnectionsRepository


class TenantConnections:
    """`ConnectionLookup` over the connections table: the event's named realm, else the tenant's default.

    A company that needs reconnecting still takes events: they wait in the dead-letter queue with reason
    `needs_reauth` and are redriven after the reconnect (nothing lost). A tenant with no connection, or a
    disconnected one, does not: its events are acknowledged and ignored with that reason.
    """

    def __init__(self, repository: ConnectionsRepository) -> None:
        self._repository = repository

    def realm_for_event(self, tenant_id: str, realm_id: str | None) -> tuple[str | None, str | None]:
        realm = realm_id or self._repository.default_realm(tenant_id)
        if realm is None:
            return None, "tenant_not_connected"
        connection = self._repository.get(tenant_id, realm)
        if connection is None:
            return None, "realm_not_connected" if realm_id else "tenant_not_connected"
        if connection.status == "disconnected":
            return None, "tenant_disconnected"
        return realm, None
