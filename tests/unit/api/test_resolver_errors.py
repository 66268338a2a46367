"""Errors are mapped to HTTP once (qbsync.api.resolver): domain errors keep their status and code,
anything unexpected is a 500 carrying only a correlation id."""

import json

import pytest

from qbsync.api.resolver import build_resolver
from qbsync.errors import BadRequestError, NotImplementedYetError, ValidationFailedError


def http_event(method: str, path: str, request_id: str = "req-123") -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "localhost"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "test"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def app():
    resolver = build_resolver()

    @resolver.get("/health")
    def bad_request():
        raise BadRequestError("tenant_id is required", code="missing_tenant_id")

    @resolver.get("/connect")
    def later():
        raise NotImplementedYetError("soon", details={"feature": "F1"})

    @resolver.put("/tenants/<tenant_id>/settings")
    def invalid(tenant_id: str):
        raise ValidationFailedError("bad settings", details={"fields": {"frequency": "not allowed"}})

    @resolver.get("/tenants/<tenant_id>/status")
    def crash(tenant_id: str):
        raise RuntimeError("token=secret-value leaked into an exception message")

    return resolver


def call(app, method, path):
    response = app.resolve(http_event(method, path), None)
    return response["statusCode"], json.loads(response["body"]), response.get("headers", {})


def test_domain_error_keeps_its_status_and_machine_readable_code(app):
    status, body, _ = call(app, "GET", "/health")
    assert status == 400
    assert body == {"error": {"code": "missing_tenant_id", "message": "tenant_id is required"}}


def test_not_implemented_routes_answer_501_with_the_feature(app):
    status, body, _ = call(app, "GET", "/connect")
    assert status == 501
    assert body["error"]["code"] == "not_implemented"
    assert body["error"]["details"] == {"feature": "F1"}


def test_validation_error_is_422_with_field_details(app):
    status, body, _ = call(app, "PUT", "/tenants/t1/settings")
    assert status == 422
    assert body["error"]["details"]["fields"] == {"frequency": "not allowed"}


def test_unexpected_exception_is_500_with_correlation_id_and_no_exception_text(app):
    status, body, _ = call(app, "GET", "/tenants/t1/status")
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["correlation_id"] == "req-123"
    assert "secret-value" not in json.dumps(body)
    assert "Traceback" not in json.dumps(body)


def test_known_path_with_wrong_method_is_405_with_allow_header(app):
    status, body, headers = call(app, "DELETE", "/tenants/t1/settings")
    assert status == 405
    assert body["error"]["code"] == "method_not_allowed"
    assert headers["Allow"] == "GET, PUT"


def test_unknown_path_is_404_json(app):
    status, body, _ = call(app, "GET", "/../../etc/passwd")
    assert status == 404
    assert body["error"]["code"] == "not_found"
