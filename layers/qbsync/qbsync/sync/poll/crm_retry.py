"""The CRM retry policy for a Lambda with a deadline (issue 6 §10).

The CRM client waits out a 429's `Retry-After` and backs off on 5xx in-process. A wait that would not end
before the Lambda must stop (less a reserve to save progress) is not started: the error is raised as it is -
retryable - so the poll job's record fails and SQS redelivers it later, instead of Lambda killing a sleeping
function. The job then resends only what the CRM has not confirmed (content hashes, watermark).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qbsync.clients.crm.retry import RetryPolicy

RESERVE_SECONDS = 10.0


def _forever() -> float:
    return float("inf")


@dataclass(frozen=True)
class DeadlineRetryPolicy(RetryPolicy):
    remaining_seconds: Callable[[], float] = field(default=_forever, compare=False)
    reserve_seconds: float = RESERVE_SECONDS

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        if not super().should_retry(error, attempt):
            return False
        return self.sleep_seconds(error, attempt) + self.reserve_seconds < self.remaining_seconds()
