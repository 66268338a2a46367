"""The management API's documentation (`GET /openapi.json`, `GET /docs`: public, no secret in them) and its
API key on every other route; and every log line of a management request carries tenant and correlation."""

from __future__ import annotations

import json
import re

import pytest
import requests
from connect_helpers import API_HEADERS, connect

from qbsync.api.routes import PUBLIC_MANAGEMENT_ROUTES
from qbsync_local.config import DEFAULT_API_KEY
from qbsync_local.template import SamTemplate

MANAGEMENT_ROUTES = sorted(
    (route.method, route.path) for function in SamTemplate().functions()
    if function.logical_id == "ManagementApiFunction" for route in function.routes
)


def concrete(path):
    return re.sub(r"\{[^}]+\}", "x1", path).replace("/links/x1/", "/links/invoices/")


def test_the_openapi_document_is_public_and_describes_every_management_route(full_stack):
    answer = requests.get(f"{full_stack.api.url}/openapi.json", timeout=10)
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == set(MANAGEMENT_ROUTES) - PUBLIC_MANAGEMENT_ROUTES
    # every $ref resolves
    for ref in re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', answer.text):
        assert ref in document["components"]["schemas"], ref
    settings = document["components"]["schemas"]["TenantSettings"]
    assert settings["additionalProperties"] is False
    assert {"invoice_fields", "tax_codes", "frequency"} <= set(settings["properties"])
    assert DEFAULT_API_KEY not in answer.text and "arn:" not in answer.text


def test_swagger_ui_is_served_without_a_key_and_embeds_the_document(full_stack):
    answer = requests.get(f"{full_stack.api.url}/docs", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "SwaggerUIBundle" in answer.text and '"/tenants/{tenant_id}/settings"' in answer.text
    assert "cdn" not in re.findall(r"<script[^>]*src=['\"]([^'\"]+)", answer.text)  # nothing from a CDN


@pytest.mark.parametrize(("method", "path"), [r for r in MANAGEMENT_ROUTES if r not in PUBLIC_MANAGEMENT_ROUTES])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-key"}], ids=["missing", "wrong"])
def test_every_management_route_needs_the_api_key(full_stack, method, path, headers):
    answer = requests.request(method, f"{full_stack.api.url}{concrete(path)}", headers=headers, timeout=10)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] in ("missing_api_key", "invalid_api_key")


@pytest.fixture
def log_lines():
    """Every JSON line qbsync's Powertools logger renders meanwhile (its own formatter, on a second handler)."""
    import io
    import logging

    from qbsync.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    finally:
        logger._logger.removeHandler(handler)


def test_every_log_line_of_a_management_request_carries_tenant_and_correlation_id(full_stack, log_lines, wait,
                                                                                 queue_depth):
    connect(full_stack, "loc_logs")
    full_stack.qbo_emulator.set_webhooks(False)
    # Let the connect's backfill poll finish first: local functions share one process, and Powertools keeps
    # the Logger's keys per process (in Lambda, per container), so a poll running meanwhile could stamp its own
    # function name on these lines.
    sqs = full_stack.aws_client("sqs")
    wait(lambda: all(queue_depth(sqs, full_stack.queue_url(q)) == 0 for q in ("PollJobsQueue", "CrmEventsQueue")),
         timeout=60, message="queues drained")
    seen = len(log_lines())
    base, tenant = full_stack.api.url, "/tenants/loc_logs"
    # a refused request and a redrive both log
    assert requests.put(f"{base}{tenant}/settings", json={"colour": 1}, headers=API_HEADERS, timeout=30).status_code == 422
    assert requests.post(f"{base}{tenant}/failures/redrive", json={}, headers=API_HEADERS, timeout=30).status_code == 200
    lines = [line for line in log_lines()[seen:] if "ManagementApiFunction" in line.get("function_name", "")]
    assert {line["message"] for line in lines} >= {"request refused", "dead letters redriven"}
    for line in lines:
        assert line.get("tenant_id") == "loc_logs" and line.get("correlation_id"), line
    assert DEFAULT_API_KEY not in json.dumps(log_lines())
