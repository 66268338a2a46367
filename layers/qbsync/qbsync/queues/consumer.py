"""How every queue worker consumes a batch: Lambda's partial batch response, FIFO order per message group,
and the split between retryable and permanent failures (STYLE.md principle 2).

- success → the record is deleted by Lambda.
- retryable error (QBO throttled or down, a timeout, anything unexpected) → the record is reported failed;
  SQS redelivers it after the visibility timeout, and after maxReceiveCount it lands in the DLQ.
- permanent error (`QbsyncError` with `retryable = False`) → the record goes to the DLQ now, with its reason,
  and is reported done, so the rest of its message group moves on.

`SqsFifoPartialProcessor(skip_group_on_error=True)` holds back only the records of a group that failed;
other groups in the same batch still go through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from qbsync.errors import QbsyncError
from qbsync.observability import logger
from qbsync.queues.dead_letter import DeadLetterPublisher, DeadLetterReason

RecordHandler = Callable[[SQSRecord], Any]
# Told about each record dead-lettered with a reason (e.g. to count it per tenant). It runs after the
# message is safely on the DLQ, and whatever it raises is logged and dropped: it never changes a record's fate.
DeadLetterCallback = Callable[[SQSRecord, QbsyncError], None]


def _producer_attributes(record: SQSRecord) -> dict[str, dict[str, str]]:
    attributes = {}
    for name, value in (record.raw_event.get("messageAttributes") or {}).items():
        if value.get("dataType", "String").startswith("String") and value.get("stringValue") is not None:
            attributes[name] = {"DataType": value["dataType"], "StringValue": value["stringValue"]}
    return attributes


def _notify(on_dead_letter: DeadLetterCallback | None, record: SQSRecord, error: QbsyncError) -> None:
    if on_dead_letter is None:
        return
    try:
        on_dead_letter(record, error)
    except Exception as callback_error:  # noqa: BLE001 - bookkeeping must not fail a dead-lettered record
        logger.warning("dead-letter callback failed", extra={"error_type": type(callback_error).__name__,
                                                             "message_id": record.message_id})


def dead_lettering(handler: RecordHandler, publisher: DeadLetterPublisher,
                   on_dead_letter: DeadLetterCallback | None = None) -> RecordHandler:
    """Wrap a record handler so that permanent errors dead-letter the record with their reason."""

    def handle(record: SQSRecord) -> Any:
        try:
            return handler(record)
        except QbsyncError as error:
            if error.retryable:
                logger.warning("record failed, will retry", extra={"error_code": error.code,
                                                                   "message_id": record.message_id})
                raise
            logger.error("record failed permanently, dead-lettered",
                         extra={"error_code": error.code, "message_id": record.message_id})
            publisher.publish(
                body=record.body,
                message_id=record.message_id,
                group_id=record.attributes.message_group_id,
                attributes=_producer_attributes(record),
                reason=DeadLetterReason(code=error.code, message=error.message, details=error.details),
            )
            _notify(on_dead_letter, record, error)
            return {"dead_lettered": error.code}

    return handle


def process_fifo_batch(
    event: dict[str, Any],
    context: Any,
    *,
    record_handler: RecordHandler,
    dead_letters: DeadLetterPublisher,
    on_dead_letter: DeadLetterCallback | None = None,
) -> dict[str, Any]:
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # Report every failed record instead of raising when a whole batch fails: the records are retried the
    # same way, and the Errors alarm stays for crashes of the function itself.
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(
        event=event,
        record_handler=dead_lettering(record_handler, dead_letters, on_dead_letter),
        processor=processor,
        context=context,
    )
