"""Change data capture: full objects and deleted stubs, ordering, the 1000-object cap, the 30-day limit."""

from __future__ import annotations

from datetime import datetime, timedelta


def cdc(qbo, entities, since):
    return qbo.request("GET", "/cdc", params={"entities": entities, "changedSince": since})


def groups(qbo, response):
    assert response.status_code == 200, response.text
    body = qbo.body(response)
    return body, {
        name: group[name]
        for group in body["CDCResponse"][0]["QueryResponse"]
        for name in group
        if name not in ("startPosition", "maxResults")
    }


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def test_changes_come_back_with_deleted_stubs_after_active_objects(emu, qbo):
    start = emu.clock.now()
    keep = qbo.customer("Keeper")
    doomed = qbo.invoice(keep["Id"], "10.00")
    emu.clock.advance(5)
    survivor = qbo.invoice(keep["Id"], "20.00")
    emu.clock.advance(5)
    qbo.ok(qbo.post("invoice", {"Id": doomed["Id"], "SyncToken": "0"}, operation="delete"))
    emu.clock.advance(5)
    qbo.ok(
        qbo.post("invoice", {"Id": survivor["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "late"})
    )
    body, found = groups(qbo, cdc(qbo, "Customer,Invoice", iso(start)))
    assert [c["Id"] for c in found["Customer"]] == [keep["Id"]]
    invoices = found["Invoice"]
    # Active first (even though it changed after the delete), then the deleted stub
    assert [i["Id"] for i in invoices] == [survivor["Id"], doomed["Id"]]
    assert invoices[0]["PrivateNote"] == "late"
    stub = invoices[1]
    assert set(stub) == {"status", "domain", "Id", "MetaData"}
    assert (
        stub["status"] == "Deleted"
        and stub["domain"] == "QBO"
        and set(stub["MetaData"]) == {"LastUpdatedTime"}
    )
    assert body["time"].startswith(
        emu.clock.now().astimezone(emu.company(qbo.realm_id).tz).date().isoformat()
    )


def test_entity_groups_follow_the_request_and_empty_response_shape(emu, qbo):
    start = emu.clock.now()
    customer = qbo.customer("Order")
    qbo.invoice(customer["Id"])
    body = qbo.body(cdc(qbo, "Invoice,Customer", iso(start)))
    assert [
        next(iter(k for k in g if k not in ("startPosition", "maxResults")))
        for g in body["CDCResponse"][0]["QueryResponse"]
    ] == ["Invoice", "Customer"]
    emu.clock.advance(60)
    empty = qbo.body(cdc(qbo, "Customer", iso(emu.clock.now())))
    assert empty["CDCResponse"] == [{"QueryResponse": [{}]}]


def test_cap_of_1000_keeps_the_oldest_changes(emu, qbo, realm):
    start = emu.clock.now()
    for number in range(1005):
        emu.user_create(realm, "Customer", {"DisplayName": f"Bulk {number:04d}"})
        emu.clock.advance(1)
    _, first = groups(qbo, cdc(qbo, "Customer", iso(start)))
    page = first["Customer"]
    assert len(page) == 1000
    assert page[0]["DisplayName"] == "Bulk 0000" and page[-1]["DisplayName"] == "Bulk 0999"
    # Continuing from the newest time seen returns the rest (the boundary object again: inclusive)
    _, rest = groups(qbo, cdc(qbo, "Customer", page[-1]["MetaData"]["LastUpdatedTime"]))
    assert [c["DisplayName"] for c in rest["Customer"]] == [f"Bulk {n:04d}" for n in range(999, 1005)]


def test_changed_since_older_than_30_days_is_refused(emu, qbo, fault):
    now = emu.clock.now()
    error = fault(cdc(qbo, "Customer", iso(now - timedelta(days=31))))
    assert "older than fixed days is not supported" in error["Message"]
    assert cdc(qbo, "Customer", iso(now - timedelta(days=29))).status_code == 200


def test_cdc_argument_errors(emu, qbo, fault):
    since = iso(emu.clock.now())
    assert cdc(qbo, "TaxCode", since).status_code == 400
    assert fault(qbo.request("GET", "/cdc", params={"entities": "Customer"}))["code"] == "2020"
    assert cdc(qbo, "Customer", "yesterday").status_code == 400


def test_merged_customer_appears_as_deleted(emu, qbo, realm):
    start = emu.clock.now()
    source, target = qbo.customer("Dupe Inc"), qbo.customer("Real Inc")
    invoice = qbo.invoice(source["Id"], "5.00")
    emu.clock.advance(2)
    emu.user_merge_customers(realm, source["Id"], target["Id"])
    _, found = groups(qbo, cdc(qbo, "Customer,Invoice", iso(start)))
    stubs = [c for c in found["Customer"] if c.get("status") == "Deleted"]
    assert [c["Id"] for c in stubs] == [source["Id"]]
    assert found["Invoice"][0]["CustomerRef"]["value"] == target["Id"]
    assert qbo.ok(qbo.get("invoice", invoice["Id"]), "Invoice")["CustomerRef"]["value"] == target["Id"]
