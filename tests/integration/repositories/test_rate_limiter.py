"""The per-realm QBO limiter on DynamoDB (moto, in-process): never more than 10 in flight across threads,
never more than N requests in any rolling window, leases of crashed callers expire.

moto does not make a conditional write atomic against other threads the way DynamoDB does for every
single-item write, so the threaded tests call moto through `AtomicCalls`, which runs one API call at a
time: exactly DynamoDB's per-request atomicity, no more. The limiter's own logic is not serialised.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws
from qbsync.repositories.rate_limiter import (
    QboRateLimiter,
    RateLimits,
    RateLimitWaitExceeded,
)

TABLE = "qbsync-rate-limit"
REALM = "9130354815"


class AtomicCalls:
    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._dynamodb, name)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                return method(**kwargs)

        return call


class FakeClock:
    """Time that moves only when the limiter sleeps (or the test says so)."""

    def __init__(self, start: float = 1_750_000_000.25) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        # The RateLimitTable of infra/template.yaml.
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        client.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
        yield client


def limiter_on(dynamodb: Any, clock: FakeClock | None = None, **options: Any) -> QboRateLimiter:
    if clock is not None:
        options.update(clock=clock, sleep=clock.sleep)
    return QboRateLimiter(table_name=TABLE, dynamodb=dynamodb, **options)


def test_never_more_than_10_in_flight_across_30_threads(dynamodb):
    limiter = limiter_on(
        AtomicCalls(dynamodb),
        limits=RateLimits(requests_per_minute=100_000, requests_per_second=None),
        poll_interval_seconds=0.02,
        max_wait_seconds=120,
    )
    lock = threading.Lock()
    in_flight = 0
    peak = 0
    done = 0
    on_the_wire = threading.Event()  # never set: wait() is a sleep that holds the slot
    cap_reached = threading.Event()

    def call_qbo(_: int) -> None:
        nonlocal in_flight, peak, done
        for _ in range(2):
            with limiter.acquire(REALM):
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                    if peak >= 10:
                        cap_reached.set()
                # The first callers hold their slots until the others have pressed against the cap (at
                # most 5 s: a loaded machine claims slots slowly), so that the peak does not depend on
                # the machine's speed; then every call lasts long enough that, unlimited, all 30 would
                # overlap (a mutation check showed ~30).
                cap_reached.wait(5.0)
                on_the_wire.wait(0.2)
                with lock:
                    in_flight -= 1
                    done += 1

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(call_qbo, range(30)))

    assert done == 60
    assert peak <= 10
    assert peak == 10  # the callers did press against the limit
    # Every slot was given back: none is held now.
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert not [item for item in items if item["sk"]["S"].startswith("inflight#")]


def test_never_more_than_n_per_window_across_threads(dynamodb):
    limiter = limiter_on(
        AtomicCalls(dynamodb),
        limits=RateLimits(requests_per_minute=25, requests_per_second=None, max_in_flight=30),
        poll_interval_seconds=0.01,
        max_wait_seconds=3,
    )

    def call_qbo(_: int) -> bool:
        try:
            with limiter.acquire(REALM):
                return True
        except RateLimitWaitExceeded:
            return False

    with ThreadPoolExecutor(max_workers=30) as pool:
        admitted = sum(pool.map(call_qbo, range(30)))

    assert admitted == 25  # the budget is used, never exceeded; the other 5 wait and give up


def test_the_window_rolls_every_60_second_interval_stays_within_the_limit(dynamodb):
    clock = FakeClock()
    limiter = limiter_on(
        dynamodb,
        clock,
        limits=RateLimits(requests_per_minute=5, requests_per_second=None),
        max_wait_seconds=300,
    )
    admitted_at: list[float] = []

    for _ in range(16):
        with limiter.acquire(REALM):
            admitted_at.append(clock.now)
        clock.now += 0.3

    for start in admitted_at:  # any 60-second interval, starting at any admission
        assert sum(1 for moment in admitted_at if start <= moment < start + 60) <= 5
    # Waits were real: the 6th request came only after the first five left the window.
    assert admitted_at[5] - admitted_at[0] >= 60
    assert admitted_at[5] - admitted_at[0] <= 62  # ... and not much later


def test_the_per_second_cap(dynamodb):
    clock = FakeClock(start=1_750_000_000.1)
    limiter = limiter_on(dynamodb, clock, limits=RateLimits(requests_per_second=3), max_wait_seconds=0)

    for _ in range(3):
        with limiter.acquire(REALM):
            pass
    with pytest.raises(RateLimitWaitExceeded):
        with limiter.acquire(REALM):
            pass

    clock.now = 1_750_000_001.0
    with limiter.acquire(REALM):
        pass


def test_a_crashed_callers_lease_expires(dynamodb):
    clock = FakeClock()
    limiter = limiter_on(
        dynamodb,
        clock,
        limits=RateLimits(lease_seconds=120, requests_per_second=None),
        max_wait_seconds=30,
        poll_interval_seconds=1,
    )
    # Ten callers take a slot and die without releasing it (a Lambda timeout mid-call).
    crashed = [limiter.try_acquire(REALM) for _ in range(10)]
    assert all(crashed)

    with pytest.raises(RateLimitWaitExceeded):
        with limiter.acquire(REALM):
            pass
    assert clock.sleeps  # it waited before giving up

    clock.now += 120
    with limiter.acquire(REALM) as lease:
        assert 0 <= lease.slot < 10


def test_release_frees_the_slot_at_once_and_items_carry_a_ttl(dynamodb):
    clock = FakeClock()
    limiter = limiter_on(dynamodb, clock, limits=RateLimits(max_in_flight=2, requests_per_second=None))

    for _ in range(20):
        with limiter.acquire(REALM):
            pass

    assert clock.sleeps == []  # never waited: every release freed its slot
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert items and all(int(item["expires_at"]["N"]) > clock.now for item in items)
    assert {item["pk"]["S"] for item in items} == {f"realm#{REALM}"}


def test_realms_do_not_share_a_budget(dynamodb):
    clock = FakeClock()
    limiter = limiter_on(dynamodb, clock, limits=RateLimits(max_in_flight=1), max_wait_seconds=0)

    with limiter.acquire("realm-a"), limiter.acquire("realm-b"):
        assert limiter.try_acquire("realm-a") is None


def test_an_expired_lease_is_not_released_by_its_old_holder(dynamodb):
    clock = FakeClock()
    limiter = limiter_on(
        dynamodb, clock, limits=RateLimits(max_in_flight=1, lease_seconds=10, requests_per_second=None)
    )
    stale = limiter.try_acquire(REALM)
    clock.now += 11
    fresh = limiter.try_acquire(REALM)
    assert stale is not None and fresh is not None

    limiter.release(stale)  # the slow caller finally finishes

    assert limiter.try_acquire(REALM) is None  # the fresh holder still has the slot


class VirtualTime:
    """A clock shared by several threads that moves only when all of them wait: it then jumps to the
    earliest wake-up. The work between waits (the DynamoDB calls) takes no time, so the limiter's pacing is
    judged by itself, not by how fast this machine runs moto."""

    def __init__(self, threads: int, start: float = 1_750_000_000.25) -> None:
        self.now = start
        self._running = threads
        self._wakeups: list[float] = []
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            wake = self.now + seconds
            if wake <= self.now:
                return
            self._wakeups.append(wake)
            self._running -= 1
            self._move_if_all_wait()
            self._changed.wait_for(lambda: self.now >= wake)

    def finished(self) -> None:
        with self._changed:
            self._running -= 1
            self._move_if_all_wait()

    def _move_if_all_wait(self) -> None:
        if self._running or not self._wakeups:
            return
        self.now = max(self.now, min(self._wakeups))
        woken = [wake for wake in self._wakeups if wake <= self.now]
        self._wakeups = [wake for wake in self._wakeups if wake > self.now]
        self._running += len(woken)  # counted as running before they get the lock: time waits for them
        self._changed.notify_all()


def test_eight_lambdas_at_the_limit_use_95_percent_of_every_minute_and_never_more(dynamodb):
    # 8 Lambdas with a backlog, each QBO call 0.25 s on the wire: unlimited they would make 32 calls a
    # second. The limits are QBO's shape scaled down so the test makes hundreds of calls, not thousands:
    # 100 per minute, 5 per second (a minute's budget takes 20 s, as QBO's 500 at 10/s take 50 s), 10 in
    # flight.
    lambdas, on_the_wire, budget, per_second = 8, 0.25, 100, 5
    clock = VirtualTime(lambdas)
    limiter = limiter_on(AtomicCalls(dynamodb), limits=RateLimits(requests_per_minute=budget, requests_per_second=per_second),
                         max_wait_seconds=120, clock=clock, sleep=clock.sleep)
    admitted: list[float] = []
    lock = threading.Lock()
    in_flight = peak = 0

    def a_lambda(_: int) -> None:
        nonlocal in_flight, peak
        try:
            while True:
                with limiter.acquire(REALM):
                    with lock:
                        if len(admitted) >= 3 * budget:
                            return
                        admitted.append(clock())
                        in_flight += 1
                        peak = max(peak, in_flight)
                    clock.sleep(on_the_wire)
                    with lock:
                        in_flight -= 1
        finally:
            clock.finished()

    with ThreadPoolExecutor(max_workers=lambdas) as pool:
        list(pool.map(a_lambda, range(lambdas)))

    admitted.sort()
    # Never more than the budget in any 60 seconds, whichever moment the window starts at (QBO's rolling
    # minute)...
    busiest = max(sum(1 for moment in admitted[i:] if moment < start + 60) for i, start in enumerate(admitted))
    assert busiest <= budget
    # ... nor more than the per-second cap in any one second, nor more than 10 in flight
    per_second_seen = collections.Counter(int(moment) for moment in admitted)
    assert max(per_second_seen.values()) <= per_second
    assert peak <= 10
    # And the limit is used: once the first minute's budget is spent, each call comes at most 62 s (the
    # buckets the limiter counts, plus its jittered wake-up) after the call one budget before it, so the
    # sustained rate is at least 60/62.1 = 96.6 % of the limit.
    gaps = [later - earlier for earlier, later in zip(admitted, admitted[budget:])]
    assert 60 <= min(gaps) and max(gaps) <= 62.1, (min(gaps), max(gaps))


class SlowCalls:
    """DynamoDB that takes `seconds` of the fake clock per call: a throttled table or a starved Lambda."""

    def __init__(self, dynamodb: Any, clock: FakeClock, seconds: float) -> None:
        self._dynamodb, self._clock, self._seconds = dynamodb, clock, seconds

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._dynamodb, name)

        def call(**kwargs: Any) -> Any:
            self._clock.now += self._seconds
            return method(**kwargs)

        return call


def counted_seconds(dynamodb: Any) -> dict[int, int]:
    items = dynamodb.scan(TableName=TABLE)["Items"]
    return {int(item["sk"]["S"].split("#")[1]): int(item["requests"]["N"])
            for item in items if item["sk"]["S"].startswith("second#") and int(item["requests"]["N"])}


@pytest.mark.parametrize("start_in_second", [0.05, 0.3, 0.55, 0.8, 0.95])
@pytest.mark.parametrize("call_seconds", [0.05, 0.2, 0.3, 0.45])
def test_a_token_is_handed_out_by_1_5_s_after_its_second_began(dynamodb, start_in_second, call_seconds):
    # QBO counts a request when it arrives; the 62nd bucket covers arrival up to the end of the second
    # after the token's. The limiter's own calls may take most of that: a token that is late is retaken.
    clock = FakeClock(start=1_750_000_000 + start_in_second)
    limiter = limiter_on(SlowCalls(dynamodb, clock, call_seconds), clock, max_wait_seconds=30)

    with limiter.acquire(REALM):
        handed_out_at = clock()

    [(second, count)] = counted_seconds(dynamodb).items()  # one token, late ones given back
    assert count == 1
    assert handed_out_at <= second + 1.5


def test_a_limiter_whose_calls_always_take_too_long_gives_every_token_back(dynamodb):
    clock = FakeClock(start=1_750_000_000.1)
    limiter = limiter_on(SlowCalls(dynamodb, clock, 0.6), clock, max_wait_seconds=10)

    assert limiter.try_acquire(REALM) is None
    with pytest.raises(RateLimitWaitExceeded), limiter.acquire(REALM):
        pass

    assert counted_seconds(dynamodb) == {}  # nothing counted for requests never sent
    assert not [item for item in dynamodb.scan(TableName=TABLE)["Items"]
                if item["sk"]["S"].startswith("inflight#") and "lease_id" in item]
