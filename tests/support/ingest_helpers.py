"""`POST /webhooks/crm`'s domain function called directly, for the ingest tests that need a collaborator to fail or
several deliveries to overlap (the local API Gateway runs API requests one at a time)."""

from __future__ import annotations

from typing import Any

from crm_emulator.webhooks import PreparedWebhook
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET


def ingest_directly(webhook: PreparedWebhook, **collaborators: Any) -> Any:
    """What the CrmWebhookFunction handler runs, with the handler's own collaborators (qbsync.composition, on the
    running local stack's moto) unless `collaborators` replaces some."""
    from qbsync.composition import crm_event_queue, tenant_connections, webhook_deduplicator
    from qbsync.sync.crm_ingest import ingest_crm_webhook

    wiring = {"connections": tenant_connections(), "queue": crm_event_queue(), "deduplicate": webhook_deduplicator(),
              **collaborators}
    return ingest_crm_webhook(body=webhook.body, headers=webhook.headers, secrets=[DEFAULT_CRM_INBOUND_SECRET],
                              **wiring)


def missing_queue_url(queue_url: str) -> str:
    """A FIFO queue URL on the same moto that no queue answers to (SendMessage fails)."""
    return queue_url.rsplit("/", 1)[0] + "/qbsync-no-such-queue.fifo"
