"""What a poll job did, for the tenant's status (F20) and the metrics (F22): `qbsync.sync.outcomes` does the
counting, this module says what a poll counts.

Per job: `poll_jobs` synced (it ran) or skipped (with its reason), and a job dead-lettered counts as failed
with its reason (`outcomes.record_dead_letter`, the consumer's callback). Per object the poll wrote to the
CRM, from the run's counters (`PollOutcome.counts`, named `<object>_<what>`): what reached the CRM is
`synced`, what was left alone is `skipped` with the reason (`unchanged`, `own_write`, ...). After a
successful poll the lag behind QBO (now - the new watermark) is the `PollLagSeconds` metric; the status page
computes the same lag from the sync state when asked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from qbsync.sync.outcomes import record_outcome, record_poll_lag

if TYPE_CHECKING:
    from qbsync.models.queue_messages import PollJobMessage
    from qbsync.repositories.sync_stats import SyncStatsRepository
    from qbsync.sync.poll.runner import PollOutcome

POLL_JOBS = "poll_jobs"
# Counter prefix → the object the status page counts (the CRM's side of it: what the poll writes there).
OBJECTS = {
    "customers": "contacts",
    "items": "products",
    "invoices": "invoice_statuses",
    "qbo_invoices": "qbo_invoices",
    "deals": "deal_rollups",
    "reviews": "review_requests",
}
_SYNCED = frozenset({"upserted", "archived", "deleted", "reported"})
_REVIEW_REQUESTS = "review_requests"  # the one counter named for its object alone: each is one sent


def object_outcomes(counts: Mapping[str, int]) -> dict[tuple[str, str, str | None], int]:
    """{(object, outcome, reason): n} from a run's counters; counters that are no outcome (`changes`,
    `scanned`, `balances_refreshed`, ...) are left out."""
    outcomes: dict[tuple[str, str, str | None], int] = defaultdict(int)
    for name, amount in counts.items():
        if amount <= 0:
            continue
        if name == _REVIEW_REQUESTS:
            outcomes[(OBJECTS["reviews"], "synced", None)] += amount
            continue
        # Longest prefix first: "qbo_invoices_reported" is a QBO-made invoice, not an invoice status.
        prefix = next((p for p in sorted(OBJECTS, key=len, reverse=True) if name.startswith(f"{p}_")), None)
        if prefix is None:
            continue
        what = name[len(prefix) + 1:]
        if what in _SYNCED:
            outcomes[(OBJECTS[prefix], "synced", None)] += amount
        elif what == "unchanged":
            outcomes[(OBJECTS[prefix], "skipped", "unchanged")] += amount
        elif what.startswith("skipped_"):
            outcomes[(OBJECTS[prefix], "skipped", what.removeprefix("skipped_"))] += amount
    return dict(outcomes)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def record_poll(job: PollJobMessage, outcome: PollOutcome, *, stats: SyncStatsRepository | None = None,
                clock: Callable[[], datetime] = _utcnow) -> None:
    """After a poll job ran (done or skipped): its outcome, the objects it wrote, and the lag."""
    status = "synced" if outcome.status == "done" else "skipped"
    record_outcome(job.tenant_id, POLL_JOBS, status, outcome.reason, stats=stats)
    for (object_type, name, reason), amount in object_outcomes(outcome.counts).items():
        record_outcome(job.tenant_id, object_type, name, reason, stats=stats, amount=amount)
    if outcome.status == "done" and outcome.watermark is not None:
        record_poll_lag((clock() - outcome.watermark).total_seconds())
