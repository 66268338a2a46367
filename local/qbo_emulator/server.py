"""The WSGI application: routing, and the gateway in front of the accounting API.

For every counted request (everything but /_emulator/...): count it, then for /v3 calls check the bearer
token (401/403 in the gateway's lower-case shape), take a rate/in-flight slot (429 XML), add latency, maybe
inject a 500, run the handler, and for writes maybe commit-then-drop the answer. Every response carries
an intuit_tid header.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import oauth_http
from .api import AccountingApi
from .control import CONTROL_RULES, ControlApi
from .errors import GatewayError, QboFault, system_failure
from .responses import fault_response, gateway_response, json_response, new_tid, throttle_response

if TYPE_CHECKING:
    from .emulator import QboEmulator

_V3 = "/v3/company/<realm>"
API_RULES = [
    Rule(f"{_V3}/query", endpoint="query", methods=["GET", "POST"]),
    Rule(f"{_V3}/cdc", endpoint="cdc", methods=["GET"]),
    Rule(f"{_V3}/batch", endpoint="batch", methods=["POST"]),
    Rule(f"{_V3}/companyinfo/<record_id>", endpoint="company_info", methods=["GET"]),
    Rule(f"{_V3}/preferences", endpoint="preferences", methods=["GET"]),
    Rule(f"{_V3}/exchangerate", endpoint="exchange_rate", methods=["GET", "POST"]),
    Rule(f"{_V3}/<entity>", endpoint="write", methods=["POST"]),
    Rule(f"{_V3}/<entity>/<record_id>", endpoint="read", methods=["GET"]),
    Rule(f"{_V3}/<entity>/<record_id>/send", endpoint="send", methods=["POST"]),
    Rule(f"{_V3}/<entity>/<record_id>/pdf", endpoint="pdf", methods=["GET"]),
]
OAUTH_RULES = [
    Rule("/oauth2/authorize", endpoint="oauth:authorize", methods=["GET"]),
    Rule("/oauth2/v1/tokens/bearer", endpoint="oauth:token", methods=["POST"]),
    Rule("/v2/oauth2/tokens/revoke", endpoint="oauth:revoke", methods=["POST"]),
    Rule("/.well-known/openid_configuration", endpoint="oauth:discovery", methods=["GET"]),
]


def _template(rule: Rule, args: dict[str, Any]) -> str:
    """'/v3/company/{realm}/invoice/{id}': the entity stays literal so counters say which one."""
    path = rule.rule.replace("<realm>", "{realm}").replace("<record_id>", "{id}")
    if "entity" in args:
        path = path.replace("<entity>", str(args["entity"]))
    return path


class EmulatorApp:
    def __init__(self, emu: QboEmulator) -> None:
        self.emu = emu
        self.api = AccountingApi(emu)
        self.control = ControlApi(emu)
        # Rule objects bind to one Map; every emulator instance gets unbound copies.
        self.url_map = Map(
            [r.empty() for r in (*API_RULES, *OAUTH_RULES, *CONTROL_RULES)], strict_slashes=False
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            rule, args = adapter.match(return_rule=True)
        except (NotFound, MethodNotAllowed) as exc:
            self.emu.stats.request(f"{request.method} <unmatched>")
            response: Response = json_response(
                {
                    "error": {
                        "code": "not_found",
                        "message": f"{request.method} {request.path}: {exc.description}",
                    }
                },
                status=exc.code or 404,
            )
            response.headers["intuit_tid"] = new_tid()
            return response(environ, start_response)
        except HTTPException as exc:  # pragma: no cover - routing redirects are disabled
            return exc(environ, start_response)
        endpoint = str(rule.endpoint)
        if endpoint.startswith("control:"):
            response = self.control.dispatch(endpoint, request, args)
        else:
            self.emu.stats.request(f"{request.method} {_template(rule, args)}")
            if endpoint.startswith("oauth:"):
                try:
                    response = getattr(oauth_http, endpoint.split(":", 1)[1])(self.emu, request)
                except Exception as exc:  # noqa: BLE001 - an emulator bug: answer 500, keep the evidence
                    self.emu.record_internal_error(f"{request.method} {request.full_path}", exc)
                    response = json_response(
                        {"error": "server_error", "error_description": repr(exc)}, status=500
                    )
            else:
                response = self._accounting(endpoint, request, args, environ)
            self.emu.stats.status(response.status_code)
        response.headers["intuit_tid"] = new_tid()
        response.headers.setdefault("QBO-Version", "1979.240")
        return response(environ, start_response)

    def _accounting(
        self, endpoint: str, request: Request, args: dict[str, Any], environ: dict[str, Any]
    ) -> Response:
        emu = self.emu
        realm_id = args.pop("realm")
        emu.stats.minorversion(request.args.get("minorversion"))  # any value accepted; < 75 means 75
        company = emu.companies.get(realm_id)
        try:
            emu.oauth.check_bearer(request.headers.get("Authorization"), realm_id)
        except GatewayError as error:
            return gateway_response(error, int(emu.clock.time() * 1000))
        assert company is not None  # a valid token always names an existing company
        now_text = company.response_time(emu.clock.now())
        if not emu.faults.admit(realm_id):
            emu.stats.event("throttled_429")
            return throttle_response(now_text)
        is_write = False
        try:
            settings = emu.faults.settings
            if settings.latency_ms:
                time.sleep(settings.latency_ms / 1000)  # real time: it exists to hold in-flight slots
            if emu.faults.roll(settings.error_rate_500):
                emu.stats.event("injected_500")
                return fault_response(system_failure(), now_text)
            response, is_write = getattr(self.api, endpoint)(request, company, **args)
        except QboFault as fault:
            return fault_response(fault, company.response_time(emu.clock.now()))
        except Exception as exc:  # noqa: BLE001 - an emulator bug: answer a SystemFault, keep the evidence
            emu.record_internal_error(f"{request.method} {request.full_path}", exc)
            return fault_response(system_failure(), now_text)
        finally:
            emu.faults.release(realm_id)
        if is_write and response.status_code < 300 and emu.faults.roll(emu.faults.settings.drop_answer_rate):
            return self._drop(environ)
        return response

    def _drop(self, environ: dict[str, Any]) -> Response:
        """The write is committed; now lose the answer so the client sees an uncertain outcome."""
        self.emu.stats.event("dropped_answers")
        sock = environ.get("werkzeug.socket")
        if self.emu.faults.settings.drop_mode == "close" and sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            # werkzeug treats a ConnectionError from the app as a dropped connection and writes nothing.
            raise ConnectionAbortedError("qbo emulator: answer dropped on purpose")
        return Response(
            "<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html"
        )


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


class ServerThread:
    """make_server(threaded=True) served from a daemon thread."""

    def __init__(self, host: str, port: int, app: EmulatorApp) -> None:
        self.server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler
        )
        # A short poll interval keeps stop() fast (shutdown waits for the next poll).
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="qbo-emulator-http",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
