"""SPEC F2/F3 on the local stack: refresh races, invalid_grant, disconnect, expiry warnings, no token leaks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from connect_helpers import API_HEADERS, connect, issued_tokens

from qbsync import composition
from qbsync.sync.token_lifecycle import NeedsReauthError


def grant_for(stack, realm: str):
    (grant,) = stack.qbo_emulator.oauth.grants(realm)
    return grant


def lifecycle(stack, **overrides):
    return composition.token_lifecycle(f"{stack.public_url}/oauth/callback", **overrides)


def test_twenty_threads_at_expiry_cause_exactly_one_refresh(full_stack):
    realm = connect(full_stack, "loc_race")
    grant = grant_for(full_stack, realm)
    # QBO now refuses the current access token (it expired a little early, as tokens do)
    assert full_stack.qbo_emulator.expire_access_tokens(realm) >= 1
    tokens_lifecycle = lifecycle(full_stack)
    results, errors = [], []
    barrier = threading.Barrier(20)

    def call_qbo():
        client = composition.qbo_client("loc_race", realm, lifecycle=tokens_lifecycle)
        barrier.wait()
        try:
            results.append(client.company_info()["CompanyName"])
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=call_qbo) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == 20
    assert len(grant.superseded) == 1  # exactly one refresh reached Intuit
    record = composition.connections_repository().get("loc_race", realm)
    assert record.status == "connected" and record.token_version == 2


def test_proactive_refresh_within_five_minutes_of_expiry_persists_the_rotated_token(full_stack):
    realm = connect(full_stack, "loc_proactive")
    grant = grant_for(full_stack, realm)
    old_refresh = grant.refresh_token
    # Fifty-seven minutes later, the access token has three minutes left: refresh before use
    later = lifecycle(full_stack)
    later._clock = lambda: datetime.now(UTC) + timedelta(minutes=57)
    later.access_token("loc_proactive", realm)
    assert grant.refresh_token != old_refresh
    stored = composition.connections_repository().get("loc_proactive", realm)
    assert stored.token_version == 2
    # the stored (encrypted) refresh token is the rotated one, before anyone used the new access token
    assert lifecycle(full_stack).refresh_token("loc_proactive", realm).get_secret_value() == grant.refresh_token


def test_superseded_refresh_token_after_the_grace_means_needs_reauth_told_once(full_stack):
    realm = connect(full_stack, "loc_stale")
    emulator = full_stack.qbo_emulator
    emulator.set_oauth(refresh_grace_seconds=0)
    try:
        # Someone else (a rogue copy of the app) rotated the refresh token: ours is now superseded
        grant = grant_for(full_stack, realm)
        rotated = requests.post(emulator.token_url, data={"grant_type": "refresh_token",
                                                          "refresh_token": grant.refresh_token},
                                auth=(full_stack.config.intuit_client_id, full_stack.config.intuit_client_secret),
                                timeout=10)
        assert rotated.status_code == 200
        emulator.clock.advance(5)
        emulator.expire_access_tokens(realm)
        tokens_lifecycle = lifecycle(full_stack)
        with pytest.raises(NeedsReauthError):
            tokens_lifecycle.access_token("loc_stale", realm, force_refresh=True)
        with pytest.raises(NeedsReauthError):
            tokens_lifecycle.access_token("loc_stale", realm)
    finally:
        emulator.set_oauth(refresh_grace_seconds=86400)
    record = composition.connections_repository().get("loc_stale", realm)
    assert record.status == "needs_reauth" and record.tokens is None
    told = [u for u in full_stack.crm_emulator.connection_updates("loc_stale") if u["status"] == "needs_reauth"]
    assert len(told) == 1 and told[0]["realm_id"] == realm
    # reconnecting restores the connection and keeps connected_at
    first_connected_at = record.connected_at
    emulator.set_consent(realm_id=realm)
    from connect_helpers import connect_link, follow_to_callback

    assert follow_to_callback(full_stack, connect_link(full_stack.api.url, "loc_stale")).status_code == 302
    again = composition.connections_repository().get("loc_stale", realm)
    assert again.status == "connected" and again.connected_at == first_connected_at


def test_disconnect_revokes_drops_tokens_and_tells_the_crm(full_stack):
    realm = connect(full_stack, "loc_bye")
    grant = grant_for(full_stack, realm)
    url = f"{full_stack.api.url}/tenants/loc_bye/disconnect"
    assert requests.post(url, timeout=10).status_code == 401
    assert requests.post(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    answer = requests.post(url, headers=API_HEADERS, timeout=20)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"tenant_id": "loc_bye", "disconnected": [realm]}
    assert grant.revoked
    record = composition.connections_repository().get("loc_bye", realm)
    assert record.status == "disconnected" and record.tokens is None
    assert ("loc_bye", realm) not in {(c.tenant_id, c.realm_id) for c in
                                      composition.connections_repository().iter_connected()}
    assert full_stack.crm_emulator.connection_updates("loc_bye")[-1]["status"] == "disconnected"
    # a second disconnect finds nothing to disconnect
    again = requests.post(url, headers=API_HEADERS, timeout=10)
    assert again.status_code == 404 and again.json()["error"]["code"] == "connection_not_found"


def test_intuit_disconnect_landing_is_believed_only_when_intuit_agrees(full_stack):
    realm = connect(full_stack, "loc_landing")
    landing = f"{full_stack.api.url}/oauth/disconnected"
    # a spoofed landing while the connection is alive changes nothing
    spoof = requests.get(landing, params={"realmId": realm}, timeout=20)
    assert spoof.status_code == 200 and spoof.json()["status"] == "not_connected"
    assert composition.connections_repository().get("loc_landing", realm).status == "connected"
    # the user disconnects the app inside QuickBooks: Intuit revokes the grant, then lands the browser here
    grant_for(full_stack, realm).revoked = True
    real = requests.get(landing, params={"realmId": realm}, headers={"Accept": "text/html"}, timeout=20)
    assert real.status_code == 200 and 'content="disconnected"' in real.text
    assert composition.connections_repository().get("loc_landing", realm).status == "disconnected"
    assert full_stack.crm_emulator.connection_updates("loc_landing")[-1]["status"] == "disconnected"


@pytest.mark.parametrize("hard_days, threshold", [(20, 30), (5, 7)])
def test_expiry_warning_sent_once_per_threshold(full_stack, hard_days, threshold):
    tenant = f"loc_expiring_{hard_days}"
    full_stack.qbo_emulator.set_oauth(hard_ttl=hard_days * 86400)
    try:
        realm = connect(full_stack, tenant)
        lifecycle(full_stack).access_token(tenant, realm, force_refresh=True)  # a refresh checks again
    finally:
        full_stack.qbo_emulator.set_oauth(hard_ttl=5 * 365 * 86400)
    warnings = [u for u in full_stack.crm_emulator.connection_updates(tenant) if u["status"] == "expiring"]
    assert len(warnings) == 1
    assert warnings[0]["realm_id"] == realm and warnings[0]["expires_at"]
    expires_at = datetime.fromisoformat(warnings[0]["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=hard_days - 1) < expires_at - datetime.now(UTC) <= timedelta(days=hard_days)
    record = composition.connections_repository().get(tenant, realm)
    assert [m.split(":")[0] for m in record.expiry_warnings_sent] == [f"{threshold}d"]


def test_no_token_or_secret_in_any_log_line(full_stack, capsys, caplog):
    realm = connect(full_stack, "loc_logs")
    full_stack.qbo_emulator.expire_access_tokens(realm)
    composition.qbo_client("loc_logs", realm, lifecycle=lifecycle(full_stack)).company_info()
    captured = capsys.readouterr()
    text = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    assert "tokens refreshed" in text  # the logs were captured
    secrets = issued_tokens(full_stack) | {full_stack.config.intuit_client_secret, full_stack.config.api_key}
    assert not [s for s in secrets if s in text]


def test_events_wait_in_the_dlq_while_reauth_is_needed_and_go_through_after_reconnecting(full_stack, wait):
    from connect_helpers import connect_link, follow_to_callback

    from crm_emulator.builders import invoice_sent
    from crm_emulator.webhooks import CrmWebhookSender
    from qbsync.queues.dead_letter import REASON_CODE
    from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET

    tenant = "loc_reauth"
    realm = connect(full_stack, tenant)
    # The user revoked the app's access in QuickBooks: the next refresh gets invalid_grant
    grant_for(full_stack, realm).revoked = True
    full_stack.qbo_emulator.expire_access_tokens(realm)
    event = invoice_sent(tenant)
    assert CrmWebhookSender(f"{full_stack.api.url}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET]).send(
        event).status_code == 202
    sqs = full_stack.aws_client("sqs")
    dlq = full_stack.queue_url("CrmEventsDeadLetterQueue")

    def waiting_letter():
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                       VisibilityTimeout=0).get("Messages", [])
        return [m for m in messages if event["id"] in m["Body"]]

    (letter,) = wait(waiting_letter, message="the event waiting in the DLQ")
    assert letter["MessageAttributes"][REASON_CODE]["StringValue"] == "needs_reauth"
    assert [u["status"] for u in full_stack.crm_emulator.connection_updates(tenant)].count("needs_reauth") == 1

    # The tenant reconnects: the waiting event is redriven and applied, once
    full_stack.qbo_emulator.set_consent(realm_id=realm)
    assert follow_to_callback(full_stack, connect_link(full_stack.api.url, tenant)).status_code == 302
    wait(lambda: full_stack.crm_emulator.invoice_accounting(tenant).get(event["data"]["id"]), timeout=30,
         message="the invoice applied after the reconnect")
    invoices = [i for i in full_stack.qbo_emulator.entities(realm, "Invoice")
                if f"crm_invoice_id={event['data']['id']}]" in str(i.get("PrivateNote", ""))]
    assert len(invoices) == 1
    assert waiting_letter() == []


def test_the_anonymous_disconnect_landing_asks_intuit_at_most_three_times_a_minute(full_stack):
    """Each check is a token refresh at Intuit: opening the URL in a loop must not turn into a refresh loop."""
    realm = connect(full_stack, "loc_landing_loop")
    landing = f"{full_stack.api.url}/oauth/disconnected"

    def token_calls() -> int:
        return full_stack.qbo_emulator.counters()["requests"].get("POST /oauth2/v1/tokens/bearer", 0)

    before = token_calls()
    answers = [requests.get(landing, params={"realmId": realm}, timeout=20) for _ in range(6)]
    assert all(a.status_code == 200 and a.json()["status"] == "not_connected" for a in answers)
    assert token_calls() - before == 3
    assert composition.connections_repository().get("loc_landing_loop", realm).status == "connected"
