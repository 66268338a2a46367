"""Dead-lettering with a reason.

SQS moves a message to the DLQ by itself only after maxReceiveCount failed receives, and then the message
carries no reason. For a *permanent* error (a validation failure, a missing tax mapping...) retrying only
wastes QBO calls and delays the message group, so the worker sends the message to the DLQ at once, with the
reason in message attributes, and reports the record as done. Operators list and redrive by those attributes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from qbsync.aws_clients import client

REASON_CODE = "qbsync-reason-code"
REASON_MESSAGE = "qbsync-reason-message"
REASON_DETAILS = "qbsync-reason-details"
FAILED_AT = "qbsync-failed-at"
SOURCE_QUEUE = "qbsync-source-queue"
ORIGINAL_MESSAGE_ID = "qbsync-original-message-id"

_MAX_ATTRIBUTE_CHARS = 1024


class DeadLetterReason(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


def _string_attribute(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value[:_MAX_ATTRIBUTE_CHARS] or "-"}


class DeadLetterPublisher:
    def __init__(self, *, dlq_url: str, source_queue: str, sqs: Any | None = None) -> None:
        self._dlq_url = dlq_url
        self._source_queue = source_queue
        self._sqs = sqs

    def publish(
        self,
        *,
        body: str,
        message_id: str,
        group_id: str | None,
        attributes: dict[str, dict[str, str]] | None,
        reason: DeadLetterReason,
    ) -> None:
        from qbsync.utils.jsonio import dumps

        message_attributes = {
            # Keep the producer's own attributes (tenant id, event type) so redrive restores them.
            **(attributes or {}),
            REASON_CODE: _string_attribute(reason.code),
            REASON_MESSAGE: _string_attribute(reason.message),
            REASON_DETAILS: _string_attribute(dumps(reason.details)),
            FAILED_AT: _string_attribute(datetime.now(UTC).isoformat()),
            SOURCE_QUEUE: _string_attribute(self._source_queue),
            ORIGINAL_MESSAGE_ID: _string_attribute(message_id),
        }
        request: dict[str, Any] = {
            "QueueUrl": self._dlq_url,
            "MessageBody": body,
            "MessageAttributes": message_attributes,
        }
        if self._dlq_url.endswith(".fifo"):
            request["MessageGroupId"] = group_id or message_id
            # The source message id: a worker that dead-letters, crashes and retries within SQS's
            # 5-minute deduplication window does not leave two copies.
            request["MessageDeduplicationId"] = message_id
        (self._sqs or client("sqs")).send_message(**request)
