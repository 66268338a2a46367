"""The template's HTTP API served by the local stack in front of the real handlers."""

from __future__ import annotations

import json
import re

import pytest
import requests

from qbsync_local.template import SamTemplate

TEMPLATE_ROUTES = [
    (route.method, route.path)
    for function in SamTemplate().functions()
    for route in function.routes
    if route.path != "$default"
]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_health_reports_every_table_and_queue_reachable(foundation_stack):
    response = requests.get(f"{foundation_stack.api.url}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["tables"] == {"connections": True, "mappings": True, "idempotency": True, "rate_limit": True}
    assert body["queues"] == {"crm_events": True, "crm_events_dlq": True, "poll_jobs": True,
                              "poll_jobs_dlq": True}
    # no physical names, ARNs or URLs in the answer
    assert "arn:" not in response.text and "amazonaws" not in response.text and "127.0.0.1" not in response.text


@pytest.mark.parametrize(("method", "path"), [r for r in TEMPLATE_ROUTES if r != ("GET", "/health")])
def test_every_template_route_is_served_by_its_handler(foundation_stack, method, path):
    response = requests.request(method, f"{foundation_stack.api.url}{concrete(path)}", timeout=10)
    # Until its feature lands a route answers 501 not_implemented; once it lands, a request without
    # credentials or parameters must be refused with a JSON error, never a 404/405/500.
    assert response.status_code not in (404, 405, 500), response.text
    assert response.headers["Content-Type"].startswith(("application/json", "text/html"))
    if response.status_code == 501:
        assert response.json()["error"]["code"] == "not_implemented"


def test_unknown_route_is_a_json_404(foundation_stack):
    response = requests.get(f"{foundation_stack.api.url}/no/such/route", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_a_json_405_naming_the_allowed_ones(foundation_stack):
    response = requests.delete(f"{foundation_stack.api.url}/webhooks/crm", timeout=10)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"
