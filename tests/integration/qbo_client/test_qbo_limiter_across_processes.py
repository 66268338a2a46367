"""The DynamoDB-backed QBO limiter holds Intuit's per-company limits across threads and processes, each
one a "Lambda" with its own QboClient, judged by the QBO emulator on the other end of real HTTP.

- The table is the template's RateLimitTable, in a moto server that every process reaches over HTTP, as
  Lambdas reach DynamoDB.
- moto's server runs requests on several threads and does not make a conditional write atomic against a
  concurrent one, which DynamoDB guarantees for every single-item write. `atomic_moto_server()` therefore
  serves one moto request at a time: DynamoDB's per-request atomicity, nothing more (the limiter's
  read-then-write steps still interleave freely between callers).
- The emulator is told to allow far more than QBO (in flight, per minute), so that it measures instead of
  limiting: its `max_in_flight_seen` is the peak of requests it was serving at once for the company.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

# Worker processes import this module to find `run_lambdas`: moto, werkzeug and the template reader are
# imported inside the fixtures, so a worker starts with no more than a Lambda would load.

TABLE = "qbsync-rate-limit-it"
REGION = "us-east-1"
LATENCY_MS = 250


def atomic_moto_server() -> Any:
    """A ThreadedMotoServer whose app serves one request at a time (see the module docstring)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Any:
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, one_at_a_time, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from qbsync_local.template import SamTemplate

    server = atomic_moto_server()
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto keeps state in process-wide backends that other tests in this process may have filled
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)
    dynamodb = dynamodb_client(url)
    definition = SamTemplate().resources["RateLimitTable"]["Properties"]
    dynamodb.create_table(TableName=TABLE, BillingMode=definition["BillingMode"],
                          AttributeDefinitions=definition["AttributeDefinitions"],
                          KeySchema=definition["KeySchema"])
    ttl = definition["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
        "Enabled": ttl["Enabled"], "AttributeName": ttl["AttributeName"]})
    yield url
    server.stop()


def dynamodb_client(moto_url: str) -> Any:
    return boto3.session.Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
        aws_session_token="testing",
    ).client("dynamodb", endpoint_url=moto_url,
             config=Config(connect_timeout=3, read_timeout=10, max_pool_connections=32,
                           retries={"mode": "standard", "max_attempts": 3}))


# ------------------------------------------------------------------------------------- the "Lambdas"


@dataclass(frozen=True)
class Load:
    """What each worker process does: `threads` Lambdas, each making `calls` QBO calls."""

    moto_url: str
    api_base_url: str
    realm_id: str
    token_answer: dict[str, Any]
    threads: int
    calls: int
    requests_per_minute: int = 500
    # Off by default: at 10 a second, 10 calls could only be in flight together if each took a second, and
    # the in-flight tests would take that long; the per-second cap is one atomic write, tested elsewhere.
    requests_per_second: int | None = None
    # Time runs `speedup` times faster for the limiter (its minute lasts 60 / speedup real seconds).
    speedup: float = 1.0
    epoch: float = 0.0
    use_limiter: bool = True  # False: the control run, showing what the same load does unlimited


