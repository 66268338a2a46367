"""A local API Gateway HTTP API: each request becomes a payload-format-2.0 event for the template's handler.

Route matching follows API Gateway: the most specific route wins (literal segments before `{params}`),
`ANY` matches every method, and whatever no route matches goes to `$default` when the template declares it
(ours does: the health function answers a JSON 404/405), else API Gateway's own 404.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from qbsync_local.lambda_runtime import LocalFunction

from qbsync_local.logs import log

_TEXT_TYPES = ("application/json", "application/xml", "application/x-www-form-urlencoded",
               "application/cloudevents+json", "application/text")
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own request payload limit
_RESOLVER_LOCK = threading.Lock()


@dataclass(frozen=True)
class BoundRoute:
    method: str
    path: str
    function: LocalFunction
    pattern: re.Pattern[str] | None

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @property
    def specificity(self) -> tuple[int, int]:
        segments = self.path.strip("/").split("/")
        literal = sum(1 for segment in segments if not segment.startswith("{"))
        return (literal, len(segments))


def _compile(path: str) -> re.Pattern[str] | None:
    if path == "$default":
        return None
    regex = re.sub(r"\\\{([^}/]+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


def _is_text(content_type: str) -> bool:
    content_type = content_type.split(";")[0].strip().lower()
    return content_type.startswith("text/") or content_type in _TEXT_TYPES or content_type.endswith("+json")


def build_event(request: Request, route: BoundRoute, path_params: dict[str, str], body: bytes) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        # API Gateway joins repeated headers with commas in payload 2.0.
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookies = [f"{k}={v}" for k, v in request.cookies.items()]
    raw_query = request.query_string.decode("latin-1")
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    now = datetime.now(UTC)
    text = _is_text(headers.get("content-type", "")) if body else True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_params:
        event["pathParameters"] = path_params
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if text else base64.b64encode(body).decode()
    return event


def to_response(result: Any) -> Response:
    """Payload 2.0 response rules: a dict with statusCode is used as is; anything else is 200 JSON."""
    if not (isinstance(result, dict) and "statusCode" in result):
        import json

        return Response(json.dumps(result), status=200, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers.pop("Content-Type", None)
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response


def _json_error(status: int, message: str) -> Response:
    import json

    return Response(json.dumps({"message": message}), status=status, content_type="application/json")


class LocalHttpApi:
    def __init__(self, routes: list[BoundRoute]) -> None:
        self._routes = sorted(
            (r for r in routes if r.pattern is not None), key=lambda r: r.specificity, reverse=True
        )
        self._default = next((r for r in routes if r.pattern is None), None)
        self._server: BaseWSGIServer | None = None
        self.url = ""

    def match(self, method: str, path: str) -> tuple[BoundRoute | None, dict[str, str]]:
        for route in self._routes:
            found = route.pattern.match(path) if route.pattern else None
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return self._default, {}

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.monotonic()
        route, params = self.match(request.method, request.path)
        if route is None:
            response = _json_error(404, "Not Found")
        elif (request.content_length or 0) > MAX_PAYLOAD_BYTES:
            response = _json_error(413, "Request Entity Too Large")
        else:
            body = request.get_data(cache=False)
            try:
                # Powertools' resolvers keep the current event on a class attribute (shared by every router
                # in the process). In Lambda each process serves one request; here all API functions share
                # one process, so API requests run one at a time, or a QBO webhook's event could be read by
                # a concurrent management call.
                with _RESOLVER_LOCK:
                    result = route.function.invoke(build_event(request, route, params, body))
                response = to_response(result)
            except Exception:  # a crashed handler is API Gateway's 500, as in AWS
                log.exception("handler %s crashed", route.function.spec.logical_id)
                response = _json_error(500, "Internal Server Error")
        log.info("api %s %s → %s %s in %.0f ms", request.method, request.path,
                 route.function.spec.logical_id if route else "-", response.status_code,
                 (time.monotonic() - started) * 1000)
        return response(environ, start_response)

    def start(self, port: int) -> "LocalHttpApi":
        import threading

        self._server = make_server("127.0.0.1", port, self.wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


def bind_routes(functions: list[LocalFunction]) -> list[BoundRoute]:
    return [
        BoundRoute(route.method, route.path, function, _compile(route.path))
        for function in functions
        for route in function.spec.routes
    ]
