"""Telling the CRM about a connection's status (`PUT /tenants/{t}/connection`), exactly once per change.

The status change is stored first; the CRM is then told, and its acknowledgement stored. A CRM that is
down does not lose the news: any later touch of the connection (the next queued event, the next poll)
sees a status the CRM has not acknowledged and tells it again, with the same Idempotency-Key, because the
key names the change (status + when it changed), not the attempt.
"""

from __future__ import annotations

from typing import Protocol

from qbsync.errors import QbsyncError
from qbsync.models.connection_records import ConnectionRecord
from qbsync.models.crm_api import ConnectionUpdate
from qbsync.observability import logger
from qbsync.repositories.connections import ConnectionsRepository


class ConnectionNotifier(Protocol):
    def connection_changed(self, tenant_id: str, update: ConnectionUpdate, *, idempotency_key: str) -> None: ...


def status_change_key(record: ConnectionRecord) -> str:
    changed = record.status_changed_at.strftime("%Y%m%dT%H%M%S%f") if record.status_changed_at else "0"
    return f"connection:{record.tenant_id}:{record.realm_id}:{record.status}:{changed}"


class ConnectionStatusReporter:
    def __init__(self, *, repository: ConnectionsRepository, notifier: ConnectionNotifier) -> None:
        self._repository = repository
        self._notifier = notifier

    def tell_crm(self, record: ConnectionRecord, *, best_effort: bool = False) -> bool:
        """Tell the CRM the record's status if it has not acknowledged it yet; True when told now.
        `best_effort` swallows a CRM failure (a browser is waiting); otherwise it propagates (a queued
        record fails and is retried)."""
        if not record.crm_needs_telling or record.status_changed_at is None:
            return False
        update = ConnectionUpdate(
            status=record.status,
            realm_id=record.realm_id,
            company_name=record.company.company_name if record.company else None,
            reason=None if record.status == "connected" else record.status_reason,
        )
        try:
            self._notifier.connection_changed(record.tenant_id, update, idempotency_key=status_change_key(record))
        except QbsyncError as error:
            logger.warning("the CRM was not told of a connection change; it will be told again",
                           extra={"realm_id": record.realm_id, "status": record.status, "error_code": error.code})
            if best_effort:
                return False
            raise
        self._repository.mark_crm_told(record.tenant_id, record.realm_id, record.status,
                                       status_changed_at=record.status_changed_at)
        return True
