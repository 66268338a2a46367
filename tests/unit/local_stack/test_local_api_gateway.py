"""The local API Gateway must build the events AWS builds (payload format 2.0) and route as AWS routes."""

import base64
import json

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from qbsync_local.api_gateway import BoundRoute, LocalHttpApi, _compile, build_event, to_response
from qbsync_local.schedules import rate_seconds


class RecordingFunction:
    def __init__(self, name, result=None):
        self.spec = type("Spec", (), {"logical_id": name})()
        self.events = []
        self.result = result or {"statusCode": 200, "body": "ok"}

    def invoke(self, event):
        self.events.append(event)
        return self.result


def route(method, path, fn):
    return BoundRoute(method, path, fn, _compile(path))


def request(method, path, **kwargs):
    return Request(EnvironBuilder(method=method, path=path, **kwargs).get_environ())


def test_specific_route_beats_parameterised_one_and_default_catches_the_rest():
    literal, param, default = RecordingFunction("literal"), RecordingFunction("param"), RecordingFunction("d")
    api = LocalHttpApi([
        route("GET", "/tenants/{tenant_id}/status", param),
        route("GET", "/tenants/me/status", literal),
        route("ANY", "$default", default),
    ])
    assert api.match("GET", "/tenants/me/status")[0].function is literal
    matched, params = api.match("GET", "/tenants/loc_1/status")
    assert matched.function is param and params == {"tenant_id": "loc_1"}
    # wrong method and unknown paths both go to $default, as in API Gateway
    assert api.match("POST", "/tenants/loc_1/status")[0].function is default
    assert api.match("GET", "/nowhere")[0].function is default


def test_without_default_route_unknown_paths_get_api_gateways_404():
    api = LocalHttpApi([route("GET", "/health", RecordingFunction("h"))])
    assert api.match("GET", "/nope") == (None, {})


def test_event_has_payload_2_0_shape():
    fn = RecordingFunction("f")
    bound = route("POST", "/webhooks/{source}", fn)
    req = request("POST", "/webhooks/crm?a=1&a=2&b=", headers={"X-Thing": "v", "Cookie": "c=1"},
                  data=b'{"x": 1}', content_type="application/json")
    event = build_event(req, bound, {"source": "crm"}, req.get_data())
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/{source}"
    assert event["rawPath"] == "/webhooks/crm"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"source": "crm"}
    assert event["headers"]["x-thing"] == "v"
    assert event["cookies"] == ["c=1"]
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["requestId"]


def test_binary_body_is_base64_encoded():
    req = request("POST", "/x", data=b"\x00\xff", content_type="application/octet-stream")
    event = build_event(req, route("POST", "/x", RecordingFunction("f")), {}, req.get_data())
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"


def test_response_conversion_follows_payload_2_0_rules():
    response = to_response({"statusCode": 302, "headers": {"Location": "https://x"}, "cookies": ["a=b"],
                            "body": ""})
    assert response.status_code == 302
    assert response.headers["Location"] == "https://x"
    assert response.headers.getlist("Set-Cookie") == ["a=b"]
    # a bare dict is 200 JSON
    plain = to_response({"hello": "world"})
    assert plain.status_code == 200 and json.loads(plain.get_data()) == {"hello": "world"}
    binary = to_response({"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(b"%PDF").decode()})
    assert binary.get_data() == b"%PDF"


def test_rate_expressions():
    assert rate_seconds("rate(5 minutes)") == 300
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("rate(1 day)") == 86400
    import pytest

    with pytest.raises(ValueError):
        rate_seconds("cron(0 12 * * ? *)")
