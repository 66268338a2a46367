"""SPEC F1-F4 through the local stack's HTTP API against the QBO and CRM emulators (issue 4)."""

from __future__ import annotations

import pytest
import requests
from connect_helpers import RETURN_URL, connect_link, follow_to_callback, issued_tokens, query_of


def scan(stack, logical_id: str) -> list[dict]:
    dynamodb = stack.aws_client("dynamodb")
    return dynamodb.scan(TableName=stack.deployed.physical_ids[logical_id])["Items"]


def test_connect_stores_encrypted_tokens_reads_company_and_tells_the_crm(full_stack):
    realm = full_stack.qbo_emulator.create_company(country="US", name="Craig's Design and Landscaping")
    full_stack.qbo_emulator.set_consent(realm_id=realm)

    callback = follow_to_callback(full_stack, connect_link(full_stack.api.url, "loc_connect_1"))

    assert callback.status_code == 302, callback.text
    assert callback.headers["Location"].startswith(RETURN_URL)
    assert query_of(callback.headers["Location"]) == {"status": "connected", "realm_id": realm}
    # The CRM heard about it, with the company's name
    updates = full_stack.crm_emulator.connection_updates("loc_connect_1")
    assert updates[-1]["status"] == "connected" and updates[-1]["realm_id"] == realm
    assert updates[-1]["company_name"] == "Craig's Design and Landscaping"
    # No plaintext token anywhere in the connections table
    issued = issued_tokens(full_stack)
    assert issued
    dump = repr(scan(full_stack, "ConnectionsTable"))
    assert not [token for token in issued if token in dump]
    item = next(i for i in scan(full_stack, "ConnectionsTable") if i["sk"]["S"] == f"CONNECTION#{realm}")
    assert item["status"]["S"] == "connected"
    assert item["company"]["M"]["home_currency"]["S"] == "USD"
    assert item["company"]["M"]["automated_sales_tax"]["BOOL"] is True


def test_the_state_is_single_use(full_stack):
    realm = full_stack.qbo_emulator.create_company(country="US")
    full_stack.qbo_emulator.set_consent(realm_id=realm)
    link = connect_link(full_stack.api.url, "loc_connect_2")
    to_intuit = requests.get(link, allow_redirects=False, timeout=10)
    consent = requests.get(to_intuit.headers["Location"], allow_redirects=False, timeout=10)
    first = requests.get(consent.headers["Location"], allow_redirects=False, timeout=20)
    replay = requests.get(consent.headers["Location"], allow_redirects=False, timeout=20)
    assert first.status_code == 302
    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize("mutate, status, code", [
    (lambda p: {**p, "signature": "AAAA"}, 403, "invalid_signature"),
    (lambda p: {k: v for k, v in p.items() if k != "signature"}, 403, "invalid_signature"),
    (lambda p: {**p, "tenant_id": "loc_other"}, 403, "invalid_signature"),
    (lambda p: {**p, "tenant_id": "../etc"}, 400, "invalid_tenant_id"),
])
def test_bad_link_is_refused_and_stores_nothing(full_stack, mutate, status, code):
    link = connect_link(full_stack.api.url, "loc_bad")
    params = query_of(link)
    # (only this tenant's items: background polls of other tenants write to the table meanwhile)
    before = [i for i in scan(full_stack, "ConnectionsTable") if "loc_bad" in i["pk"]["S"]]
    response = requests.get(f"{full_stack.api.url}/connect", params=mutate(params), allow_redirects=False,
                            timeout=10)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert [i for i in scan(full_stack, "ConnectionsTable") if "loc_bad" in i["pk"]["S"]] == before


def test_expired_or_far_future_link_is_refused(full_stack):
    expired = requests.get(connect_link(full_stack.api.url, "loc_x", expires_in=-5), allow_redirects=False, timeout=10)
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "link_expired"
    future = requests.get(connect_link(full_stack.api.url, "loc_x", expires_in=3600), allow_redirects=False,
                          timeout=10)
    assert future.status_code == 403 and future.json()["error"]["code"] == "expires_too_far_ahead"


def test_return_url_off_the_allow_list_is_refused(full_stack):
    response = requests.get(connect_link(full_stack.api.url, "loc_x", return_url="https://evil.example.net/x"),
                            allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "return_url_not_allowed"


def test_a_browser_gets_a_page_not_json(full_stack):
    response = requests.get(connect_link(full_stack.api.url, "loc_x", expires_in=-5), allow_redirects=False,
                            headers={"Accept": "text/html"}, timeout=10)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<meta name="qbsync-code" content="link_expired">' in response.text


def test_declined_consent_returns_to_the_crm_with_denied(full_stack):
    full_stack.qbo_emulator.set_consent(deny=True)
    try:
        callback = follow_to_callback(full_stack, connect_link(full_stack.api.url, "loc_denied"))
    finally:
        full_stack.qbo_emulator.set_consent(deny=False)
    assert callback.status_code == 302
    assert query_of(callback.headers["Location"]) == {"status": "denied", "error": "access_denied"}
    assert not [i for i in scan(full_stack, "ConnectionsTable") if i["pk"]["S"] == "TENANT#loc_denied"]


def test_a_realm_of_another_tenant_is_refused(full_stack):
    realm = full_stack.qbo_emulator.create_company(country="US")
    full_stack.qbo_emulator.set_consent(realm_id=realm)
    assert follow_to_callback(full_stack, connect_link(full_stack.api.url, "loc_owner")).status_code == 302
    stolen = follow_to_callback(full_stack, connect_link(full_stack.api.url, "loc_thief", return_url=None))
    assert stolen.status_code == 409
    assert stolen.json()["error"]["code"] == "realm_connected_to_another_tenant"
    assert not [i for i in scan(full_stack, "ConnectionsTable") if i["pk"]["S"] == "TENANT#loc_thief"]


def test_two_companies_for_one_tenant_first_is_default(full_stack):
    first = full_stack.qbo_emulator.create_company(country="US")
    second = full_stack.qbo_emulator.create_company(country="CA")
    for realm in (first, second):
        full_stack.qbo_emulator.set_consent(realm_id=realm)
        assert follow_to_callback(full_stack, connect_link(full_stack.api.url, "loc_multi")).status_code == 302
    items = [i for i in scan(full_stack, "ConnectionsTable") if i["pk"]["S"] == "TENANT#loc_multi"
             and i["sk"]["S"].startswith(("CONNECTION#", "TENANT"))]
    assert {i["sk"]["S"] for i in items} == {f"CONNECTION#{first}", f"CONNECTION#{second}", "TENANT"}
    tenant = next(i for i in items if i["sk"]["S"] == "TENANT")
    assert tenant["default_realm_id"]["S"] == first
