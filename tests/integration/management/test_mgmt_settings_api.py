"""`GET/PUT /tenants/{t}/settings` (SPEC F18) through the local stack: the round trip, every kind of
validation error (422 naming each field), ETag/If-Match (412; none: the last write wins), concurrent writers, unknown tenants,
and that a refused request changes nothing."""

from __future__ import annotations

import threading

import pytest
from connect_helpers import connect
from management_helpers import Api, scan_table

from qbsync.models.tenant_settings import TenantSettings

TENANT = "loc_settings"
SETTINGS = f"/tenants/{TENANT}/settings"


@pytest.fixture(scope="module")
def realms(full_stack):
    first = connect(full_stack, TENANT)
    second = connect(full_stack, TENANT, country="CA")
    return first, second


@pytest.fixture
def api(full_stack, realms):
    return Api(full_stack)


def current(api):
    answer = api.get(SETTINGS)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["ETag"]


def put(api, document, etag=None, **kwargs):
    headers = {"If-Match": etag} if etag is not None else {}
    return api.put(SETTINGS, json=document, headers=headers, **kwargs)


def settings_items(stack):
    return [item for item in scan_table(stack, "ConnectionsTable")
            if item["pk"]["S"] == f"TENANT#{TENANT}" and item["sk"]["S"] in ("SETTINGS", "TENANT")]


def test_defaults_then_a_round_trip_with_etags(api, realms):
    document, etag = current(api)
    if etag == '"v0"':  # the first test of the module: nothing written yet, the SPEC defaults
        assert document == TenantSettings().model_dump(mode="json")
        assert document["frequency"] == "realtime" and document["delete_rules"]["customers"] == "archive"
    changed = {**document, "frequency": "hourly", "sync": {**document["sync"], "qbo_invoices_to_crm": True},
               "tax_codes": {"GST": "3", "exempt": "7"},
               "invoice_fields": {**document["invoice_fields"], "payment_terms_days": 30,
                                  "custom_fields": [{"qbo_definition_id": "1", "name": "PO", "source": "number"}]}}
    answer = put(api, changed, etag)
    assert answer.status_code == 200, answer.text
    assert answer.json() == TenantSettings.model_validate(changed).model_dump(mode="json")
    new_etag = answer.headers["ETag"]
    assert new_etag != etag and new_etag.startswith('"v')
    # Then GET answers exactly what was stored, with the same ETag, and GET → PUT round-trips unchanged
    assert current(api) == (answer.json(), new_etag)
    again = put(api, answer.json(), new_etag)
    assert again.status_code == 200 and again.json() == answer.json()


def test_put_replaces_the_whole_document(api):
    _, etag = current(api)
    answer = put(api, {"frequency": "weekly"}, etag)
    assert answer.status_code == 200
    assert answer.json() == TenantSettings(frequency="weekly").model_dump(mode="json")  # the rest: defaults


BAD_DOCUMENTS = [
    ({"sync": {"customerz": True}}, {("sync.customerz", "extra_forbidden")}),
    ({"colour": "blue"}, {("colour", "extra_forbidden")}),
    ({"frequency": "minutely"}, {("frequency", "literal_error")}),
    ({"delete_rules": {"customers": "shred"}}, {("delete_rules.customers", "literal_error")}),
    ({"backfill_on_connect": "maybe"}, {("backfill_on_connect", "bool_parsing")}),
    ({"invoice_fields": {"payment_terms_days": 400}}, {("invoice_fields.payment_terms_days", "less_than_equal")}),
    ({"invoice_fields": {"custom_fields": [{"qbo_definition_id": "1", "name": "PO", "source": "nope"}]}},
     {("invoice_fields.custom_fields[0].source", "literal_error")}),
    ({"tax_codes": {"VAT": "TAX-1"}}, {("tax_codes.VAT", "qbo_id")}),
    ({"default_item": {"qbo_item_id": "abc", "income_account_id": "x9"}},
     {("default_item.qbo_item_id", "qbo_id"), ("default_item.income_account_id", "qbo_id")}),
    ({"default_realm_id": "123456"}, {("default_realm_id", "not_connected")}),
    ({"invoice_fields": {"custom_fields": [{"qbo_definition_id": "1", "name": "PO", "source": "number"},
                                           {"qbo_definition_id": "1", "name": "po", "source": "deal_id"}]}},
     {("invoice_fields.custom_fields[1].qbo_definition_id", "duplicate"),
      ("invoice_fields.custom_fields[1].name", "duplicate")}),
    # several bad fields at once: each is named
    ({"sync": {"customerz": True, "products": "often"}, "frequency": 5, "extra": 1},
     {("sync.customerz", "extra_forbidden"), ("sync.products", "bool_parsing"), ("frequency", "literal_error"),
      ("extra", "extra_forbidden")}),
]


def _case_id(value):
    # sets print in hash order, which differs between xdist workers: name a case by its sorted fields
    return "+".join(sorted(field for field, _ in value)) if isinstance(value, set) else None


