"""Poll a condition instead of sleeping a guessed amount: the local stack's demo, the benchmarks and the
tests all wait this way, each raising the error its caller expects."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.05,
               message: str = "condition", error: type[BaseException] = TimeoutError) -> Any:
    """The first truthy value of `condition()`; `error` naming `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:g}s waiting for {message}")
        time.sleep(interval)
