"""Hostile requests on every API-key route of the management API (issue 9 §2; SPEC "HTTP API", issue 7 "Bad
input"): no key or a wrong one, malformed JSON, wrong types, huge bodies, unknown tenants, another tenant's
ids, path traversal and header injection. Each gets its documented 4xx with a machine-readable code and
leaves nothing behind (`Trace`): no DynamoDB item, no queue message, no QBO or CRM call."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hostile_http import assert_refused, error_code, head, raw_request

from qbsync.api.routes import ROUTES
from qbsync_local.config import DEFAULT_API_KEY

KEY = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
UNKNOWN = ("tenant_not_found", "connection_not_found")
SETTINGS_BODY = {"frequency": "hourly"}

# Every API-key route, with a body that is valid for it (None: no body). `{a}` = tenant A's ids.
API_KEY_ROUTES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/tenants/{tenant_id}/disconnect"): {},
    ("GET", "/tenants/{tenant_id}/settings"): None,
    ("PUT", "/tenants/{tenant_id}/settings"): SETTINGS_BODY,
    ("GET", "/tenants/{tenant_id}/status"): None,
    ("POST", "/tenants/{tenant_id}/sync"): {},
    ("GET", "/tenants/{tenant_id}/failures"): None,
    ("POST", "/tenants/{tenant_id}/failures/redrive"): {"message_ids": ["m-1"]},
    ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"): {},
    ("GET", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/pdf"): None,
    ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"): {"qbo_invoice_id": "1"},
    ("DELETE", "/tenants/{tenant_id}/links/{object}/{crm_id}"): None,
}
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/connect"),
    ("GET", "/oauth/callback"),
    ("GET", "/oauth/disconnected"),
    ("POST", "/webhooks/crm"),
    ("POST", "/webhooks/qbo"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
}
BODY_ROUTES = [route for route, body in API_KEY_ROUTES.items() if body is not None]


def test_every_route_has_hostile_coverage():
    """A route added to the API without hostile tests fails here (the browser and webhook routes are covered
    in the two sibling modules, the API's own documentation by the schemathesis run)."""
    assert set(ROUTES) == set(API_KEY_ROUTES) | PUBLIC


def _path(
    template: str,
    tenant: str,
    invoice: str = "inv_hostile_a",
    obj: str = "invoices",
    crm_id: str = "inv_hostile_a",
) -> str:
    return (
        template.replace("{tenant_id}", tenant)
        .replace("{crm_invoice_id}", invoice)
        .replace("{object}", obj)
        .replace("{crm_id}", crm_id)
    )


def _call(
    world,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> requests.Response:
    kwargs: dict[str, Any] = {
        "headers": headers if headers is not None else KEY,
        "params": params,
        "timeout": 30,
    }
    if raw is not None:
        kwargs["data"] = raw
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
    elif body is not None:
        kwargs["json"] = body
    return requests.request(method, f"{world.api}{path}", **kwargs)


def _refused_without_trace(world, send: Callable[[], requests.Response], status, code) -> requests.Response:
    before = world.trace()
    response = send()
    assert_refused(response, status, code)
    world.trace().assert_same_as(before)
    return response


def _ids(routes) -> list[str]:
    return [f"{method} {path}" for method, path in routes]


def _host(world) -> str:
    return world.api.split("//", 1)[1]


# --- authentication: every route --------------------------------------------------------------------------


AUTH_CASES: dict[str, tuple[dict[str, str], str]] = {
    "no-key": ({}, "missing_api_key"),
    "wrong-key": ({"Authorization": "Bearer not-the-key"}, "invalid_api_key"),
    "key-plus-one": ({"Authorization": f"Bearer {DEFAULT_API_KEY}x"}, "invalid_api_key"),
    "key-prefix": ({"Authorization": f"Bearer {DEFAULT_API_KEY[:-1]}"}, "invalid_api_key"),
    "basic-scheme": (
        {"Authorization": "Basic " + base64.b64encode(DEFAULT_API_KEY.encode()).decode()},
        "missing_api_key",
    ),
    "bare-key": ({"Authorization": DEFAULT_API_KEY}, "missing_api_key"),
    "empty-bearer": ({"Authorization": "Bearer "}, "missing_api_key"),
    "key-in-query-only": ({}, "missing_api_key"),
    "huge-key": ({"Authorization": "Bearer " + "k" * 60_000}, "invalid_api_key"),
}


EVERY_ROUTE_AUTH = ("no-key", "wrong-key", "basic-scheme")
AUTH_MATRIX = [(route, case) for route in API_KEY_ROUTES for case in EVERY_ROUTE_AUTH] + [
    (("POST", "/tenants/{tenant_id}/disconnect"), case)
    for case in sorted(AUTH_CASES)
    if case not in EVERY_ROUTE_AUTH
]


@pytest.mark.parametrize("route, case", AUTH_MATRIX, ids=[f"{m} {p} {c}" for (m, p), c in AUTH_MATRIX])
def test_unauthenticated(world, route, case):
    method, template = route
    headers, code = AUTH_CASES[case]
    params = {"api_key": DEFAULT_API_KEY} if case == "key-in-query-only" else None
    _refused_without_trace(
        world,
        lambda: _call(
            world,
            method,
            _path(template, world.tenant_a),
            body=API_KEY_ROUTES[route],
            headers=headers,
            params=params,
        ),
        (401, 431) if case == "huge-key" else 401,
        code if case != "huge-key" else (code, None),
    )


@pytest.mark.parametrize("route", list(API_KEY_ROUTES), ids=_ids(API_KEY_ROUTES))
@pytest.mark.parametrize(
    "injected",
    [
        [b"Authorization: Bearer not-the-key\rX-Injected: yes"],
        [b"Authorization: Bearer not-the-key\r\n " + f"Bearer {DEFAULT_API_KEY}".encode()],
        [b"Authorization: Bearer not-the-key", f"Authorization: Bearer {DEFAULT_API_KEY}".encode()],
        [f"Authorization: Bearer {DEFAULT_API_KEY}".encode(), b"authorization: Bearer not-the-key"],
    ],
    ids=["bare-cr", "obs-fold-continuation", "smuggled-second-header", "smuggled-first-header"],
)
def test_header_injection_in_authorization(world, route, injected):
    """A wrong key stays wrong whatever is smuggled around it: a second Authorization header (API Gateway
    joins repeated headers with a comma) or a folded continuation line never makes it right."""
    method, template = route
    before = world.trace()
    answer = raw_request(world.api, head(method, _path(template, world.tenant_a), _host(world), injected))
    assert answer.status in (400, 401), (answer.status, answer.body[:300])
    assert all(name != "x-injected" for name, _ in answer.headers)
    world.trace().assert_same_as(before)


# --- tenants and ids in the path: every route ---------------------------------------------------------


# Settings may be written before a tenant's first connect (README "Managing a tenant"): not a 404.
_TENANT_MUST_EXIST = {route: body for route, body in API_KEY_ROUTES.items()
                      if route != ("PUT", "/tenants/{tenant_id}/settings")}


@pytest.mark.parametrize("route", list(_TENANT_MUST_EXIST), ids=_ids(_TENANT_MUST_EXIST))
def test_unknown_tenant(world, route):
    method, template = route
    _refused_without_trace(
        world,
        lambda: _call(world, method, _path(template, "loc_never_connected"), body=API_KEY_ROUTES[route]),
        404,
        UNKNOWN,
    )


@pytest.mark.parametrize(
    "tenant",
    ["..%2Floc_hostile_b", "%2e%2e", "loc_hostile_a%00"],
    ids=["encoded-slash", "encoded-dots", "nul"],
)
@pytest.mark.parametrize("route", list(API_KEY_ROUTES), ids=_ids(API_KEY_ROUTES))
def test_path_traversal_in_tenant_id(world, route, tenant):
    method, template = route
    before = world.trace()
    path = _path(template, tenant)
    answer = raw_request(
        world.api,
        head(
            method,
            path,
            _host(world),
            [f"Authorization: Bearer {DEFAULT_API_KEY}".encode(), b"Content-Type: application/json"],
            b"{}",
        ),
        b"{}",
    )
    assert answer.status in (400, 404), (path, answer.status, answer.body[:300])
    assert json.loads(answer.body)["error"]["code"] in ("invalid_tenant_id", "not_found", *UNKNOWN), (
        answer.body
    )
    world.trace().assert_same_as(before)


INVOICE_ROUTES = [
    route for route in API_KEY_ROUTES if "{crm_invoice_id}" in route[1] or "{crm_id}" in route[1]
]


@pytest.mark.parametrize(
    "crm_id",
    ["..", "..%2F..%2Fsettings", "inv%2F..%2Finv_hostile_b", "%2e%2e", "x" * 300],
    ids=["dotdot", "encoded-traversal", "encoded-slash", "encoded-dots", "too-long"],
)
@pytest.mark.parametrize("route", INVOICE_ROUTES, ids=_ids(INVOICE_ROUTES))
def test_path_traversal_in_crm_ids(world, route, crm_id):
    method, template = route
    path = _path(template, world.tenant_a, invoice=crm_id, crm_id=crm_id)
    before = world.trace()
    answer = raw_request(
        world.api,
        head(
            method,
            path,
            _host(world),
            [f"Authorization: Bearer {DEFAULT_API_KEY}".encode(), b"Content-Type: application/json"],
            b"{}",
        ),
        b"{}",
    )
    assert answer.status in (400, 404), (path, answer.status, answer.body[:300])
    assert json.loads(answer.body)["error"]["code"] in (
        "invalid_crm_id",
        "not_found",
        "invoice_not_linked",
        "link_not_found",
    ), answer.body
    world.trace().assert_same_as(before)


@pytest.mark.parametrize(
    "obj",
    ["..", "..%2Fsettings", "mappings", "INVOICES", "deals"],
    ids=["dotdot", "encoded-traversal", "unknown", "upper-case", "internal-type"],
)
def test_unlink_object_outside_the_list(world, obj):
    path = _path("/tenants/{tenant_id}/links/{object}/{crm_id}", world.tenant_a, obj=obj)
    before = world.trace()
    answer = raw_request(
        world.api, head("DELETE", path, _host(world), [f"Authorization: Bearer {DEFAULT_API_KEY}".encode()])
    )
    assert answer.status in (400, 404), (path, answer.status, answer.body[:300])
    assert json.loads(answer.body)["error"]["code"] in ("invalid_object", "not_found"), answer.body
    world.trace().assert_same_as(before)


# --- bodies: every route that takes one --------------------------------------------------------------------


def _body_tenant(world, route) -> str:
    # A refusal that failed on disconnect would disconnect the tenant: use C, so A stays whole for the rest.
    return world.tenant_c if route[1].endswith("/disconnect") else world.tenant_a


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b"\xff\xfe", b'{"a": NaN}', b"[" * 50_000],
    ids=["open-brace", "array", "not-utf8", "nan", "deep-nesting"],
)
@pytest.mark.parametrize("route", BODY_ROUTES, ids=_ids(BODY_ROUTES))
def test_malformed_json(world, route, raw):
    """NaN is not JSON (RFC 8259): a parser that takes it must not let the request act as a valid one."""
    method, template = route
    if b"NaN" in raw:  # refused as malformed, or as a body with an unknown field; never acted on
        status, code = (400, 422), ("malformed_json", "validation_failed", "invalid_link_request")
    else:
        status, code = 400, "malformed_json"
    _refused_without_trace(
        world,
        lambda: _call(world, method, _path(template, _body_tenant(world, route)), raw=raw),
        status,
        code,
    )


