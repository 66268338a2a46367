"""QBO counts a request when it arrives; the limiter counts it when the token is taken. The time between
the two (the limiter's own re-read, a new TLS connection, a busy Lambda) must not let a request land in
QBO's rolling minute next to the 500 that the limiter already allowed there.

One clock for the limiter and the emulator, which moves only when the test or a wait moves it, so the
interleaving is exact: a token taken at the end of one second whose request is still on the wire in the
next second. The limiter's table is the template's RateLimitTable in moto; QBO is the emulator over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from qbo_emulator import Clock
from qbsync.repositories.rate_limiter import QboRateLimiter, RateLimits

TABLE = "qbsync-rate-limit-late-arrival"
A_SECOND = 1_800_000_060  # a whole second on the shared clock


class StoppedClock(Clock):
    """The emulator's `Clock`, standing still unless moved."""

    def __init__(self, start: float) -> None:
        super().__init__()
        self._now = start

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._now += seconds

    def set(self, moment: float) -> None:
        self.advance(moment - self.time())


class SlowWire:
    """A session whose requests reach QBO `delay` seconds after they are sent."""

    def __init__(self, session: Any, clock: StoppedClock, delay: float) -> None:
        self._session, self._clock, self._delay = session, clock, delay

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self._clock.advance(self._delay)
        return self._session.request(method, url, **kwargs)


@pytest.fixture
def emulator_clock() -> StoppedClock:
    return StoppedClock(A_SECOND - 100)


@pytest.fixture
def limiter(template_table, emulator_clock) -> Iterator[QboRateLimiter]:
    dynamodb = template_table("RateLimitTable", TABLE)
    # A budget of 2 per minute, so that the third request decides; QBO's shape otherwise.
    yield QboRateLimiter(table_name=TABLE, dynamodb=dynamodb,
                         limits=RateLimits(requests_per_minute=2, requests_per_second=None),
                         max_wait_seconds=5, clock=emulator_clock.time, sleep=emulator_clock.advance)


def test_a_request_still_on_the_wire_from_the_previous_minute_is_not_exceeded_by_the_next(
    emu, realm, token_answer, limiter, emulator_clock
):
    from qbsync.clients.qbo import QboClient

    emu.set_faults(rate_limit_per_minute=2, max_in_flight=10, time_scale=1.0)
    access_token = token_answer(realm)["access_token"]

    def client(delay: float = 0.0) -> QboClient:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {access_token}"
        # max_retries=0: a 429 is reported, not waited out
        return QboClient(realm_id=realm, api_base_url=emu.api_base_url,
                         session=SlowWire(session, emulator_clock, delay) if delay else session,
                         limiter=limiter, max_retries=0, sleep=emulator_clock.advance, clock=emu.clock.now)

    # Given a token taken 0.1 s before a second ends, whose request reaches QBO 0.4 s later
    emulator_clock.set(A_SECOND - 61 + 0.9)
    client(delay=0.4).company_info()
    # and a second request half a second into the next second, on time
    emulator_clock.set(A_SECOND - 60 + 0.5)
    client().company_info()

    # When a third is asked for just after the minute of the *token* ended, but not the minute of the arrival
    emulator_clock.set(A_SECOND + 0.05)
    client().company_info()

    # Then QBO never saw more than 2 in its minute: the limiter waited until the late request's minute ended
    assert emu.counters()["throttled_429"] == 0
    assert emulator_clock.time() >= A_SECOND + 1
