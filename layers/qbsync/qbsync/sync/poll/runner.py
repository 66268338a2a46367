"""One poll job for one company: read QBO's changes, write them to the CRM, then move the watermark.

Order inside a run: customers, items, invoices (status, deals, QBO-made invoices), payments (review
requests), the balances of contacts whose invoices or payments changed, then the daily checks (expiry
warnings, overdue invoices), then the sync state with the new watermark - conditional on the version read, and only after every CRM call above
succeeded. Any failure leaves the watermark where it was: a retryable one (QBO or CRM throttled or down)
fails the record and SQS redelivers it; a permanent one (a CRM 4xx, a QBO validation fault) sends it to the
poll DLQ with its reason (`qbsync.queues.consumer`).

A scan (backfill, re-scan) saves its progress after every page. When the Lambda's time runs short it stops
between pages and fails the record as retryable (`ScanContinuesError`); the redelivered job continues from
the saved page.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from qbsync.clients.crm.client import CrmClient
from qbsync.clients.qbo.client import QboClient
from qbsync.clients.qbo.errors import QboCdcWindowError, QboValidationError
from qbsync.clients.qbo.query import select
from qbsync.errors import ConflictError, RetryableError, ValidationFailedError
from qbsync.models.connection_records import CompanyFacts, ConnectionRecord
from qbsync.models.mapping_records import MappedObject
from qbsync.models.poll_messages import ScanProgress, SyncState
from qbsync.models.queue_messages import PollJobMessage
from qbsync.models.tenant_settings import TenantSettings
from qbsync.observability import logger
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.repositories.mappings import MappingsRepository
from qbsync.repositories.sync_state import NewPairsWriter, RealmMappingsReader, SyncStateRepository
from qbsync.repositories.tenant_settings import TenantSettingsRepository
from qbsync.sync.invoice_status import company_today
from qbsync.sync.poll.due import next_local_midnight, skip_reason
from qbsync.sync.poll.invoice_sync import InvoiceSync
from qbsync.sync.poll.jobs import WEBHOOK_WINDOW, webhook_bucket_end
from qbsync.sync.poll.loop_guard import made_by_qbo_side
from qbsync.sync.poll.mapping_index import MappingIndex
from qbsync.sync.poll.name_lists import ContactsWriter, NameListSync, ProductsWriter
from qbsync.sync.poll.plan import SCAN_MARGIN, PollPlan, choose_plan
from qbsync.sync.poll.qbo_objects import qbo_id, ref_value
from qbsync.sync.poll.reviews import ReviewRequests
from qbsync.sync.poll.scan import (
    BACKFILL_ENTITIES,
    RESCAN_ENTITIES,
    ScanFetcher,
    advance,
    new_scan,
    plan_call,
)

# Stop a scan between pages when less than this is left: a page (1000 objects, 10 CRM calls, their pairs)
# must finish and be saved before Lambda's timeout.
SCAN_RESERVE_SECONDS = 30.0
BALANCE_REFRESH_BATCH = 100
_TOO_OLD = "older than"


class ScanContinuesError(RetryableError):
    code = "scan_continues"


class PollRacedError(RetryableError):
    """Another run changed this company's sync state or a pair meanwhile (SQS FIFO runs one job per
    tenant at a time, so only a redelivery overlapping its first run gets here): try again later."""

    code = "poll_raced"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _forever() -> float:
    return float("inf")


@dataclass
class PollDependencies:
    connections: ConnectionsRepository
    tenant_settings: TenantSettingsRepository
    sync_state: SyncStateRepository
    mappings: MappingsRepository
    mapping_reader: RealmMappingsReader
    crm: CrmClient
    qbo_for: Callable[[str, str], QboClient]
    environment: str
    clock: Callable[[], datetime] = _utcnow
    remaining_seconds: Callable[[], float] = _forever
    sleep: Callable[[float], None] = time.sleep
    # Bulk writes of pairs the CRM has just created; without it (a dry run records every write) pairs are
    # written one at a time through `mappings`.
    new_pairs: NewPairsWriter | None = None
    # `TokenLifecycle.warn_if_expiring`: the daily expiry-warning check (SPEC "Expiry warnings"); returns
    # how many warnings it sent.
    expiry_warnings: Callable[[ConnectionRecord], int] | None = None


@dataclass(frozen=True)
class PollOutcome:
    status: Literal["done", "skipped"]
    reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    watermark: datetime | None = None


class PollJobRunner:
    def __init__(self, deps: PollDependencies) -> None:
        self._deps = deps

    def run(self, job: PollJobMessage) -> PollOutcome:
        deps = self._deps
        connection = deps.connections.get(job.tenant_id, job.realm_id)
        if connection is None or connection.status != "connected":
            return PollOutcome("skipped", "not_connected")
        if connection.company is None or connection.tokens is None:
            raise ValidationFailedError("the connection has no tokens or company facts to poll with",
                                        code="connection_incomplete", details={"realm_id": job.realm_id})
        settings = deps.tenant_settings.get(job.tenant_id).settings
        state = deps.sync_state.get(job.tenant_id, job.realm_id)
        reason = skip_reason(job, settings, state)
        if reason:
            return PollOutcome("skipped", reason)
        if job.reason == "qbo_webhook":
            self._wait_for_bucket_end(job)
        started = deps.clock()
        plan = choose_plan(job, state, settings, connected_at=connection.connected_at, now=started)
        if plan.kind == "skip":
            return PollOutcome("skipped", plan.reason)
        run = _CompanyPoll(deps, connection, settings, started)
        try:
            run.execute(state, plan)
        except ConflictError as error:
            raise PollRacedError("the company's sync state changed during this poll",
                                 details=error.details) from None
        return PollOutcome("done", plan.kind, dict(run.counts), watermark=run.watermark)

    def _wait_for_bucket_end(self, job: PollJobMessage) -> None:
        """Notifications of the same bucket were deduplicated into this job: read QBO only once they have
        all arrived (see `jobs.webhook_bucket_end`)."""
        wait = (webhook_bucket_end(job.requested_at) - self._deps.clock()).total_seconds()
        if wait > 0:
            self._deps.sleep(min(wait, WEBHOOK_WINDOW.total_seconds()))


class _CompanyPoll:
    """The collaborators of one run for one company, built once."""

    def __init__(self, deps: PollDependencies, connection: ConnectionRecord, settings: TenantSettings,
                 started: datetime) -> None:
        self._deps = deps
        self._tenant_id = connection.tenant_id
        self._realm_id = connection.realm_id
        self._company: CompanyFacts = connection.company  # type: ignore[assignment]
        self._settings = settings
        self._started = started
        self.counts: Counter[str] = Counter()
        self.watermark: datetime | None = None
        self._qbo = deps.qbo_for(self._tenant_id, self._realm_id)
        customers, items = self._index("customers"), self._index("items")
        self._customers = customers
        invoices, payments = self._index("invoices"), self._index("payments")
        company = {"tenant_id": self._tenant_id, "realm_id": self._realm_id}
        self._contacts = NameListSync(**company, writer=ContactsWriter(deps.crm), index=customers,
                                      mappings=deps.mappings, new_pairs=deps.new_pairs,
                                      delete_rule=settings.delete_rules.customers, counts=self.counts,
                                      clock=deps.clock)
        self._products = NameListSync(**company, writer=ProductsWriter(deps.crm), index=items,
                                      mappings=deps.mappings, new_pairs=deps.new_pairs,
                                      delete_rule=settings.delete_rules.products, counts=self.counts,
                                      clock=deps.clock)
        self._invoices = InvoiceSync(**company, company=self._company, environment=deps.environment,
                                     crm=deps.crm, mappings=deps.mappings, invoices=invoices,
                                     customers=customers, sync_state=deps.sync_state,
                                     qbo_invoices_to_crm=settings.sync.qbo_invoices_to_crm,
                                     counts=self.counts)
        self._reviews = ReviewRequests(tenant_id=self._tenant_id, realm_id=self._realm_id, qbo=self._qbo,
                                       crm=deps.crm, sync_state=deps.sync_state, payments=payments,
                                       customers=customers, counts=self.counts, clock=deps.clock)

    def _index(self, object_type: MappedObject) -> MappingIndex:
        return MappingIndex(lookup=self._deps.mappings, lister=self._deps.mapping_reader,
                            tenant_id=self._tenant_id, realm_id=self._realm_id, object_type=object_type)

    # ------------------------------------------------------------------ the two ways of reading QBO
    def execute(self, state: SyncState, plan: PollPlan) -> None:
        if plan.kind == "cdc":
            assert plan.since is not None
            try:
                self._cdc(state, plan.since)
                return
            except (QboCdcWindowError, QboValidationError) as error:
                if not isinstance(error, QboCdcWindowError) and _TOO_OLD not in str(error):
                    raise
                logger.warning("cdc window refused, re-scanning by query", extra={"error_code": error.code})
                plan = PollPlan("rescan", since=plan.since)
        self._scan(state, plan)

    def _cdc(self, state: SyncState, since: datetime) -> None:
        result = self._qbo.changes_since(self._cdc_entities(), since)
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for change in result.changes:
            by_entity.setdefault(change.entity, []).append(change.object)
        qbo_now = result.next_changed_since or self._deps.clock()
        self.counts["changes"] += len(result.changes)
        # Why a poll took the calls it took: a dense burst makes each capped answer re-read part of the second
        # the next one resumes from (`clients.qbo.cdc`).
        self.counts["cdc_answers"] += len(result.answers)
        self.counts["cdc_re_read"] += result.re_read
        if len(result.answers) > 1:  # a quiet poll (one answer) has nothing to explain
            logger.info("cdc read", extra={"cdc_answers": len(result.answers), "changes": len(result.changes),
                                           "cdc_objects": [answer.objects for answer in result.answers],
                                           "cdc_re_read": [answer.re_read for answer in result.answers]})
        self._apply(by_entity, today=company_today(qbo_now, self._company.time_zone))
        self._refresh_balances(by_entity)
        daily = self._daily_checks(state, qbo_now)
        self._finish(state, watermark=result.next_changed_since or state.watermark, scan=state.scan,
                     **daily)

    def _scan(self, state: SyncState, plan: PollPlan) -> None:
        continuing = plan.kind == "continue_scan" and state.scan is not None
        progress = state.scan if continuing else self._new_scan(plan)
        state = self._deps.sync_state.save(state.model_copy(update={"scan": progress}))
        fetcher = ScanFetcher(self._qbo, request_key=(self._tenant_id, self._realm_id, "scan",
                                                      self._started.isoformat()))
        entities = list(progress.cursors)
        today = company_today(self._deps.clock(), self._company.time_zone)
        while requests := plan_call(entities, progress.cursors):
            if self._deps.remaining_seconds() < SCAN_RESERVE_SECONDS:
                raise ScanContinuesError("the scan continues in the next delivery of this job",
                                         details={"kind": progress.kind})
            totals, pages = fetcher.fetch(progress, requests)
            self._apply(pages, today=today)
            cursors = advance(progress.cursors, requests, totals=totals, pages=pages)
            progress = progress.model_copy(update={"cursors": cursors})
            state = self._deps.sync_state.save(state.model_copy(update={"scan": progress}))
            self.counts["scanned"] += sum(len(objects) for objects in pages.values())
        done = progress.model_copy(update={"status": "done", "completed_at": self._deps.clock()})
        daily = self._daily_checks(state, self._deps.clock()) if progress.kind == "rescan" else {}
        self._finish(state, watermark=progress.watermark, scan=done, **daily)

    def _new_scan(self, plan: PollPlan) -> ScanProgress:
        kind = "rescan" if plan.kind == "rescan" else "backfill"
        wanted = RESCAN_ENTITIES if kind == "rescan" else BACKFILL_ENTITIES
        entities = [entity for entity in wanted if self._wants(entity)]
        return new_scan(kind, entities=entities, watermark=self._started - SCAN_MARGIN,
                        started_at=self._started, since=plan.since)

    # ------------------------------------------------------------------ applying what QBO said
    def _wants(self, entity: str) -> bool:
        sync = self._settings.sync
        return {"Customer": sync.customers, "Item": sync.products, "Invoice": True,
                "Payment": self._settings.review_request.enabled}[entity]

    def _cdc_entities(self) -> list[str]:
        # Customer last: it is the entity that changes in bulk (an import), and a capped CDC answer is
        # continued from its last group (`clients.qbo.cdc`).
        return [entity for entity in ("Item", "Invoice", "Payment", "Customer") if self._wants(entity)]

    def _apply(self, by_entity: dict[str, list[dict[str, Any]]], *, today: Any) -> None:
        if by_entity.get("Customer"):
            self._contacts.sync(by_entity["Customer"])
        if by_entity.get("Item"):
            self._products.sync(by_entity["Item"])
        if by_entity.get("Invoice"):
            self._invoices.report(by_entity["Invoice"], today=today)
        if by_entity.get("Payment"):
            self._reviews.process(by_entity["Payment"])

    def _refresh_balances(self, by_entity: dict[str, list[dict[str, Any]]]) -> None:
        """A customer's Balance is computed from its invoices and payments: it moves without the customer
        being saved, so CDC does not return it. Contacts already sent whose invoices or payments changed are
        read again (one query per 100) and go through the same hash check as any other change."""
        if not self._wants("Customer"):
            return
        seen = {qbo_id(customer) for customer in by_entity.get("Customer", [])}
        touched = {ref_value(obj, "CustomerRef") for entity in ("Invoice", "Payment")
                   for obj in by_entity.get(entity, [])} - seen - {None}
        paired = [customer for customer in sorted(touched)  # type: ignore[arg-type]
                  if made_by_qbo_side(self._customers.get(customer))]  # type: ignore[arg-type]
        for start in range(0, len(paired), BALANCE_REFRESH_BATCH):
            ids = paired[start:start + BALANCE_REFRESH_BATCH]
            customers = self._qbo.query(select("Customer", conditions=[("Id", "IN", ids)],
                                               max_results=len(ids)))
            self.counts["balances_refreshed"] += len(customers)
            self._contacts.sync(customers)

    def _daily_checks(self, state: SyncState, qbo_now: datetime) -> dict[str, Any]:
        """Once per company-local day (the schedule makes every company due for it, whatever its frequency:
        `due.is_due`): the expiry warnings, then invoices past due with money owed, which no QBO change
        announces."""
        today = company_today(qbo_now, self._company.time_zone)
        if state.overdue_checked_on == today:
            return {}
        self._expiry_check()
        past_due = list(self._qbo.iter_query("Invoice", conditions=[("DueDate", "<", today),
                                                                    ("Balance", ">", Decimal("0"))]))
        self.counts["overdue_candidates"] += len(past_due)
        self._invoices.report(past_due, today=today, new_qbo_invoices=False)
        return {"overdue_checked_on": today,
                "next_overdue_check_at": next_local_midnight(self._deps.clock(), self._company.time_zone)}

    def _expiry_check(self) -> None:
        """SPEC: expiry warnings are checked at connect, on every refresh and daily. A company whose access
        token is fresh (another worker refreshed it) or that polls weekly would otherwise go days unchecked.
        The record is read again: a refresh during this run may have sent the warning already."""
        if self._deps.expiry_warnings is None:
            return
        record = self._deps.connections.get(self._tenant_id, self._realm_id)
        if record is not None:
            self.counts["expiry_warnings"] += self._deps.expiry_warnings(record)

    def _finish(self, state: SyncState, *, watermark: datetime | None, scan: ScanProgress | None,
                **updates: Any) -> None:
        self.watermark = watermark
        finished = state.model_copy(update={
            "watermark": watermark, "scan": scan, "last_success_at": self._deps.clock(),
            "last_success_started_at": self._started, "last_counts": dict(self.counts), **updates,
        })
        try:
            self._deps.sync_state.save(finished)
        except ConflictError:
            # Another run saved first (a redelivered copy of this job): its watermark stands.
            logger.warning("sync state moved meanwhile; watermark left to the other run",
                           extra={"tenant_id": self._tenant_id, "realm_id": self._realm_id})
