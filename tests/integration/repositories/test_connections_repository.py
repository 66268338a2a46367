"""ConnectionsRepository on moto, with the table created from the template's own definition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qbsync.errors import ConflictError
from qbsync.models.connection_records import CompanyFacts, EncryptedTokens, OAuthState
from qbsync.repositories.connections import ConnectionsRepository, RealmClaimedError

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COMPANY = CompanyFacts(company_name="Craig's Design", country="US", home_currency="USD", multicurrency=False,
                       custom_txn_numbers=False, automated_sales_tax=True)


def tokens(suffix: str, *, at: datetime = NOW) -> EncryptedTokens:
    return EncryptedTokens(access_token=f"ct-access-{suffix}".encode(), refresh_token=f"ct-refresh-{suffix}".encode(),
                           obtained_at=at, access_token_expires_at=at + timedelta(hours=1),
                           refresh_token_expires_at=at + timedelta(days=100),
                           refresh_token_hard_expires_at=at + timedelta(days=1800))


@pytest.fixture
def repo(template_table):
    return ConnectionsRepository(table_name="connections", dynamodb=template_table("ConnectionsTable", "connections"))


def test_oauth_state_is_single_use_and_expires(repo):
    state = OAuthState(tenant_id="loc_1", nonce="n1", return_url="https://crm.example.com/back",
                       created_at=NOW, expires_at=NOW + timedelta(minutes=10))
    repo.save_oauth_state(state)
    assert repo.consume_oauth_state("loc_1", "n1", now=NOW + timedelta(minutes=1)) == state
    assert repo.consume_oauth_state("loc_1", "n1", now=NOW + timedelta(minutes=1)) is None  # replay
    repo.save_oauth_state(state.model_copy(update={"nonce": "n2"}))
    assert repo.consume_oauth_state("loc_1", "n2", now=NOW + timedelta(minutes=11)) is None  # expired
    repo.save_oauth_state(state.model_copy(update={"nonce": "n3"}))
    assert repo.consume_oauth_state("loc_2", "n3", now=NOW) is None  # bound to its tenant


def test_a_realm_belongs_to_one_tenant(repo):
    repo.claim_realm("loc_1", "9130", now=NOW)
    repo.claim_realm("loc_1", "9130", now=NOW)  # the same tenant reconnecting
    with pytest.raises(RealmClaimedError):
        repo.claim_realm("loc_2", "9130", now=NOW)
    assert repo.realm_owner("9130") == "loc_1"
    repo.release_realm("loc_2", "9130")  # not the owner: nothing happens
    assert repo.realm_owner("9130") == "loc_1"
    repo.release_realm("loc_1", "9130")
    assert repo.realm_owner("9130") is None


def test_reconnect_keeps_connected_at_and_bumps_token_version(repo):
    first = repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=tokens("a"), now=NOW)
    assert first.connected_at == NOW and first.token_version == 1 and first.status == "connected"
    assert repo.change_status("loc_1", "9130", "needs_reauth", now=NOW, reason="invalid_grant", drop_tokens=True)
    dropped = repo.get("loc_1", "9130")
    assert dropped.tokens is None and dropped.status == "needs_reauth"
    later = NOW + timedelta(days=3)
    again = repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=tokens("b", at=later),
                                 now=later)
    assert again.connected_at == NOW
    assert again.status == "connected" and again.status_reason is None
    assert again.tokens.refresh_token == b"ct-refresh-b"
    assert again.token_version == 3


def test_token_replacement_is_conditional_on_the_version_read(repo):
    record = repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=tokens("a"), now=NOW)
    assert repo.acquire_refresh_lease("loc_1", "9130", expected_version=1, now=NOW, lease=timedelta(seconds=30))
    # a second refresher is refused while the lease runs, and after the version moved
    assert not repo.acquire_refresh_lease("loc_1", "9130", expected_version=1, now=NOW, lease=timedelta(seconds=30))
    updated = repo.replace_tokens("loc_1", "9130", tokens("b"), expected_version=record.token_version, now=NOW)
    assert updated.token_version == 2 and updated.tokens.access_token == b"ct-access-b"
    with pytest.raises(ConflictError):
        repo.replace_tokens("loc_1", "9130", tokens("c"), expected_version=1, now=NOW)
    assert not repo.acquire_refresh_lease("loc_1", "9130", expected_version=1, now=NOW, lease=timedelta(seconds=30))
    assert repo.acquire_refresh_lease("loc_1", "9130", expected_version=2, now=NOW, lease=timedelta(seconds=30))


def test_a_crashed_lease_holder_blocks_refresh_only_until_the_lease_lapses(repo):
    repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=tokens("a"), now=NOW)
    assert repo.acquire_refresh_lease("loc_1", "9130", expected_version=1, now=NOW, lease=timedelta(seconds=30))
    assert not repo.acquire_refresh_lease("loc_1", "9130", expected_version=1, now=NOW + timedelta(seconds=10),
                                          lease=timedelta(seconds=30))
    assert repo.acquire_refresh_lease("loc_1", "9130", expected_version=1, now=NOW + timedelta(seconds=31),
                                      lease=timedelta(seconds=30))


def test_status_transition_happens_once(repo):
    repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=tokens("a"), now=NOW)
    assert repo.change_status("loc_1", "9130", "needs_reauth", now=NOW, only_from="connected")
    assert not repo.change_status("loc_1", "9130", "needs_reauth", now=NOW, only_from="connected")
    assert not repo.change_status("loc_9", "1", "disconnected", now=NOW)  # unknown connection


def test_expiry_warning_recorded_once_and_connected_scan(repo):
    repo.store_connected(tenant_id="loc_1", realm_id="9130", company=COMPANY, tokens=tokens("a"), now=NOW)
    repo.store_connected(tenant_id="loc_2", realm_id="4620", company=COMPANY, tokens=tokens("a"), now=NOW)
    repo.change_status("loc_2", "4620", "disconnected", now=NOW, drop_tokens=True)
    assert repo.record_expiry_warning("loc_1", "9130", "30d:2027-03-03")
    assert not repo.record_expiry_warning("loc_1", "9130", "30d:2027-03-03")
    assert repo.record_expiry_warning("loc_1", "9130", "7d:2027-03-03")
    assert repo.get("loc_1", "9130").expiry_warnings_sent == {"30d:2027-03-03", "7d:2027-03-03"}
    assert [(c.tenant_id, c.realm_id) for c in repo.iter_connected()] == [("loc_1", "9130")]


def test_default_realm_is_the_first_connected(repo):
    assert repo.default_realm("loc_1") is None
    repo.set_default_realm_if_absent("loc_1", "9130", now=NOW)
    repo.set_default_realm_if_absent("loc_1", "4620", now=NOW)
    assert repo.default_realm("loc_1") == "9130"
