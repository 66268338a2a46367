"""One dead-letter scan at a time per DLQ, across every Lambda and the operator's CLI.

A scan (qbsync.queues.redrive) receives every message of a DLQ and holds them in flight until it ends; a
second scan running meanwhile would not see those messages: a failures listing would come back short, a
release of waiting invoice events would miss them. So a scan first takes this lease: one item per DLQ in
the RateLimitTable (`pk = dlq_scan#<queue>`), claimed by a conditional write and given back by a
conditional delete of our own claim. A scan that dies keeps the lease until `lease_seconds` (longer than
the scan's visibility timeout, after which its messages are visible again anyway); `expires_at` (TTL) only
clears old items.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from qbsync.aws_clients import client
from qbsync.errors import RetryableError
from qbsync.repositories.dynamo import is_conditional_failure, to_item, to_values

LEASE_SECONDS = 90
WAIT_SECONDS = 20.0


class DeadLetterScanBusy(RetryableError):
    code = "dead_letter_scan_busy"

    def __init__(self, queue: str) -> None:
        super().__init__(f"another scan of the {queue} dead-letter queue is running; try again in a few seconds",
                         details={"queue": queue})


class DeadLetterScanLease:
    def __init__(self, *, table_name: str, queue: str, lease_seconds: int = LEASE_SECONDS,
                 wait_seconds: float = WAIT_SECONDS, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, dynamodb: Any | None = None) -> None:
        self._table_name = table_name
        self._queue = queue
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds
        self._clock = clock
        self._sleep = sleep
        self._dynamodb = dynamodb

    def _client(self) -> Any:
        return self._dynamodb or client("dynamodb")

    def _key(self) -> dict[str, Any]:
        return to_item({"pk": f"dlq_scan#{self._queue}", "sk": "lease"})

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait (up to `wait_seconds`) for the lease, hold it while the block runs, give it back.
        Raises `DeadLetterScanBusy` when another scan kept it all that time."""
        claim = uuid.uuid4().hex
        deadline = self._clock() + self._wait_seconds
        pause = 0.1
        while not self._try_claim(claim):
            if self._clock() + pause > deadline:
                raise DeadLetterScanBusy(self._queue)
            self._sleep(pause + random.uniform(0, pause))  # jittered: waiting scans do not retry in step
            pause = min(pause * 2, 1.0)
        try:
            yield
        finally:
            self._release(claim)

    def _try_claim(self, claim: str) -> bool:
        now = self._clock()
        try:
            self._client().put_item(
                TableName=self._table_name,
                Item={**self._key(), **to_item({"claim": claim, "lease_until": int(now) + self._lease_seconds,
                                                 "expires_at": int(now) + self._lease_seconds + 3600})},
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now",
                ExpressionAttributeValues=to_values({":now": int(now)}),
            )
        except ClientError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def _release(self, claim: str) -> None:
        try:
            self._client().delete_item(TableName=self._table_name, Key=self._key(),
                                       ConditionExpression="claim = :claim",
                                       ExpressionAttributeValues=to_values({":claim": claim}))
        except ClientError as error:
            if not is_conditional_failure(error):  # our lease lapsed and someone else holds it now: theirs
                raise
