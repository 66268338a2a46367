"""Dry run of a poll of one company (SPEC F19): issue 6's `PollJobRunner`, unchanged, on recording ports.

QBO is read for real (CDC since the watermark, or the backfill scan); the CRM calls, mapping writes and the
poll's own bookkeeping (watermark, scan progress, review markers, deal roll-ups: `SyncStateRepository`
writes) are recorded instead of made. The watermark therefore does not move: the real poll that follows
sees the same changes the dry run showed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from qbsync.errors import QbsyncError
from qbsync.models.management_api import DryRunAnswer, DryRunOutcome, ErrorDetail, RecordedWrite
from qbsync.models.queue_messages import PollJobMessage
from qbsync.sync.dry_run.recorders import RecordingCrm, RecordingMappings, RecordingQbo, RecordingStore, WriteLog

# The reads of issue 6's SyncStateRepository; every other method of it writes.
SYNC_STATE_READS = ("get", "review_marker", "deal_rollup", "qbo_invoice")
# A dry run has no next delivery to continue a long scan in: it stops this long before the API's timeout
# and answers with the pages it got through (outcome "partial").
DRY_RUN_MARGIN_SECONDS = 5.0


def dry_run_poll(tenant_id: str, realm_id: str, *, deps: Any) -> DryRunAnswer:
    """`deps`: the poll worker's real `PollDependencies`; their write side is swapped for recorders here."""
    from qbsync.sync.poll.runner import SCAN_RESERVE_SECONDS, PollJobRunner, ScanContinuesError

    def remaining_seconds() -> float:
        # The runner stops a scan when less than SCAN_RESERVE_SECONDS remain; here only our margin must.
        return deps.remaining_seconds() - DRY_RUN_MARGIN_SECONDS + SCAN_RESERVE_SECONDS

    log = WriteLog()
    recording = replace(
        deps,
        sync_state=RecordingStore(deps.sync_state, log, target="sync_state", reads=SYNC_STATE_READS),
        mappings=RecordingMappings(deps.mappings, log, clock=deps.clock), crm=RecordingCrm(log),
        qbo_for=lambda tenant, realm: RecordingQbo(deps.qbo_for(tenant, realm), log, clock=deps.clock),
        remaining_seconds=remaining_seconds,
    )
    job = PollJobMessage(tenant_id=tenant_id, realm_id=realm_id, reason="sync_now", requested_at=deps.clock())
    try:
        result = PollJobRunner(recording).run(job)
        outcome = DryRunOutcome(status="done" if result.status == "done" else "skipped", object_type="poll_jobs",
                                reason=result.reason)
    except ScanContinuesError:
        outcome = DryRunOutcome(status="partial", object_type="poll_jobs", reason="scan_longer_than_one_request")
    except QbsyncError as error:
        if error.retryable:
            raise
        outcome = DryRunOutcome(status="failed", object_type="poll_jobs", reason=error.code,
                                error=ErrorDetail(code=error.code, message=error.message,
                                                  details=error.details or None))

    def writes(target: str) -> list[RecordedWrite]:
        return [RecordedWrite(**write) for write in log.of(target)]

    return DryRunAnswer(qbo_writes=writes("qbo"), crm_writes=writes("crm"),
                        mapping_writes=writes("mappings") + writes("sync_state"), outcome=outcome)
