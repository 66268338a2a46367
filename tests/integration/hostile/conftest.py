"""A local stack for hostile requests: two connected tenants, each with an invoice linked to QBO, and nothing
moving in the background (queue runners off, QBO webhooks held), so that any trace a refused request leaves
in DynamoDB, SQS, QBO or the CRM shows up in a before/after comparison (`trace_probes.Trace`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests
from connect_helpers import API_HEADERS, connect
from trace_probes import Trace

from qbsync_local.stack import LocalStack

TENANT_A = "loc_hostile_a"
TENANT_B = "loc_hostile_b"
TENANT_C = "loc_hostile_c"  # a connected tenant for routes that would change A if a refusal failed


@dataclass
class HostileWorld:
    stack: LocalStack
    realm_a: str
    realm_b: str
    crm_invoice_a: str
    crm_invoice_b: str
    qbo_invoice_a: str
    qbo_invoice_b: str
    tenant_a: str = TENANT_A
    tenant_b: str = TENANT_B
    tenant_c: str = TENANT_C

    @property
    def api(self) -> str:
        return self.stack.api.url

    def trace(self) -> Trace:
        return Trace.of(self.stack)


def _linked_invoice(stack: LocalStack, tenant: str, realm: str, crm_invoice_id: str) -> str:
    """A QBO invoice a user made by hand, linked to a CRM invoice through the management API."""
    emulator = stack.qbo_emulator
    customer = emulator.user_create(
        realm,
        "Customer",
        {"DisplayName": f"Hostile buyer {tenant}", "PrimaryEmailAddr": {"Address": f"{tenant}@example.com"}},
    )
    invoice = emulator.user_create(
        realm,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": Decimal("50.00"),
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "1"},
                        "Qty": 1,
                        "UnitPrice": Decimal("50.00"),
                    },
                }
            ],
        },
    )
    answer = requests.post(
        f"{stack.api.url}/tenants/{tenant}/invoices/{crm_invoice_id}/link",
        headers=API_HEADERS,
        json={"qbo_invoice_id": str(invoice["Id"])},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    return str(invoice["Id"])


@pytest.fixture(scope="module")
def world(full_config) -> Iterator[HostileWorld]:
    with LocalStack(full_config, start_queue_runners=False, start_schedules=False) as stack:
        stack.qbo_emulator.set_webhooks(auto=False)  # no QBO → qbsync notifications in the background
        realm_a = connect(stack, TENANT_A, name="Hostile A")
        realm_b = connect(stack, TENANT_B, name="Hostile B")
        connect(stack, TENANT_C, name="Hostile C")
        yield HostileWorld(
            stack=stack,
            realm_a=realm_a,
            realm_b=realm_b,
            crm_invoice_a="inv_hostile_a",
            crm_invoice_b="inv_hostile_b",
            qbo_invoice_a=_linked_invoice(stack, TENANT_A, realm_a, "inv_hostile_a"),
            qbo_invoice_b=_linked_invoice(stack, TENANT_B, realm_b, "inv_hostile_b"),
        )
