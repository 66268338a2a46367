"""Limits and injected faults: the per-realm rate window and in-flight cap (429), random 500s/429s,
dropped answers, added latency (QBO.md §6.3).

The rate window is a rolling 60 s (divided by `time_scale`) on the emulator clock; only admitted requests
count towards it, so a client that stays at the limit is never throttled. The in-flight count is per realm,
taken on admission and released when the response is produced, under one lock shared by all threads.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

from .clock import Clock


@dataclass
class FaultSettings:
    error_rate_500: float = 0.0
    error_rate_429: float = 0.0
    drop_answer_rate: float = 0.0
    latency_ms: int = 0
    seed: int | None = None
    rate_limit_per_minute: int = 500
    max_in_flight: int = 10
    time_scale: float = 1.0
    drop_mode: str = "close"  # "close": commit, then close the connection without answering; "502"


class Faults:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.settings = FaultSettings()
        self._lock = threading.Lock()
        self._random = random.Random()
        self._windows: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self.max_in_flight_seen: dict[str, int] = {}

    def configure(self, **knobs: Any) -> dict[str, Any]:
        names = {f.name for f in fields(FaultSettings)}
        with self._lock:
            for key, value in knobs.items():
                if key not in names:
                    raise ValueError(f"unknown fault setting {key!r}")
                setattr(self.settings, key, value)
            if self.settings.drop_mode not in ("close", "502"):
                raise ValueError("drop_mode must be 'close' or '502'")
            if self.settings.time_scale <= 0:
                raise ValueError("time_scale must be positive")
            if "seed" in knobs:
                self._random = random.Random(self.settings.seed)
            return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {f.name: getattr(self.settings, f.name) for f in fields(FaultSettings)}

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def shuffle(self, items: list[Any]) -> None:
        with self._lock:
            self._random.shuffle(items)

    def admit(self, realm_id: str) -> bool:
        """Take an in-flight slot and a place in the rate window, or refuse (-> 429)."""
        with self._lock:
            s = self.settings
            if s.error_rate_429 > 0 and self._random.random() < s.error_rate_429:
                return False
            in_flight = self._in_flight.get(realm_id, 0)
            if in_flight >= s.max_in_flight:
                return False
            now = self.clock.time()
            window = self._windows.setdefault(realm_id, deque())
            horizon = now - 60.0 / s.time_scale
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) >= s.rate_limit_per_minute:
                return False
            window.append(now)
            self._in_flight[realm_id] = in_flight + 1
            self.max_in_flight_seen[realm_id] = max(self.max_in_flight_seen.get(realm_id, 0), in_flight + 1)
            return True

    def release(self, realm_id: str) -> None:
        with self._lock:
            self._in_flight[realm_id] -= 1

    def reset_windows(self) -> None:
        with self._lock:
            self._windows.clear()
            self.max_in_flight_seen.clear()
