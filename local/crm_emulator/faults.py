"""Injected failures: answer 429 or 5xx (with `Retry-After`) to a fraction of calls or the next N calls."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultPlan:
    status: int | None = None
    rate: float = 1.0
    retry_after: int | None = 1
    count: int | None = None
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def build(cls, status: int | None = None, rate: float = 1.0, retry_after: int | None = 1,
              count: int | None = None, seed: int | None = None) -> "FaultPlan":
        if status is not None and status != 429 and not 500 <= status <= 599:
            raise ValueError("fault status must be None, 429 or a 5xx")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rate must be within 0..1")
        if count is not None and count < 0:
            raise ValueError("fault count must be >= 0")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        return cls(status=status, rate=rate, retry_after=retry_after, count=count, seed=seed,
                   _random=random.Random(seed))

    def draw(self) -> int | None:
        """The status to answer this call with, or None to serve it normally."""
        if self.status is None:
            return None
        if self.count is not None:
            # "the next N calls" is deterministic: no dice, then the plan switches itself off.
            if self.count == 0:
                self.status = None
                return None
            self.count -= 1
            return self.status
        return self.status if self._random.random() < self.rate else None

    def describe(self) -> dict[str, Any]:
        return {"status": self.status, "rate": self.rate, "retry_after": self.retry_after,
                "count": self.count, "seed": self.seed}
