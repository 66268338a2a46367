"""F14 customer update when a QBO user edits the customer between qbsync's read and its sparse update: QBO
answers 5010 (stale SyncToken), and qbsync reads it again and retries once (QBO.md §5, §8.3).

The race is staged deterministically: the real `QboClient` talks to the QBO emulator over loopback, and the
user's edit (in the emulator, as from the QBO UI) lands right after qbsync's first read of the customer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from qbo_emulator import QboEmulator
from qbsync.clients.qbo import IntuitOAuthClient, QboClient, TokenSet
from qbsync.models.connection_records import CompanyFacts, ConnectionRecord
from qbsync.models.crm_events import Customer
from qbsync.models.tenant_settings import TenantSettings
from qbsync.repositories.mappings import MappingsRepository
from qbsync.sync.crm_events.context import ApplyContext
from qbsync.sync.crm_events.customers import FIELDS_HASH, resolve_customer

from crm_emulator.builders import address, customer

TENANT = "loc_stale_customer"
CLIENT_ID, CLIENT_SECRET, REDIRECT_URI = "stale-customer-tests", "stale-customer-tests-pw", "http://127.0.0.1:9/cb"


class UserEditsAfterFirstRead:
    """The real client; right after qbsync first reads a customer, a QBO user changes its notes."""

    def __init__(self, qbo: QboClient, emu: QboEmulator, realm: str) -> None:
        self._qbo, self._emu, self._realm = qbo, emu, realm
        self.reads = 0
        self.updates: list[str] = []

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        found = self._qbo.read(entity, entity_id)
        self.reads += 1
        if self.reads == 1:
            self._emu.user_update(self._realm, entity, {"Id": entity_id, "Notes": "edited in QBO meanwhile"})
        return found

    def sparse_update(self, entity: str, entity_id: str, sync_token: str, changes: Any, **kwargs: Any) -> Any:
        self.updates.append(sync_token)
        return self._qbo.sparse_update(entity, entity_id, sync_token, changes, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._qbo, name)


@pytest.fixture
def emu(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator is plain http on loopback
    emulator = QboEmulator().start()
    emulator.register_app(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])
    yield emulator
    emulator.stop()
    assert emulator.internal_errors == [], emulator.internal_errors


def client_for(emu: QboEmulator, realm: str) -> QboClient:
    oauth = IntuitOAuthClient(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI,
                              authorization_url=emu.auth_url, token_url=emu.token_url, revoke_url=emu.revoke_url)
    tokens = TokenSet.from_token_response(emu.issue_tokens(CLIENT_ID, realm), received_at=datetime.now(UTC))
    return QboClient(realm_id=realm, api_base_url=emu.api_base_url, session=oauth.api_session(tokens))


def test_a_stale_sync_token_is_read_again_and_the_update_retried_once(emu, template_table):
    realm = emu.create_company(country="US", name="Stale Co")
    mappings = MappingsRepository(table_name="mappings", dynamodb=template_table("MappingsTable", "mappings"))
    raw = customer(name="Grace Hopper")
    buyer = Customer.model_validate(raw)
    made = emu.user_create(realm, "Customer", {"DisplayName": "Grace Hopper",
                                               "PrimaryEmailAddr": {"Address": buyer.email}})
    mappings.create(TENANT, realm, "customers", buyer.crm_contact_id, made["Id"],
                    state={"origin": "crm", FIELDS_HASH: "what-was-synced-before"})
    qbo = UserEditsAfterFirstRead(client_for(emu, realm), emu, realm)
    now = datetime.now(UTC)
    company = CompanyFacts(company_name="Stale Co", country="US", home_currency="USD", multicurrency=False,
                           custom_txn_numbers=False, automated_sales_tax=True)
    ctx = ApplyContext(
        tenant_id=TENANT, realm_id=realm, event_id="evt_stale", qbo=qbo,  # type: ignore[arg-type]
        settings=TenantSettings(update_qbo_customer=True), mappings=mappings, crm=None,  # type: ignore[arg-type]
        connection=ConnectionRecord(tenant_id=TENANT, realm_id=realm, status="connected", connected_at=now,
                                    updated_at=now, company=company),
        environment="sandbox", clock=lambda: now)

    qbo_id = resolve_customer(ctx, Customer.model_validate({**raw, "address": address(city="Arlington")}))

    assert qbo_id == made["Id"]
    assert qbo.reads == 2 and qbo.updates == ["0", "1"]  # the first try was stale; the retry used the new token
    stored = emu.entity(realm, "Customer", made["Id"])
    assert stored["BillAddr"]["City"] == "Arlington" and stored["Notes"] == "edited in QBO meanwhile"
    assert stored["SyncToken"] == "2"
    assert mappings.get(TENANT, realm, "customers", buyer.crm_contact_id).state[FIELDS_HASH] != "what-was-synced-before"
