"""Request counters for assertions and benchmarks. Control-API calls are never counted."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._requests: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._minorversions: Counter[str] = Counter()
            self._events: Counter[str] = Counter()

    def request(self, endpoint: str) -> None:
        with self._lock:
            self._requests[endpoint] += 1

    def status(self, code: int) -> None:
        with self._lock:
            self._statuses[str(code)] += 1

    def minorversion(self, value: str | None) -> None:
        with self._lock:
            self._minorversions[value if value is not None else "missing"] += 1

    def event(self, name: str, amount: int = 1) -> None:
        """throttled_429, injected_500, dropped_answers, replayed_requestids, webhooks_sent..."""
        with self._lock:
            self._events[name] += amount

    def snapshot(self, max_in_flight_seen: dict[str, int]) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "total": sum(self._requests.values()),
                "statuses": dict(self._statuses),
                "minorversions": dict(self._minorversions),
                "throttled_429": self._events["throttled_429"],
                "injected_500": self._events["injected_500"],
                "dropped_answers": self._events["dropped_answers"],
                "replayed_requestids": self._events["replayed_requestids"],
                "webhooks_sent": self._events["webhooks_sent"],
                "webhooks_failed": self._events["webhooks_failed"],
                "max_in_flight_seen": dict(max_in_flight_seen),
            }
