"""What a poll run counts for the tenant's status: each job, and per object what reached the CRM or was left
alone, from the run's counters (`qbsync.sync.poll.reporting`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from qbsync.models.queue_messages import PollJobMessage
from qbsync.sync.poll.reporting import object_outcomes, record_poll
from qbsync.sync.poll.runner import PollOutcome

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Stats:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def increment(self, tenant_id, object_type, outcome, reason=None, *, amount=1):  # noqa: ANN001
        self.calls.append((tenant_id, object_type, outcome, reason, amount))


def test_counters_become_outcomes_per_object():
    counts = {"customers_upserted": 40, "customers_archived": 2, "customers_unchanged": 5,
              "customers_skipped_own_write": 1, "items_upserted": 3, "invoices_reported": 4,
              "invoices_skipped_not_ours": 2, "qbo_invoices_reported": 1, "deals_reported": 2,
              "review_requests": 1, "reviews_skipped_own_payment": 1,
              "changes": 60, "scanned": 0, "balances_refreshed": 7, "overdue_candidates": 3,
              "expiry_warnings": 1, "items_unchanged": 0}

    assert object_outcomes(counts) == {
        ("contacts", "synced", None): 42, ("contacts", "skipped", "unchanged"): 5,
        ("contacts", "skipped", "own_write"): 1, ("products", "synced", None): 3,
        ("invoice_statuses", "synced", None): 4, ("invoice_statuses", "skipped", "not_ours"): 2,
        ("qbo_invoices", "synced", None): 1, ("deal_rollups", "synced", None): 2,
        ("review_requests", "synced", None): 1, ("review_requests", "skipped", "own_payment"): 1,
    }


def test_a_poll_counts_its_job_and_objects_and_emits_the_lag(capsys):
    stats = Stats()
    job = PollJobMessage(tenant_id="t1", realm_id="1", reason="schedule", requested_at=NOW)

    done = PollOutcome("done", "cdc", {"customers_upserted": 3}, watermark=NOW - timedelta(seconds=42))
    record_poll(job, done, stats=stats, clock=lambda: NOW)
    record_poll(job, PollOutcome("skipped", "already_covered"), stats=stats, clock=lambda: NOW)

    assert stats.calls == [("t1", "poll_jobs", "synced", "cdc", 1), ("t1", "contacts", "synced", None, 3),
                           ("t1", "poll_jobs", "skipped", "already_covered", 1)]
    lags = [line for line in capsys.readouterr().out.splitlines() if '"PollLagSeconds"' in line]
    assert len(lags) == 1 and json.loads(lags[0])["PollLagSeconds"] in (42.0, [42.0])
