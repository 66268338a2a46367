"""Due-ness of a company under its frequency, the daily overdue check, and jobs that need no run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qbsync.models.poll_messages import SyncState
from qbsync.models.queue_messages import PollJobMessage
from qbsync.models.tenant_settings import TenantSettings
from qbsync.sync.poll.due import frequency_due, is_due, next_local_midnight, overdue_check_due, skip_reason

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TICK = timedelta(minutes=5)


@pytest.mark.parametrize("frequency", ["realtime", "5m"])
def test_realtime_and_five_minutes_are_due_on_every_tick(frequency):
    assert frequency_due(frequency, NOW - timedelta(seconds=1), now=NOW, tick=TICK)


@pytest.mark.parametrize(("frequency", "since_last", "due"), [
    ("hourly", timedelta(minutes=57, seconds=30), True),  # within half a tick of the hour: this tick
    ("hourly", timedelta(minutes=50), False),
    ("daily", timedelta(hours=23, minutes=58), True),
    ("daily", timedelta(hours=20), False),
    ("weekly", timedelta(days=7), True),
    ("weekly", timedelta(days=6, hours=23), False),
])
def test_slower_frequencies_are_due_by_the_last_successful_poll(frequency, since_last, due):
    assert frequency_due(frequency, NOW - since_last, now=NOW, tick=TICK) is due


def test_a_company_never_polled_is_due_whatever_its_frequency():
    assert frequency_due("weekly", None, now=NOW, tick=TICK)


def test_the_daily_overdue_check_makes_a_weekly_company_due():
    settings = TenantSettings(frequency="weekly")
    polled = SyncState(tenant_id="t", realm_id="1", last_success_at=NOW - timedelta(days=1))
    assert not is_due(settings, polled.model_copy(update={"next_overdue_check_at": NOW + timedelta(hours=1)}),
                      now=NOW, tick=TICK)
    assert is_due(settings, polled.model_copy(update={"next_overdue_check_at": NOW - timedelta(minutes=1)}),
                  now=NOW, tick=TICK)
    assert overdue_check_due(None, now=NOW)


def test_next_local_midnight_is_in_the_company_zone():
    # 10:00 UTC is 02:00 in Los Angeles: the next local midnight is 08:00 UTC the next day.
    assert next_local_midnight(NOW, "America/Los_Angeles") == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert next_local_midnight(NOW, None) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert next_local_midnight(NOW, "Not/AZone") == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def _job(reason: str, requested_at: datetime) -> PollJobMessage:
    return PollJobMessage(tenant_id="t", realm_id="1", reason=reason, requested_at=requested_at)


def test_webhook_jobs_only_run_for_realtime_tenants():
    state = SyncState(tenant_id="t", realm_id="1")
    assert skip_reason(_job("qbo_webhook", NOW), TenantSettings(frequency="hourly"), state) == \
        "webhooks_follow_frequency"
    assert skip_reason(_job("qbo_webhook", NOW), TenantSettings(), state) is None


def test_a_job_asked_for_before_the_last_successful_poll_began_is_covered():
    state = SyncState(tenant_id="t", realm_id="1", last_success_started_at=NOW)
    earlier = _job("schedule", NOW - timedelta(seconds=5))
    assert skip_reason(earlier, TenantSettings(), state) == "already_covered"
    # a tick has whole seconds only: one within the second before the poll began may be later than it
    assert skip_reason(_job("schedule", NOW - timedelta(milliseconds=500)), TenantSettings(), state) is None
    assert skip_reason(_job("schedule", NOW + timedelta(seconds=1)), TenantSettings(), state) is None
    # asked for explicitly: always runs
    assert skip_reason(_job("sync_now", NOW - timedelta(minutes=5)), TenantSettings(), state) is None