HUGE = "9" * (1024 * 1024)
HUGE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/tenants/{tenant_id}/disconnect"): {"realm_id": HUGE},
    ("PUT", "/tenants/{tenant_id}/settings"): {"frequency": HUGE},
    ("POST", "/tenants/{tenant_id}/sync"): {"message_id": HUGE},
    ("POST", "/tenants/{tenant_id}/failures/redrive"): {"message_ids": [HUGE]},
    ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"): {"email": HUGE + "@example.com"},
    ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"): {"qbo_invoice_id": HUGE},
}


@pytest.mark.parametrize("route", BODY_ROUTES, ids=_ids(BODY_ROUTES))
def test_huge_body(world, route):
    """A 1 MB value where a short one belongs is refused like any wrong value, without a crash."""
    method, template = route
    headers = {**KEY, "If-Match": "*"} if method == "PUT" else KEY
    _refused_without_trace(
        world,
        lambda: _call(
            world,
            method,
            _path(template, _body_tenant(world, route)),
            body=HUGE_BODIES[route],
            headers=headers,
        ),
        (400, 404, 413, 422),
        (
            "payload_too_large",
            "validation_failed",
            "invalid_realm_id",
            "invalid_email",
            "invalid_link_request",
            "not_a_dry_run",
            "failures_not_found",
        ),
    )


