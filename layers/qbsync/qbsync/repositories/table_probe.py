"""Is a DynamoDB table there and active? Used by /health."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qbsync.aws_clients import client


class TableProbe:
    def __init__(self, *, dynamodb: Any | None = None) -> None:
        self._dynamodb = dynamodb

    def reachable(self, table_name: str) -> bool:
        dynamodb = self._dynamodb or client("dynamodb")
        try:
            status = dynamodb.describe_table(TableName=table_name)["Table"]["TableStatus"]
        except (ClientError, BotoCoreError):
            return False
        return status in ("ACTIVE", "UPDATING")
