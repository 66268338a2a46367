"""The emulator's notion of "now": wall-clock time plus an offset that tests can move forward.

Token expiry, refresh-token grace, MetaData times, CDC windows and rate-limit windows all read this
clock, so a test can jump an hour ahead instead of sleeping for one.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, *, offset_seconds: float = 0.0) -> None:
        self._offset = float(offset_seconds)
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, like time.time()."""
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        """An aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def advance_to(self, moment: datetime) -> None:
        """Jump to an absolute moment (must not be in the past)."""
        self.advance(max(0.0, (moment - self.now()) / timedelta(seconds=1)))