WRONG_TYPES: list[
    tuple[tuple[str, str], dict[str, Any] | None, Any, int | tuple[int, ...], str | tuple[str, ...]]
] = [
    (("POST", "/tenants/{tenant_id}/disconnect"), None, {"realm_id": 123}, 400, "invalid_realm_id"),
    (("POST", "/tenants/{tenant_id}/disconnect"), None, {"realm_id": "../1"}, 400, "invalid_realm_id"),
    (("POST", "/tenants/{tenant_id}/disconnect"), None, {"realm_id": ["1"]}, 400, "invalid_realm_id"),
    (("PUT", "/tenants/{tenant_id}/settings"), None, {"frequency": 5}, 422, "validation_failed"),
    (("PUT", "/tenants/{tenant_id}/settings"), None, {"frequencyy": "hourly"}, 422, "validation_failed"),
    (("PUT", "/tenants/{tenant_id}/settings"), None, {"tax_codes": ["1"]}, 422, "validation_failed"),
    (
        ("PUT", "/tenants/{tenant_id}/settings"),
        None,
        {"tax_codes": {"GST": "../1"}},
        422,
        "validation_failed",
    ),
    (
        ("PUT", "/tenants/{tenant_id}/settings"),
        None,
        {"sync": {"invoices": "maybe"}},
        422,
        "validation_failed",
    ),
    (
        ("PUT", "/tenants/{tenant_id}/settings"),
        None,
        {"default_realm_id": "REALM_B"},
        422,
        "validation_failed",
    ),
    (("POST", "/tenants/{tenant_id}/sync"), {"dry_run": "maybe"}, {}, 400, "invalid_dry_run"),
    (("POST", "/tenants/{tenant_id}/sync"), {"realm_id": "../1"}, {}, 400, "invalid_realm_id"),
    (
        ("POST", "/tenants/{tenant_id}/sync"),
        None,
        {"event": 5},
        (400, 422),
        ("validation_failed", "not_a_dry_run"),
    ),
    (
        ("POST", "/tenants/{tenant_id}/failures/redrive"),
        None,
        {"message_ids": "m-1"},
        422,
        "validation_failed",
    ),
    (
        ("POST", "/tenants/{tenant_id}/failures/redrive"),
        None,
        {"message_ids": [1, 2]},
        422,
        "validation_failed",
    ),
    (
        ("POST", "/tenants/{tenant_id}/failures/redrive"),
        None,
        {"message_ids": ["m"], "x": 1},
        422,
        "validation_failed",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"),
        None,
        {"email": ["a@b.c"]},
        400,
        "invalid_email",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"),
        None,
        {"email": "not-an-address"},
        400,
        "invalid_email",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"),
        None,
        {"email": "billing@example.com\r\nBcc: attacker@evil.example"},
        400,
        "invalid_email",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send"),
        None,
        {"email": "a@b.c,attacker@evil.example"},
        400,
        "invalid_email",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"),
        None,
        {"qbo_invoice_id": 5},
        400,
        "invalid_link_request",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"),
        None,
        {"qbo_invoice_id": "../1"},
        400,
        "invalid_link_request",
    ),
    (
        ("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"),
        None,
        {"qbo_invoice_id": "1", "doc_number": "1"},
        400,
        "invalid_link_request",
    ),
    (("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link"), None, {}, 400, "invalid_link_request"),
]


