"""Everything one event's application needs, gathered once per event by the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbsync.clients.crm.client import CrmClient
from qbsync.clients.qbo.client import QboClient
from qbsync.models.connection_records import CompanyFacts, ConnectionRecord
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.mappings import MappingsRepository


def _redrive_waiting(tenant_id: str, realm_id: str, invoice_id: str) -> int:
    from qbsync.sync.failures import redrive_waiting_events

    return redrive_waiting_events(tenant_id, realm_id, invoice_id)


@dataclass
class ApplyContext:
    tenant_id: str
    realm_id: str
    event_id: str
    connection: ConnectionRecord
    settings: TenantSettings
    qbo: QboClient
    mappings: MappingsRepository
    crm: CrmClient
    environment: str
    clock: Callable[[], datetime]
    # Sends an invoice's events waiting behind its dead-lettered sent back to the queue, in order
    # (tenant, realm, CRM invoice id → how many); `qbsync.sync.crm_events.holds`.
    redrive_waiting: Callable[[str, str, str], int] = field(default=_redrive_waiting)
    # Per-event memo (e.g. the income account found once for several new items).
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def company(self) -> CompanyFacts:
        assert self.connection.company is not None
        return self.connection.company

    def request_key(self, *parts: str) -> tuple[str, ...]:
        """The business key of a QBO write: QBO's requestid is derived from it, so the same write retried
        (here, by another Lambda after a redelivery, or after an operator's redrive) returns the original
        object instead of creating a second one."""
        return (self.tenant_id, self.realm_id, *parts)


@dataclass(frozen=True)
class Outcome:
    """What applying one event did; logged, counted, and returned to tests."""

    status: str  # "applied" | "skipped"
    object_type: str
    reason: str | None = None
    qbo_id: str | None = None
