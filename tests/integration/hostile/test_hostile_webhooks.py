"""Hostile requests on the two webhook routes (issue 9 §2): `POST /webhooks/crm` (Standard Webhooks) and
`POST /webhooks/qbo` (intuit-signature). Every refusal gets its documented status and machine-readable code,
and leaves nothing behind: no DynamoDB item, no queue message, no QBO or CRM call (`Trace`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hostile_http import assert_refused, error_code, head, raw_request

from crm_emulator.builders import invoice_sent
from crm_emulator.webhooks import CrmWebhookSender, random_secret
from qbsync.signatures.intuit import intuit_signature
from qbsync_local.config import DEFAULT_CRM_INBOUND_SECRET, DEFAULT_VERIFIER_TOKEN

MAX_BODY = 256 * 1024


@pytest.fixture
def sender(world) -> CrmWebhookSender:
    return CrmWebhookSender(f"{world.api}/webhooks/crm", [DEFAULT_CRM_INBOUND_SECRET])


def _event(world, **overrides: Any) -> dict[str, Any]:
    return invoice_sent(world.tenant_a, **overrides)


def _refused_without_trace(
    world, send: Callable[[], requests.Response], status: int | tuple[int, ...], code: str | tuple[str, ...]
) -> requests.Response:
    before = world.trace()
    response = send()
    assert_refused(response, status, code)
    world.trace().assert_same_as(before)
    return response


# --- POST /webhooks/crm: signatures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, code",
    [
        ({"signed": False}, "missing_signature_headers"),
        ({"omit_headers": ["webhook-id"]}, "missing_signature_headers"),
        ({"omit_headers": ["webhook-timestamp"]}, "missing_signature_headers"),
        ({"omit_headers": ["webhook-signature"]}, "missing_signature_headers"),
        ({"bad_signature": True}, "invalid_signature"),
    ],
    ids=["unsigned", "no-id", "no-timestamp", "no-signature", "bad-signature"],
)
def test_crm_unsigned_or_badly_signed(world, sender, options, code):
    _refused_without_trace(world, lambda: sender.send(_event(world), **options), 401, code)


@pytest.mark.parametrize(
    "signature",
    [
        "v1,",
        "v1",
        "v2,AAAA",
        "v1a,AAAA",
        "v1," + "A" * 44,
        "v1,not base64 at all",
        "",
        "v1," + base64.b64encode(b"\x00" * 32).decode(),
    ],
    ids=["empty-v1", "bare-v1", "other-version", "asymmetric-version", "all-A", "junk", "empty", "zeros"],
)
def test_crm_forged_signature_values(world, sender, signature):
    prepared = sender.prepare(_event(world))
    headers = {**prepared.headers, "webhook-signature": signature}
    _refused_without_trace(
        world,
        lambda: requests.post(sender.target_url, data=prepared.body, headers=headers, timeout=10),
        401,
        ("invalid_signature", "missing_signature_headers"),
    )


def test_crm_signature_of_another_body(world, sender):
    genuine = sender.prepare(_event(world))
    tampered = genuine.body.replace(b'"1500.00"', b'"1.00"')
    assert tampered != genuine.body
    _refused_without_trace(
        world,
        lambda: requests.post(sender.target_url, data=tampered, headers=genuine.headers, timeout=10),
        401,
        "invalid_signature",
    )


def test_crm_signature_for_another_webhook_id(world, sender):
    genuine = sender.prepare(_event(world))
    headers = {**genuine.headers, "webhook-id": "msg_someone_else"}
    _refused_without_trace(
        world,
        lambda: requests.post(sender.target_url, data=genuine.body, headers=headers, timeout=10),
        401,
        "invalid_signature",
    )


def test_crm_signed_with_the_qbo_verifier_token_or_another_secret(world):
    wrong = CrmWebhookSender(f"{world.api}/webhooks/crm", [random_secret()])
    _refused_without_trace(world, lambda: wrong.send(_event(world)), 401, "invalid_signature")


# --- timestamps and replays ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "skew", [-301, 330, -3600, 10**6], ids=["5min-past", "5min-ahead", "1h-past", "far-future"]
)
def test_crm_timestamp_skew(world, sender, skew):
    _refused_without_trace(
        world, lambda: sender.send(_event(world), skew_seconds=skew), 401, "timestamp_out_of_tolerance"
    )


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "1.7e9", "-5", "1 700", "9" * 13, "0x10", "１７００"],
    ids=["letters", "exponent", "negative", "inner-space", "13-digits", "hex", "fullwidth"],
)
def test_crm_malformed_timestamp(world, sender, timestamp):
    prepared = sender.prepare(_event(world))
    headers = {**prepared.headers, "webhook-timestamp": timestamp}
    _refused_without_trace(
        world,
        lambda: requests.post(
            sender.target_url,
            data=prepared.body,
            headers={k: v.encode() if k == "webhook-timestamp" else v for k, v in headers.items()},
            timeout=10,
        ),
        401,
        ("missing_signature_headers", "invalid_signature", "timestamp_out_of_tolerance"),
    )


def test_crm_replayed_webhook_id_is_acknowledged_without_a_second_effect(world, sender):
    event = _event(world)
    first = sender.send(event)
    assert first.status_code == 202, first.text
    before = world.trace()
    again = sender.send(event)  # the same delivery, captured and replayed within the tolerance
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    changed = invoice_sent(world.tenant_a, event_id=event["id"])  # same webhook-id, another (signed) body
    other_body = sender.send(changed, webhook_id=event["id"])
    assert other_body.status_code == 200 and other_body.json()["status"] == "duplicate"
    world.trace().assert_same_as(before, "a replayed webhook-id")


def test_crm_captured_request_replayed_after_the_tolerance(world, sender):
    captured = sender.prepare(_event(world), timestamp=int(time.time()) - 600)  # signed ten minutes ago
    _refused_without_trace(
        world,
        lambda: requests.post(sender.target_url, data=captured.body, headers=captured.headers, timeout=10),
        401,
        "timestamp_out_of_tolerance",
    )


# --- bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"id": "evt_1", "type": "invoice.sent",',
        b"\xff\xfe\x00{",
        b'{"a": NaN}',
        b"[" * 100_000,
        b'"just a string"',
        b"null",
    ],
    ids=["empty", "open-brace", "truncated", "not-utf8", "nan", "deep-nesting", "string", "null"],
)
def test_crm_malformed_json(world, sender, body):
    # Bytes that are not UTF-8 may already fail the signature: API Gateway hands a JSON body to the function
    # as text, so the bytes verified are not the bytes sent. Either refusal enqueues nothing.
    statuses = (400, 401) if body.startswith(b"\xff") else 400
    _refused_without_trace(
        world,
        lambda: sender.send(None, body=body),
        statuses,
        ("malformed_json", "invalid_event", "invalid_signature"),
    )


def _mutated(world, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    event = _event(world)
    mutate(event)
    return event


WRONG_TYPES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "tenant-number": (lambda e: e.update(tenant_id=12345), "tenant_id"),
    "lines-object": (lambda e: e["data"].update(lines={"0": {}}), "data.lines"),
    "quantity-bool": (lambda e: e["data"]["lines"][0].update(quantity=True), "data.lines.0.quantity"),
    "price-words": (
        lambda e: e["data"]["lines"][0].update(unit_price="12 dollars"),
        "data.lines.0.unit_price",
    ),
    "total-exponent": (lambda e: e["data"]["totals"].update(total="1e3"), "data.totals.total"),
    "total-infinity": (lambda e: e["data"]["totals"].update(total="Infinity"), "data.totals.total"),
    "rate-over-100": (
        lambda e: e["data"]["lines"][0]["taxes"][0].update(rate="150"),
        "data.lines.0.taxes.0.rate",
    ),
    "inclusive-string": (
        lambda e: e["data"]["lines"][0]["taxes"][0].update(inclusive="true"),
        "data.lines.0.taxes.0.inclusive",
    ),
    "currency-lower": (lambda e: e["data"].update(currency="usd"), "data.currency"),
    "issue-date-epoch": (lambda e: e["data"].update(issue_date=1700000000), "data.issue_date"),
    "naive-datetime": (lambda e: e.update(occurred_at="2026-11-23T10:00:00"), "occurred_at"),
    "customer-null": (lambda e: e["data"].update(customer=None), "data.customer"),
    "discount-type": (
        lambda e: e["data"].update(discount={"type": "bogus", "value": "1"}),
        "data.discount.type",
    ),
    "negative-discount": (
        lambda e: e["data"].update(discount={"type": "fixed", "value": "-5"}),
        "data.discount",
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG_TYPES))
def test_crm_wrong_types_name_the_field(world, sender, name):
    mutate, field = WRONG_TYPES[name]
    response = _refused_without_trace(
        world, lambda: sender.send(_mutated(world, mutate)), 400, "invalid_event"
    )
    assert response.json()["error"]["details"]["field"].startswith(field), response.text


@pytest.mark.parametrize("size", [MAX_BODY + 1, 5 * 1024 * 1024], ids=["256KB+1", "5MB"])
def test_crm_huge_body(world, sender, size):
    event = _event(world)
    event["data"]["message"] = ""
    base = len(json.dumps(event, separators=(",", ":")).encode())
    event["data"]["message"] = "x" * (size - base)
    _refused_without_trace(world, lambda: sender.send(event), 413, "payload_too_large")


def test_crm_body_just_under_the_limit_is_accepted_or_refused_never_a_500(world, sender):
    """The largest body qbsync accepts must fit on the queue once wrapped in its message (SQS: 256 KiB).
    A body of quotes doubles in size when escaped inside the queue message's JSON string."""
    event = _event(world)
    event["data"]["message"] = ""
    base = len(json.dumps(event, separators=(",", ":")).encode())
    event["data"]["message"] = '"' * ((MAX_BODY - base - 1024) // 2)  # each " is sent as \" (2 bytes)
    response = sender.send(event)
    assert response.status_code in (202, 413), f"{response.status_code} {response.text[:300]}"
    if response.status_code == 413:
        assert error_code(response) == "payload_too_large"


# --- tenants, realms and ids --------------------------------------------------------------------------


def test_crm_unknown_tenant_is_acknowledged_and_ignored(world, sender):
    before = world.trace()
    response = sender.send(invoice_sent("loc_nobody_here"))
    assert response.status_code == 200 and response.json()["reason"] == "tenant_not_connected"
    world.trace().assert_same_as(before)


def test_crm_event_naming_another_tenants_realm_is_ignored(world, sender):
    before = world.trace()
    response = sender.send(invoice_sent(world.tenant_a, realm_id=world.realm_b))
    assert response.status_code == 200 and response.json()["reason"] == "realm_not_connected"
    world.trace().assert_same_as(before)


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda w, e: e.update(tenant_id=f"../{w.tenant_b}"), "tenant_id"),
        (lambda w, e: e.update(tenant_id=f"{w.tenant_a}/../{w.tenant_b}"), "tenant_id"),
        (lambda w, e: e.update(tenant_id=f"{w.tenant_a}%2F..%2F{w.tenant_b}"), "tenant_id"),
        (lambda w, e: e.update(tenant_id=".."), "tenant_id"),
        (lambda w, e: e.update(realm_id=f"../{w.realm_b}"), "realm_id"),
        (lambda w, e: e.update(realm_id=f"{w.realm_a}/../{w.realm_b}"), "realm_id"),
        (lambda w, e: e["data"].update(id=".."), "data.id"),
        (lambda w, e: e["data"].update(id="../../../admin"), "data.id"),
        (lambda w, e: e["data"].update(deal_id=".."), "data.deal_id"),
    ],
    ids=[
        "tenant-dotdot",
        "tenant-slashes",
        "tenant-encoded",
        "tenant-is-dotdot",
        "realm-dotdot",
        "realm-slashes",
        "invoice-id-dotdot",
        "invoice-id-slashes",
        "deal-id-dotdot",
    ],
)
def test_crm_path_traversal_in_ids(world, sender, mutate, field):
    """Ids from the body become DynamoDB keys and path segments of qbsync's calls to the CRM
    (`PUT /tenants/{t}/invoices/{id}/accounting`): a `..` segment would collapse that path."""
    event = _event(world)
    mutate(world, event)
    response = _refused_without_trace(world, lambda: sender.send(event), 400, "invalid_event")
    assert response.json()["error"]["details"]["field"] == field


