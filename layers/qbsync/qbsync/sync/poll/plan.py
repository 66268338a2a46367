"""What a poll job does for a company, from its sync state and settings (issue 6 §2-3). Pure.

- a scan in progress (a backfill or re-scan a previous Lambda did not finish) continues;
- no watermark yet: the backfill (tenant setting `backfill_on_connect`, default on), else CDC from the
  moment of connecting (at most CDC's look-back);
- a backfill job once the company has a watermark: nothing (the OAuth callback may enqueue it again);
- a watermark too old for CDC (30 days, less a margin for clock differences): a re-scan by query of what
  changed since it;
- otherwise CDC from the watermark, less `CDC_OVERLAP`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from qbsync.clients.qbo.cdc import CDC_MAX_LOOKBACK
from qbsync.models.poll_messages import SyncState
from qbsync.models.queue_messages import PollJobMessage
from qbsync.models.tenant_settings import TenantSettings

CDC_OVERLAP = timedelta(minutes=2)
# A scan's watermark is its start by our clock, less this, because a query answer carries no QBO time.
SCAN_MARGIN = timedelta(minutes=5)
LOOKBACK_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class PollPlan:
    kind: Literal["skip", "cdc", "backfill", "rescan", "continue_scan"]
    since: datetime | None = None
    reason: str | None = None


def choose_plan(job: PollJobMessage, state: SyncState, settings: TenantSettings, *, connected_at: datetime,
                now: datetime) -> PollPlan:
    if state.scanning:
        return PollPlan("continue_scan")
    oldest_cdc = now - CDC_MAX_LOOKBACK + LOOKBACK_MARGIN
    if state.watermark is None:
        if settings.backfill_on_connect:
            return PollPlan("backfill")
        return PollPlan("cdc", since=max(connected_at, oldest_cdc))
    if job.reason == "backfill":
        return PollPlan("skip", reason="already_backfilled")
    since = state.watermark - CDC_OVERLAP
    if since < oldest_cdc:
        return PollPlan("rescan", since=since)
    return PollPlan("cdc", since=since)
