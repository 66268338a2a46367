"""Per-tenant sync counters (SPEC F20 "counts by object and outcome"), in the connections table.

One item per (object type, outcome, reason) under the tenant's partition:
pk `TENANT#{tenant}`, sk `STATS#{object}#{outcome}#{reason or "-"}`, `count` raised with an atomic `ADD`, so
concurrent workers never lose an increment and no read-modify-write is needed. Reasons are qbsync's own
machine codes (`already_synced`, `tax_code_unmapped`...), a short closed set, so a tenant has a few dozen
items at most and the status page reads them with one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qbsync.aws_clients import client
from qbsync.repositories.dynamo import from_item, to_item, to_values
from qbsync.repositories.keys import tenant_pk

STATS_SK_PREFIX = "STATS#"
NO_REASON = "-"


def stats_sk(object_type: str, outcome: str, reason: str | None) -> str:
    return f"{STATS_SK_PREFIX}{object_type}#{outcome}#{reason or NO_REASON}"


@dataclass(frozen=True)
class OutcomeCount:
    object_type: str
    outcome: str
    reason: str | None
    count: int
    last_at: datetime | None


class SyncStatsRepository:
    def __init__(self, *, table_name: str, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def increment(self, tenant_id: str, object_type: str, outcome: str, reason: str | None = None, *,
                  amount: int = 1, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self._client().update_item(
            TableName=self._table_name,
            Key=to_item({"pk": tenant_pk(tenant_id), "sk": stats_sk(object_type, outcome, reason)}),
            UpdateExpression=("ADD #count :amount SET tenant_id = :tenant, object_type = :object, "
                              "outcome = :outcome, reason = :reason, last_at = :now"),
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues=to_values({
                ":amount": amount, ":tenant": tenant_id, ":object": object_type, ":outcome": outcome,
                ":reason": reason or NO_REASON, ":now": now.isoformat(),
            }),
        )

    def counts(self, tenant_id: str) -> list[OutcomeCount]:
        paginator = self._client().get_paginator("query")
        counts = []
        for page in paginator.paginate(
            TableName=self._table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=to_values({":pk": tenant_pk(tenant_id), ":prefix": STATS_SK_PREFIX}),
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                values = from_item(item)
                reason = values.get("reason")
                counts.append(OutcomeCount(
                    object_type=values["object_type"], outcome=values["outcome"],
                    reason=None if reason in (None, NO_REASON) else reason, count=int(values.get("count", 0)),
                    last_at=datetime.fromisoformat(values["last_at"]) if values.get("last_at") else None,
                ))
        return counts
