"""The consumer tells an optional callback about each record it dead-letters; the callback can never change
a record's fate."""

from __future__ import annotations

from qbsync.errors import RetryableError, ValidationFailedError
from qbsync.queues.consumer import process_fifo_batch


class Publisher:
    def __init__(self):
        self.published = []

    def publish(self, **kwargs):
        self.published.append(kwargs)


def event(*bodies):
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": "h", "body": body,
                         "attributes": {"MessageGroupId": f"g{i}", "ApproximateReceiveCount": "1"},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:1:q.fifo", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


def handler(record):
    if record.body == "permanent":
        raise ValidationFailedError("bad", code="bad_thing")
    if record.body == "retry":
        raise RetryableError("later")


def test_the_callback_hears_of_dead_letters_only():
    seen = []
    result = process_fifo_batch(event("ok", "permanent", "retry"), None, record_handler=handler,
                                dead_letters=Publisher(),
                                on_dead_letter=lambda record, error: seen.append((record.message_id, error.code)))
    assert seen == [("m1", "bad_thing")]
    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}


def test_a_failing_callback_does_not_fail_the_record():
    def broken(record, error):
        raise RuntimeError("counter store down")

    publisher = Publisher()
    result = process_fifo_batch(event("permanent"), None, record_handler=handler, dead_letters=publisher,
                                on_dead_letter=broken)
    assert result == {"batchItemFailures": []}
    assert len(publisher.published) == 1


def test_without_a_callback_nothing_changes():
    result = process_fifo_batch(event("permanent", "ok"), None, record_handler=handler, dead_letters=Publisher())
    assert result == {"batchItemFailures": []}
