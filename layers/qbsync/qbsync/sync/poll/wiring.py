"""Builders for the QBO → CRM handlers, on top of `qbsync.composition` (which this change leaves alone).

`enqueue_backfill(tenant_id, realm_id)` is the one the OAuth callback calls after a company is connected;
`handle_poll_batch(event, context)` is the whole poll worker (the handler only adds the logging context).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import TYPE_CHECKING

from qbsync import composition
from qbsync.queues.publisher import FifoPublisher
from qbsync.settings import Settings, get_settings
from qbsync.sync.poll.jobs import publish_poll_job

if TYPE_CHECKING:
    # The runner pulls in the QBO and CRM clients: only the poll worker builds one, so the scheduler and the
    # QBO webhook (which only enqueue jobs) do not import it (bench/ cold start).
    from qbsync.sync.poll.runner import PollJobRunner

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
    from qbsync.sync.poll.runner import PollDependencies, PollJobRunner

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
        expiry_warnings=lifecycle.warn_if_expiring,
    ))


def poll_record_handler(runner: PollJobRunner) -> Callable[[Any], None]:
    """Runs one SQS record's poll job and counts what it did (`reporting.record_poll`); errors propagate to
    the consumer, which retries or dead-letters them (and counts those through `record_dead_letter`)."""
    from pydantic import ValidationError

    from qbsync.errors import ValidationFailedError
    from qbsync.models.queue_messages import PollJobMessage
    from qbsync.observability import logger, traced
    from qbsync.sync.poll.reporting import record_poll

    def run_poll_job(record: Any) -> None:
        try:
            job = PollJobMessage.model_validate_json(record.body)
        except ValidationError:
            raise ValidationFailedError("the poll job is not a PollJobMessage",
                                        code="malformed_message") from None
        logger.append_keys(tenant_id=job.tenant_id, realm_id=job.realm_id, poll_reason=job.reason)
        with traced("poll_job", tenant_id=job.tenant_id, realm_id=job.realm_id, poll_reason=job.reason):
            outcome = runner.run(job)
        logger.info("poll job", extra={"outcome": outcome.status, "reason": outcome.reason,
                                       "counts": outcome.counts})
        record_poll(job, outcome)

    return run_poll_job


def handle_poll_batch(event: dict[str, Any], context: Any, *, settings: Settings | None = None
                      ) -> dict[str, Any]:
    """The poll worker's batch: one job per record, FIFO per tenant, partial failures, dead letters with
    their reason counted for the tenant's status (`qbsync.queues.consumer`)."""
    from qbsync.queues.consumer import process_fifo_batch
    from qbsync.queues.dead_letter import DeadLetterPublisher
    from qbsync.sync.outcomes import record_dead_letter

    settings = settings or get_settings()
    runner = poll_job_runner(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
                             settings=settings)
    return process_fifo_batch(
        event, context,
        record_handler=poll_record_handler(runner),
        dead_letters=DeadLetterPublisher(dlq_url=settings.poll_jobs_dlq_url, source_queue="poll_jobs"),
        on_dead_letter=record_dead_letter,
    )


def schedule_tick(settings: Settings | None = None) -> timedelta:
    return timedelta(seconds=(settings or get_settings()).poll_interval_seconds)