# --- headers ------------------------------------------------------------------------------------------


def _host(world) -> str:
    return world.api.split("//", 1)[1]


@pytest.mark.parametrize(
    "injected",
    [
        b"webhook-id: msg_1\rX-Injected: yes",
        b"webhook-id: msg_1\nX-Injected: yes",
        b"webhook-id: msg_1\r\n X-Injected: yes",
        b"webhook-signature: v1,AAAA\r\nwebhook-signature: v1,BBBB",
        b"Webhook-Signature: v1,AAAA\r\nwebhook-signature: v1,BBBB",
    ],
    ids=["bare-cr", "bare-lf", "obs-fold", "duplicate-signature", "case-duplicate-signature"],
)
def test_crm_header_injection(world, injected):
    body = json.dumps(_event(world)).encode()
    lines = [
        b"Content-Type: application/json",
        b"webhook-timestamp: " + str(int(time.time())).encode(),
        injected,
    ]
    before = world.trace()
    answer = raw_request(world.api, head("POST", "/webhooks/crm", _host(world), lines, body), body)
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    assert all(name != "x-injected" for name, _ in answer.headers), answer.headers
    world.trace().assert_same_as(before)


def test_crm_oversized_header_values(world, sender):
    prepared = sender.prepare(_event(world))
    headers = {**prepared.headers, "webhook-id": "m" * 64 * 1024, "X-Padding": "p" * 64 * 1024}
    before = world.trace()
    response = requests.post(sender.target_url, data=prepared.body, headers=headers, timeout=20)
    assert 400 <= response.status_code < 500, response.status_code
    world.trace().assert_same_as(before)


