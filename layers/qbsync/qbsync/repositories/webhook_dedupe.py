"""Webhook-id deduplication on the idempotency table (Powertools idempotency).

The CRM may deliver the same webhook several times (Standard Webhooks senders retry until a 2xx). The first
delivery runs `enqueue` and stores its result under the webhook id; a repeat gets the stored result back
without enqueueing again. A marker unique to this call tells the two apart. If `enqueue` fails, Powertools
deletes the in-progress record, so the CRM's retry is not mistaken for a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from qbsync.errors import ConflictError

# Long enough to cover every retry schedule a webhook sender uses (Svix/Standard Webhooks: ~1.5 days).
DEDUPE_SECONDS = 7 * 24 * 3600


class WebhookInProgressError(ConflictError):
    code = "duplicate_in_progress"


class WebhookDeduplicator:
    def __init__(self, *, table_name: str, expires_after_seconds: int = DEDUPE_SECONDS,
                 boto3_client: Any | None = None) -> None:
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=boto3_client)
        self._config = IdempotencyConfig(
            event_key_jmespath="webhook_id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )

    def __call__(self, webhook_id: str, enqueue: Callable[[], str], *, tenant_id: str) -> bool:
        marker = uuid.uuid4().hex

        # The record's key starts with the tenant (every key of ours names its tenant; an operator can find
        # one tenant's records), then Powertools' hash of the webhook id.
        @idempotent_function(data_keyword_argument="webhook", persistence_store=self._persistence,
                             config=self._config, key_prefix=f"crm_webhook#{tenant_id}")
        def crm_webhook_once(webhook: dict[str, str]) -> dict[str, str]:
            return {"marker": marker, "message_id": enqueue(), "tenant_id": tenant_id}

        try:
            result = crm_webhook_once(webhook={"webhook_id": webhook_id})
        except IdempotencyAlreadyInProgressError:
            raise WebhookInProgressError("this webhook id is being processed right now; retry shortly") from None
        return result["marker"] == marker
