"""Running QBO's limits on a scaled clock, consistently on both sides (issue 8 §1, throughput).

The QBO emulator shrinks its one-minute window with `set_faults(time_scale=s)`: 500 requests per 60/s real
seconds. qbsync's own limiter (`qbsync.repositories.rate_limiter.QboRateLimiter`) keeps its budget in
one-second buckets of *its* clock, which is `time.time` in production. For a time-scaled run the limiter
must see the same scaled time, or it would pace to the real 500/min while the emulator allows 500 per
60/s seconds (or the reverse). The limiter takes `clock` and `sleep` as constructor arguments; the product
builds it in `qbsync.composition.rate_limiter` with the defaults and no setting to scale them, so the
benchmark swaps that one builder for one that passes a scaled clock (everything else - the buckets, the
in-flight leases, the conditional writes - is the product's code unchanged).

Proposed product change (reported, not made): a `QboRateLimitTimeScale` template parameter / setting
`qbo_rate_limit_time_scale` (default 1, documented as local-benchmark only, like `QboThrottleWaitSeconds`)
that `composition.rate_limiter` passes on as `clock=scaled(time.time)`, `sleep=scaled(time.sleep)`.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class ScaledClock:
    """`time()` runs `scale` times as fast as the wall clock (continuous when the scale changes)."""

    def __init__(self, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._real0 = time.time()
        self._scaled0 = self._real0
        self.scale = scale

    def set_scale(self, scale: float) -> None:
        with self._lock:
            now = time.time()
            self._scaled0 = self._scaled0 + (now - self._real0) * self.scale
            self._real0 = now
            self.scale = scale

    def time(self) -> float:
        with self._lock:
            return self._scaled0 + (time.time() - self._real0) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)


class ScaledLimiter:
    """Installs the scaled limiter builder into `qbsync.composition`; `built` counts how many limiters the
    handlers built through it (a run where it stays 0 measured nothing and says so).

    `limits` (None: the product's defaults) lets a calibration switch the per-minute budget off instead of
    running the clock a thousand times fast: the limiter hands a token out only within 1.5 s of its second
    (qbsync.repositories.rate_limiter), and at ×1000 a 10 ms DynamoDB call is 10 seconds late."""

    def __init__(self, clock: ScaledClock, limits: Any = None) -> None:
        self.clock = clock
        self.limits = limits
        self.built = 0
        self._original: Any = None

    def install(self) -> "ScaledLimiter":
        from qbsync import composition
        from qbsync.repositories.rate_limiter import QboRateLimiter
        from qbsync.settings import get_settings

        self._original = composition.rate_limiter

        def rate_limiter(settings: Any = None) -> QboRateLimiter:
            self.built += 1
            limits = {} if self.limits is None else {"limits": self.limits}
            return QboRateLimiter(table_name=(settings or get_settings()).rate_limit_table,
                                  clock=self.clock.time, sleep=self.clock.sleep, **limits)

        composition.rate_limiter = rate_limiter
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            from qbsync import composition

            composition.rate_limiter = self._original
            self._original = None
