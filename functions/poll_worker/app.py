"""Consumes the poll jobs FIFO queue: QBO change-data-capture since the tenant's watermark, then the CRM."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.errors import NotImplementedYetError
from qbsync.observability import logger
from qbsync.queues.consumer import process_fifo_batch
from qbsync.queues.dead_letter import DeadLetterPublisher
from qbsync.settings import get_settings


def run_poll_job(record: SQSRecord) -> None:
    # Polling QBO lands with issue 6; until then a job is dead-lettered with this reason.
    raise NotImplementedYetError("polling QBO is not implemented yet", details={"feature": "F5-F10"})


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    return process_fifo_batch(
        event,
        context,
        record_handler=run_poll_job,
        dead_letters=DeadLetterPublisher(dlq_url=settings.poll_jobs_dlq_url, source_queue="poll_jobs"),
    )
