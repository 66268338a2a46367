"""Dry run of one CRM event (SPEC F19): what applying it would write to QBO and to the CRM, writing nothing.

The event goes through the worker's own code (`build_context` + `apply_event`), with the write side of every
port replaced by a recorder (`recorders.py`): QBO reads are real (the dry run needs the company's real
customers, items and invoices to decide), QBO, CRM and mapping writes are recorded. A permanent error is
part of the answer (`outcome.status = "failed"` with the reason the real run would dead-letter it with);
a retryable one (QBO or the CRM down) is raised, as there is no answer to give.

Not written either: the sync counters, the idempotency record and the queue. What a dry run still does to
AWS is what any QBO read does: it takes a request token from the company's shared QBO rate limiter (G4
counts reads too), and a token refresh if the access token is about to expire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from qbsync.errors import BadRequestError, QbsyncError
from qbsync.models.crm_events import EventEnvelope, InvoiceSnapshot, SucceededPayment, UnknownEvent, parse_event
from qbsync.models.management_api import DryRunAnswer, DryRunOutcome, ErrorDetail, RecordedWrite
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.observability import logger
from qbsync.sync.crm_events.applier import apply_event
from qbsync.sync.crm_events.context import Outcome
from qbsync.sync.crm_events.worker import build_context
from qbsync.sync.outcomes import object_type_for_event
from qbsync.sync.dry_run.recorders import RecordingCrm, RecordingMappings, RecordingQbo, WriteLog
from qbsync.utils.jsonio import dumps


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReplayPorts:
    """The real collaborators a replay reads from (the worker's, as `composition` builds them)."""

    connections: Any  # ConnectionsRepository
    settings_repository: Any  # TenantSettingsRepository
    mappings: Any  # MappingsRepository
    qbo_for: Callable[[str, str], Any]  # (tenant, realm) → QboClient
    realm_for_event: Callable[[str, str | None], tuple[str | None, str | None]]  # TenantConnections
    environment: str
    clock: Callable[[], datetime] = _utcnow


def _event_totals(event: EventEnvelope) -> Callable[[str, Any], Decimal | None]:
    data = getattr(event, "data", None)
    total = data.totals.total if isinstance(data, (InvoiceSnapshot, SucceededPayment)) else None
    return lambda entity, body: total


def parse_replay_event(envelope: dict[str, Any] | str, *, tenant_id: str) -> EventEnvelope:
    raw = envelope if isinstance(envelope, str) else dumps(envelope)
    event = parse_event(raw.encode("utf-8"))
    if isinstance(event, UnknownEvent):
        raise BadRequestError(f"qbsync does not apply {event.type} events", code="unknown_event_type")
    if event.tenant_id != tenant_id:
        raise BadRequestError("the event belongs to another tenant", code="tenant_mismatch")
    return event


def _answer(log: WriteLog, outcome: DryRunOutcome, event_id: str) -> DryRunAnswer:
    def writes(target: str) -> list[RecordedWrite]:
        return [RecordedWrite(**write) for write in log.of(target)]

    return DryRunAnswer(qbo_writes=writes("qbo"), crm_writes=writes("crm"), mapping_writes=writes("mappings"),
                        outcome=outcome, event_id=event_id)


def dry_run_crm_event(envelope: dict[str, Any] | str, *, tenant_id: str, ports: ReplayPorts,
                      realm_id: str | None = None) -> DryRunAnswer:
    """`envelope` is the CRM's event JSON (as a decoded object or as its text, e.g. a dead letter's);
    `realm_id`, when known (a queued message carries the company it was routed to), skips the routing."""
    event = parse_replay_event(envelope, tenant_id=tenant_id)
    logger.append_keys(event_id=event.id)
    skip_reason = None
    if realm_id is None:
        realm_id, skip_reason = ports.realm_for_event(tenant_id, event.realm_id)
    if realm_id is None:
        return _answer(WriteLog(), DryRunOutcome(status="skipped", object_type="events", reason=skip_reason), event.id)

    log = WriteLog()
    message = CrmEventMessage(tenant_id=tenant_id, realm_id=realm_id, event_id=event.id, event_type=event.type,
                              webhook_id="dry-run", received_at=ports.clock(),
                              envelope=envelope if isinstance(envelope, str) else dumps(envelope))
    ctx = build_context(
        message, connections=ports.connections, settings_repository=ports.settings_repository,
        mappings=RecordingMappings(ports.mappings, log, clock=ports.clock), crm=RecordingCrm(log),
        environment=ports.environment, clock=ports.clock,
        qbo_for=lambda tenant, realm: RecordingQbo(ports.qbo_for(tenant, realm), log, total_for=_event_totals(event),
                                                   clock=ports.clock),
    )
    if isinstance(ctx, Outcome):
        return _answer(log, DryRunOutcome(status=ctx.status, object_type=ctx.object_type, reason=ctx.reason),
                       event.id)
    try:
        outcome = apply_event(ctx, event)
    except QbsyncError as error:
        if error.retryable:
            raise
        failed = DryRunOutcome(status="failed", object_type=object_type_for_event(event.type), reason=error.code,
                               error=ErrorDetail(code=error.code, message=error.message, details=error.details or None))
        logger.info("dry run: the event would be dead-lettered", extra={"error_code": error.code})
        return _answer(log, failed, event.id)
    logger.info("dry run done", extra={"outcome": outcome.status, "qbo_writes": len(log.of("qbo")),
                                       "crm_writes": len(log.of("crm"))})
    return _answer(log, DryRunOutcome(status=outcome.status, object_type=outcome.object_type,  # type: ignore[arg-type]
                                      reason=outcome.reason), event.id)