def test_crm_wrong_method(world):
    _refused_without_trace(
        world, lambda: requests.get(f"{world.api}/webhooks/crm", timeout=10), 405, "method_not_allowed"
    )


# --- POST /webhooks/qbo -------------------------------------------------------------------------------


def _qbo_notification(realm: str) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": "3f4c",
                "source": "intuit.x",
                "type": "qbo.customer.updated.v1",
                "datacontenttype": "application/json",
                "time": "2026-11-23T10:00:00Z",
                "intuitentityid": "1",
                "intuitaccountid": realm,
                "data": {},
            }
        ]
    ).encode()


def _post_qbo(world, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{world.api}/webhooks/qbo",
        data=body,
        headers={"Content-Type": "application/cloudevents+json", **headers},
        timeout=10,
    )


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "not base64",
        intuit_signature("wrong-token", b"x"),
        base64.b64encode(hmac.new(b"", b"", hashlib.sha256).digest()).decode(),
    ],
    ids=["missing", "empty", "junk", "wrong-token", "empty-key"],
)
def test_qbo_unsigned_or_badly_signed(world, signature):
    body = _qbo_notification(world.realm_a)
    headers = {} if signature is None else {"intuit-signature": signature}
    _refused_without_trace(world, lambda: _post_qbo(world, body, headers), 401, "invalid_signature")


