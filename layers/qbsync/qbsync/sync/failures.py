"""A tenant's dead-lettered messages (SPEC F21): list them with their reasons, redrive them.

The SQS mechanics live in `qbsync.queues.redrive`; this module decides *which* messages (always one tenant's:
another tenant's message is never listed, redriven or even named as existing) and shapes the answers. The
operator CLI reuses these functions with its own SQS client and queue list.

`redrive_for_reason(tenant_id, reason_code)` is for code that just fixed a cause, e.g. after a reconnect:
`redrive_for_reason(tenant, "needs_reauth", realm_id=realm)` puts the events that waited for it back.
`redrive_waiting_events` does the same for one invoice's events parked behind its dead-lettered
`invoice.sent`, once the sent is applied (`qbsync.sync.crm_events.holds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qbsync.errors import NotFoundError, RetryableError
from qbsync.models.management_api import Failure, FailureReason
from qbsync.observability import logger
from qbsync.utils.jsonio import loads
from qbsync.queues.redrive import (
    DeadLetter,
    DeadLetterQueue,
    Selector,
    all_of,
    in_realm,
    of_tenant,
    peek,
    redrive,
    with_any_id,
    with_reason,
)

LATEST_FAILURES = 20


def _defaults(queues: Sequence[DeadLetterQueue] | None, sqs: Any | None) -> tuple[Sequence[DeadLetterQueue], Any]:
    from qbsync.aws_clients import client
    from qbsync.composition import dead_letter_queues

    return (queues if queues is not None else dead_letter_queues()), (sqs or client("sqs"))


def as_failure(letter: DeadLetter) -> Failure:
    reason = letter.reason
    kind = letter.attribute("kind")
    return Failure(
        message_id=letter.message_id,
        original_message_id=letter.original_message_id,
        queue=letter.queue,  # type: ignore[arg-type]
        event_id=letter.attribute("event_id") or letter.body_field("event_id"),
        realm_id=letter.body_field("realm_id"),
        type="poll_job" if kind == "poll_job" or letter.queue == "poll_jobs" else (
            letter.attribute("event_type") or letter.body_field("event_type") or "unknown"),
        reason=FailureReason(code=reason.code, message=reason.message,
                             qbo_code=_text(reason.details.get("qbo_code")),
                             intuit_tid=_text(reason.details.get("intuit_tid")), details=reason.details),
        failed_at=letter.failed_at,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _newest_first(failures: list[Failure]) -> list[Failure]:
    return sorted(failures, key=lambda f: (f.failed_at is not None, f.failed_at), reverse=True)


def list_failures(tenant_id: str, *, queues: Sequence[DeadLetterQueue] | None = None,
                  sqs: Any | None = None) -> list[Failure]:
    """The tenant's dead letters on every DLQ, newest first."""
    queues, sqs = _defaults(queues, sqs)
    return _newest_first([as_failure(letter) for letter in peek(sqs, queues, select=of_tenant(tenant_id))])


def find_dead_letter(tenant_id: str, message_id: str, *, queues: Sequence[DeadLetterQueue] | None = None,
                     sqs: Any | None = None) -> DeadLetter | None:
    queues, sqs = _defaults(queues, sqs)
    found = peek(sqs, queues, select=all_of(of_tenant(tenant_id), with_any_id([message_id])))
    return found[0] if found else None


@dataclass(frozen=True)
class RedriveResult:
    redriven: int
    not_found: list[str]
    failed: list[str]


def redrive_failures(tenant_id: str, message_ids: Sequence[str] | None = None, *,
                     queues: Sequence[DeadLetterQueue] | None = None, sqs: Any | None = None) -> RedriveResult:
    """Send the tenant's named dead letters (or all of them) back to their queues.

    Raises NotFoundError when ids were named and none of them is one of the tenant's dead letters, so a
    typo is not reported as success."""
    queues, sqs = _defaults(queues, sqs)
    select = of_tenant(tenant_id) if message_ids is None else all_of(of_tenant(tenant_id), with_any_id(message_ids))
    report = redrive(sqs, queues, select=select)
    moved = report.redriven + [letter for letter, _ in report.failed]
    not_found = [] if message_ids is None else [
        wanted for wanted in dict.fromkeys(message_ids) if not any(letter.has_id(wanted) for letter in moved)]
    logger.info("dead letters redriven", extra={"redriven": len(report.redriven), "failed": len(report.failed),
                                                 "not_deleted": len(report.not_deleted),
                                                 "not_found": len(not_found)})
    if message_ids is not None and len(not_found) == len(dict.fromkeys(message_ids)):
        raise NotFoundError("none of the named messages is one of this tenant's dead letters",
                            code="failures_not_found", details={"not_found": not_found})
    return RedriveResult(redriven=len(report.redriven), not_found=not_found,
                         failed=[letter.message_id for letter, _ in report.failed])


def redrive_for_reason(tenant_id: str, reason_code: str, *, realm_id: str | None = None,
                       queues: Sequence[DeadLetterQueue] | None = None, sqs: Any | None = None) -> int:
    """Redrive the tenant's dead letters that failed with `reason_code` (optionally one company's only);
    returns how many went back."""
    queues, sqs = _defaults(queues, sqs)
    selectors = [of_tenant(tenant_id), with_reason(reason_code)]
    if realm_id is not None:
        selectors.append(in_realm(realm_id))
    report = redrive(sqs, queues, select=all_of(*selectors))
    logger.info("dead letters redriven for a fixed cause", extra={"reason_code": reason_code,
                                                                   "redriven": len(report.redriven),
                                                                   "failed": len(report.failed)})
    return len(report.redriven)


WAITING_BEHIND_SENT = "invoice_sent_dead_lettered"  # qbsync.sync.crm_events.holds.WAITING_REASON


def _about_invoice(invoice_id: str) -> Selector:
    def select(letter: DeadLetter) -> bool:
        envelope = letter.body_field("envelope")
        try:
            data = loads(envelope).get("data") if envelope else None
        except (ValueError, AttributeError):
            return False
        return isinstance(data, dict) and data.get("id") == invoice_id

    return select


def redrive_waiting_events(tenant_id: str, realm_id: str, invoice_id: str, *,
                           queues: Sequence[DeadLetterQueue] | None = None, sqs: Any | None = None) -> int:
    """Send an invoice's events that wait behind its `invoice.sent` back to the events queue. The DLQ is FIFO
    and keeps the invoice's message group, so they go back in the order they arrived; returns how many."""
    queues, sqs = _defaults(queues, sqs)
    report = redrive(sqs, [queue for queue in queues if queue.name == "crm_events"], select=all_of(
        of_tenant(tenant_id), in_realm(realm_id), with_reason(WAITING_BEHIND_SENT), _about_invoice(invoice_id)))
    logger.info("waiting invoice events redriven", extra={"redriven": len(report.redriven),
                                                          "failed": len(report.failed)})
    if report.failed:
        # They are still on the DLQ, marked released: the caller's event is retried and releases them again.
        raise RetryableError("some waiting events could not be sent back to the queue", code="redrive_failed",
                             details={"failed": len(report.failed)})
    return len(report.redriven)
