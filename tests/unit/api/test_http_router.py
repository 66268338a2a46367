"""qbsync.api.http: the HTTP API router every API function uses (routing, middlewares, errors, responses)."""

from __future__ import annotations

import base64
import json

import pytest

from qbsync.api.http import HttpRequest, HttpRouter, NotFoundError, Response


def http_event(method: str, path: str, *, body: str | None = None, base64_body: bool = False,
               headers: dict[str, str] | None = None, stage: str = "$default", query: dict | None = None) -> dict:
    return {
        "version": "2.0", "rawPath": path, "headers": headers or {}, "queryStringParameters": query,
        "body": body, "isBase64Encoded": base64_body,
        "requestContext": {"requestId": "req-1", "domainName": "api.example.com", "stage": stage,
                           "http": {"method": method, "path": path}},
    }


def text(value: str) -> Response:
    return Response(200, "text/plain", value)


def test_static_routes_win_over_dynamic_ones_whatever_the_order():
    app = HttpRouter()

    @app.get("/things/<thing_id>")
    def one(thing_id):
        return text(f"one {thing_id}")

    @app.get("/things/new")
    def new():
        return text("new")

    assert app.resolve(http_event("GET", "/things/new"), None)["body"] == "new"
    assert app.resolve(http_event("GET", "/things/t-1"), None)["body"] == "one t-1"


def test_a_parameter_is_one_segment_and_reaches_the_function_and_the_request():
    app = HttpRouter()
    seen = {}

    @app.delete("/tenants/<tenant_id>/links/<object_type>/<crm_id>")
    def unlink(tenant_id, object_type, crm_id):
        seen.update(app.current_event.path_parameters)
        return text(f"{tenant_id}|{object_type}|{crm_id}")

    answer = app.resolve(http_event("DELETE", "/tenants/t.1/links/invoice/inv~9"), None)
    assert answer["body"] == "t.1|invoice|inv~9"
    assert seen == {"tenant_id": "t.1", "object_type": "invoice", "crm_id": "inv~9"}
    # a slash never belongs to a parameter: an extra segment is not this route
    assert app.resolve(http_event("DELETE", "/tenants/t/links/invoice/a/b"), None)["statusCode"] == 404


def test_an_unknown_route_goes_through_the_middlewares_to_the_404_hook():
    app = HttpRouter()
    order = []

    def outer(router, next_middleware):
        order.append("outer")
        answer = next_middleware(router)
        answer.headers["X-Outer"] = "1"
        return answer

    def inner(router, next_middleware):
        order.append("inner")
        return next_middleware(router)

    app.use(middlewares=[outer, inner])

    @app.not_found
    def missing(error):
        assert isinstance(error, NotFoundError)
        return Response(404, "application/json", '{"error": "nope"}')

    answer = app.resolve(http_event("POST", "/nowhere"), None)
    assert (answer["statusCode"], answer["body"], answer["headers"]["X-Outer"]) == (404, '{"error": "nope"}', "1")
    assert order == ["outer", "inner"]


def test_the_default_404_without_a_hook_is_json():
    answer = HttpRouter().resolve(http_event("GET", "/x"), None)
    assert answer["statusCode"] == 404 and json.loads(answer["body"])["message"] == "Not found"


def test_errors_go_to_the_handler_of_their_nearest_class_and_unhandled_ones_propagate():
    app = HttpRouter()

    class Refused(ValueError):
        pass

    @app.exception_handler(ValueError)
    def value_error(error):
        return Response(400, "text/plain", f"bad: {type(error).__name__}")

    @app.get("/refused")
    def refused():
        raise Refused("no")

    @app.get("/broken")
    def broken():
        raise RuntimeError("boom")

    assert app.resolve(http_event("GET", "/refused"), None)["body"] == "bad: Refused"
    with pytest.raises(RuntimeError):
        app.resolve(http_event("GET", "/broken"), None)


def test_a_middleware_refusal_is_an_error_like_any_other():
    app = HttpRouter()

    def deny(router, next_middleware):
        raise PermissionError("no key")

    app.use(middlewares=[deny])

    @app.exception_handler(PermissionError)
    def denied(error):
        return Response(401, "text/plain", "denied")

    @app.get("/secret")
    def secret():
        raise AssertionError("never reached")

    assert app.resolve(http_event("GET", "/secret"), None)["statusCode"] == 401


def test_responses_in_http_api_format_and_bytes_go_base64():
    app = HttpRouter()

    @app.get("/pdf")
    def pdf():
        return Response(200, "application/pdf", b"%PDF-1.4\x00\xff", headers={"Content-Disposition": "inline"})

    answer = app.resolve(http_event("GET", "/pdf"), None)
    assert answer["isBase64Encoded"] is True
    assert base64.b64decode(answer["body"]) == b"%PDF-1.4\x00\xff"
    assert answer["headers"] == {"Content-Disposition": "inline", "Content-Type": "application/pdf"}
    assert answer["cookies"] == []


def test_content_type_in_headers_is_not_overridden():
    response = Response(200, "application/json", "{}", headers={"Content-Type": "text/plain"})
    assert response.to_lambda()["headers"]["Content-Type"] == "text/plain"


def test_the_request_reads_headers_without_case_body_and_stage():
    payload = "ünïcode body"
    request = HttpRequest(http_event(
        "post", "/prod/webhooks/crm", body=base64.b64encode(payload.encode()).decode(), base64_body=True,
        headers={"Webhook-Id": "msg_1"}, stage="prod", query={"a": "1"}))
    assert request.http_method == "POST"
    assert request.path == "/webhooks/crm" and request.raw_path == "/prod/webhooks/crm"
    assert request.headers.get("webhook-id") == request.headers["WEBHOOK-ID"] == "msg_1"
    assert "webhook-id" in request.headers and "other" not in request.headers
    assert request.decoded_body == payload and request.raw_body() == payload.encode()
    assert request.query_string_parameters == {"a": "1"}
    assert request.request_context.request_id == "req-1"
    assert request.request_context.domain_name == "api.example.com"
    plain = HttpRequest(http_event("GET", "/x", body="abc"))
    assert plain.decoded_body == "abc" and plain.raw_body() == b"abc" and plain.path == "/x"
    assert HttpRequest(http_event("GET", "/x")).raw_body() == b""
