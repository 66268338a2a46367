"""Outgoing webhooks: the Intuit signature test vector, both payload formats, user actions, manual flush."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from qbo_emulator import sign_webhook


def verify(verifier_token: str, delivery: dict) -> bool:
    expected = base64.b64encode(
        hmac.new(verifier_token.encode(), delivery["body"], hashlib.sha256).digest()
    ).decode()
    return hmac.compare_digest(expected, delivery["headers"]["Intuit-Signature"])


def subscribe(emu, app_credentials, receiver, webhook_format):
    emu.register_app(
        app_credentials["client_id"],
        app_credentials["client_secret"],
        [app_credentials["redirect_uri"]],
        app_credentials["verifier_token"],
        webhook_url=receiver.url,
        webhook_format=webhook_format,
    )


def test_signature_matches_intuits_test_vector():
    assert sign_webhook("12345", b"abcd") == "gfTuE5fLxnstOq8ln4LNWZfn24cg8FVB6PBv455lfzg="


def test_cloudevents_delivery_after_an_api_change(emu, qbo, realm, receiver, app_credentials):
    subscribe(emu, app_credentials, receiver, "cloudevents")
    customer = qbo.customer("Hooked")
    [delivery] = receiver.wait_for(1)
    assert delivery["headers"]["Content-Type"] == "application/cloudevents+json"
    assert verify(app_credentials["verifier_token"], delivery)
    [event] = json.loads(delivery["body"])
    assert event["specversion"] == "1.0" and event["type"] == "qbo.customer.created.v1"
    assert event["intuitaccountid"] == realm and event["intuitentityid"] == customer["Id"]
    assert event["datacontenttype"] == "application/json" and event["time"].endswith("Z") and event["id"]
    assert delivery["headers"]["User-Agent"] == "intuit_notification_server/0.1"


def test_legacy_delivery_after_user_actions(emu, qbo, realm, receiver, app_credentials):
    subscribe(emu, app_credentials, receiver, "legacy")
    emu.set_webhooks(auto=False)
    customer = emu.user_create(realm, "Customer", {"DisplayName": "Legacy"})
    invoice = emu.user_create(
        realm,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 10,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    payment = emu.user_create(
        realm,
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    emu.user_void(realm, "Payment", payment["Id"])
    emu.user_delete(realm, "Customer", emu.user_create(realm, "Customer", {"DisplayName": "Temp"})["Id"])
    assert receiver.received == []  # queued until asked
    deliveries = emu.send_webhooks(realm)
    assert [d["status"] for d in deliveries] == [200]
    [delivery] = receiver.wait_for(1)
    assert delivery["headers"]["Content-Type"] == "application/json"
    assert verify(app_credentials["verifier_token"], delivery)
    [notification] = json.loads(delivery["body"])["eventNotifications"]
    assert notification["realmId"] == realm
    seen = [(e["name"], e["operation"]) for e in notification["dataChangeEvent"]["entities"]]
    assert seen == [
        ("Customer", "Create"),
        ("Invoice", "Create"),
        ("Payment", "Create"),
        ("Invoice", "Update"),
        ("Payment", "Void"),
        ("Invoice", "Update"),
        ("Customer", "Create"),
        ("Customer", "Delete"),
    ]
    assert all(len(e["lastUpdated"]) == 24 for e in notification["dataChangeEvent"]["entities"])


def test_merge_event_carries_the_deleted_id(emu, qbo, realm, receiver, app_credentials):
    subscribe(emu, app_credentials, receiver, "legacy")
    source, target = qbo.customer("From"), qbo.customer("Into")
    assert emu.wait_for_webhooks()  # the two creates may arrive as one notification or two
    already = len(receiver.received)
    emu.user_merge_customers(realm, source["Id"], target["Id"])
    delivery = receiver.wait_for(already + 1)[already]
    [entity] = json.loads(delivery["body"])["eventNotifications"][0]["dataChangeEvent"]["entities"]
    assert entity == {
        **entity,
        "name": "Customer",
        "id": target["Id"],
        "operation": "Merge",
        "deletedId": source["Id"],
    }


def test_failed_delivery_is_logged_and_retried_on_demand(emu, qbo, realm, receiver, app_credentials):
    subscribe(emu, app_credentials, receiver, "cloudevents")
    receiver.status = 503
    qbo.customer("Retry me")
    receiver.wait_for(1)
    assert emu.wait_for_webhooks()
    assert emu.webhook_deliveries()[-1]["status"] == 503
    assert emu.webhooks.pending(realm) == 1
    receiver.status = 200
    [delivery] = emu.send_webhooks(realm)
    assert delivery["status"] == 200
    assert json.loads(receiver.wait_for(2)[1]["body"])[0]["type"] == "qbo.customer.created.v1"
    assert emu.counters()["webhooks_failed"] == 1 and emu.counters()["webhooks_sent"] == 1


def test_only_connected_apps_receive_webhooks(emu, realm, receiver, app_credentials):
    subscribe(emu, app_credentials, receiver, "cloudevents")
    emu.user_create(realm, "Customer", {"DisplayName": "Nobody connected"})
    assert emu.wait_for_webhooks()
    assert receiver.received == [] and emu.webhook_deliveries() == []
