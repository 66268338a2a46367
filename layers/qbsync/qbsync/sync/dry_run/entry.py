"""`POST /tenants/{t}/sync?dry_run=true` (SPEC F19): which dry run the body asks for.

- `{"event": <CRM envelope>}`: the event as the CRM events worker would apply it now;
- `{"message_id": "<id>"}`: a dead-lettered CRM event of this tenant (the DLQ message id or its original id,
  as `GET /failures` lists them), replayed from its stored copy, to see whether a fix made it go through;
- no body: a poll of one company (`?realm_id=`, else the tenant's default), as `POST /sync` would run it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qbsync.errors import BadRequestError, ConflictError, NotFoundError
from qbsync.models.connection_records import ConnectionRecord
from qbsync.models.management_api import DryRunAnswer, SyncRequest
from qbsync.models.queue_messages import CrmEventMessage
from qbsync.queues.redrive import DeadLetter
from qbsync.sync.dry_run.crm_event_replay import ReplayPorts, dry_run_crm_event
from qbsync.sync.dry_run.poll_replay import dry_run_poll


def dry_run_sync(tenant_id: str, request: SyncRequest, *, realm_id: str | None,
                 companies: Sequence[ConnectionRecord], default_realm_id: str | None,
                 event_ports: Callable[[], ReplayPorts], poll_dependencies: Callable[[], Any],
                 find_dead_letter: Callable[[str, str], DeadLetter | None]) -> DryRunAnswer:
    if request.event is not None and request.message_id is not None:
        raise BadRequestError("give one of event or message_id", code="invalid_dry_run_request")
    if realm_id is not None and not any(c.realm_id == realm_id for c in companies):
        # Another tenant's company is never read, not even for a dry run.
        raise NotFoundError("the tenant has no such QuickBooks company", code="connection_not_found")
    if request.event is not None:
        return dry_run_crm_event(request.event, tenant_id=tenant_id, ports=event_ports(), realm_id=realm_id)
    if request.message_id is not None:
        letter = find_dead_letter(tenant_id, request.message_id)
        if letter is None:
            raise NotFoundError("no such dead letter for this tenant", code="failure_not_found")
        if letter.queue != "crm_events":
            raise BadRequestError("only CRM events are replayed by message id; dry-run a poll without a body",
                                  code="not_a_crm_event")
        message = CrmEventMessage.model_validate_json(letter.body)
        return dry_run_crm_event(message.envelope, tenant_id=tenant_id, ports=event_ports(),
                                 realm_id=message.realm_id)
    realm = realm_id or default_realm_id
    company = next((c for c in companies if c.realm_id == realm), None)
    if company is None:
        raise NotFoundError("the tenant has no such QuickBooks company", code="connection_not_found")
    if company.status != "connected":
        raise ConflictError("that QuickBooks company is not connected (reconnect first)", code="not_connected")
    return dry_run_poll(tenant_id, company.realm_id, deps=poll_dependencies())
