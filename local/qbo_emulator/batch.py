"""POST /batch (QBO.md §5): up to 30 independent items, each answered by bId, in no particular order.

Items run one after another against the same engine as single requests; each failure becomes that item's
Fault and the others still run. The answer order is shuffled (seeded by the fault settings' seed) so a
client that matches answers by position instead of bId fails in tests, not in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .company import Company
from .entities import ENTITY_TYPES
from .errors import (
    QboFault,
    batch_too_large,
    malformed_request,
    required_param,
    string_length,
    unsupported_operation,
)
from .operations import Engine

MAX_ITEMS = 30
_ITEM_KEYS = {"bId", "operation", "optionsData", "Query"}


def run_batch(
    engine: Engine,
    company: Company,
    body: Any,
    *,
    requestid: str | None,
    query: Callable[[str], dict[str, Any]],
    shuffle: Callable[[list[Any]], None],
) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("BatchItemRequest"), list):
        raise malformed_request('the body must be {"BatchItemRequest": [...]}')
    items = body["BatchItemRequest"]
    if len(items) > MAX_ITEMS:
        raise batch_too_large(len(items), MAX_ITEMS)
    if not items:
        raise required_param("BatchItemRequest")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("bId"), str) or not item["bId"]:
            raise required_param("bId")
        if item["bId"] in seen:
            raise malformed_request(f"duplicate bId {item['bId']!r}")
        if requestid is not None and len(item["bId"]) > 10:
            raise string_length("bId", 10, len(item["bId"]))  # with a requestid, bIds are at most 10 chars
        seen.add(item["bId"])
    order = list(items)
    shuffle(order)
    return [_run_item(engine, company, item, query) for item in order]


def _run_item(
    engine: Engine, company: Company, item: dict[str, Any], query: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    bid = item["bId"]
    try:
        if "Query" in item:
            return {"bId": bid, "QueryResponse": query(item["Query"])}
        names = [key for key in item if key not in _ITEM_KEYS]
        if len(names) != 1 or names[0] not in ENTITY_TYPES or not ENTITY_TYPES[names[0]].api_writable:
            raise malformed_request(f"batch item {bid} must carry exactly one supported entity")
        etype = ENTITY_TYPES[names[0]]
        body, operation, options = item[names[0]], item.get("operation"), item.get("optionsData")
        if operation == "create":
            result = engine.create(
                company, etype, body, allow_duplicate_docnum="allowduplicatedocnum" in (options or "")
            )
        elif operation == "update" and options == "void":
            result = engine.void(company, etype, body, style=None)
        elif operation == "update":
            result = engine.update(
                company, etype, body, sparse=isinstance(body, dict) and body.get("sparse") is True
            )
        elif operation == "delete":
            result = engine.delete(company, etype, body)
        else:
            raise unsupported_operation(f"{operation!r} in batch")
        return {"bId": bid, etype.name: result}
    except QboFault as fault:
        return {"bId": bid, "Fault": fault.fault()}
