"""When a company is due for a poll (F18 frequency) and for its daily overdue check. Pure.

- `realtime` and `5m`: every schedule tick (real time also reacts to webhooks at once).
- `hourly`, `daily`, `weekly`: when that long has passed since the last successful poll, less half a tick:
  a poll finishes a little after the tick that started it, and without the slack "hourly" would slip to
  every 65 minutes.
- Whatever the frequency, a company is due when its daily checks are (SPEC: invoices become overdue
  without any QBO change, and expiry warnings are checked daily; they run once per company-local day,
  `next_local_midnight`, in the poll: `runner._CompanyPoll._daily_checks`).
- Webhook jobs only run for `realtime` tenants: the other frequencies promise a pace, not immediacy.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from qbsync.models.poll_messages import SyncState
from qbsync.models.queue_messages import PollJobMessage
from qbsync.models.tenant_settings import Frequency, TenantSettings

COVERED_SLACK = timedelta(seconds=1)
FREQUENCY_INTERVAL: dict[str, timedelta | None] = {
    "realtime": None,
    "5m": None,
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
}


def frequency_due(frequency: Frequency, last_success_at: datetime | None, *, now: datetime,
                  tick: timedelta) -> bool:
    interval = FREQUENCY_INTERVAL[frequency]
    if interval is None or last_success_at is None:
        return True
    return now - last_success_at >= interval - tick / 2


def overdue_check_due(next_check_at: datetime | None, *, now: datetime) -> bool:
    return next_check_at is None or now >= next_check_at


def is_due(settings: TenantSettings, state: SyncState, *, now: datetime, tick: timedelta) -> bool:
    return (frequency_due(settings.frequency, state.last_success_at, now=now, tick=tick)
            or overdue_check_due(state.next_overdue_check_at, now=now))


def _zone(time_zone: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(time_zone) if time_zone else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_local_midnight(now: datetime, time_zone: str | None) -> datetime:
    """The next 00:00 in the company's zone (UTC when it has none), as an aware datetime."""
    zone = _zone(time_zone) or UTC
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone)


def skip_reason(job: PollJobMessage, settings: TenantSettings, state: SyncState) -> str | None:
    """Why this job needs no run, or None. Backfill jobs are judged by the runner (scan state)."""
    if job.reason == "qbo_webhook" and settings.frequency != "realtime":
        return "webhooks_follow_frequency"
    if job.reason in ("schedule", "qbo_webhook") and state.last_success_started_at is not None \
            and job.requested_at + COVERED_SLACK <= state.last_success_started_at:
        # A poll that began after this job was asked for has already read the change that asked for it.
        # (A tick's time has whole seconds only: the slack keeps "after" true whatever its fraction was.)
        return "already_covered"
    return None
