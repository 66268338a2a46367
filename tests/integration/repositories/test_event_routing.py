"""TenantConnections (which company an event goes to) on moto: one read per event once a tenant's default company
is remembered, the connection's status always read fresh, and nothing refused on remembered data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from qbsync.models.connection_records import CompanyFacts, EncryptedTokens
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.sync.event_routing import TenantConnections

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COMPANY = CompanyFacts(company_name="Craig's Design", country="US", home_currency="USD", multicurrency=False,
                       custom_txn_numbers=False, automated_sales_tax=True)
TOKENS = EncryptedTokens(access_token=b"ct-access", refresh_token=b"ct-refresh", obtained_at=NOW,
                         access_token_expires_at=NOW + timedelta(hours=1))
TTL = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dynamodb(template_table):
    client = template_table("ConnectionsTable", "connections")
    client.calls = Counter()
    client.meta.events.register("before-call.dynamodb.*",
                                lambda model, **_: client.calls.update([model.name]))
    return client


@pytest.fixture
def repo(dynamodb):
    return ConnectionsRepository(table_name="connections", dynamodb=dynamodb)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def routing(repo, clock):
    return TenantConnections(repo, default_ttl_seconds=TTL, clock=clock)


def connect(repo, tenant_id: str, realm_id: str) -> None:
    repo.store_connected(tenant_id=tenant_id, realm_id=realm_id, company=COMPANY, tokens=TOKENS, now=NOW)
    repo.set_default_realm_if_absent(tenant_id, realm_id, now=NOW)


def move_default(dynamodb, tenant_id: str, realm_id: str) -> None:
    """What PUT /tenants/{t}/settings does to the tenant record when default_realm_id changes."""
    dynamodb.update_item(TableName="connections", Key={"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "TENANT"}},
                         UpdateExpression="SET default_realm_id = :realm",
                         ExpressionAttributeValues={":realm": {"S": realm_id}})


def reads(dynamodb, route):
    dynamodb.calls.clear()
    answer = route()
    return answer, dynamodb.calls["GetItem"]


def test_reasons_for_going_nowhere(repo, routing):
    assert routing.realm_for_event("loc_nobody", None) == (None, "tenant_not_connected")
    connect(repo, "loc_1", "9130")
    assert routing.realm_for_event("loc_1", "4620") == (None, "realm_not_connected")
    repo.change_status("loc_1", "9130", "needs_reauth", now=NOW)
    assert routing.realm_for_event("loc_1", None) == ("9130", None)  # waits in the DLQ, redriven after reconnect
    repo.change_status("loc_1", "9130", "disconnected", now=NOW)
    assert routing.realm_for_event("loc_1", None) == (None, "tenant_disconnected")
    assert routing.realm_for_event("loc_1", "9130") == (None, "tenant_disconnected")


def test_the_default_company_is_read_once_then_remembered_for_a_few_seconds(repo, dynamodb, routing, clock):
    connect(repo, "loc_1", "9130")
    assert reads(dynamodb, lambda: routing.realm_for_event("loc_1", None)) == (("9130", None), 2)
    assert reads(dynamodb, lambda: routing.realm_for_event("loc_1", None)) == (("9130", None), 1)
    assert reads(dynamodb, lambda: routing.realm_for_event("loc_1", "9130")) == (("9130", None), 1)
    clock.now += TTL
    assert reads(dynamodb, lambda: routing.realm_for_event("loc_1", None)) == (("9130", None), 2)


def test_a_disconnect_is_seen_at_once_even_while_the_default_is_remembered(repo, routing):
    connect(repo, "loc_1", "9130")
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    repo.change_status("loc_1", "9130", "disconnected", now=NOW)
    assert routing.realm_for_event("loc_1", None) == (None, "tenant_disconnected")
    repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=TOKENS, now=NOW)  # reconnect
    assert routing.realm_for_event("loc_1", None) == ("9130", None)


def test_a_remembered_default_that_no_longer_takes_events_is_read_again_before_refusing(repo, dynamodb, routing):
    # Given a tenant whose default moved to a second company, and whose first company was then disconnected
    connect(repo, "loc_1", "9130")
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    repo.store_connected(tenant_id="loc_1", realm_id="4620", company=COMPANY, tokens=TOKENS, now=NOW)
    move_default(dynamodb, "loc_1", "4620")
    repo.change_status("loc_1", "9130", "disconnected", now=NOW)
    # Then the event goes to the new default, not refused on the remembered one
    assert routing.realm_for_event("loc_1", None) == ("4620", None)


def test_a_moved_default_between_connected_companies_applies_within_the_ttl(repo, dynamodb, routing, clock):
    connect(repo, "loc_1", "9130")
    repo.store_connected(tenant_id="loc_1", realm_id="4620", company=COMPANY, tokens=TOKENS, now=NOW)
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    move_default(dynamodb, "loc_1", "4620")
    assert routing.realm_for_event("loc_1", None) == ("9130", None)  # the documented few seconds
    clock.now += TTL
    assert routing.realm_for_event("loc_1", None) == ("4620", None)


def test_tenants_are_remembered_apart(repo, routing):
    connect(repo, "loc_1", "9130")
    connect(repo, "loc_2", "4620")
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    assert routing.realm_for_event("loc_2", None) == ("4620", None)
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
