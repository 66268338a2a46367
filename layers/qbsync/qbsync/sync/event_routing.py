"""Which of a tenant's QBO companies an event goes to, or why it goes nowhere."""

from __future__ import annotations

import time
from collections.abc import Callable

from qbsync.repositories.connections import ConnectionsRepository

# How long a tenant's default company is remembered after it was read (see TenantConnections).
DEFAULT_REALM_TTL_SECONDS = 10.0
_MAX_REMEMBERED_TENANTS = 10_000


class TenantConnections:
    """`ConnectionLookup` over the connections table: the event's named realm, else the tenant's default.

    A company that needs reconnecting still takes events: they wait in the dead-letter queue with reason
    `needs_reauth` and are redriven after the reconnect (nothing lost). A tenant with no connection, or a
    disconnected one, does not: its events are acknowledged and ignored with that reason.

    One read per event in the steady state (`POST /webhooks/crm`'s cost, issue 8): the connection's status is
    always read, consistently, but which company is the tenant's default is remembered for `default_ttl_seconds`
    after a read that found it usable. That is the only thing that can be stale, and only after `PUT /settings`
    moved the default from one connected company to another: for those seconds events still go to the previous
    default, as they would have had they arrived a few seconds earlier (the CRM's own delivery timing varies by
    more). Nothing is refused on remembered data: a remembered default that no longer takes events is read
    again before the answer. Build one per container (`qbsync.composition.tenant_connections`).
    """

    def __init__(self, repository: ConnectionsRepository, *,
                 default_ttl_seconds: float = DEFAULT_REALM_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._repository = repository
        self._ttl = default_ttl_seconds
        self._clock = clock
        self._defaults: dict[str, tuple[str, float]] = {}

    def realm_for_event(self, tenant_id: str, realm_id: str | None) -> tuple[str | None, str | None]:
        if realm_id is not None:
            return self._usable(tenant_id, realm_id, named=True)
        remembered = self._remembered_default(tenant_id)
        if remembered is not None:
            realm, _ = self._usable(tenant_id, remembered, named=False)
            if realm is not None:
                return realm, None
            self._defaults.pop(tenant_id, None)
        default = self._repository.default_realm(tenant_id)
        if default is None:
            return None, "tenant_not_connected"
        realm, reason = self._usable(tenant_id, default, named=False)
        if realm is not None:
            self._remember(tenant_id, realm)
        return realm, reason

    def _usable(self, tenant_id: str, realm_id: str, *, named: bool) -> tuple[str | None, str | None]:
        status = self._repository.connection_status(tenant_id, realm_id)
        if status is None:
            return None, "realm_not_connected" if named else "tenant_not_connected"
        if status == "disconnected":
            return None, "tenant_disconnected"
        return realm_id, None

    def _remembered_default(self, tenant_id: str) -> str | None:
        realm, until = self._defaults.get(tenant_id, (None, 0.0))
        return realm if realm is not None and self._clock() < until else None

    def _remember(self, tenant_id: str, realm_id: str) -> None:
        if self._ttl <= 0:
            return
        if len(self._defaults) >= _MAX_REMEMBERED_TENANTS:
            self._defaults.clear()  # a bound, not an LRU: forgetting only costs one more read per tenant
        self._defaults[tenant_id] = (realm_id, self._clock() + self._ttl)
