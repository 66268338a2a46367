"""Builders for the QBO → CRM handlers, on top of `qbsync.composition` (which this change leaves alone).

`enqueue_backfill(tenant_id, realm_id)` is the one the OAuth callback calls after a company is connected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from qbsync import composition
from qbsync.queues.publisher import FifoPublisher
from qbsync.settings import Settings, get_settings
from qbsync.sync.poll.jobs import publish_poll_job
from qbsync.sync.poll.runner import PollDependencies, PollJobRunner

# A CRM Retry-After up to this is waited out in-process when the Lambda has the time (DeadlineRetryPolicy
# decides); a longer one fails the record as retryable.
MAX_CRM_RETRY_AFTER_SECONDS = 600.0


def poll_jobs_queue(settings: Settings | None = None) -> FifoPublisher:
    return FifoPublisher(queue_url=(settings or get_settings()).poll_jobs_queue_url)


def enqueue_backfill(tenant_id: str, realm_id: str, *, settings: Settings | None = None,
                     now: datetime | None = None) -> str:
    """Queue the backfill of a newly connected company (SPEC F5 "on connect"); returns the SQS message id.

    Safe to call on every successful callback: the job is deduplicated per tenant and company, and a
    company that already has a watermark ignores it. Whether existing customers are imported is the
    tenant's `backfill_on_connect` setting, read when the job runs."""
    return publish_poll_job(poll_jobs_queue(settings), tenant_id=tenant_id, realm_id=realm_id,
                            reason="backfill", requested_at=now or datetime.now(UTC))


def crm_client_with_deadline(settings: Settings, remaining_seconds: Callable[[], float]):  # noqa: ANN201
    from qbsync.sync.poll.crm_retry import DeadlineRetryPolicy

    crm = composition.crm_client(settings)
    crm.retry_policy = DeadlineRetryPolicy(max_retries=crm.retry_policy.max_retries,
                                           max_retry_after=MAX_CRM_RETRY_AFTER_SECONDS,
                                           remaining_seconds=remaining_seconds)
    return crm


def poll_job_runner(*, remaining_seconds: Callable[[], float],
                    settings: Settings | None = None) -> PollJobRunner:
    from qbsync.repositories.sync_state import NewPairsWriter, RealmMappingsReader, SyncStateRepository

    settings = settings or get_settings()
    crm = crm_client_with_deadline(settings, remaining_seconds)
    lifecycle = composition.token_lifecycle(None, settings, crm=crm)  # type: ignore[arg-type]
    return PollJobRunner(PollDependencies(
        connections=composition.connections_repository(settings),
        tenant_settings=composition.tenant_settings_repository(settings),
        sync_state=SyncStateRepository(table_name=settings.connections_table),
        mappings=composition.mappings_repository(settings),
        mapping_reader=RealmMappingsReader(table_name=settings.mappings_table),
        new_pairs=NewPairsWriter(table_name=settings.mappings_table),
        crm=crm,
        qbo_for=lambda tenant, realm: composition.qbo_client(tenant, realm, lifecycle=lifecycle,
                                                             settings=settings),
        environment=settings.intuit_environment,
        remaining_seconds=remaining_seconds,
    ))


def schedule_tick(settings: Settings | None = None) -> timedelta:
    return timedelta(seconds=(settings or get_settings()).poll_interval_seconds)
