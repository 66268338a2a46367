"""Consumes the CRM events FIFO queue: applies each event to QBO (qbsync.sync.crm_events), exactly once and
in order per invoice; qbsync.queues.consumer owns the batch rules (partial failures, dead-lettering)."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# First of our imports, on purpose: Powertools' batch module also loads its pydantic parser models (about
# 30 ms) when pydantic is already imported, and we never use them (bench/ cold start).
from qbsync.queues.consumer import max_receive_count, process_fifo_batch  # isort: skip
from qbsync.composition import crm_event_context_factory, mappings_repository
from qbsync.observability import logger, trace_handler, traced
from qbsync.queues.dead_letter import DeadLetterPublisher
from qbsync.settings import get_settings
from qbsync.sync.crm_events.holds import hold_behind_dead_lettered_sent
from qbsync.sync.crm_events.worker import handle_message
from qbsync.sync.outcomes import record_dead_letter, record_outcome, tenant_of


# Metrics are written by record_outcome (single EMF lines), so no log_metrics flush is needed here.
@logger.inject_lambda_context
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    settings = get_settings()
    context_for = crm_event_context_factory(settings)

    def apply_record(record: SQSRecord) -> None:
        tenant_id, event_id = tenant_of(record), record.message_attributes["event_id"]
        with traced("crm_event", tenant_id=tenant_id, event_id=event_id and event_id.string_value):
            outcome = handle_message(record.body, context_for=context_for)
        record_outcome(tenant_id, outcome.object_type, outcome.status, outcome.reason)

    return process_fifo_batch(
        event,
        context,
        record_handler=apply_record,
        dead_letters=DeadLetterPublisher(dlq_url=settings.crm_events_dlq_url, source_queue="crm_events"),
        on_dead_letter=record_dead_letter,
        # An invoice.sent dead-lettered holds its invoice's later events on the DLQ behind it (G2).
        before_dead_letter=hold_behind_dead_lettered_sent(mappings_repository(settings)),
        max_receives=max_receive_count(settings.crm_events_queue_url),
    )
