"""Connections table access: a tenant's connections to QBO companies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from qbsync.aws_clients import client
from qbsync.models.connection_records import ConnectionSummary
from qbsync.repositories.keys import CONNECTION_SK_PREFIX


class ConnectionsRepository:
    def __init__(self, *, table_name: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def iter_connected(self) -> Iterator[ConnectionSummary]:
        """Every connection whose status is `connected`, across tenants (the scheduler's full scan)."""
        paginator = self._client().get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table_name,
            FilterExpression="begins_with(sk, :prefix) AND #status = :connected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":prefix": {"S": CONNECTION_SK_PREFIX}, ":connected": {"S": "connected"}},
            ProjectionExpression="tenant_id, realm_id, #status",
        ):
            for item in page.get("Items", []):
                yield ConnectionSummary(
                    tenant_id=item["tenant_id"]["S"], realm_id=item["realm_id"]["S"], status=item["status"]["S"]
                )
