"""Poll a condition instead of sleeping a guessed amount; a timeout fails the test (AssertionError)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qbsync_local.waiting import wait_until as _wait_until


def wait_until(condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    """The first truthy value of `condition()`; AssertionError naming `message` after `timeout` seconds."""
    return _wait_until(condition, timeout=timeout, interval=interval, message=message, error=AssertionError)
