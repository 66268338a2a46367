"""TenantConnections (which company an event goes to) on moto: consistent reads, nothing remembered, so a moved
default or a disconnect applies to the very next event; the reads are point reads whatever else the tenant's
partition holds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from qbsync.models.connection_records import CompanyFacts, EncryptedTokens, OAuthState
from qbsync.repositories.connections import ConnectionsRepository
from qbsync.sync.event_routing import TenantConnections

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COMPANY = CompanyFacts(company_name="Craig's Design", country="US", home_currency="USD", multicurrency=False,
                       custom_txn_numbers=False, automated_sales_tax=True)
TOKENS = EncryptedTokens(access_token=b"ct-access", refresh_token=b"ct-refresh", obtained_at=NOW,
                         access_token_expires_at=NOW + timedelta(hours=1))


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
def routing(repo):
    return TenantConnections(repo)


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
    return answer, dict(dynamodb.calls)


def test_reasons_for_going_nowhere(repo, routing):
    assert routing.realm_for_event("loc_nobody", None) == (None, "tenant_not_connected")
    connect(repo, "loc_1", "9130")
    assert routing.realm_for_event("loc_1", "4620") == (None, "realm_not_connected")
    repo.change_status("loc_1", "9130", "needs_reauth", now=NOW)
    assert routing.realm_for_event("loc_1", None) == ("9130", None)  # waits in the DLQ, redriven after reconnect
    repo.change_status("loc_1", "9130", "disconnected", now=NOW)
    assert routing.realm_for_event("loc_1", None) == (None, "tenant_disconnected")
    assert routing.realm_for_event("loc_1", "9130") == (None, "tenant_disconnected")


def test_point_reads_only_two_for_the_default_company_one_for_a_named_one(repo, dynamodb, routing):
    connect(repo, "loc_1", "9130")
    for _ in range(3):
        assert reads(dynamodb, lambda: routing.realm_for_event("loc_1", None)) == (("9130", None), {"GetItem": 2})
    assert reads(dynamodb, lambda: routing.realm_for_event("loc_1", "9130")) == (("9130", None), {"GetItem": 1})


def test_a_disconnect_applies_to_the_next_event(repo, routing):
    connect(repo, "loc_1", "9130")
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    repo.change_status("loc_1", "9130", "disconnected", now=NOW)
    assert routing.realm_for_event("loc_1", None) == (None, "tenant_disconnected")
    repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=TOKENS, now=NOW)  # reconnect
    assert routing.realm_for_event("loc_1", None) == ("9130", None)


def test_a_moved_default_applies_to_the_next_event(repo, dynamodb, routing):
    # PUT /settings runs in another Lambda: nothing this one remembered may send the next event elsewhere
    connect(repo, "loc_1", "9130")
    repo.store_connected(tenant_id="loc_1", realm_id="4620", company=COMPANY, tokens=TOKENS, now=NOW)
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    move_default(dynamodb, "loc_1", "4620")
    assert routing.realm_for_event("loc_1", None) == ("4620", None)
    repo.change_status("loc_1", "9130", "disconnected", now=NOW)
    assert routing.realm_for_event("loc_1", None) == ("4620", None)
    assert routing.realm_for_event("loc_1", "9130") == (None, "tenant_disconnected")


def test_a_connect_in_progress_is_not_taken_for_a_company(repo, routing):
    connect(repo, "loc_1", "9130")
    repo.save_oauth_state(OAuthState(tenant_id="loc_1", nonce="n" * 32, return_url=None, created_at=NOW,
                                     expires_at=NOW + timedelta(minutes=10)))
    assert routing.realm_for_event("loc_1", None) == ("9130", None)


def test_tenants_are_routed_apart(repo, routing):
    connect(repo, "loc_1", "9130")
    connect(repo, "loc_2", "4620")
    connect(repo, "loc_10", "5555")  # a tenant id that extends another's is another partition
    assert routing.realm_for_event("loc_1", None) == ("9130", None)
    assert routing.realm_for_event("loc_2", None) == ("4620", None)
    assert routing.realm_for_event("loc_10", None) == ("5555", None)
