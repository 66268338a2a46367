"""Batch requests: many operations in one call, each answered on its own (QBO.md §5).

- at most 30 items per request (the most-cited limit; QBO.md marks 10/30/50 as a conflict, so the client
  can be told a smaller size); more operations are split into several requests;
- each item has a `bId` (at most 10 characters when the request carries a requestid); answers may come in
  any order and are matched back by `bId`; an answer missing for a `bId` is reported as retryable;
- items are independent: some succeed while others fail, so a failure is returned per item, classified by
  the same rules as a whole answer (`error_from_fault`), and never raised for the batch.

A batch's requestid replays the whole original answer, failed items included: resend failed items in a
new batch under a new request key (e.g. with a "retry-1" step), never the ones that succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qbsync.clients.qbo.errors import QboError, QboServerError, error_from_fault
from qbsync.clients.qbo.query import checked_entity

MAX_BATCH_ITEMS = 30
MAX_BID_LENGTH = 10


@dataclass(frozen=True)
class BatchOperation:
    """One item of a batch; build it with `create`, `sparse_update`, `delete` or `query`."""

    operation: str
    entity: str | None = None
    body: Mapping[str, Any] | None = None
    statement: str | None = None
    bid: str | None = None

    @classmethod
    def create(cls, entity: str, body: Mapping[str, Any], *, bid: str | None = None) -> BatchOperation:
        return cls("create", checked_entity(entity), dict(body), bid=bid)

    @classmethod
    def sparse_update(
        cls,
        entity: str,
        entity_id: str,
        sync_token: str,
        changes: Mapping[str, Any],
        *,
        bid: str | None = None,
    ) -> BatchOperation:
        body = {**changes, "Id": entity_id, "SyncToken": sync_token, "sparse": True}
        return cls("update", checked_entity(entity), body, bid=bid)

    @classmethod
    def delete(
        cls, entity: str, entity_id: str, sync_token: str, *, bid: str | None = None
    ) -> BatchOperation:
        return cls("delete", checked_entity(entity), {"Id": entity_id, "SyncToken": sync_token}, bid=bid)

    @classmethod
    def query(cls, statement: str, *, bid: str | None = None) -> BatchOperation:
        return cls("query", statement=statement, bid=bid)

    def to_item(self, bid: str) -> dict[str, Any]:
        if self.operation == "query":
            return {"bId": bid, "Query": self.statement}
        return {"bId": bid, "operation": self.operation, str(self.entity): self.body}


@dataclass(frozen=True)
class BatchItemResult:
    bid: str
    operation: BatchOperation
    entity: dict[str, Any] | None = None
    query_response: dict[str, Any] | None = None
    error: QboError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def assign_bids(operations: Sequence[BatchOperation]) -> list[tuple[str, BatchOperation]]:
    """Each operation with its bId: the one it was given, else its 1-based position."""
    pairs = [(op.bid or str(index), op) for index, op in enumerate(operations, start=1)]
    bids = [bid for bid, _ in pairs]
    if len(set(bids)) != len(bids):
        raise ValueError("bIds must be unique within a batch call")
    too_long = [bid for bid in bids if len(bid) > MAX_BID_LENGTH]
    if too_long:
        raise ValueError(f"bIds longer than {MAX_BID_LENGTH} characters: {too_long[:3]}")
    return pairs


def chunked(pairs: Sequence[tuple[str, BatchOperation]], size: int) -> list[list[tuple[str, BatchOperation]]]:
    if not 1 <= size <= MAX_BATCH_ITEMS:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_ITEMS}")
    return [list(pairs[start : start + size]) for start in range(0, len(pairs), size)]


def request_body(pairs: Sequence[tuple[str, BatchOperation]]) -> dict[str, Any]:
    return {"BatchItemRequest": [op.to_item(bid) for bid, op in pairs]}


def _answer_entity(answer: Mapping[str, Any], op: BatchOperation) -> dict[str, Any] | None:
    if op.entity and isinstance(answer.get(op.entity), dict):
        return answer[op.entity]
    for key, value in answer.items():
        if key != "bId" and isinstance(value, dict):
            return value
    return None


def correlate(
    pairs: Sequence[tuple[str, BatchOperation]], envelope: Mapping[str, Any], *, intuit_tid: str | None
) -> list[BatchItemResult]:
    """One result per operation, in the order of `pairs`, whatever order QBO answered in."""
    answers = {
        str(answer.get("bId")): answer
        for answer in envelope.get("BatchItemResponse") or []
        if isinstance(answer, Mapping)
    }
    results = []
    for bid, op in pairs:
        answer = answers.get(bid)
        if answer is None:
            error: QboError = QboServerError(
                f"QBO's batch answer has no item bId={bid}", intuit_tid=intuit_tid
            )
            results.append(BatchItemResult(bid, op, error=error))
        elif isinstance(answer.get("Fault"), Mapping):
            error = error_from_fault(answer["Fault"], upstream_status=None, intuit_tid=intuit_tid)
            results.append(BatchItemResult(bid, op, error=error))
        elif isinstance(answer.get("QueryResponse"), dict):
            results.append(BatchItemResult(bid, op, query_response=answer["QueryResponse"]))
        else:
            results.append(BatchItemResult(bid, op, entity=_answer_entity(answer, op)))
    return results
