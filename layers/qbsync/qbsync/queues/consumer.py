"""How every queue worker consumes a batch: Lambda's partial batch response, FIFO order per message group,
and the split between retryable and permanent failures (STYLE.md principle 2).

- success → the record is deleted by Lambda.
- retryable error (QBO throttled or down, a timeout, anything unexpected) → the record is reported failed;
  SQS redelivers it after the visibility timeout, and after maxReceiveCount it lands in the DLQ.
- permanent error (`QbsyncError` with `retryable = False`) → the record goes to the DLQ now, with its reason,
  and is reported done, so the rest of its message group moves on.

- retryable error on the last receive SQS allows (the source queue's maxReceiveCount) → dead-lettered now with
  reason `max_receives_exceeded` and its last error, instead of SQS moving it without one: the same hooks run
  as for a permanent error, so nothing that waits on a dead-lettered message is missed.

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
# Runs *before* a record is dead-lettered (e.g. to hold back what must wait behind it). If it raises, the
# record is retried instead: nothing may reach the DLQ without what the hook records.
BeforeDeadLetter = Callable[[SQSRecord, QbsyncError], None]


class ReceivesExhaustedError(QbsyncError):
    code = "max_receives_exceeded"


def _exhausted(record: SQSRecord, max_receives: int | None, error: Exception) -> QbsyncError | None:
    """The error to dead-letter a retryable failure with, when this was its last receive; else None."""
    if not max_receives:
        return None
    try:
        receives = int(record.attributes.approximate_receive_count)
    except (TypeError, ValueError):
        return None
    if receives < max_receives:
        return None
    last = error.code if isinstance(error, QbsyncError) else type(error).__name__
    return ReceivesExhaustedError(
        f"the message kept failing with retryable errors ({receives} receives); the last one: {last}",
        details={"last_error": last, "receives": receives, **(error.details if isinstance(error, QbsyncError)
                                                               else {})})


_max_receives: dict[str, int] = {}


def max_receive_count(queue_url: str) -> int | None:
    """The source queue's maxReceiveCount (its redrive policy), read once per container; None while it
    cannot be read (then SQS moves exhausted messages itself, without a reason, as before)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from qbsync.aws_clients import client
    from qbsync.utils.jsonio import loads

    if queue_url not in _max_receives:
        try:
            attributes = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
            _max_receives[queue_url] = int(loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
        except (ClientError, BotoCoreError, KeyError, TypeError, ValueError):
            return None
    return _max_receives[queue_url]


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
                   on_dead_letter: DeadLetterCallback | None = None, *,
                   before_dead_letter: BeforeDeadLetter | None = None,
                   max_receives: int | None = None) -> RecordHandler:
    """Wrap a record handler so that permanent errors (and retryable ones on their last receive)
    dead-letter the record with their reason."""

    def dead_letter(record: SQSRecord, error: QbsyncError) -> dict[str, str]:
        if before_dead_letter is not None:
            before_dead_letter(record, error)
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

    def handle(record: SQSRecord) -> Any:
        try:
            return handler(record)
        except QbsyncError as error:
            if not error.retryable:
                return dead_letter(record, error)
            exhausted = _exhausted(record, max_receives, error)
            if exhausted is None:
                logger.warning("record failed, will retry", extra={"error_code": error.code,
                                                                   "message_id": record.message_id})
                raise
            return dead_letter(record, exhausted)
        except Exception as error:
            exhausted = _exhausted(record, max_receives, error)
            if exhausted is None:
                raise
            logger.exception("record failed on its last receive")
            return dead_letter(record, exhausted)

    return handle


def process_fifo_batch(
    event: dict[str, Any],
    context: Any,
    *,
    record_handler: RecordHandler,
    dead_letters: DeadLetterPublisher,
    on_dead_letter: DeadLetterCallback | None = None,
    before_dead_letter: BeforeDeadLetter | None = None,
    max_receives: int | None = None,
) -> dict[str, Any]:
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # Report every failed record instead of raising when a whole batch fails: the records are retried the
    # same way, and the Errors alarm stays for crashes of the function itself.
    processor.raise_on_entire_batch_failure = False
    return process_partial_response(
        event=event,
        record_handler=dead_lettering(record_handler, dead_letters, on_dead_letter,
                                      before_dead_letter=before_dead_letter, max_receives=max_receives),
        processor=processor,
        context=context,
    )
