"""Helpers for the QBO → CRM tests on the local stack: run a poll job now, read a company's sync state,
change tenant settings, play the CRM → QBO side's writes."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from qbsync.models.mapping_records import INVOICE_STATE_DEAL_ID

_tenants = itertools.count(1)


class PollHelper:
    def __init__(self, stack: Any, wait: Any) -> None:
        self.stack = stack
        self._wait = wait

    # ------------------------------------------------------------------ repositories on the stack's tables
    def sync_state(self, tenant_id: str, realm_id: str):  # noqa: ANN201
        from qbsync.repositories.sync_state import SyncStateRepository

        return SyncStateRepository(table_name=self.stack.deployed.physical_ids["ConnectionsTable"]).get(
            tenant_id, realm_id)

    def mappings(self):  # noqa: ANN201
        from qbsync.repositories.mappings import MappingsRepository

        return MappingsRepository(table_name=self.stack.deployed.physical_ids["MappingsTable"])

    def set_settings(self, tenant_id: str, **changes: Any) -> None:
        from qbsync.models.tenant_settings import TenantSettings
        from qbsync.repositories.tenant_settings import TenantSettingsRepository

        repository = TenantSettingsRepository(table_name=self.stack.deployed.physical_ids["ConnectionsTable"])
        current = repository.get(tenant_id)
        document = {**current.settings.model_dump(mode="json"), **changes}
        repository.put(tenant_id, TenantSettings.model_validate(document), expected_version=current.version)

    def connect_existing(self, tenant_id: str, realm_id: str) -> None:
        """`connect_helpers.connect` makes a new company; this one exists already: consent to it instead.
        The OAuth callback enqueues the company's backfill."""
        from connect_helpers import connect_link, follow_to_callback

        self.stack.qbo_emulator.set_consent(realm_id=realm_id)
        answer = follow_to_callback(self.stack, connect_link(self.stack.api.url, tenant_id))
        assert answer.status_code == 302, answer.text

    # ------------------------------------------------------------------ polls
    def poll_now(self, tenant_id: str, realm_id: str, *, timeout: float = 20.0):  # noqa: ANN201
        """Enqueue a poll job for the company and wait until a poll that began after it has finished."""
        from qbsync.queues.publisher import FifoPublisher
        from qbsync.sync.poll.jobs import publish_poll_job

        asked = datetime.now(UTC)
        publish_poll_job(FifoPublisher(queue_url=self.stack.queue_url("PollJobsQueue")), tenant_id=tenant_id,
                         realm_id=realm_id, reason="sync_now", requested_at=asked)

        def polled():  # noqa: ANN202
            state = self.sync_state(tenant_id, realm_id)
            started = state.last_success_started_at
            return state if started is not None and started >= asked else None

        return self._wait(polled, timeout=timeout, message=f"a poll of {realm_id} after {asked:%H:%M:%S.%f}")

    def dead_poll_jobs(self) -> list[dict[str, Any]]:
        sqs = self.stack.aws_client("sqs")
        return sqs.receive_message(QueueUrl=self.stack.queue_url("PollJobsDeadLetterQueue"),
                                   MaxNumberOfMessages=10, VisibilityTimeout=0,
                                   MessageAttributeNames=["All"]).get("Messages", [])

    # ------------------------------------------------------------------ the CRM → QBO side, played here
    def crm_made_customer(self, realm_id: str, tenant_id: str, crm_contact_id: str,
                          name: str) -> dict[str, Any]:
        """What issue 5's worker leaves behind: a tagged QBO customer and a mapping with origin "crm"."""
        customer = self.stack.qbo_emulator.user_create(realm_id, "Customer", {
            "DisplayName": name, "PrimaryEmailAddr": {"Address": f"{crm_contact_id}@example.com"},
            "Notes": f"CRM contact [qbsync crm_contact_id={crm_contact_id}]"})
        self.mappings().create(tenant_id, realm_id, "customers", crm_contact_id, customer["Id"],
                               state={"origin": "crm"})
        return customer

    def crm_made_invoice(self, realm_id: str, tenant_id: str, crm_invoice_id: str, customer_id: str,
                         amount: str = "100.00", deal_id: str | None = None, **fields: Any) -> dict[str, Any]:
        from decimal import Decimal

        invoice = self.stack.qbo_emulator.user_create(realm_id, "Invoice", {
            "CustomerRef": {"value": customer_id},
            "Line": [{"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1,
                                              "UnitPrice": Decimal(amount)}}],
            "PrivateNote": f"CRM invoice [qbsync crm_invoice_id={crm_invoice_id}]", **fields})
        state: dict[str, Any] = {"origin": "crm"}
        if deal_id:
            state[INVOICE_STATE_DEAL_ID] = deal_id  # the key the CRM event side writes
        self.mappings().create(tenant_id, realm_id, "invoices", crm_invoice_id, invoice["Id"], state=state)
        return invoice

    def pay(self, realm_id: str, customer_id: str, invoice_id: str, amount: str) -> dict[str, Any]:
        from decimal import Decimal

        return self.stack.qbo_emulator.user_create(realm_id, "Payment", {
            "CustomerRef": {"value": customer_id}, "TotalAmt": Decimal(amount),
            "Line": [{"Amount": Decimal(amount),
                      "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}]})


@pytest.fixture
def tenant_id(request) -> str:
    """A tenant of its own per test, named after it (CRM ids: letters, digits, `_ . : @ -`)."""
    name = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:60]
    return f"q2c_{next(_tenants)}_{name}"


@pytest.fixture(scope="module")
def poll_stack(full_config) -> Iterator[Any]:
    """The full local stack with one poller per queue. moto's FIFO queues can hand two long-polling
    receivers messages of the same group at once (the in-flight check is a snapshot taken when the long
    poll starts); real SQS never does, and the poll worker relies on one job per tenant at a time."""
    from qbsync_local.stack import LocalStack

    with LocalStack(dataclasses.replace(full_config, queue_pollers=1), start_schedules=False) as stack:
        yield stack


@pytest.fixture
def poll(poll_stack, wait) -> PollHelper:
    return PollHelper(poll_stack, wait)
