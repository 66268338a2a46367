"""What a request left behind on the local stack: every DynamoDB item, every queue's depth, the QBO
emulator's request count and objects, and the CRM emulator's call count.

    before = Trace.of(stack)
    ... a refused request ...
    Trace.of(stack).assert_same_as(before)     # nothing changed anywhere

Meant for a stack whose queue runners are off and whose QBO emulator holds its webhooks
(`set_webhooks(auto=False)`): then nothing moves in the background and any difference is the request's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_clients: dict[tuple[str, str], Any] = {}


def _client(stack: Any, service: str) -> Any:
    # A boto3 client costs a few hundred milliseconds to build; one per moto server and service is enough.
    key = (stack.moto.url, service)
    if key not in _clients:
        _clients[key] = stack.aws_client(service)
    return _clients[key]


def scan_table(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def all_items(stack: Any) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table of the stack, by table name (low-level attribute-value form)."""
    dynamodb = _client(stack, "dynamodb")
    return {table: scan_table(dynamodb, table) for table in dynamodb.list_tables()["TableNames"]}


def queue_depths(stack: Any) -> dict[str, int]:
    """Visible plus in-flight messages of every queue of the stack, by queue URL."""
    sqs = _client(stack, "sqs")
    depths = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[url] = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
    return depths


def qbo_entity_counts(stack: Any) -> dict[str, int]:
    emulator = stack.qbo_emulator
    counts = {}
    for realm in list(emulator.companies):
        for entity in ("Customer", "Item", "Invoice", "Payment", "SalesReceipt"):
            counts[f"{realm}/{entity}"] = len(emulator.entities(realm, entity))
    return counts


def _canonical(items: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(json.dumps(item, sort_keys=True, default=str) for item in items)


@dataclass(frozen=True)
class Trace:
    items: dict[str, frozenset[str]]
    queues: dict[str, int]
    qbo_requests: int
    qbo_entities: dict[str, int]
    crm_calls: int

    @classmethod
    def of(cls, stack: Any) -> "Trace":
        return cls(
            items={table: _canonical(items) for table, items in all_items(stack).items()},
            queues=queue_depths(stack),
            qbo_requests=int(stack.qbo_emulator.counters()["total"]),
            qbo_entities=qbo_entity_counts(stack),
            crm_calls=int(stack.crm_emulator.counters()["calls"]),
        )

    def differences(self, before: "Trace") -> list[str]:
        found = []
        for table in sorted(set(self.items) | set(before.items)):
            added = self.items.get(table, frozenset()) - before.items.get(table, frozenset())
            removed = before.items.get(table, frozenset()) - self.items.get(table, frozenset())
            found += [f"DynamoDB {table}: added {item}" for item in sorted(added)]
            found += [f"DynamoDB {table}: removed {item}" for item in sorted(removed)]
        for url in sorted(set(self.queues) | set(before.queues)):
            if self.queues.get(url, 0) != before.queues.get(url, 0):
                found.append(
                    f"SQS {url.rsplit('/', 1)[-1]}: {before.queues.get(url, 0)} → {self.queues.get(url, 0)}"
                )
        if self.qbo_requests != before.qbo_requests:
            found.append(f"QBO requests: {before.qbo_requests} → {self.qbo_requests}")
        if self.qbo_entities != before.qbo_entities:
            found.append(f"QBO objects: {before.qbo_entities} → {self.qbo_entities}")
        if self.crm_calls != before.crm_calls:
            found.append(f"CRM calls: {before.crm_calls} → {self.crm_calls}")
        return found

    def assert_same_as(self, before: "Trace", what: str = "the request") -> None:
        changes = self.differences(before)
        assert not changes, f"{what} left a trace:\n  " + "\n  ".join(changes)
