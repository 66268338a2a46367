"""Sending messages to our FIFO queues, with the group and deduplication ids the caller chose."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from qbsync.aws_clients import client


def string_attributes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


class FifoPublisher:
    def __init__(self, *, queue_url: str, sqs: Any | None = None) -> None:
        self._queue_url = queue_url
        self._sqs = sqs

    def publish(
        self,
        message: BaseModel,
        *,
        group_id: str,
        deduplication_id: str,
        attributes: dict[str, str] | None = None,
    ) -> str:
        response = (self._sqs or client("sqs")).send_message(
            QueueUrl=self._queue_url,
            MessageBody=message.model_dump_json(),
            MessageGroupId=group_id,
            MessageDeduplicationId=deduplication_id,
            MessageAttributes=string_attributes(attributes or {}),
        )
        return response["MessageId"]