def run_lambdas(load: Load) -> dict[str, Any]:
    """Runs in a worker process (or the test's own): `threads` concurrent QboClients sharing nothing but
    the table. Returns how many calls succeeded and every error, by type and message."""
    from qbsync.clients.qbo import QboClient, TokenSet
    from qbsync.clients.qbo.oauth import IntuitOAuthClient
    from qbsync.repositories.rate_limiter import QboRateLimiter, RateLimits

    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the emulator is plain http on loopback
    dynamodb = dynamodb_client(load.moto_url)
    tokens = TokenSet.from_token_response(load.token_answer, received_at=datetime.now(UTC))
    # Only its api_session is used: the token is already there, nothing talks to the token endpoint
    oauth = IntuitOAuthClient(client_id="unused", client_secret="unused", redirect_uri="http://x/cb")
    speedup, epoch = load.speedup, load.epoch

    def limiter_clock() -> float:
        return epoch + (time.time() - epoch) * speedup

    def limiter_sleep(seconds: float) -> None:
        time.sleep(seconds / speedup)

    start = threading.Barrier(load.threads)

    def one_lambda(_: int) -> tuple[int, list[str]]:
        limiter = QboRateLimiter(
            table_name=TABLE, dynamodb=dynamodb,
            limits=RateLimits(requests_per_minute=load.requests_per_minute,
                              requests_per_second=load.requests_per_second, max_in_flight=10,
                              lease_seconds=120 * speedup,
                              # 0.25 s of real time: at ×60 the product's 1.5 s would be 25 ms
                              token_on_time_seconds=max(1.5, 0.25 * speedup)),
            max_wait_seconds=120 * speedup, poll_interval_seconds=0.05 * speedup,
            clock=limiter_clock, sleep=limiter_sleep,
        )
        # max_retries=0: a 429 is reported, not absorbed by a retry
        client = QboClient(realm_id=load.realm_id, api_base_url=load.api_base_url,
                           session=oauth.api_session(tokens), limiter=limiter if load.use_limiter else None,
                           max_retries=0)
        start.wait(timeout=60)
        ok, errors = 0, []
        for _ in range(load.calls):
            try:
                client.company_info()
                ok += 1
            except Exception as error:  # noqa: BLE001 - reported to the test
                errors.append(f"{type(error).__name__}: {error}")
        return ok, errors

    with ThreadPoolExecutor(max_workers=load.threads) as pool:
        outcomes = list(pool.map(one_lambda, range(load.threads)))
    return {"ok": sum(ok for ok, _ in outcomes), "errors": [e for _, errs in outcomes for e in errs]}


def run_in_processes(load: Load, processes: int) -> list[dict[str, Any]]:
    # "spawn": a fresh interpreter per process, as separate Lambdas are (no fork of the test's threads)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return pool.map(run_lambdas, [load] * processes)


# --------------------------------------------------------------------------------------------- tests


@pytest.fixture
def realm(emu) -> str:
    # Unique across tests: the limiter table outlives each test's emulator, and counts per realm id
    return emu.create_company(country="US", realm_id=str(9_341_000_000_000 + int(uuid.uuid4().int % 10**9)))


@pytest.fixture
def load(emu, realm, moto_url, token_answer) -> Load:
    """A company whose emulator measures rather than limits, and a token for it."""
    emu.set_faults(latency_ms=LATENCY_MS, max_in_flight=1000, rate_limit_per_minute=100_000)
    return Load(moto_url=moto_url, api_base_url=emu.api_base_url, realm_id=realm,
                token_answer=token_answer(realm), threads=1, calls=1)


def peak_in_flight(emu, realm: str) -> int:
    return emu.counters()["max_in_flight_seen"].get(realm, 0)


def test_without_the_limiter_this_load_puts_more_than_10_in_flight(emu, realm, load):
    # The control: the load below really does overlap, so the limiter is what keeps it at 10
    outcome = run_lambdas(replace(load, threads=24, calls=1, use_limiter=False))
    assert outcome == {"ok": 24, "errors": []}
    assert peak_in_flight(emu, realm) > 10


def test_limiter_never_lets_an_11th_request_into_flight_across_threads(emu, realm, load):
    started = time.monotonic()
    outcome = run_lambdas(replace(load, threads=24, calls=3))
    elapsed = time.monotonic() - started
    assert outcome == {"ok": 72, "errors": []}
    counters = emu.counters()
    assert counters["throttled_429"] == 0
    # at least 4: the load really overlapped (a loaded CI machine rarely fills all 10); at most 10: the limit
    assert 4 <= peak_in_flight(emu, realm) <= 10, counters["max_in_flight_seen"]
    # 72 calls of 250 ms, 10 at a time, cannot take less than 1.8 s
    assert elapsed >= 72 * LATENCY_MS / 1000 / 10