@pytest.mark.parametrize(
    "route, params, body, status, code",
    WRONG_TYPES,
    ids=[f"{r[0][0]} {r[0][1].rsplit('/', 1)[-1]} {json.dumps(r[2])[:40]}" for r in WRONG_TYPES],
)
def test_wrong_types(world, route, params, body, status, code):
    method, template = route
    if body.get("default_realm_id") == "REALM_B":
        body = {"default_realm_id": world.realm_b}  # another tenant's company is not one of A's
    # A PUT must name the current version; a wrong body is refused before the version is even looked at.
    headers = {**KEY, "If-Match": "*"} if method == "PUT" else KEY
    _refused_without_trace(
        world,
        lambda: _call(
            world, method, _path(template, world.tenant_a), body=body, params=params, headers=headers
        ),
        status,
        code,
    )


# --- another tenant's ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method, suffix", [("POST", "/send"), ("GET", "/pdf")])
def test_invoice_actions_with_another_tenants_invoice(world, method, suffix):
    path = f"/tenants/{world.tenant_a}/invoices/{world.crm_invoice_b}{suffix}"
    _refused_without_trace(
        world,
        lambda: _call(world, method, path, body={} if method == "POST" else None),
        404,
        "invoice_not_linked",
    )


@pytest.mark.parametrize(
    "method, suffix, body",
    [("POST", "/send", {}), ("GET", "/pdf", None), ("POST", "/link", {"qbo_invoice_id": "QBO_B"})],
)
def test_invoice_actions_on_another_tenants_company(world, method, suffix, body):
    """`?realm_id=` picks one of the tenant's own companies; tenant B's company is not one of A's: 404, and
    A's request must not reach B's QBO company (no QBO call, no rate-limit budget of B's realm spent)."""
    if body:
        body = {"qbo_invoice_id": world.qbo_invoice_b}
    path = f"/tenants/{world.tenant_a}/invoices/{world.crm_invoice_b}{suffix}"
    _refused_without_trace(
        world,
        lambda: _call(world, method, path, body=body, params={"realm_id": world.realm_b}),
        404,
        ("connection_not_found", "invoice_not_linked", "tenant_not_found"),
    )


