"""Poll a condition instead of sleeping a guessed amount."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    """The first truthy value of `condition()`; AssertionError naming `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message}")
        time.sleep(interval)
