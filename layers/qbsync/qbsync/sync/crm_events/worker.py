"""The CRM events worker's record handler: message → connection and settings → QBO change → outcome.

Errors are left to rise: `qbsync.queues.consumer` dead-letters permanent ones at once with their reason
(validation, unmapped tax, total mismatch, needs_reauth...) and lets SQS retry the retryable ones
(QBO throttled or down, CRM down, a lost race).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from qbsync.errors import BadRequestError
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.observability import logger
from qbsync.sync.crm_events.applier import apply_event, parse_envelope
from qbsync.sync.crm_events.context import ApplyContext, Outcome
from qbsync.utils.jsonio import loads

ContextFactory = Callable[[CrmEventMessage], "ApplyContext | Outcome"]


class MalformedMessageError(BadRequestError):
    code = "malformed_message"


class TenantMismatchError(BadRequestError):
    """The envelope names another tenant than the message it travels in. Never applied (either tenant's
    books could be the wrong ones); permanent, so it is dead-lettered at once for an operator to look at."""

    code = "tenant_mismatch"


def _check_tenant(message: CrmEventMessage) -> None:
    try:
        document = loads(message.envelope)
    except ValueError:
        return  # not JSON: parse_envelope refuses it with its own reason
    if isinstance(document, dict) and document.get("tenant_id") != message.tenant_id:
        raise TenantMismatchError("the event's tenant is not the queue message's tenant",
                                  details={"event_id": message.event_id})


def handle_message(body: str, *, context_for: ContextFactory) -> Outcome:
    try:
        message = CrmEventMessage.model_validate_json(body)
    except ValidationError:
        # Not something POST /webhooks/crm enqueues; retrying cannot make it one.
        raise MalformedMessageError("the queue message is not a CRM event message") from None
    logger.append_keys(tenant_id=message.tenant_id, event_id=message.event_id, realm_id=message.realm_id)
    try:
        _check_tenant(message)
        ctx = context_for(message)
        if isinstance(ctx, Outcome):
            outcome = ctx
        else:
            outcome = apply_event(ctx, parse_envelope(message.envelope))
        logger.info("crm event applied" if outcome.status == "applied" else "crm event skipped",
                    extra={"event_type": message.event_type, "outcome": outcome.status, "reason": outcome.reason,
                           "qbo_id": outcome.qbo_id})
        return outcome
    finally:
        logger.remove_keys(["tenant_id", "event_id", "realm_id"])


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_context(message: CrmEventMessage, *, connections: Any, settings_repository: Any, mappings: Any,
                  qbo_for: Callable[[str, str], Any], crm: Any, environment: str,
                  clock: Callable[[], datetime] = _utcnow) -> ApplyContext | Outcome:
    connection = connections.get(message.tenant_id, message.realm_id)
    if connection is None or connection.status == "disconnected" or connection.company is None:
        # Disconnected since the event was accepted: nothing to apply it to, and nothing to retry.
        return Outcome("skipped", "events", reason="tenant_disconnected")
    return ApplyContext(
        tenant_id=message.tenant_id, realm_id=message.realm_id, event_id=message.event_id, connection=connection,
        settings=settings_repository.get(message.tenant_id).settings, qbo=qbo_for(message.tenant_id, message.realm_id),
        mappings=mappings, crm=crm, environment=environment, clock=clock,
    )
