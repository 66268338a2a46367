"""Fires the template's Schedule events on a timer (moto never fires EventBridge rules).

Only `rate(...)` expressions are understood; a `cron(...)` schedule is refused at start-up rather than
silently never firing.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from qbsync_local.lambda_runtime import LocalFunction

from qbsync_local.logs import log

_UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> float:
    match = re.fullmatch(r"\s*rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)\s*", expression)
    if not match:
        raise ValueError(f"the local stack understands only rate(...) schedules, not {expression!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def scheduled_event(rule_arn: str, region: str, account_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class ScheduleTimer:
    def __init__(self, *, name: str, function: LocalFunction, interval_seconds: float, region: str,
                 account_id: str) -> None:
        self.name = name
        self.interval_seconds = interval_seconds
        self._function = function
        self._rule_arn = f"arn:aws:events:{region}:{account_id}:rule/qbsync-local-{name}"
        self._region = region
        self._account_id = account_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0

    def fire(self) -> Any:
        self.fired += 1
        log.info("schedule %s → %s", self.name, self._function.spec.logical_id)
        return self._function.invoke(scheduled_event(self._rule_arn, self._region, self._account_id))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.fire()
            except Exception:  # EventBridge retries and dead-letters; locally we log and go on
                log.exception("schedule %s failed", self.name)

    def start(self) -> "ScheduleTimer":
        self._thread = threading.Thread(target=self._loop, name=f"schedule-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
