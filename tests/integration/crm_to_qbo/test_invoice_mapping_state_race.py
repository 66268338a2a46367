"""A CRM payment event and a QBO poll write the same invoice mapping (issue 9; found by the corpus).

The CRM → QBO side records `amount_paid` in the invoice's mapping state after creating the QBO Payment; the
QBO → CRM poll records what it last reported (`poll/mapping_state.merge_state`) in the same item. Both are
conditional on the version read. The poll re-reads and merges when it loses; the payment side must too,
because by then the QBO Payment exists: a lost race that dead-letters the event (`conflict`, permanent)
leaves `amount_paid` behind and the CRM without the invoice's new status, and a redrive skips the payment
as already applied.

The race is made deterministic here: the poll's write lands between the worker's read and its write.
The same window, with the write failing instead (the event retried): the payment is added in on the retry,
once, and the report it owed is sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from crm_emulator.builders import invoice_partially_paid, invoice_sent
from qbsync.errors import RetryableError
from qbsync.models.connection_records import CompanyFacts, ConnectionRecord
from qbsync.models.crm_events import parse_event
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.mappings import MappingsRepository
from qbsync.sync.crm_events.context import ApplyContext
from qbsync.sync.crm_events.invoices import apply_payment
from qbsync.sync.poll.mapping_state import merge_state
from qbsync.utils.jsonio import dumps

TENANT, REALM = "loc_race", "4620816365000000001"


class FakeQbo:
    """Just what apply_payment asks QBO for: create the Payment, read the invoice back."""

    def __init__(self, invoice: dict[str, Any]) -> None:
        self.invoice = invoice
        self.payments: list[dict[str, Any]] = []

    def create(self, entity: str, body: dict[str, Any], *, request_key: Any) -> dict[str, Any]:
        assert entity == "Payment"
        self.payments.append(body)
        self.invoice["Balance"] = self.invoice["TotalAmt"] - body["TotalAmt"]
        return {**body, "Id": str(100 + len(self.payments))}

    def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        assert entity == "Invoice" and qbo_id == self.invoice["Id"]
        return dict(self.invoice)


class FakeCrm:
    def __init__(self) -> None:
        self.accounting: list[Any] = []

    def put_invoice_accounting(
        self, tenant_id: str, crm_invoice_id: str, body: Any, *, idempotency_key: str
    ) -> None:
        self.accounting.append(body)


class PollWritesFirst(MappingsRepository):
    """The real repository, but the first time the worker writes the invoice's state, the poll worker has just
    merged its own key into it (so the version the worker read is stale)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raced = False

    def update_state(self, mapping, state, **kwargs):  # noqa: ANN001, ANN201 - as the base class
        if not self.raced and mapping.object_type == "invoices":
            self.raced = True
            merge_state(
                MappingsRepository(table_name=self._table_name, dynamodb=self._dynamodb),
                mapping,
                {"qbo_reported": {"marker": {"status": "open"}}},
            )
        return super().update_state(mapping, state, **kwargs)


def staged_payment(mappings: MappingsRepository) -> tuple[ApplyContext, Any, FakeQbo, FakeCrm, str]:
    """An invoice qbsync sent (its pairing stored), and a partial payment of 40.00 for it."""
    sent = invoice_sent(TENANT)
    total = Decimal(sent["data"]["totals"]["total"])
    mappings.create(
        TENANT,
        REALM,
        "invoices",
        sent["data"]["id"],
        "7",
        state={
            "origin": "crm",
            "amount_paid": "0",
            "customer_ref": "3",
            "updated_at": sent["data"]["updated_at"],
            "payments_counted": [],  # as apply_sent writes it
        },
    )
    qbo = FakeQbo(
        {
            "Id": "7",
            "TotalAmt": total,
            "Balance": total,
            "DocNumber": "1001",
            "DueDate": "2026-12-31",
            "CurrencyRef": {"value": "USD"},
            "MetaData": {"LastUpdatedTime": "2026-11-23T10:00:00-08:00"},
        }
    )
    crm = FakeCrm()
    company = CompanyFacts(
        company_name="Race Co",
        country="US",
        home_currency="USD",
        multicurrency=False,
        custom_txn_numbers=False,
        automated_sales_tax=True,
    )
    now = datetime.now(UTC)
    ctx = ApplyContext(
        tenant_id=TENANT,
        realm_id=REALM,
        event_id="evt_race",
        settings=TenantSettings(),
        qbo=qbo,
        connection=ConnectionRecord(
            tenant_id=TENANT,
            realm_id=REALM,
            status="connected",
            connected_at=now,
            updated_at=now,
            company=company,
        ),
        mappings=mappings,
        crm=crm,
        environment="sandbox",
        clock=lambda: now,
    )
    paid = invoice_partially_paid(TENANT, invoice=sent["data"], amount="40.00")
    event = parse_event(dumps(paid).encode())
    return ctx, event, qbo, crm, sent["data"]["id"]



