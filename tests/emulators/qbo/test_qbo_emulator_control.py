"""The HTTP control API mirrors the Python one and is never counted."""

from __future__ import annotations

import requests


def control(emu, method, path, body=None):
    response = requests.request(method, f"{emu.control_url}{path}", json=body, timeout=5)
    return response.status_code, response.json()


def test_companies_apps_tokens_and_user_actions_over_http(emu):
    status, company = control(
        emu, "POST", "/companies", {"country": "GB", "custom_txn_numbers": True, "name": "Control Ltd"}
    )
    assert status == 201 and company["homeCurrency"] == "GBP" and company["customTxnNumbers"] is True
    realm = company["realmId"]
    assert realm in [c["realmId"] for c in control(emu, "GET", "/companies")[1]["companies"]]
    status, _ = control(
        emu,
        "POST",
        "/apps",
        {
            "client_id": "ctl",
            "client_secret": "s",
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "verifier_token": "v",
        },
    )
    assert status == 201
    status, tokens = control(emu, "POST", "/tokens", {"client_id": "ctl", "realm_id": realm})
    assert status == 200 and tokens["access_token"]

    status, customer = control(emu, "POST", f"/companies/{realm}/Customer", {"DisplayName": "Made in UI"})
    assert status == 201 and customer["Id"]
    status, error = control(emu, "POST", f"/companies/{realm}/customer", {"DisplayName": "made in ui"})
    assert status == 400 and error["error"]["code"] == "6240" and error["Fault"]["Error"][0]["code"] == "6240"
    status, changed = control(
        emu, "POST", f"/companies/{realm}/Customer/{customer['Id']}", {"Notes": "from UI"}
    )
    assert status == 200 and changed["Notes"] == "from UI" and changed["SyncToken"] == "1"
    status, inactive = control(emu, "DELETE", f"/companies/{realm}/Customer/{customer['Id']}")
    assert status == 200 and inactive["Active"] is False
    assert control(emu, "GET", f"/companies/{realm}/Customer")[1]["entities"][0]["Id"] == customer["Id"]

    api = requests.get(
        f"{emu.api_base_url}/company/{realm}/customer/{customer['Id']}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert api.status_code == 200 and api.json()["Customer"]["Notes"] == "from UI"
    counters = control(emu, "GET", "/counters")[1]
    assert counters["total"] == 1 and not any("_emulator" in key for key in counters["requests"])


def test_faults_clock_tokens_and_settings_over_http(emu, qbo, realm):
    status, faults = control(emu, "POST", "/faults", {"rate_limit_per_minute": 1, "seed": 3})
    assert status == 200 and faults["rate_limit_per_minute"] == 1 and faults["max_in_flight"] == 10
    assert control(emu, "POST", "/faults", {"nonsense": 1})[0] == 400
    assert qbo.request("GET", "/preferences").status_code == 200
    assert qbo.request("GET", "/preferences").status_code == 429
    before = control(emu, "GET", "/clock")[1]["epoch"]
    after = control(emu, "POST", "/clock/advance", {"seconds": 61})[1]["epoch"]
    assert after - before >= 61
    assert qbo.request("GET", "/preferences").status_code == 200
    assert control(emu, "POST", "/tokens/expire", {"realm_id": realm})[1]["expired"] >= 1
    assert qbo.request("GET", "/preferences").status_code == 401
    assert control(emu, "POST", "/settings", {"customer_email_filterable": False})[1] == {
        "customer_email_filterable": False
    }
    assert control(emu, "POST", "/oauth", {"access_token_ttl": 60})[1]["access_token_ttl"] == 60
    assert control(emu, "POST", "/consent", {"deny": True})[0] == 200
    assert control(emu, "POST", "/counters/reset")[1]["total"] == 0


def test_webhook_controls_and_unknown_routes(emu, realm, receiver, app_credentials):
    control(
        emu,
        "POST",
        "/apps",
        {
            **{k: app_credentials[k] for k in ("client_id", "client_secret", "verifier_token")},
            "redirect_uris": [app_credentials["redirect_uri"]],
            "webhook_url": receiver.url,
            "webhook_format": "legacy",
        },
    )
    emu.issue_tokens(app_credentials["client_id"], realm)
    assert control(emu, "POST", "/webhooks", {"auto": False})[1]["auto"] is False
    control(
        emu,
        "POST",
        f"/companies/{realm}/Item",
        {"Name": "Widget", "Type": "Service", "IncomeAccountRef": {"value": "1"}},
    )
    assert control(emu, "GET", "/webhooks")[1]["pending"] == 1
    [delivery] = control(emu, "POST", "/webhooks/send", {"realm_id": realm})[1]["deliveries"]
    assert delivery["status"] == 200 and delivery["format"] == "legacy"
    assert len(control(emu, "GET", "/webhooks/deliveries")[1]["deliveries"]) == 1
    status, body = control(emu, "GET", "/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"
