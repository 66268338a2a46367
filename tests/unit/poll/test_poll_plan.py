"""What a poll job does, from the company's sync state: backfill, CDC with overlap, re-scan, nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qbsync.models.poll_messages import ScanProgress, SyncState
from qbsync.models.queue_messages import PollJobMessage
from qbsync.models.tenant_settings import TenantSettings
from qbsync.sync.poll.plan import CDC_OVERLAP, choose_plan

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CONNECTED = NOW - timedelta(days=2)


def _plan(state: SyncState, *, reason: str = "schedule", settings: TenantSettings | None = None):  # noqa: ANN202
    job = PollJobMessage(tenant_id="t", realm_id="1", reason=reason, requested_at=NOW)
    return choose_plan(job, state, settings or TenantSettings(), connected_at=CONNECTED, now=NOW)


def test_no_watermark_means_the_backfill_when_the_tenant_wants_it():
    assert _plan(SyncState(tenant_id="t", realm_id="1")).kind == "backfill"


def test_no_watermark_without_backfill_reads_cdc_from_the_connection():
    plan = _plan(SyncState(tenant_id="t", realm_id="1"), settings=TenantSettings(backfill_on_connect=False))
    assert (plan.kind, plan.since) == ("cdc", CONNECTED)


def test_cdc_starts_a_little_before_the_watermark():
    watermark = NOW - timedelta(minutes=3)
    plan = _plan(SyncState(tenant_id="t", realm_id="1", watermark=watermark))
    assert (plan.kind, plan.since) == ("cdc", watermark - CDC_OVERLAP)


def test_a_watermark_older_than_cdc_reaches_is_a_rescan_since_it():
    watermark = NOW - timedelta(days=31)
    plan = _plan(SyncState(tenant_id="t", realm_id="1", watermark=watermark))
    assert (plan.kind, plan.since) == ("rescan", watermark - CDC_OVERLAP)


def test_a_scan_left_unfinished_continues():
    scan = ScanProgress(kind="backfill", watermark=NOW, started_at=NOW)
    assert _plan(SyncState(tenant_id="t", realm_id="1", scan=scan)).kind == "continue_scan"


def test_a_backfill_job_for_a_company_with_a_watermark_does_nothing():
    plan = _plan(SyncState(tenant_id="t", realm_id="1", watermark=NOW), reason="backfill")
    assert (plan.kind, plan.reason) == ("skip", "already_backfilled")
