"""When and how long to wait before retrying a CRM call. Pure, so it is unit-tested without sockets.

- only retryable errors are retried (429, 5xx, no answer), at most `max_retries` times;
- `Retry-After` (seconds or an HTTP-date) is honoured exactly when the server sent it;
- otherwise exponential backoff with jitter: `base * 2**attempt`, capped at `max_delay`, then scaled by
  a random factor in [0.5, 1.0] so that many Lambdas throttled together do not come back together;
- a `Retry-After` longer than `max_retry_after` is not waited out in-process: the error is raised (it is
  retryable) so the queue redelivers later instead of a Lambda sleeping through its timeout.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol


class RetryableFailure(Protocol):
    retryable: bool
    retry_after: float | None


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    random: random.Random = field(default_factory=random.Random, compare=False)

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """`attempt` counts the retries already made (0 after the first failure)."""
        if not getattr(error, "retryable", False) or attempt >= self.max_retries:
            return False
        retry_after = getattr(error, "retry_after", None)
        return retry_after is None or retry_after <= self.max_retry_after

    def sleep_seconds(self, error: BaseException, attempt: int) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return max(0.0, float(retry_after))
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        return backoff * (0.5 + self.random.random() / 2)