def test_qbo_signature_of_another_body(world):
    genuine = _qbo_notification(world.realm_a)
    signature = intuit_signature(DEFAULT_VERIFIER_TOKEN, genuine)
    _refused_without_trace(
        world,
        lambda: _post_qbo(world, _qbo_notification(world.realm_b), {"intuit-signature": signature}),
        401,
        "invalid_signature",
    )


def test_qbo_signed_with_the_crm_secret(world):
    body = _qbo_notification(world.realm_a)
    _refused_without_trace(
        world,
        lambda: _post_qbo(
            world, body, {"intuit-signature": intuit_signature(DEFAULT_CRM_INBOUND_SECRET, body)}
        ),
        401,
        "invalid_signature",
    )


@pytest.mark.parametrize("size", [2 * 1024 * 1024], ids=["2MB"])
def test_qbo_huge_unsigned_body(world, size):
    body = b"[" + b" " * size + b"]"
    _refused_without_trace(
        world,
        lambda: _post_qbo(world, body, {"intuit-signature": "x"}),
        (401, 413),
        ("invalid_signature", "payload_too_large"),
    )


def test_qbo_signed_notification_for_an_unknown_company_changes_nothing(world):
    body = _qbo_notification("4620816365999")
    before = world.trace()
    response = _post_qbo(world, body, {"intuit-signature": intuit_signature(DEFAULT_VERIFIER_TOKEN, body)})
    assert response.status_code == 200, response.text
    world.trace().assert_same_as(before)


@pytest.mark.parametrize(
    "injected",
    [
        b"intuit-signature: abc\rX-Injected: yes",
        b"intuit-signature: abc\r\n X-Injected: yes",
    ],
    ids=["bare-cr", "obs-fold"],
)
def test_qbo_header_injection(world, injected):
    body = _qbo_notification(world.realm_a)
    before = world.trace()
    answer = raw_request(
        world.api,
        head("POST", "/webhooks/qbo", _host(world), [b"Content-Type: application/json", injected], body),
        body,
    )
    assert 400 <= answer.status < 500, (answer.status, answer.body[:300])
    assert all(name != "x-injected" for name, _ in answer.headers)
    world.trace().assert_same_as(before)


def test_qbo_wrong_method(world):
    _refused_without_trace(
        world, lambda: requests.get(f"{world.api}/webhooks/qbo", timeout=10), 405, "method_not_allowed"
    )
