"""Consumes the CRM events FIFO queue: applies each event to QBO (qbsync.sync.crm_events), exactly once and
in order per invoice; qbsync.queues.consumer owns the batch rules (partial failures, dead-lettering)."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.composition import crm_event_context_factory
from qbsync.observability import logger
from qbsync.queues.consumer import process_fifo_batch
from qbsync.queues.dead_letter import DeadLetterPublisher
from qbsync.settings import get_settings
from qbsync.sync.crm_events.worker import handle_message
from qbsync.sync.outcomes import record_dead_letter, record_outcome, tenant_of


# Metrics are written by record_outcome (single EMF lines), so no log_metrics flush is needed here.
@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    context_for = crm_event_context_factory(settings)

    def apply_record(record: SQSRecord) -> None:
        outcome = handle_message(record.body, context_for=context_for)
        record_outcome(tenant_of(record), outcome.object_type, outcome.status, outcome.reason)

    return process_fifo_batch(
        event,
        context,
        record_handler=apply_record,
        dead_letters=DeadLetterPublisher(dlq_url=settings.crm_events_dlq_url, source_queue="crm_events"),
        on_dead_letter=record_dead_letter,
    )
