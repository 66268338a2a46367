"""Webhook ids already received (Standard Webhooks' `webhook-id`): one marker item each, on the idempotency table.

The CRM redelivers a webhook until it gets a 2xx, so one `webhook-id` can arrive twice, even at the same moment.
`qbsync.sync.crm_ingest` claims the webhook id for its event *before* enqueueing, with one conditional PutItem
that hands back the marker it lost to: the first delivery is accepted, a repeat of the same event is a duplicate
(enqueued again, which the queue and the worker absorb), and an id reused for another event is ignored.

Why not Powertools idempotency any more (it was used here until issue 8): it guards a function call, with two writes
per call (an INPROGRESS PutItem, then the COMPLETED UpdateItem), and answers a repeat that arrives while the first
call runs with "in progress" (our former 409 `duplicate_in_progress`, which the CRM had to retry). Here nothing
needs guarding: the enqueue is idempotent by itself (the FIFO deduplication id `tenant#event_id` within 5
minutes, the worker's business keys after that).

Key: `crm_webhook#{tenant}#{sha256 of the webhook id}`: the tenant first, as in every key of ours; the hash keeps a
sender's id of any length or alphabet out of the key. `expiration` is the table's TTL attribute; a marker past it
counts as absent even before DynamoDB deletes it (deletion lags by up to days).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qbsync.aws_clients import client
from qbsync.observability import logger
from qbsync.repositories.dynamo import is_conditional_failure, to_item, to_values

# Longer than any retry schedule a webhook sender uses (Svix/Standard Webhooks: ~1.5 days).
DEDUPE_SECONDS = 7 * 24 * 3600


def marker_id(tenant_id: str, webhook_id: str) -> str:
    return f"crm_webhook#{tenant_id}#{hashlib.sha256(webhook_id.encode()).hexdigest()}"


class WebhookDeduplicator:
    def __init__(self, *, table_name: str, expires_after_seconds: int = DEDUPE_SECONDS,
                 dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._expires_after = expires_after_seconds
        self._dynamodb = dynamodb

    def claim(self, tenant_id: str, webhook_id: str, *, event_id: str, now: datetime) -> str | None:
        """None when this is the tenant's first delivery of `webhook_id`, now claimed for `event_id`; else the
        event id it was first received with."""
        seconds = int(now.timestamp())
        try:
            self._client().put_item(
                TableName=self._table_name,
                Item=to_item({
                    "id": marker_id(tenant_id, webhook_id), "tenant_id": tenant_id, "event_id": event_id,
                    "received_at": now.astimezone(UTC).isoformat(), "expiration": seconds + self._expires_after,
                }),
                ConditionExpression="attribute_not_exists(#id) OR #expiration < :now",
                ExpressionAttributeNames={"#id": "id", "#expiration": "expiration"},
                ExpressionAttributeValues=to_values({":now": seconds}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return error.response.get("Item", {}).get("event_id", {}).get("S", "")
            raise
        return None

    def unclaim(self, tenant_id: str, webhook_id: str, *, event_id: str) -> None:
        """Gives the id back after the enqueue failed, so that the CRM's retry is a first delivery again. Never
        raises: a claim left behind only turns that retry's answer into `duplicate` (it is enqueued all the
        same, being the same event)."""
        try:
            self._client().delete_item(
                TableName=self._table_name, Key=to_item({"id": marker_id(tenant_id, webhook_id)}),
                ConditionExpression="event_id = :event", ExpressionAttributeValues=to_values({":event": event_id}))
        except ClientError as error:
            # A failed condition: the claim is another event's, not ours to give back.
            if not is_conditional_failure(error):
                logger.warning("webhook id claim not given back", extra={"tenant_id": tenant_id,
                                                                         "reason": "dynamodb error"})
        except BotoCoreError as error:
            logger.warning("webhook id claim not given back", extra={"tenant_id": tenant_id,
                                                                     "reason": type(error).__name__})

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")