def test_limiter_never_lets_an_11th_request_into_flight_across_processes(emu, realm, load):
    outcomes = run_in_processes(replace(load, threads=8, calls=3), processes=3)
    assert [o["errors"] for o in outcomes] == [[], [], []]
    assert sum(o["ok"] for o in outcomes) == 72
    counters = emu.counters()
    assert counters["throttled_429"] == 0
    # at least 4: the load really overlapped (a loaded CI machine rarely fills all 10); at most 10: the limit
    assert 4 <= peak_in_flight(emu, realm) <= 10, counters["max_in_flight_seen"]


# The per-minute budget, in a few seconds: the limiter's clock runs SPEEDUP times faster (its minute lasts
# 1 s), and the emulator's window is shrunk to half of that (`time_scale`). The emulator then refuses more
# than PER_MINUTE requests in any 0.5 s, which a limiter that lets a minute's budget through early cannot
# avoid, while the half-second margin absorbs the time between taking a token and reaching the emulator
# (a few ms on loopback; a 1/60 s bucket alone would be too tight on a busy 2-core machine).
SPEEDUP = 60.0
PER_MINUTE = 10


def test_limiter_keeps_the_per_minute_budget_across_processes(emu, realm, load):
    emu.set_faults(latency_ms=0, rate_limit_per_minute=PER_MINUTE, time_scale=2 * SPEEDUP)
    per_minute = replace(load, threads=3, calls=4, requests_per_minute=PER_MINUTE, speedup=SPEEDUP,
                         epoch=time.time())

    # The control: unlimited, this load is refused by the emulator
    unlimited = run_lambdas(replace(per_minute, use_limiter=False))
    assert any(error.startswith("QboThrottledError") for error in unlimited["errors"])
    emu.reset_counters()

    # When three processes of three Lambdas make 36 calls with a budget of 10 per (fast) minute
    started = time.monotonic()
    outcomes = run_in_processes(per_minute, processes=3)
    elapsed = time.monotonic() - started

    # Then every call succeeds without a 429, and the budget made them wait for three minutes to pass
    assert [o["errors"] for o in outcomes] == [[], [], []]
    assert sum(o["ok"] for o in outcomes) == 36
    assert emu.counters()["throttled_429"] == 0
    assert elapsed >= (math.ceil(36 / PER_MINUTE) - 1) * 60 / SPEEDUP


class LateBucketWrites:
    """A DynamoDB client whose per-second token write waits until the test says go: the Lambda that read
    its clock just before a second ended is still on the wire when the next second's caller checks."""

    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.reached = threading.Event()
        self.go = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dynamodb, name)

    def update_item(self, **request: Any) -> Any:
        if request["Key"]["sk"]["S"].startswith("second#"):
            self.reached.set()
            assert self.go.wait(10)
        return self._dynamodb.update_item(**request)


def test_a_token_still_being_written_into_the_ending_second_is_counted_by_the_next_second(moto_url, realm):
    # The interleaving behind the per-minute test's 429s, made deterministic: a budget of one request per
    # minute, and two Lambdas asking 2 ms apart across a second boundary.
    from qbsync.repositories.rate_limiter import QboRateLimiter, RateLimits

    limits = RateLimits(requests_per_minute=1, requests_per_second=None)
    boundary = 1_800_000_000.0
    slow_wire = LateBucketWrites(dynamodb_client(moto_url))
    early = QboRateLimiter(table_name=TABLE, dynamodb=slow_wire, limits=limits,
                           clock=lambda: boundary - 0.001)
    late = QboRateLimiter(table_name=TABLE, dynamodb=dynamodb_client(moto_url), limits=limits,
                          clock=lambda: boundary + 0.001)
    leases: dict[str, Any] = {}
    # Given the early Lambda has checked the minute's budget and is writing its token into the ending second
    writer = threading.Thread(target=lambda: leases.update(early=early.try_acquire(realm)))
    writer.start()
    assert slow_wire.reached.wait(10)
    # When the late Lambda asks in the next second, before that write lands
    leases["late"] = late.try_acquire(realm)
    slow_wire.go.set()
    writer.join(10)
    # Then at most one of them may call QBO: the minute's budget is one request
    granted = [name for name, lease in leases.items() if lease is not None]
    for name in granted:
        (early if name == "early" else late).release(leases[name])
    assert len(granted) <= 1, f"both Lambdas got the minute's only request: {granted}"
