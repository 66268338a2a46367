"""Consumes the CRM events FIFO queue: applies each event to QBO (qbsync.queues.consumer for the batch rules)."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.errors import NotImplementedYetError
from qbsync.observability import logger
from qbsync.queues.consumer import process_fifo_batch
from qbsync.queues.dead_letter import DeadLetterPublisher
from qbsync.settings import get_settings


def apply_crm_event(record: SQSRecord) -> None:
    # Applying events to QBO lands with issue 5; until then an event is dead-lettered with this reason
    # (nothing is lost: a redrive after the upgrade applies it).
    raise NotImplementedYetError("applying CRM events to QBO is not implemented yet",
                                 details={"feature": "F11-F13"})


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    return process_fifo_batch(
        event,
        context,
        record_handler=apply_crm_event,
        dead_letters=DeadLetterPublisher(dlq_url=settings.crm_events_dlq_url, source_queue="crm_events"),
    )
