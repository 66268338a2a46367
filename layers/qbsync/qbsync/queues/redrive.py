"""Reading and redriving our FIFO dead-letter queues (SPEC F21), as plain SQS calls on an injected client.

SQS's own redrive (StartMessageMoveTask) moves a whole queue and cannot pick a tenant or a message (and moto
lacks it), so a redrive here is: receive → send back to the source queue → delete from the DLQ.

- **Scanning** receives every message of a DLQ with a visibility timeout and keeps the ones not chosen in
  flight until the scan ends, then makes them visible again at once (visibility 0). Releasing them earlier
  would make SQS hand the same message back on the next receive (FIFO order) and the scan would never get
  past it. Each receive raises the DLQ message's receive count, which nothing reads (a DLQ has no redrive
  policy of its own).
- **Limit of FIFO queues**: while a message group has a message in flight, SQS returns no later message of
  that group, so a receive of 10 that stops in the middle of a group hides the rest of it from the scan.
  When the scan ends short of the count it started with, each group met in a full receive is released
  alone and received again (every other group still held, the receive returns that group's messages):
  a scan sees up to 10 messages of every group. Groups are per invoice / payment (CRM events) or per
  tenant (poll jobs); a redrive deletes what it sends back, so it reaches the rest of its own groups.
- **Sending back** keeps the body, the original MessageGroupId (so per-invoice order still holds) and the
  producer's message attributes, minus our `qbsync-*` dead-letter attributes. The deduplication id is
  `redrive-{original message id}`: if the delete after a successful send fails (or the process dies in
  between), a second redrive of the same message within SQS's 5-minute window is absorbed by SQS; after
  that window the worker's business-key idempotency makes the second copy a no-op (G1).
- **Deleting** happens only after the send succeeded. A message whose send failed stays on the DLQ.
- **One scan at a time** per DLQ: a scan entered as a context manager holds its queue's `lease` (when it
  has one) from start to end, so a concurrent listing or redrive waits for it instead of missing what it
  holds in flight.

`message_id` of a dead letter is the DLQ message's own MessageId; `original_message_id` is the id it had on
its source queue (our `qbsync-original-message-id` attribute; SQS keeps the id when it moves a message after
maxReceiveCount, so for those the two are equal). Selecting by id accepts either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qbsync.queues.dead_letter import (
    FAILED_AT,
    ORIGINAL_MESSAGE_ID,
    REASON_CODE,
    REASON_DETAILS,
    REASON_MESSAGE,
    SOURCE_QUEUE,
)
from qbsync.utils.jsonio import loads

DEAD_LETTER_ATTRIBUTES = frozenset({REASON_CODE, REASON_MESSAGE, REASON_DETAILS, FAILED_AT, SOURCE_QUEUE,
                                    ORIGINAL_MESSAGE_ID})
MAX_RECEIVES_EXCEEDED = "max_receives_exceeded"
DEFAULT_VISIBILITY_SECONDS = 60
DEFAULT_SCAN_LIMIT = 1000
_BATCH = 10


@dataclass(frozen=True)
class DeadLetterQueue:
    name: str  # our name for the source queue: "crm_events" or "poll_jobs"
    dlq_url: str
    source_url: str
    # Held for the whole of a scan, so that scans of one DLQ run one at a time (a scan does not see what
    # another holds in flight): qbsync.repositories.scan_lease. None: the caller is the only scanner.
    lease: Callable[[], AbstractContextManager[None]] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DeadLetterReason:
    code: str
    message: str
    details: dict[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    """One message on a DLQ, as received (with the receipt handle of that receive)."""

    queue: str
    message_id: str
    body: str
    group_id: str | None
    attributes: dict[str, dict[str, Any]]
    sent_at: datetime | None
    receipt_handle: str = field(repr=False)

    def attribute(self, name: str) -> str | None:
        value = self.attributes.get(name) or {}
        text = value.get("StringValue")
        return None if text in (None, "-") else text

    @property
    def original_message_id(self) -> str:
        return self.attribute(ORIGINAL_MESSAGE_ID) or self.message_id

    def body_field(self, name: str) -> str | None:
        try:
            document = loads(self.body)
        except ValueError:
            return None
        value = document.get(name) if isinstance(document, dict) else None
        return value if isinstance(value, str) else None

    @property
    def tenant_id(self) -> str | None:
        return self.attribute("tenant_id") or self.body_field("tenant_id")

    @property
    def reason(self) -> DeadLetterReason:
        code = self.attribute(REASON_CODE)
        if code is None:
            # SQS moved it after maxReceiveCount failed receives: each was a retryable error (QBO or the CRM
            # throttled or down, a timeout, a crash); the worker's log lines for the message say which.
            return DeadLetterReason(MAX_RECEIVES_EXCEEDED,
                                    "the message kept failing with retryable errors until SQS moved it here "
                                    "(maxReceiveCount); the worker's logs for this message id say why", {})
        details_text = self.attribute(REASON_DETAILS)
        try:
            details = loads(details_text) if details_text else {}
        except ValueError:  # cut at the attribute size limit
            details = {"truncated": True}
        return DeadLetterReason(code, self.attribute(REASON_MESSAGE) or code,
                                details if isinstance(details, dict) else {})

    @property
    def failed_at(self) -> datetime | None:
        text = self.attribute(FAILED_AT)
        if text:
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                pass
        return self.sent_at

    def has_id(self, message_id: str) -> bool:
        return message_id in (self.message_id, self.original_message_id)

    def producer_attributes(self) -> dict[str, dict[str, Any]]:
        """The attributes to send it back with: the producer's own, without our dead-letter ones."""
        kept = {}
        for name, value in self.attributes.items():
            if name in DEAD_LETTER_ATTRIBUTES:
                continue
            kept[name] = {key: value[key] for key in ("DataType", "StringValue", "BinaryValue") if key in value}
        return kept