@pytest.mark.parametrize(("document", "expected"), BAD_DOCUMENTS, ids=_case_id)
def test_invalid_settings_are_refused_with_422_naming_each_field_and_nothing_changes(full_stack, api, document,
                                                                                     expected):
    before, etag = current(api)
    stored = settings_items(full_stack)
    answer = put(api, document, etag)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert {(f["field"], f["type"]) for f in error["details"]["fields"]} == expected
    assert all(f["reason"] for f in error["details"]["fields"])
    assert current(api) == (before, etag)
    assert settings_items(full_stack) == stored


def test_a_malformed_body_is_a_400(api):
    _, etag = current(api)
    for body in ("{not json", "[1, 2]"):
        answer = api.put(SETTINGS, data=body, headers={"If-Match": etag, "Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "malformed_json"


def test_default_realm_must_be_a_connected_company_and_then_routes_events(full_stack, api, realms):
    _, second = realms
    _, etag = current(api)
    answer = put(api, {"default_realm_id": second}, etag)
    assert answer.status_code == 200, answer.text
    # the tenant record that routes events without a realm_id now names that company
    tenant_record = [i for i in settings_items(full_stack) if i["sk"]["S"] == "TENANT"][0]
    assert tenant_record["default_realm_id"]["S"] == second
    status = api.get(f"/tenants/{TENANT}/status").json()
    assert status["default_realm_id"] == second


def test_a_stale_etag_is_a_412_and_changes_nothing(full_stack, api):
    before, etag = current(api)
    stale = f'"v{int(etag.strip(chr(34))[1:]) - 1}"'
    stored = settings_items(full_stack)
    for tag in (stale, '"v999"', "garbage", 'W/' + etag):
        answer = put(api, {"frequency": "daily"}, tag)
        assert answer.status_code == 412, (tag, answer.text)
        assert answer.json()["error"]["code"] == "precondition_failed"
    assert current(api) == (before, etag)
    assert settings_items(full_stack) == stored


def test_without_if_match_every_put_replaces_the_document_as_spec_says(full_stack):
    # SPEC: "PUT replaces the whole document ... the answer carries an ETag" - no precondition asked for
    tenant = "loc_settings_fresh"
    connect(full_stack, tenant)
    api = Api(full_stack)
    assert api.get(f"/tenants/{tenant}/settings").headers["ETag"] == '"v0"'
    first = api.put(f"/tenants/{tenant}/settings", json={"frequency": "5m", "backfill_on_connect": False})
    assert first.status_code == 200 and first.headers["ETag"] == '"v1"'
    second = api.put(f"/tenants/{tenant}/settings", json={"frequency": "daily"})
    assert second.status_code == 200, second.text
    assert second.headers["ETag"] == '"v2"'
    stored = api.get(f"/tenants/{tenant}/settings").json()
    assert stored["frequency"] == "daily"
    assert stored["backfill_on_connect"] is True  # replaced whole: what the second PUT left out is the default


def test_if_match_star_overwrites_whatever_is_current(api):
    answer = put(api, {"frequency": "daily"}, "*")
    assert answer.status_code == 200
    assert answer.json()["frequency"] == "daily"


def test_two_admins_with_the_same_etag_one_wins_one_gets_412(api):
    _, etag = current(api)
    barrier = threading.Barrier(2)
    answers = {}

    def admin(frequency):
        barrier.wait()
        answers[frequency] = put(api, {"frequency": frequency}, etag)

    threads = [threading.Thread(target=admin, args=(f,)) for f in ("hourly", "weekly")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [200, 412], {f: a.text for f, a in answers.items()}
    winner = next(f for f, a in answers.items() if a.status_code == 200)
    assert current(api)[0]["frequency"] == winner


def test_settings_can_be_written_before_the_first_connect(full_stack):
    # So that a CRM can turn the first import off (backfill_on_connect) before its customer connects
    api, tenant = Api(full_stack), "loc_settings_before_connect"
    assert api.get(f"/tenants/{tenant}/settings").status_code == 404  # never heard of
    refused = api.put(f"/tenants/{tenant}/settings", json={"default_realm_id": "9130354815"})
    assert refused.status_code == 422, refused.text  # no company to route to yet
    answer = api.put(f"/tenants/{tenant}/settings", json={"backfill_on_connect": False})
    assert answer.status_code == 200 and answer.headers["ETag"] == '"v1"', answer.text
    connect(full_stack, tenant)
    after = api.get(f"/tenants/{tenant}/settings")
    assert after.status_code == 200 and after.json()["backfill_on_connect"] is False


def test_unknown_tenant_is_a_404_for_read(full_stack, api):
    for answer in (api.get("/tenants/loc_nobody/settings"), api.get("/tenants/loc_nobody/status")):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "tenant_not_found"
    # Nothing was written for that tenant. (The whole table is not compared: other tenants' background
    # polls of this shared stack keep writing their own sync state and counters meanwhile.)
    assert [item for item in scan_table(full_stack, "ConnectionsTable") if "loc_nobody" in str(item)] == []


def test_missing_or_wrong_api_key_is_a_401_and_changes_nothing(full_stack, realms):
    before = settings_items(full_stack)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic qbsync-local-api-key"}):
        api = Api(full_stack, headers=headers)
        assert api.get(SETTINGS).status_code == 401
        answer = api.put(SETTINGS, json={"frequency": "daily"}, headers={"If-Match": "*"})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] in ("missing_api_key", "invalid_api_key")
    assert settings_items(full_stack) == before
