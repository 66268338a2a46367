"""Plays Lambda's SQS event source mapping for one queue → one function, as the template configures it.

What Lambda does, and so this does: receive up to BatchSize messages, invoke the function with an SQS event,
delete the messages that succeeded (with ReportBatchItemFailures, every record not listed in
`batchItemFailures`; without it, all or nothing). Failed messages stay on the queue and come back once their
visibility timeout passes; SQS itself moves a message to the DLQ after maxReceiveCount receives (moto does
this as SQS does). The one local liberty: instead of waiting out the queue's visibility timeout (minutes), a
failed message becomes visible again after `retry_delay_seconds`.

FIFO order: SQS never hands out a message of a group while another of that group is in flight. moto keeps
that rule for each ReceiveMessage, but a *long* poll snapshots the groups in flight when it starts, so a
poller already waiting when another took message 1 of a group could be handed message 2. So the pollers of
a queue take their receives one at a time, as short polls (a fresh snapshot each time; idle pollers share
one receive per `IDLE_SLEEP_SECONDS`), and a runner also gives back at once any message of a group another
of its pollers is still working on. Batches still run concurrently, as Lambda's do.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from qbsync_local.lambda_runtime import LocalFunction
from qbsync_local.template import SqsSource

from qbsync_local.logs import log

IDLE_SLEEP_SECONDS = 0.1
_receive_locks: dict[str, threading.Lock] = {}  # per queue URL: every runner of a queue shares it
_receive_locks_guard = threading.Lock()


def _receive_lock(queue_url: str) -> threading.Lock:
    with _receive_locks_guard:
        return _receive_locks.setdefault(queue_url, threading.Lock())

_ATTRIBUTE_NAMES = {
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "MessageGroupId", "MessageDeduplicationId", "SequenceNumber", "AWSTraceHeader",
}


def to_lambda_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {k: v for k, v in message.get("Attributes", {}).items() if k in _ATTRIBUTE_NAMES}
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class QueueRunner:
    def __init__(
        self,
        *,
        source: SqsSource,
        function: LocalFunction,
        sqs: Any,
        queue_url: str,
        region: str,
        retry_delay_seconds: float,
        pollers: int = 1,
    ) -> None:
        self._source = source
        self._function = function
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self._region = region
        self._retry_delay = max(0, int(round(retry_delay_seconds)))
        self._pollers = max(1, pollers)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.batches = 0
        # FIFO groups some poller of this runner is working on. SQS never hands out a message of a group
        # while another of it is in flight; moto's long poll can (it snapshots the groups when it starts).
        self._groups_in_flight: set[str] = set()
        self._groups_lock = threading.Lock()
        self._receive_lock = _receive_lock(queue_url)
        self._empty_at = 0.0

    @property
    def name(self) -> str:
        return f"{self._source.queue_logical_id} → {self._function.spec.logical_id}"

    def start(self) -> "QueueRunner":
        for index in range(self._pollers):
            thread = threading.Thread(target=self._loop, name=f"sqs-{self._source.queue_logical_id}-{index}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # keep polling, as Lambda's pollers do
                log.exception("queue runner %s failed", self.name)
                self._stop.wait(1)

    def poll_once(self, *, wait_seconds: int = 0) -> int:
        """Receive one batch and run it; returns the number of messages received. A wait is played by
        short polls until it runs out (see the module doc)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            messages = self._receive()
            if messages or time.monotonic() >= deadline or self._stop.is_set():
                break
            self._stop.wait(IDLE_SLEEP_SECONDS)
        if not messages:
            return 0
        try:
            return self._run_batch(messages)
        finally:
            self._release_groups(messages)

    def _release_groups(self, messages: list[dict[str, Any]]) -> None:
        with self._groups_lock:
            for message in messages:
                self._groups_in_flight.discard(message.get("Attributes", {}).get("MessageGroupId", ""))

    def _receive(self) -> list[dict[str, Any]]:
        with self._receive_lock:
            if time.monotonic() - self._empty_at < IDLE_SLEEP_SECONDS:
                return []  # another poller just found nothing: short polls cost moto real work
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=self._source.batch_size,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                self._empty_at = time.monotonic()
            # Claimed under the same lock: no other poller can receive between moto's snapshot and ours.
            return self._claim_groups(messages) if messages else []

    def _claim_groups(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the messages whose group no other poller holds; give the others back at once."""
        kept, returned = [], []
        with self._groups_lock:
            claimed_now: set[str] = set()
            for message in messages:
                group = message.get("Attributes", {}).get("MessageGroupId")
                if group and group in self._groups_in_flight and group not in claimed_now:
                    returned.append(message)
                    continue
                if group:
                    self._groups_in_flight.add(group)
                    claimed_now.add(group)
                kept.append(message)
        for message in returned:
            self._sqs.change_message_visibility(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                VisibilityTimeout=0)
        return kept

    def _run_batch(self, messages: list[dict[str, Any]]) -> int:
        self.batches += 1
        records = [to_lambda_record(m, queue_arn=self._queue_arn, region=self._region) for m in messages]
        failed_ids = self._invoke(records)
        succeeded = [m for m in messages if m["MessageId"] not in failed_ids]
        if succeeded:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(succeeded)],
            )
        # The groups are free from here on, as in SQS once a message is deleted or visible again: released
        # before a failed message becomes visible, or another poller would receive it only to give it back
        # (spending one of its receives, so it would reach the DLQ a receive early).
        self._release_groups(messages)
        failed = [m["ReceiptHandle"] for m in messages if m["MessageId"] in failed_ids]
        if failed:
            self._return_after_delay(failed)
        log.info("sqs %s: batch of %d, %d failed", self.name, len(messages), len(failed_ids))
        return len(messages)

    def _return_after_delay(self, receipt_handles: list[str]) -> None:
        """Failed messages come back after the retry delay, in their batch's order. Not by giving each a
        `VisibilityTimeout` of the delay: moto lets a group's messages that are visible again but still
        "pending" go one at a time, the *last* first (a sent and the payment held back behind it came back
        payment first). Until the timer fires they stay in flight (the queue's long visibility timeout), so
        the group stays blocked; then each is made visible at once (which also ends its pending state),
        first to last, so a receive between two of them still finds the group blocked by the later ones."""
        def make_visible() -> None:
            for handle in receipt_handles:
                if self._stop.is_set():
                    return
                try:
                    self._sqs.change_message_visibility(QueueUrl=self._queue_url, ReceiptHandle=handle,
                                                        VisibilityTimeout=0)
                except Exception:  # noqa: BLE001 - the queue is gone (stack stopping): nothing to return
                    log.warning("sqs %s: could not return a failed message", self.name)
                    return

        if self._retry_delay <= 0:
            make_visible()
            return
        timer = threading.Timer(self._retry_delay, make_visible)
        timer.daemon = True
        timer.start()

    def _invoke(self, records: list[dict[str, Any]]) -> set[str]:
        all_ids = {record["messageId"] for record in records}
        try:
            result = self._function.invoke({"Records": records})
        except Exception:
            log.exception("%s crashed on a batch of %d", self._function.spec.logical_id, len(records))
            return all_ids
        if not self._source.report_batch_item_failures:
            return set()
        failures = (result or {}).get("batchItemFailures", []) if isinstance(result, dict) else []
        failed = {item.get("itemIdentifier") for item in failures}
        if failed - all_ids:
            # Lambda treats an unknown or empty identifier as a failure of the whole batch.
            return all_ids
        return failed
