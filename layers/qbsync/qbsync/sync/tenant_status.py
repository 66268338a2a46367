"""A tenant's sync health (SPEC F20): its companies and their connection state, the last successful poll and
the lag behind QBO, backfill progress, counts by object and outcome, and the latest failures with reasons.

Everything is read when asked (nothing is cached): connections and counters from the connections table, the
poll's bookkeeping through a `PollStateReader` (issue 6's `SyncStateRepository`: watermark, last success,
scan progress), failures from the dead-letter queues.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from qbsync.models.connection_records import ConnectionRecord
from qbsync.models.management_api import (
    BackfillProgress,
    ConnectionStatusView,
    Failure,
    OutcomeCounts,
    ScanObjectProgress,
    StatusAnswer,
    StatusFailures,
)
from qbsync.repositories.sync_stats import OutcomeCount
from qbsync.sync.failures import LATEST_FAILURES
from qbsync.sync.tenants import known_tenant


class PollStateReader(Protocol):
    def get(self, tenant_id: str, realm_id: str) -> Any: ...


def _backfill(state: Any) -> BackfillProgress | None:
    scan = getattr(state, "scan", None)
    if scan is None:
        return None
    return BackfillProgress(
        kind=scan.kind, status=scan.status, started_at=scan.started_at, completed_at=scan.completed_at,
        objects={entity: ScanObjectProgress(sent=cursor.sent, total=cursor.total, done=cursor.done)
                 for entity, cursor in scan.cursors.items()},
    )


def connection_view(record: ConnectionRecord, *, default_realm_id: str | None, state: Any,
                    now: datetime) -> ConnectionStatusView:
    watermark = getattr(state, "watermark", None)
    return ConnectionStatusView(
        realm_id=record.realm_id,
        company_name=record.company.company_name if record.company else None,
        status=record.status,
        status_reason=record.status_reason if record.status != "connected" else None,
        is_default=record.realm_id == default_realm_id,
        connected_at=record.connected_at,
        status_changed_at=record.status_changed_at,
        last_successful_poll=getattr(state, "last_success_at", None),
        watermark=watermark,
        lag_seconds=max(0, int((now - watermark).total_seconds())) if watermark else None,
        backfill=_backfill(state),
    )


def outcome_counts(counts: Sequence[OutcomeCount]) -> dict[str, OutcomeCounts]:
    by_object: dict[str, dict[str, Any]] = {}
    for count in counts:
        entry = by_object.setdefault(count.object_type, {"synced": 0, "skipped": 0, "failed": 0,
                                                         "skipped_by_reason": {}, "failed_by_reason": {},
                                                         "last_at": None})
        if count.outcome not in ("synced", "skipped", "failed"):
            continue
        entry[count.outcome] += count.count
        if count.outcome != "synced" and count.reason:
            reasons = entry[f"{count.outcome}_by_reason"]
            reasons[count.reason] = reasons.get(count.reason, 0) + count.count
        if count.last_at and (entry["last_at"] is None or count.last_at > entry["last_at"]):
            entry["last_at"] = count.last_at
    return {name: OutcomeCounts(**entry) for name, entry in sorted(by_object.items())}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def tenant_status(tenant_id: str, *, companies: Sequence[ConnectionRecord], default_realm_id: str | None,
                  poll_state: PollStateReader | None, counts: Sequence[OutcomeCount],
                  failures: Sequence[Failure], clock: Callable[[], datetime] = _utcnow) -> StatusAnswer:
    """`failures` is the tenant's dead letters, newest first (`qbsync.sync.failures.list_failures`)."""
    now = clock()
    views = [connection_view(record, default_realm_id=default_realm_id,
                             state=poll_state.get(tenant_id, record.realm_id) if poll_state else None, now=now)
             for record in sorted(companies, key=lambda c: c.connected_at)]
    return StatusAnswer(
        tenant_id=tenant_id, default_realm_id=default_realm_id, connections=views,
        counts=outcome_counts(counts),
        failures=StatusFailures(in_dead_letter_queues=len(failures), latest=list(failures[:LATEST_FAILURES])),
        generated_at=now,
    )


def status_of(tenant_id: str, *, connections: Any, stats: Any, poll_state: PollStateReader | None,
              list_failures: Callable[[str], Sequence[Failure]],
              clock: Callable[[], datetime] = _utcnow) -> StatusAnswer:
    """The whole status of a known tenant (404 otherwise), from its repositories and dead letters."""
    companies = known_tenant(connections, tenant_id)
    return tenant_status(tenant_id, companies=companies, default_realm_id=connections.default_realm(tenant_id),
                         poll_state=poll_state, counts=stats.counts(tenant_id), failures=list_failures(tenant_id),
                         clock=clock)
