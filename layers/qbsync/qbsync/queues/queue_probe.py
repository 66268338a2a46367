"""Is an SQS queue there? Used by /health."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qbsync.aws_clients import client


class QueueProbe:
    def __init__(self, *, sqs: Any | None = None) -> None:
        self._sqs = sqs

    def reachable(self, queue_url: str) -> bool:
        sqs = self._sqs or client("sqs")
        try:
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        except (ClientError, BotoCoreError):
            return False
        return True