def test_unlink_another_tenants_invoice(world):
    for params in (None, {"realm_id": world.realm_b}):
        path = f"/tenants/{world.tenant_a}/links/invoices/{world.crm_invoice_b}"
        _refused_without_trace(
            world,
            lambda: _call(world, "DELETE", path, params=params),
            404,
            ("link_not_found", "connection_not_found"),
        )
    # B's pairing is still there: B can still fetch its PDF
    assert (
        _call(world, "GET", f"/tenants/{world.tenant_b}/invoices/{world.crm_invoice_b}/pdf").status_code
        == 200
    )


def test_disconnect_another_tenants_company(world):
    _refused_without_trace(
        world,
        lambda: _call(
            world, "POST", f"/tenants/{world.tenant_a}/disconnect", body={"realm_id": world.realm_b}
        ),
        404,
        "connection_not_found",
    )


def test_sync_another_tenants_company(world):
    _refused_without_trace(
        world,
        lambda: _call(
            world, "POST", f"/tenants/{world.tenant_a}/sync", body={}, params={"realm_id": world.realm_b}
        ),
        404,
        "connection_not_found",
    )


def test_settings_naming_another_tenants_company_as_default(world):
    headers = {**KEY, "If-Match": "*"}
    response = _refused_without_trace(
        world,
        lambda: _call(
            world,
            "PUT",
            f"/tenants/{world.tenant_a}/settings",
            body={"default_realm_id": world.realm_b},
            headers=headers,
        ),
        422,
        "validation_failed",
    )
    assert [f["field"] for f in response.json()["error"]["details"]["fields"]] == ["default_realm_id"]


def test_link_by_a_doc_number_that_tries_to_inject_a_query(world):
    for doc_number in ("' OR DocNumber > '", "1' OR Id > '0", "\\' OR Id > \\'0"):
        path = f"/tenants/{world.tenant_a}/invoices/inv_injection/link"
        before = world.trace()
        answer = _call(world, "POST", path, body={"doc_number": doc_number})
        assert_refused(answer, (400, 404), ("qbo_invoice_not_found", "invalid_link_request"))
        changes = world.trace().differences(before)
        # Looking the number up in QBO is the documented behaviour; pairing something is not.
        assert not [c for c in changes if c.startswith("DynamoDB") and "MappingsTable" in c], changes


# --- failures and redrive of another tenant's dead letters -------------------------------------------------