def _dead_letter(queue: DeadLetterQueue, message: dict[str, Any]) -> DeadLetter:
    system = message.get("Attributes") or {}
    sent = system.get("SentTimestamp")
    return DeadLetter(
        queue=queue.name,
        message_id=message["MessageId"],
        body=message.get("Body", ""),
        group_id=system.get("MessageGroupId"),
        attributes=message.get("MessageAttributes") or {},
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
        receipt_handle=message["ReceiptHandle"],
    )


class DeadLetterScan:
    """Every message of one DLQ, in FIFO order, each held in flight until `close()` releases it (or `delete`
    removes it). Use as a context manager, so the messages become visible again even when the caller fails."""

    def __init__(self, sqs: Any, queue: DeadLetterQueue, *, visibility_seconds: int = DEFAULT_VISIBILITY_SECONDS,
                 limit: int = DEFAULT_SCAN_LIMIT, wait_seconds: int = 1) -> None:
        self._sqs = sqs
        self._queue = queue
        self._visibility = visibility_seconds
        self._limit = limit
        self._wait = wait_seconds
        self._held: dict[str, DeadLetter] = {}
        self._lease = ExitStack()

    def __enter__(self) -> "DeadLetterScan":
        if self._queue.lease is not None:
            self._lease.enter_context(self._queue.lease())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            self._lease.close()

    def _visible(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue.dlq_url, AttributeNames=["ApproximateNumberOfMessages"],
        ).get("Attributes", {})
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        return self._sqs.receive_message(
            QueueUrl=self._queue.dlq_url, MaxNumberOfMessages=_BATCH, VisibilityTimeout=self._visibility,
            WaitTimeSeconds=wait_seconds, AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])

    def __iter__(self) -> Iterator[DeadLetter]:
        expected = self._visible()
        if expected == 0:
            return
        seen: set[str] = set()
        maybe_cut: dict[str, None] = {}  # groups met in a full receive, in order
        while len(seen) < self._limit:
            # Short polls while messages are known to be there; one long poll before giving up, because a
            # short poll may miss messages (it asks only some of SQS's servers).
            messages = self._receive(0)
            if not messages and len(seen) < expected:
                messages = self._receive(self._wait)
            if len(messages) == _BATCH:
                maybe_cut.update((m.get("Attributes", {}).get("MessageGroupId") or "", None) for m in messages)
            fresh = self._take(messages, seen)
            if not fresh:
                break
            yield from fresh
        if len(seen) < min(expected, self._limit):
            yield from self._tails(maybe_cut, seen)

    def _take(self, messages: list[dict[str, Any]], seen: set[str]) -> list[DeadLetter]:
        fresh = []
        for message in messages:
            letter = _dead_letter(self._queue, message)
            self._held[letter.message_id] = letter  # its visibility ran out mid-scan: keep the newest handle
            if letter.message_id not in seen and len(seen) < self._limit:
                seen.add(letter.message_id)
                fresh.append(letter)
        return fresh

    def _tails(self, groups: dict[str, None], seen: set[str]) -> Iterator[DeadLetter]:
        """A receive that stops in the middle of a group leaves the group's later messages unreachable while
        its first ones are held. Each such group is released alone, and taken again with all its messages
        (up to 10): every other group is still held, so the receive returns this one's."""
        for group in groups:
            letters = [letter for letter in self._held.values() if (letter.group_id or "") == group]
            if not letters or len(seen) >= self._limit:
                continue
            self._release(letters)
            messages = self._receive(0) or self._receive(self._wait)
            yield from self._take(messages, seen)

    def _release(self, letters: list[DeadLetter]) -> None:
        for letter in letters:
            self._held.pop(letter.message_id, None)
        for start in range(0, len(letters), _BATCH):
            chunk = letters[start:start + _BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue.dlq_url,
                Entries=[{"Id": str(index), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                         for index, letter in enumerate(chunk)],
            )

    def delete(self, letter: DeadLetter) -> None:
        self._sqs.delete_message(QueueUrl=self._queue.dlq_url, ReceiptHandle=letter.receipt_handle)
        self._held.pop(letter.message_id, None)

    def close(self) -> None:
        held = list(self._held.values())
        self._held.clear()
        self._release(held)


Selector = Callable[[DeadLetter], bool]


def peek(sqs: Any, queues: Iterable[DeadLetterQueue], *, select: Selector,
         limit: int = DEFAULT_SCAN_LIMIT) -> list[DeadLetter]:
    """The chosen dead letters of every queue; nothing is removed."""
    chosen = []
    for queue in queues:
        with DeadLetterScan(sqs, queue, limit=limit) as scan:
            chosen.extend(letter for letter in scan if select(letter))
    return chosen


def redrive_deduplication_id(letter: DeadLetter) -> str:
    return f"redrive-{letter.original_message_id}"[:128]


def send_back(sqs: Any, queue: DeadLetterQueue, letter: DeadLetter) -> str:
    """Put a dead letter back on its source queue; returns the new message id there."""
    request: dict[str, Any] = {"QueueUrl": queue.source_url, "MessageBody": letter.body}
    attributes = letter.producer_attributes()
    if attributes:
        request["MessageAttributes"] = attributes
    if queue.source_url.endswith(".fifo"):
        request["MessageGroupId"] = letter.group_id or letter.original_message_id
        request["MessageDeduplicationId"] = redrive_deduplication_id(letter)
    return sqs.send_message(**request)["MessageId"]


@dataclass
class RedriveReport:
    redriven: list[DeadLetter] = field(default_factory=list)
    # (letter, error type): the send failed, so the message is still on its DLQ.
    failed: list[tuple[DeadLetter, str]] = field(default_factory=list)
    # Sent back, but the delete failed: a later redrive sends it again, which the deduplication id and the
    # worker's idempotency absorb.
    not_deleted: list[DeadLetter] = field(default_factory=list)


def redrive(sqs: Any, queues: Iterable[DeadLetterQueue], *, select: Selector,
            limit: int = DEFAULT_SCAN_LIMIT) -> RedriveReport:
    from botocore.exceptions import BotoCoreError, ClientError

    report = RedriveReport()
    for queue in queues:
        with DeadLetterScan(sqs, queue, limit=limit) as scan:
            for letter in scan:
                if not select(letter):
                    continue
                try:
                    send_back(sqs, queue, letter)
                except (ClientError, BotoCoreError) as error:
                    report.failed.append((letter, type(error).__name__))
                    continue
                report.redriven.append(letter)
                try:
                    scan.delete(letter)
                except (ClientError, BotoCoreError):
                    report.not_deleted.append(letter)
    return report


# --- selectors ---------------------------------------------------------------------------------------


def of_tenant(tenant_id: str) -> Selector:
    return lambda letter: letter.tenant_id == tenant_id


def with_any_id(message_ids: Iterable[str]) -> Selector:
    wanted = frozenset(message_ids)
    return lambda letter: letter.message_id in wanted or letter.original_message_id in wanted


def with_reason(code: str) -> Selector:
    return lambda letter: letter.reason.code == code


def in_realm(realm_id: str) -> Selector:
    return lambda letter: letter.body_field("realm_id") == realm_id


def all_of(*selectors: Selector) -> Selector:
    return lambda letter: all(select(letter) for select in selectors)