def test_a_payment_event_survives_a_concurrent_poll_write_to_the_invoice_mapping(template_table):
    mappings = PollWritesFirst(table_name="mappings", dynamodb=template_table("MappingsTable", "mappings"))
    ctx, event, qbo, crm, crm_invoice_id = staged_payment(mappings)

    outcome = apply_payment(ctx, event.data, event.data.payment)  # the poll's write lands in the middle

    assert mappings.raced, "the race was staged"
    assert outcome.status == "applied" and len(qbo.payments) == 1
    state = mappings.get(TENANT, REALM, "invoices", crm_invoice_id).state
    assert Decimal(state["amount_paid"]) == Decimal("40.00"), state
    assert state.get("qbo_reported"), "the poll's key survives the merge"
    assert crm.accounting and crm.accounting[-1].status == "partially_paid"


class FailsAddingThePaymentIn(MappingsRepository):
    """The real repository, but the first write of the invoice's state fails (DynamoDB throttled, the Lambda
    timed out): the QBO Payment and its pairing exist, the invoice's `amount_paid` does not count it yet."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failed = False

    def update_state(self, mapping, state, **kwargs):  # noqa: ANN001, ANN201 - as the base class
        if not self.failed and mapping.object_type == "invoices":
            self.failed = True
            raise RetryableError("throttled", code="dynamodb_throttled")
        return super().update_state(mapping, state, **kwargs)


def test_a_payment_whose_event_failed_before_adding_it_in_is_added_in_on_the_retry(template_table):
    mappings = FailsAddingThePaymentIn(table_name="mappings", dynamodb=template_table("MappingsTable", "mappings"))
    ctx, event, qbo, crm, crm_invoice_id = staged_payment(mappings)
    with pytest.raises(RetryableError):
        apply_payment(ctx, event.data, event.data.payment)
    assert len(qbo.payments) == 1 and not crm.accounting

    outcome = apply_payment(ctx, event.data, event.data.payment)  # the event's retry

    assert outcome.reason == "payment_already_applied" and len(qbo.payments) == 1
    state = mappings.get(TENANT, REALM, "invoices", crm_invoice_id).state
    assert Decimal(state["amount_paid"]) == Decimal("40.00"), state
    assert crm.accounting and crm.accounting[-1].status == "partially_paid"
    assert not state.get("status_owed"), "the report went through"

    again = apply_payment(ctx, event.data, event.data.payment)  # a later copy changes nothing
    assert again.reason == "payment_already_applied" and len(crm.accounting) == 1
    assert Decimal(mappings.get(TENANT, REALM, "invoices", crm_invoice_id).state["amount_paid"]) == Decimal("40.00")


def test_a_pair_from_before_the_counted_list_never_counts_its_payments_twice(template_table):
    # Pairs written before `payments_counted` existed counted every payment they paired: a redelivered payment
    # event must not add its amount again (that would leave a later rise-based payment unbooked).
    mappings = MappingsRepository(table_name="mappings", dynamodb=template_table("MappingsTable", "mappings"))
    ctx, event, qbo, crm, crm_invoice_id = staged_payment(mappings)
    legacy = mappings.get(TENANT, REALM, "invoices", crm_invoice_id)
    mappings.update_state(legacy, {k: v for k, v in legacy.state.items() if k != "payments_counted"}
                          | {"amount_paid": "40.00"})
    mappings.create(TENANT, REALM, "payments", f"{crm_invoice_id}:{event.data.payment.id}", "101",
                    state={"origin": "crm", "invoice_qbo_id": "7", "invoice_crm_id": crm_invoice_id})

    outcome = apply_payment(ctx, event.data, event.data.payment)

    assert outcome.reason == "payment_already_applied" and qbo.payments == []
    assert Decimal(mappings.get(TENANT, REALM, "invoices", crm_invoice_id).state["amount_paid"]) == Decimal("40.00")