@pytest.fixture
def b_dead_letter(world) -> str:
    """A dead-lettered CRM event of tenant B, as the worker leaves it."""
    sqs = world.stack.aws_client("sqs")
    body = json.dumps(
        {
            "tenant_id": world.tenant_b,
            "realm_id": world.realm_b,
            "event_id": "evt_b_dead",
            "event_type": "invoice.sent",
            "webhook_id": "msg_b_dead",
            "received_at": "2026-11-23T10:00:00+00:00",
            "envelope": "{}",
        }
    )
    attributes = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in {
            "tenant_id": world.tenant_b,
            "event_type": "invoice.sent",
            "event_id": "evt_b_dead",
            "qbsync-reason-code": "tax_code_unmapped",
            "qbsync-reason-message": "no QBO tax code mapped",
            "qbsync-reason-details": "{}",
            "qbsync-failed-at": "2026-11-23T10:00:00+00:00",
            "qbsync-source-queue": "crm_events",
            "qbsync-original-message-id": "orig-b",
        }.items()
    }
    sent = sqs.send_message(
        QueueUrl=world.stack.queue_url("CrmEventsDeadLetterQueue"),
        MessageBody=body,
        MessageAttributes=attributes,
        MessageGroupId=f"{world.tenant_b}#invoice#inv_b",
        MessageDeduplicationId="dedupe-b-dead",
    )
    return sent["MessageId"]


def test_failures_and_redrive_of_another_tenants_dead_letter(world, b_dead_letter):
    listed_b = _call(world, "GET", f"/tenants/{world.tenant_b}/failures")
    assert listed_b.status_code == 200, listed_b.text
    ids_b = [failure["message_id"] for failure in listed_b.json()["failures"]]
    assert ids_b, "tenant B sees its own dead letter"
    listed_a = _call(world, "GET", f"/tenants/{world.tenant_a}/failures")
    assert listed_a.status_code == 200 and set(ids_b).isdisjoint(
        f["message_id"] for f in listed_a.json()["failures"]
    )
    _refused_without_trace(
        world,
        lambda: _call(
            world, "POST", f"/tenants/{world.tenant_a}/failures/redrive", body={"message_ids": ids_b}
        ),
        404,
        "failures_not_found",
    )


# --- replays ------------------------------------------------------------------------------------------------


def test_settings_put_replayed_with_a_stale_etag(world):
    path = f"/tenants/{world.tenant_a}/settings"
    current = _call(world, "GET", path)
    assert current.status_code == 200, current.text
    etag = current.headers["ETag"]
    first = _call(
        world, "PUT", path, body={**current.json(), "frequency": "daily"}, headers={**KEY, "If-Match": etag}
    )
    assert first.status_code == 200, first.text
    _refused_without_trace(
        world,
        lambda: _call(
            world,
            "PUT",
            path,
            body={**current.json(), "frequency": "weekly"},
            headers={**KEY, "If-Match": etag},
        ),
        412,
        "precondition_failed",
    )


def test_send_replayed_with_the_same_idempotency_key_emails_once(world):
    path = f"/tenants/{world.tenant_a}/invoices/{world.crm_invoice_a}/send"
    headers = {**KEY, "Idempotency-Key": "send-once-1"}
    first = _call(world, "POST", path, body={"email": "billing@example.com"}, headers=headers)
    assert first.status_code == 200, first.text
    company = world.stack.qbo_emulator.company(world.realm_a)
    sent = company.emails_sent
    again = _call(world, "POST", path, body={"email": "billing@example.com"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert company.emails_sent == sent


def test_send_with_an_injected_idempotency_key(world):
    before = world.trace()
    path = f"/tenants/{world.tenant_a}/invoices/{world.crm_invoice_a}/send"
    answer = raw_request(
        world.api,
        head(
            "POST",
            path,
            _host(world),
            [
                f"Authorization: Bearer {DEFAULT_API_KEY}".encode(),
                b"Content-Type: application/json",
                b"Idempotency-Key: k1\rX-Injected: yes",
            ],
            b"{}",
        ),
        b"{}",
    )
    assert answer.status != 500 and all(name != "x-injected" for name, _ in answer.headers), answer
    if answer.status >= 400:
        assert error_code_of(answer.body) is not None
        world.trace().assert_same_as(before)


def error_code_of(body: bytes) -> str | None:
    try:
        return json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def test_wrong_method_on_every_route(world):
    for method, template in API_KEY_ROUTES:
        wrong = "PATCH"
        _refused_without_trace(
            world, lambda: _call(world, wrong, _path(template, world.tenant_a)), 405, "method_not_allowed"
        )
    assert error_code(_call(world, "PATCH", "/tenants/loc_hostile_a/nothing-here")) == "not_found"
