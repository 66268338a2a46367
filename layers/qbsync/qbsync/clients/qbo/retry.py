"""When and how long QboClient waits before retrying. Pure, so it is unit-tested without sockets.

As stripe-python's `_should_retry` / `_sleep_time_seconds`:
- only retryable errors (throttled, 5xx, no answer) are retried, at most `max_retries` times, and an HTTP 500
  at most `internal_error_retries` (1) times: QBO's error table says "500 (retry once)" (QBO.md §6), since a 500
  that comes back is usually the request itself (a malformed payload), not a passing outage as 502-504 are;
- a `Retry-After` (seconds or HTTP-date, parsed into `error.retry_after`) is waited out exactly;
- a 429 without one waits `throttled_delay_seconds` (60 s: Intuit's advice, QBO.md §6.3);
- anything else backs off exponentially, `initial_delay * 2**retries` capped at `max_backoff`, scaled by a
  random factor in [0.5, 1.0] so Lambdas that failed together do not come back together;
- a wait longer than `max_sleep_seconds` is not slept through in-process: the error is raised instead (it
  is retryable), and the queue redelivers later rather than the Lambda sleeping into its timeout.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from qbsync.clients.qbo.errors import QboThrottledError


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    internal_error_retries: int = 1
    initial_delay_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    throttled_delay_seconds: float = 60.0
    max_sleep_seconds: float = 60.0
    random: random.Random = field(default_factory=random.Random, compare=False)

    def _required_wait(self, error: BaseException) -> float | None:
        """The wait QBO asked for (or that a 429 implies); None when it is up to us."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return max(0.0, float(retry_after))
        if isinstance(error, QboThrottledError):
            return self.throttled_delay_seconds
        return None

    def should_retry(self, error: BaseException, retries_so_far: int) -> bool:
        """`retries_so_far` counts the retries already made (0 after the first failure)."""
        if not getattr(error, "retryable", False) or retries_so_far >= self.max_retries:
            return False
        if getattr(error, "upstream_status", None) == 500 and retries_so_far >= self.internal_error_retries:
            return False
        required = self._required_wait(error)
        return required is None or required <= self.max_sleep_seconds

    def sleep_seconds(self, error: BaseException, retries_so_far: int) -> float:
        required = self._required_wait(error)
        if required is not None:
            return required
        backoff = min(self.max_backoff_seconds, self.initial_delay_seconds * (2**retries_so_far))
        return backoff * (0.5 + self.random.random() / 2)
