"""Consumes the poll jobs FIFO queue: QBO change-data-capture since the company's watermark, then the CRM
(qbsync.sync.poll.runner); qbsync.queues.consumer owns the batch rules (partial failures, dead-lettering)."""

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from qbsync.errors import ValidationFailedError
from qbsync.models.queue_messages import PollJobMessage
from qbsync.observability import logger
from qbsync.queues.consumer import process_fifo_batch
from qbsync.queues.dead_letter import DeadLetterPublisher
from qbsync.settings import get_settings
from qbsync.sync.outcomes import record_dead_letter, record_outcome, record_poll_lag
from qbsync.sync.poll.wiring import poll_job_runner


def _job(record: SQSRecord) -> PollJobMessage:
    try:
        return PollJobMessage.model_validate_json(record.body)
    except ValidationError:
        raise ValidationFailedError("the poll job is not a PollJobMessage",
                                    code="malformed_message") from None


# Metrics are written by record_outcome / record_poll_lag (single EMF lines): no log_metrics flush needed.
@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    runner = poll_job_runner(remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
                             settings=settings)

    def run_poll_job(record: SQSRecord) -> None:
        job = _job(record)
        logger.append_keys(tenant_id=job.tenant_id, realm_id=job.realm_id, poll_reason=job.reason)
        outcome = runner.run(job)
        logger.info("poll job", extra={"outcome": outcome.status, "reason": outcome.reason,
                                       "counts": outcome.counts})
        record_outcome(job.tenant_id, "poll_jobs", "synced" if outcome.status == "done" else "skipped",
                       outcome.reason)
        if outcome.watermark is not None:
            record_poll_lag((datetime.now(UTC) - outcome.watermark).total_seconds())

    return process_fifo_batch(
        event,
        context,
        record_handler=run_poll_job,
        dead_letters=DeadLetterPublisher(dlq_url=settings.poll_jobs_dlq_url, source_queue="poll_jobs"),
        on_dead_letter=record_dead_letter,
    )
