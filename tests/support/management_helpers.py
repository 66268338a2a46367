"""Helpers for the management API tests (issue 7): calling the API, sending CRM events, and snapshots of
everything qbsync could write, to prove that a dry run or a refusal changed nothing."""

from __future__ import annotations

from typing import Any

import requests
from connect_helpers import API_HEADERS

from crm_emulator.webhooks import CrmWebhookSender
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

QBO_ENTITIES = ("Customer", "Item", "Invoice", "Payment", "SalesReceipt")
# Every table a sync writes to. The rate limiter's table is left out on purpose: every QBO request (a dry
# run's reads too) takes a token from it (G4), and that is bookkeeping of calls, not of the sync.
SYNC_TABLES = ("ConnectionsTable", "MappingsTable", "IdempotencyTable")


class Api:
    def __init__(self, stack: Any, headers: dict[str, str] | None = None) -> None:
        self.base = stack.api.url
        self.headers = API_HEADERS if headers is None else headers

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)


def sender(stack: Any):
    webhooks = CrmWebhookSender(f"{stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])

    def send(event: dict[str, Any]) -> None:
        response = webhooks.send(event)
        assert response.status_code in (200, 202), response.text

    return send


def qbo_invoices_for(stack: Any, realm: str, crm_invoice_id: str) -> list[dict[str, Any]]:
    return [i for i in stack.qbo_emulator.entities(realm, "Invoice")
            if f"crm_invoice_id={crm_invoice_id}]" in str(i.get("PrivateNote", ""))]


def scan_table(stack: Any, logical_id: str) -> list[dict[str, Any]]:
    dynamodb = stack.aws_client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.deployed.physical_ids[logical_id]):
        items.extend(page["Items"])
    return sorted(items, key=lambda item: (str(item.get("pk")), str(item.get("sk"))))


def qbo_writes(counters: dict[str, Any]) -> dict[str, int]:
    """The QBO emulator's request counts that can change something. Reads, queries and CDC are left out,
    and so are batches: the poll's scan sends its queries as batches (a batch that wrote would still show
    in the entity snapshots)."""
    return {endpoint: count for endpoint, count in counters["requests"].items()
            if not endpoint.startswith("GET") and not endpoint.endswith(("/query", "/batch"))}


def world(stack: Any, realms: list[str]) -> dict[str, Any]:
    """Everything a sync could have written: QBO objects and write calls, CRM calls and records, our tables."""
    return {
        "qbo_entities": {(realm, entity): stack.qbo_emulator.entities(realm, entity)
                         for realm in realms for entity in QBO_ENTITIES},
        "qbo_writes": qbo_writes(stack.qbo_emulator.counters()),
        "crm_calls": stack.crm_emulator.counters()["calls"],
        "crm_state": stack.crm_emulator.state()["tenants"],
        "tables": {name: scan_table(stack, name) for name in SYNC_TABLES},
    }


def queue_depth(stack: Any, logical_id: str = "CrmEventsDeadLetterQueue") -> int:
    attributes = stack.aws_client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
