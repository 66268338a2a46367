"""The retry policy (pure) and how QboClient applies it: Retry-After honoured, 60 s after a bare 429,
exponential backoff for 5xx, permanent errors never retried, the limiter held per attempt only."""

from __future__ import annotations

import random
from contextlib import contextmanager

import pytest
import requests
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import (
    QboConnectionError,
    QboDuplicateNameError,
    QboServerError,
    QboStaleObjectError,
    QboThrottledError,
    QboValidationError,
)
from qbsync.clients.qbo.retry import RetryPolicy
from qbo_stub_transport import StubResponse, StubTransport

CUSTOMER = {
    "Customer": {"Id": "1", "SyncToken": "0", "DisplayName": "Ann"},
    "time": "2025-01-01T00:00:00-08:00",
}


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def throttled(retry_after: float | None = None) -> QboThrottledError:
    return QboThrottledError("throttled", upstream_status=429, retry_after=retry_after)


# ---------------------------------------------------------------------------- the policy


def test_retry_after_in_seconds_is_waited_exactly():
    policy = RetryPolicy()
    assert policy.should_retry(throttled(retry_after=7), 0)
    assert policy.sleep_seconds(throttled(retry_after=7), 0) == 7


def test_a_429_without_retry_after_waits_60_seconds():
    assert RetryPolicy().sleep_seconds(throttled(), 0) == 60.0
    assert RetryPolicy().sleep_seconds(throttled(), 1) == 60.0


def test_retry_after_on_a_503_is_honoured_too():
    error = QboServerError("unavailable", upstream_status=503, retry_after=3)
    assert RetryPolicy().sleep_seconds(error, 0) == 3


def test_server_errors_back_off_exponentially_with_bounded_jitter():
    error = QboServerError("boom", upstream_status=500)
    top = RetryPolicy(initial_delay_seconds=0.5, max_backoff_seconds=8, random=FixedRandom(1.0))
    bottom = RetryPolicy(initial_delay_seconds=0.5, max_backoff_seconds=8, random=FixedRandom(0.0))

    assert [top.sleep_seconds(error, n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert [bottom.sleep_seconds(error, n) for n in range(3)] == [0.25, 0.5, 1.0]


def test_connection_errors_are_retried_with_backoff():
    error = QboConnectionError("no answer")
    policy = RetryPolicy(random=FixedRandom(1.0))
    assert policy.should_retry(error, 0)
    assert policy.sleep_seconds(error, 0) == 0.5


@pytest.mark.parametrize(
    "error",
    [
        QboValidationError("bad", upstream_status=400),
        QboStaleObjectError("stale", upstream_status=400),
        QboDuplicateNameError("dup", upstream_status=400),
        ValueError("not ours"),
    ],
)
def test_permanent_errors_are_never_retried(error):
    assert not RetryPolicy(max_retries=10).should_retry(error, 0)


def test_retries_stop_at_max_retries():
    policy = RetryPolicy(max_retries=2)
    error = QboServerError("unavailable", upstream_status=503)
    assert [policy.should_retry(error, n) for n in range(4)] == [True, True, False, False]


def test_an_internal_server_error_is_retried_once():
    # QBO.md §6: "500 (retry once)"; 502-504 and no answer keep the full budget.
    policy = RetryPolicy(max_retries=2)
    error = QboServerError("boom", upstream_status=500)
    assert [policy.should_retry(error, n) for n in range(3)] == [True, False, False]
    assert [policy.should_retry(QboServerError("gateway", upstream_status=502), n) for n in range(3)] == [
        True, True, False]


def test_a_wait_longer_than_the_lambda_should_sleep_is_left_to_the_queue():
    policy = RetryPolicy(max_sleep_seconds=60)
    assert policy.should_retry(throttled(retry_after=60), 0)
    assert not policy.should_retry(throttled(retry_after=61), 0)
    assert not RetryPolicy(max_sleep_seconds=30).should_retry(throttled(), 0)


# ---------------------------------------------------------------------------- the client applies it


class CountingLimiter:
    def __init__(self) -> None:
        self.in_flight = 0
        self.acquired = 0
        self.in_flight_while_sleeping: list[int] = []

    @contextmanager
    def acquire(self, realm_id: str):
        assert realm_id == "9130"
        self.acquired += 1
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


def make_client(answers, *, limiter=None, max_retries=2):
    scripted = list(answers)

    def responder(request):
        answer = scripted.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport = StubTransport(responder)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if limiter is not None:
            limiter.in_flight_while_sleeping.append(limiter.in_flight)

    client = QboClient(
        realm_id="9130",
        api_base_url="https://qbo.example/v3",
        session=transport.mount_on(requests.Session()),
        limiter=limiter,
        sleep=sleep,
        retry_policy=RetryPolicy(max_retries=max_retries, random=FixedRandom(1.0)),
    )
    return client, transport, sleeps


def test_the_client_waits_out_a_throttle_then_succeeds_holding_the_limiter_only_on_the_wire():
    limiter = CountingLimiter()
    client, transport, sleeps = make_client(
        [StubResponse(429, b"", {"Retry-After": "2"}), StubResponse(429, b""), StubResponse.json(CUSTOMER)],
        limiter=limiter,
    )

    customer = client.read("Customer", "1")

    assert customer["DisplayName"] == "Ann"
    assert sleeps == [2.0, 60.0]
    assert len(transport.requests) == 3
    assert limiter.acquired == 3
    assert limiter.in_flight_while_sleeping == [0, 0]


def test_the_client_backs_off_on_5xx_and_gives_up_after_max_retries():
    client, transport, sleeps = make_client([StubResponse(503, b"")] * 3, max_retries=2)

    with pytest.raises(QboServerError):
        client.read("Customer", "1")

    assert sleeps == [0.5, 1.0]
    assert len(transport.requests) == 3


def test_the_client_sends_a_request_qbo_answered_500_once_more_only():
    client, transport, sleeps = make_client([StubResponse(500, b"")] * 3, max_retries=2)

    with pytest.raises(QboServerError):
        client.read("Customer", "1")

    assert sleeps == [0.5]
    assert len(transport.requests) == 2


def test_the_client_never_retries_a_permanent_error():
    fault = {
        "Fault": {
            "Error": [{"Message": "Stale Object Error", "Detail": "", "code": "5010"}],
            "type": "ValidationFault",
        }
    }
    client, transport, sleeps = make_client([StubResponse.json(fault, status=400)])

    with pytest.raises(QboStaleObjectError):
        client.sparse_update("Customer", "1", "0", {"DisplayName": "B"}, request_key=("t", "e", "rename"))

    assert sleeps == []
    assert len(transport.requests) == 1


def test_a_timeout_is_retried_and_then_surfaces_as_retryable():
    client, transport, sleeps = make_client([requests.ReadTimeout("read timed out")] * 3)

    with pytest.raises(QboConnectionError) as raised:
        client.read("Customer", "1")

    assert raised.value.retryable
    assert len(transport.requests) == 3
    assert "qbo.example" not in str(raised.value)  # the URL (and any query in it) stays out
