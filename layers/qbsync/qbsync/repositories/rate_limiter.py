"""The per-realm QBO request limiter every Lambda shares, kept in the RateLimitTable (QBO.md §6.3).

Intuit allows a company (realm) 500 requests per minute, 10 per second and 10 in flight, and answers 429
past that. Lambdas scale out independently, so the budget lives in DynamoDB, and each QBO call holds:

1. **An in-flight slot**: items `inflight#00` .. `inflight#09`. A slot is claimed by a conditional write
   (`attribute_not_exists(lease_id) OR lease_expires_at < now`) and freed by a conditional delete of our
   own lease. A single-item conditional write is atomic, so no more than `max_in_flight` leases are live
   at any time. A Lambda that dies mid-call never releases its slot; its lease simply expires
   (`lease_seconds`, default 120 s: QBO abandons any request after 120 s, so a live call never outlasts it).
2. **A request token**: one counter item per second, `second#<epoch second>`. The token is taken by a
   conditional `ADD requests 1` on the current second's item, allowed while its count is below both the
   per-second cap and what the previous 61 seconds (one consistent Query) left of the per-minute budget.
   62 one-second buckets are counted, not 60: a 60-second interval can touch 61 buckets, and QBO counts a
   request when it *arrives*, up to a second after its token was taken (the DynamoDB re-read below, a new
   TLS connection, a busy Lambda, clocks that differ by a few ms): a token taken at the end of one second
   can land in QBO's window together with the 61 buckets after it. Counting one bucket more keeps *every*
   60-second interval of arrivals within the limit as long as that delay stays under a second, for 1.6 %
   of the rate (500 per 62 s at most, not per 61). The check (a read) and the increment (a conditional
   write) are two calls, so a caller already in the next second can read this second's bucket before our
   token lands in it; after writing, the buckets up to the next second are read again and the token given
   back when our window or the next second's is over budget.
3. **A token on time.** The 62nd bucket covers a request that reaches QBO before the end of the second
   after its token's. The token's own calls (a read, a write, a re-read) can take that long when DynamoDB
   is slow or the Lambda is starved of CPU, so a token is kept only when the re-read is done by 1.5 s
   (`RateLimits.token_on_time_seconds`) after its second began, half a second left for the request
   itself; a later one is given back and a new one taken in the current second, up to `_TOKEN_TAKES`
   times, after which the caller waits as for an exhausted budget.

The slot is claimed first and the token second, just before the call: a token taken while waiting for a
slot would count a request in a second it was not sent in. When no token is left the slot is given back
and the wait lasts until the next second; when no slot is free, a short jittered poll.

Assumptions: Lambda clocks agree to well under a second (they are NTP-synced); a realm is keyed alone,
not by tenant, because Intuit counts per realm - two tenants on one company share one budget.
`expires_at` (TTL) only clears old items; no decision depends on TTL having run.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from qbsync.aws_clients import client
from qbsync.errors import RetryableError
from qbsync.observability import logger

_BUCKET_TTL_SECONDS = 180  # a bucket is read for 61 s; keep it a little longer, then let TTL clear it
_SLOT_TTL_GRACE_SECONDS = 3600
_WINDOW_SECONDS = 60
# Buckets before the current one that share its budget: 60 for the interval, 1 for the request's time on
# the way to QBO (module docstring).
_EARLIER_BUCKETS = _WINDOW_SECONDS + 1
_TOKEN_TAKES = 3  # a token late this many times in a row: wait as for an exhausted budget


class RateLimitWaitExceeded(RetryableError):
    """No QBO slot within `max_wait_seconds`: let the queue redeliver rather than wait in the Lambda."""

    code = "qbo_rate_limited_locally"


class RateLimiterUnavailable(RetryableError):
    code = "rate_limiter_unavailable"


@dataclass(frozen=True)
class RateLimits:
    requests_per_minute: int = 500
    requests_per_second: int | None = 10
    max_in_flight: int = 10
    lease_seconds: float = 120.0
    # A token whose own DynamoDB calls end later than this after its second began is given back and
    # retaken (module docstring, 3): what is left of the 62nd bucket is the request's time on the wire.
    # Only a test or benchmark whose limiter clock runs faster than real time has a reason to widen it.
    token_on_time_seconds: float = 1.5


@dataclass(frozen=True)
class Lease:
    realm_id: str
    slot: int
    lease_id: str
    expires_at: float


def _realm_key(realm_id: str) -> str:
    return f"realm#{realm_id}"


def _bucket_key(second: int) -> str:
    return f"second#{second:012d}"  # zero-padded: the sort key orders seconds as text


def _slot_key(slot: int) -> str:
    return f"inflight#{slot:02d}"


def _conditional_check_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class QboRateLimiter:
    def __init__(
        self,
        *,
        table_name: str,
        dynamodb: Any | None = None,
        limits: RateLimits = RateLimits(),
        max_wait_seconds: float = 30.0,
        poll_interval_seconds: float = 0.05,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not 1 <= limits.max_in_flight <= 100 or limits.requests_per_minute < 1:
            raise ValueError("limits must allow 1 to 100 requests in flight and at least one per minute")
        self._table = table_name
        self._dynamodb = dynamodb
        self._limits = limits
        self._max_wait = max_wait_seconds
        self._poll = poll_interval_seconds
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    @contextmanager
    def acquire(self, realm_id: str) -> Iterator[Lease]:
        """Blocks until this realm has a free slot and budget; holds the slot for the `with` body."""
        lease = self._wait_for_lease(realm_id)
        try:
            yield lease
        finally:
            self.release(lease)

    def try_acquire(self, realm_id: str) -> Lease | None:
        """One attempt, no waiting: a lease (slot and token taken), or None."""
        lease, _ = self._attempt(realm_id)
        return lease

    def release(self, lease: Lease) -> None:
        """Frees the slot. Never raises: a slot that could not be freed frees itself when its lease ends,
        and failing here would turn a QBO call that succeeded into an error."""
        try:
            self._db().delete_item(
                TableName=self._table,
                Key=self._key(lease.realm_id, _slot_key(lease.slot)),
                ConditionExpression="lease_id = :lease_id",
                ExpressionAttributeValues={":lease_id": {"S": lease.lease_id}},
            )
        except ClientError as error:
            # A failed condition: our lease ran out and the slot is someone else's now, not ours to free.
            reason = "lease expired" if _conditional_check_failed(error) else "dynamodb error"
            logger.warning("qbo slot not freed", extra={"realm_id": lease.realm_id, "reason": reason})
        except BotoCoreError as error:
            logger.warning(
                "qbo slot not freed", extra={"realm_id": lease.realm_id, "reason": type(error).__name__}
            )

    # ------------------------------------------------------------------ waiting

    def _wait_for_lease(self, realm_id: str) -> Lease:
        deadline = self._clock() + self._max_wait
        while True:
            lease, retry_at = self._attempt(realm_id)
            if lease is not None:
                return lease
            now = self._clock()
            if now >= deadline:
                raise RateLimitWaitExceeded(
                    f"no QBO request slot for realm {realm_id} within {self._max_wait:g} s",
                    details={"realm_id": realm_id},
                )
            self._sleep(max(0.0, min(retry_at, deadline) - now))

    def _attempt(self, realm_id: str) -> tuple[Lease | None, float]:
        """(lease, now) when both were taken; else (None, the clock time worth trying again at)."""
        now = self._clock()
        try:
            lease = self._claim_slot(realm_id, now)
            if lease is None:
                return None, now + self._poll * (1 + self._rng.random())
            if self._take_token(realm_id):
                return lease, now
            self.release(lease)
            # No budget before the window moves: the next second at the earliest; jittered so that
            # every waiting Lambda does not ask in the same millisecond.
            return None, int(now) + 1 + self._poll * self._rng.random()
        except (ClientError, BotoCoreError) as error:
            raise RateLimiterUnavailable(
                f"the QBO rate limiter table failed ({type(error).__name__})"
            ) from None

    # ------------------------------------------------------------------ slots

    def _claim_slot(self, realm_id: str, now: float) -> Lease | None:
        held = self._live_slots(realm_id, now)
        free = [slot for slot in range(self._limits.max_in_flight) if slot not in held]
        self._rng.shuffle(free)  # spread contenders over the free slots instead of all racing for one
        for slot in free:
            lease = Lease(realm_id, slot, uuid.uuid4().hex, now + self._limits.lease_seconds)
            try:
                self._db().update_item(
                    TableName=self._table,
                    Key=self._key(realm_id, _slot_key(slot)),
                    UpdateExpression=(
                        "SET lease_id = :lease_id, lease_expires_at = :lease_end, expires_at = :ttl"
                    ),
                    ConditionExpression="attribute_not_exists(lease_id) OR lease_expires_at < :now",
                    ExpressionAttributeValues={
                        ":lease_id": {"S": lease.lease_id},
                        ":lease_end": {"N": f"{lease.expires_at:.3f}"},
                        ":now": {"N": f"{now:.3f}"},
                        ":ttl": {"N": str(int(lease.expires_at) + _SLOT_TTL_GRACE_SECONDS)},
                    },
                )
                return lease
            except ClientError as error:
                if not _conditional_check_failed(error):
                    raise
        return None

    def _live_slots(self, realm_id: str, now: float) -> set[int]:
        items = self._query(realm_id, "inflight#00", f"inflight#{self._limits.max_in_flight - 1:02d}")
        live = set()
        for item in items:
            if "lease_id" in item and float(item["lease_expires_at"]["N"]) >= now:
                live.add(int(item["sk"]["S"].split("#", 1)[1]))
        return live

    # ------------------------------------------------------------------ tokens

    def _take_token(self, realm_id: str) -> bool:
        for _ in range(_TOKEN_TAKES):
            taken = self._take_token_once(realm_id, self._clock())
            if taken is not None:
                return taken
        logger.warning("qbo token late every time", extra={"realm_id": realm_id, "takes": _TOKEN_TAKES})
        return False

    def _take_token_once(self, realm_id: str, now: float) -> bool | None:
        """True: a token, on time. False: no budget. None: a token taken too late, given back (retake)."""
        second = int(now)
        used = sum(self._bucket_counts(realm_id, second - _EARLIER_BUCKETS, second - 1).values())
        allowed_now = self._limits.requests_per_minute - used
        if self._limits.requests_per_second is not None:
            allowed_now = min(allowed_now, self._limits.requests_per_second)
        if allowed_now <= 0:
            return False
        try:
            self._db().update_item(
                TableName=self._table,
                Key=self._key(realm_id, _bucket_key(second)),
                UpdateExpression="ADD requests :one SET expires_at = :ttl",
                ConditionExpression="attribute_not_exists(requests) OR requests < :allowed",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":allowed": {"N": str(allowed_now)},
                    ":ttl": {"N": str(second + _BUCKET_TTL_SECONDS)},
                },
            )
        except ClientError as error:
            if _conditional_check_failed(error):
                return False
            raise
        # The read above and the write are two calls: a caller already in the next second may have read
        # this second's bucket before our token landed in it, and both of us would pass. Re-read up to the
        # next second; if our window or the next second's is over budget, give the token back (both
        # racers may do so: being over-careful costs a retry, never a 429 from QBO).
        counts = self._bucket_counts(realm_id, second - _EARLIER_BUCKETS, second + 1)
        ours = sum(n for bucket, n in counts.items() if bucket <= second)
        next_seconds = sum(n for bucket, n in counts.items() if bucket > second - _EARLIER_BUCKETS)
        over_budget = max(ours, next_seconds) > self._limits.requests_per_minute
        late = self._clock() > second + self._limits.token_on_time_seconds
        if over_budget or late:
            self._give_back_token(realm_id, second)
            return False if over_budget else None
        return True

    def _give_back_token(self, realm_id: str, second: int) -> None:
        self._db().update_item(
            TableName=self._table,
            Key=self._key(realm_id, _bucket_key(second)),
            UpdateExpression="ADD requests :minus_one",
            ExpressionAttributeValues={":minus_one": {"N": "-1"}},
        )

    def _bucket_counts(self, realm_id: str, first: int, last: int) -> dict[int, int]:
        """Requests counted per second, for the seconds `first` to `last` (one consistent Query)."""
        items = self._query(realm_id, _bucket_key(first), _bucket_key(last))
        return {int(item["sk"]["S"].split("#", 1)[1]): int(item["requests"]["N"])
                for item in items if "requests" in item}

    # ------------------------------------------------------------------ table

    def _db(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = client("dynamodb")
        return self._dynamodb

    @staticmethod
    def _key(realm_id: str, sort_key: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": _realm_key(realm_id)}, "sk": {"S": sort_key}}

    def _query(self, realm_id: str, first: str, last: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": _realm_key(realm_id)},
                ":first": {"S": first},
                ":last": {"S": last},
            },
            "ConsistentRead": True,  # a just-written count or lease must be seen
        }
        while True:
            page = self._db().query(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
