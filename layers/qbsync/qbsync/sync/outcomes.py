"""What the workers did, counted per tenant (status page, F20) and as CloudWatch metrics (F22).

Workers call `record_outcome(tenant_id, object_type, status, reason)` once per message: `synced` (the worker's
`applied`), `skipped` with its reason, or `failed` with the reason it was dead-lettered. The poll worker also
counts the objects a run wrote, several at once (`amount`; `qbsync.sync.poll.reporting`). Counting is best
effort: a counter that cannot be written is logged and dropped, never turned into a failed message (which
would re-apply the event just to count it). Counters are cumulative: a failure that is redriven and then
applied counts once as failed and once as synced.

Metrics are emitted with `single_metric` (an EMF line written at once), so they need no `log_metrics`
decorator on the handler and carry their own dimensions: `SyncOutcome` by `object_type` and `outcome`.
The reason is not a dimension (the counters hold it); a tenant is never one (one metric per tenant would be
a cost per tenant).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import BotoCoreError, ClientError

from qbsync.observability import logger, metrics
from qbsync.utils.jsonio import loads

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from qbsync.errors import QbsyncError
    from qbsync.repositories.sync_stats import SyncStatsRepository

OutcomeName = Literal["synced", "skipped", "failed"]
OUTCOMES: tuple[OutcomeName, ...] = ("synced", "skipped", "failed")
_ALIASES = {"applied": "synced"}  # the CRM events worker's word for a change made
SYNC_OUTCOME_METRIC = "SyncOutcome"
POLL_LAG_METRIC = "PollLagSeconds"


def outcome_name(status: str) -> OutcomeName:
    name = _ALIASES.get(status, status)
    if name not in OUTCOMES:
        raise ValueError(f"unknown outcome {status!r}")
    return name  # type: ignore[return-value]


def object_type_for_event(event_type: str | None) -> str:
    """The object a CRM event changes in QBO, as the status page counts it."""
    if event_type in ("invoice.paid", "invoice.partially_paid"):
        return "payments"
    if event_type and event_type.startswith("invoice."):
        return "invoices"
    if event_type == "payment.succeeded":
        return "sales_receipts"
    return "events"


def _emit(object_type: str, outcome: str, amount: int = 1) -> None:
    with single_metric(name=SYNC_OUTCOME_METRIC, unit=MetricUnit.Count, value=amount,
                       namespace=metrics.namespace, default_dimensions={"service": "qbsync"}) as metric:
        metric.add_dimension(name="object_type", value=object_type)
        metric.add_dimension(name="outcome", value=outcome)


def _default_stats() -> SyncStatsRepository:
    from qbsync.composition import sync_stats_repository

    return sync_stats_repository()


def record_outcome(tenant_id: str | None, object_type: str, status: str, reason: str | None = None, *,
                   stats: SyncStatsRepository | None = None, amount: int = 1) -> None:
    """`amount`: how many objects had this outcome (a poll counts a whole run's contacts at once)."""
    outcome = outcome_name(status)
    _emit(object_type, outcome, amount)
    if not tenant_id:
        return  # not one of our messages: nothing to count it against
    try:
        (stats or _default_stats()).increment(tenant_id, object_type, outcome, reason, amount=amount)
    except (ClientError, BotoCoreError) as error:
        logger.warning("sync counter not updated", extra={"object_type": object_type, "outcome": outcome,
                                                          "error_type": type(error).__name__})


def record_poll_lag(lag_seconds: float) -> None:
    """For the poll worker after a successful poll: how far the CRM is behind QBO (now - watermark)."""
    with single_metric(name=POLL_LAG_METRIC, unit=MetricUnit.Seconds, value=max(0.0, lag_seconds),
                       namespace=metrics.namespace, default_dimensions={"service": "qbsync"}):
        pass


def _string_attribute(record: SQSRecord, name: str) -> str | None:
    value = (record.raw_event.get("messageAttributes") or {}).get(name) or {}
    return value.get("stringValue")


def _body_field(record: SQSRecord, name: str) -> str | None:
    try:
        body: Any = loads(record.body or "")
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def tenant_of(record: SQSRecord) -> str | None:
    """The tenant a queue message belongs to: the producer's `tenant_id` attribute, else the body's."""
    return _string_attribute(record, "tenant_id") or _body_field(record, "tenant_id")


def record_dead_letter(record: SQSRecord, error: QbsyncError, *,
                       stats: SyncStatsRepository | None = None) -> None:
    """The consumer's `on_dead_letter` callback: a message dead-lettered with a reason counts as failed."""
    tenant_id = tenant_of(record)
    kind = _string_attribute(record, "kind")
    object_type = "poll_jobs" if kind == "poll_job" else object_type_for_event(
        _string_attribute(record, "event_type") or _body_field(record, "event_type"))
    record_outcome(tenant_id, object_type, "failed", error.code, stats=stats)
