"""A small router for API Gateway HTTP API (payload format 2.0) events: requests, responses, routes.

Why not Powertools' event handler: importing `aws_lambda_powertools.event_handler` loads AppSync, Bedrock,
VPC Lattice, every event data class and asyncio (~30 ms of CPU on every cold start, issue 8's cold-start
figure, bench/README.md), and qbsync's API functions use a sliver of it: method + path routing with `<name>`
segments, exception handlers, a 404 hook, global middlewares and JSON/HTML/binary responses. This module
does exactly that, with the same names and the same rules (a `<name>` segment matches the characters
Powertools allows; static routes are tried before dynamic ones; a bytes body goes out base64-encoded;
headers come case-insensitive), so handlers read like Powertools handlers.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qbsync.utils.jsonio import dumps

APPLICATION_JSON = "application/json"
TEXT_HTML = "text/html"
# RFC 3986 unreserved and sub-delimiter characters plus those API Gateway passes through percent-encoded:
# what Powertools' `<name>` segments match, so path parameters are parsed as they always were.
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PARAMETER = re.compile(r"<(\w+)>")


class CaseInsensitiveDict(dict):
    """Request headers: HTTP header names are case-insensitive, whatever case the caller sent."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        super().__init__({key.lower(): value for key, value in (data or {}).items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    domain_name: str
    stage: str


class HttpRequest:
    """The HTTP API event, read the way handlers need it (names as in Powertools' APIGatewayProxyEventV2)."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.raw_event = event
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        self.request_context = RequestContext(request_id=str(context.get("requestId") or ""),
                                              domain_name=str(context.get("domainName") or ""),
                                              stage=str(context.get("stage") or "$default"))
        self.http_method: str = str(http.get("method") or "GET").upper()
        self.raw_path: str = str(event.get("rawPath") or http.get("path") or "/")
        self.headers = CaseInsensitiveDict(event.get("headers"))
        self.query_string_parameters: dict[str, str] = dict(event.get("queryStringParameters") or {})
        self.body: str | None = event.get("body")
        self.is_base64_encoded = bool(event.get("isBase64Encoded"))
        self.path_parameters: dict[str, str] = dict(event.get("pathParameters") or {})

    @property
    def path(self) -> str:
        """The path without a named stage's prefix (`$default` has none)."""
        stage = self.request_context.stage
        if stage != "$default" and self.raw_path.startswith(f"/{stage}"):
            return self.raw_path[len(stage) + 1:] or "/"
        return self.raw_path

    @property
    def decoded_body(self) -> str | None:
        if self.body is None or not self.is_base64_encoded:
            return self.body
        return base64.b64decode(self.body).decode("utf-8")

    def raw_body(self) -> bytes:
        """The body exactly as sent (signatures are computed over these bytes)."""
        if not self.body:
            return b""
        return base64.b64decode(self.body) if self.is_base64_encoded else self.body.encode("utf-8")


class Response:
    """An HTTP answer. A `bytes` body is sent base64-encoded (API Gateway decodes it for the client)."""

    def __init__(self, status_code: int, content_type: str | None = None, body: str | bytes | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status_code = int(status_code)
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def to_lambda(self) -> dict[str, Any]:
        body, encoded = self.body, False
        if isinstance(body, bytes):
            body, encoded = base64.b64encode(body).decode("ascii"), True
        return {"statusCode": self.status_code, "body": body if body is not None else "",
                "isBase64Encoded": encoded,
                "headers": {name: value for name, value in self.headers.items() if value is not None},
                "cookies": []}


class NotFoundError(Exception):
    """No route serves this method and path (the router's 404 hook receives it)."""


RouteFunction = Callable[..., Response]
NextMiddleware = Callable[["HttpRouter"], Response]
Middleware = Callable[["HttpRouter", NextMiddleware], Response]


@dataclass
class _Route:
    method: str
    rule: str
    pattern: re.Pattern[str]
    function: RouteFunction
    dynamic: bool


@dataclass
class HttpRouter:
    """Routes an HTTP API event to the function registered for its method and path."""

    routes: list[_Route] = field(default_factory=list)
    exception_handlers: dict[type[BaseException], Callable[[Any], Response]] = field(default_factory=dict)
    middlewares: list[Middleware] = field(default_factory=list)
    current_event: HttpRequest = field(init=False)
    lambda_context: Any = field(init=False, default=None)

    # ------------------------------------------------------------------------------------ registration
    def route(self, rule: str, method: str) -> Callable[[RouteFunction], RouteFunction]:
        def register(function: RouteFunction) -> RouteFunction:
            literal_parts = _PARAMETER.split(rule)  # even indexes: literal text; odd: parameter names
            regex = "".join(f"(?P<{part}>{_SEGMENT})" if index % 2 else re.escape(part)
                            for index, part in enumerate(literal_parts))
            self.routes.append(_Route(method.upper(), rule, re.compile(f"^{regex}$"), function,
                                      dynamic=bool(_PARAMETER.search(rule))))
            # Static routes first, as Powertools does: `/x/new` wins over `/x/<id>` whatever the order.
            self.routes.sort(key=lambda route: route.dynamic)
            return function

        return register

    def get(self, rule: str) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "POST")

    def put(self, rule: str) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "PUT")

    def delete(self, rule: str) -> Callable[[RouteFunction], RouteFunction]:
        return self.route(rule, "DELETE")

    def exception_handler(self, exception_type: type[BaseException]) -> Callable[[Callable], Callable]:
        def register(function: Callable[[Any], Response]) -> Callable[[Any], Response]:
            self.exception_handlers[exception_type] = function
            return function

        return register

    def not_found(self, function: Callable[[NotFoundError], Response]) -> Callable[[NotFoundError], Response]:
        return self.exception_handler(NotFoundError)(function)

    def use(self, middlewares: list[Middleware]) -> None:
        self.middlewares.extend(middlewares)

    # ------------------------------------------------------------------------------------------ serving
    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self.current_event = HttpRequest(event)
        self.lambda_context = context
        try:
            response = self._dispatch()
        except Exception as error:  # noqa: BLE001 - every error becomes an answer (or goes up when unhandled)
            handler = self._handler_for(error)
            if handler is None:
                raise
            response = handler(error)
        return response.to_lambda()

    def _dispatch(self) -> Response:
        request = self.current_event
        path = request.path
        for route in self.routes:
            if route.method != request.http_method:
                continue
            match = route.pattern.match(path)
            if match:
                arguments = match.groupdict()
                request.path_parameters = {**request.path_parameters, **arguments}
                return self._through_middlewares(lambda _: route.function(**arguments))
        return self._through_middlewares(lambda _: self._not_found())

    def _not_found(self) -> Response:
        handler = self.exception_handlers.get(NotFoundError)
        if handler is None:
            return Response(404, APPLICATION_JSON, dumps({"statusCode": 404, "message": "Not found"}))
        return handler(NotFoundError())

    def _through_middlewares(self, innermost: Callable[[HttpRouter], Response]) -> Response:
        """Each middleware gets the router and the next step: `middleware(app, next_middleware)`."""

        def step(index: int) -> Callable[[HttpRouter], Response]:
            if index == len(self.middlewares):
                return innermost
            return lambda app: self.middlewares[index](app, step(index + 1))

        return step(0)(self)

    def _handler_for(self, error: BaseException) -> Callable[[Any], Response] | None:
        """The handler registered for the error's class or its nearest base class."""
        for kind in type(error).__mro__:
            if kind in self.exception_handlers:
                return self.exception_handlers[kind]
        return None
