"""The control API under /_emulator/...: the HTTP mirror of QboEmulator's Python methods, for the local
stack and for tests in other processes. Never counted, never throttled, no auth. JSON in and out;
errors as {"error": {"code", "message"}} (plus the QBO "Fault" when a user action broke a QBO rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from . import jsonio
from .errors import QboFault
from .responses import control_error, json_response

if TYPE_CHECKING:
    from .emulator import QboEmulator

_C = "/_emulator"
CONTROL_RULES = [
    Rule(f"{_C}/health", endpoint="control:health", methods=["GET"]),
    Rule(f"{_C}/companies", endpoint="control:companies", methods=["GET", "POST"]),
    Rule(f"{_C}/companies/<realm>", endpoint="control:company", methods=["GET", "PATCH"]),
    Rule(f"{_C}/companies/<realm>/merge-customers", endpoint="control:merge", methods=["POST"]),
    Rule(
        f"{_C}/companies/<realm>/exchange-rates",
        endpoint="control:exchange_rates",
        methods=["GET", "POST"],
    ),
    Rule(f"{_C}/companies/<realm>/<entity>", endpoint="control:entities", methods=["GET", "POST"]),
    Rule(
        f"{_C}/companies/<realm>/<entity>/<record_id>",
        endpoint="control:entity",
        methods=["GET", "POST", "DELETE"],
    ),
    Rule(f"{_C}/companies/<realm>/<entity>/<record_id>/void", endpoint="control:void", methods=["POST"]),
    Rule(f"{_C}/apps", endpoint="control:apps", methods=["GET", "POST"]),
    Rule(f"{_C}/faults", endpoint="control:faults", methods=["GET", "POST"]),
    Rule(f"{_C}/counters", endpoint="control:counters", methods=["GET"]),
    Rule(f"{_C}/counters/reset", endpoint="control:counters_reset", methods=["POST"]),
    Rule(f"{_C}/oauth", endpoint="control:oauth", methods=["GET", "POST"]),
    Rule(f"{_C}/consent", endpoint="control:consent", methods=["POST"]),
    Rule(f"{_C}/tokens", endpoint="control:tokens", methods=["POST"]),
    Rule(f"{_C}/tokens/expire", endpoint="control:tokens_expire", methods=["POST"]),
    Rule(f"{_C}/clock", endpoint="control:clock", methods=["GET"]),
    Rule(f"{_C}/clock/advance", endpoint="control:clock_advance", methods=["POST"]),
    Rule(f"{_C}/settings", endpoint="control:settings", methods=["GET", "POST"]),
    Rule(f"{_C}/webhooks", endpoint="control:webhooks", methods=["GET", "POST"]),
    Rule(f"{_C}/webhooks/send", endpoint="control:webhooks_send", methods=["POST"]),
    Rule(f"{_C}/webhooks/deliveries", endpoint="control:webhooks_deliveries", methods=["GET"]),
]


class ControlApi:
    def __init__(self, emu: QboEmulator) -> None:
        self.emu = emu

    def dispatch(self, endpoint: str, request: Request, args: dict[str, Any]) -> Response:
        handler: Callable[..., Any] = getattr(self, endpoint.split(":", 1)[1])
        try:
            body = jsonio.loads(request.get_data()) if request.get_data() else {}
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            result = handler(request, body, **args)
        except QboFault as fault:
            return control_error(400, fault.code, fault.detail, {"Fault": fault.fault()})
        except KeyError as exc:
            return control_error(404, "not_found", str(exc.args[0] if exc.args else exc))
        except (ValueError, TypeError, jsonio.MalformedJson) as exc:
            return control_error(400, "bad_request", str(exc))
        except Exception as exc:  # noqa: BLE001 - an emulator bug: answer 500 and keep the evidence
            self.emu.record_internal_error(f"{request.method} {request.full_path}", exc)
            return control_error(500, "internal", repr(exc))
        if isinstance(result, Response):
            return result
        return json_response(
            result,
            status=201
            if request.method == "POST"
            and endpoint in ("control:companies", "control:apps", "control:entities")
            else 200,
        )

    # ---- handlers (request, body, **path args) -> JSON-able ----------------------------------------
    def health(self, request: Request, body: dict[str, Any]) -> Any:
        return {"ok": True, "url": self.emu.url}

    def companies(self, request: Request, body: dict[str, Any]) -> Any:
        if request.method == "GET":
            return {"companies": [c.summary() for c in self.emu.companies.values()]}
        realm_id = self.emu.create_company(**body)
        return self.emu.companies[realm_id].summary()

    def company(self, request: Request, body: dict[str, Any], realm: str) -> Any:
        if request.method == "PATCH":
            self.emu.update_company(realm, **body)
        return self.emu.company(realm).summary()

    def merge(self, request: Request, body: dict[str, Any], realm: str) -> Any:
        return self.emu.user_merge_customers(realm, str(body["from_id"]), str(body["into_id"]))

    def exchange_rates(self, request: Request, body: dict[str, Any], realm: str) -> Any:
        """GET ?currency=EUR[&as_of=YYYY-MM-DD] reads; POST {"currency", "rate", "as_of"?} sets."""
        if request.method == "GET":
            return self.emu.exchange_rate(
                realm, request.args.get("currency", ""), request.args.get("as_of") or None
            )
        return self.emu.set_exchange_rate(
            realm, str(body["currency"]), body["rate"], body.get("as_of") or None
        )

    def entities(self, request: Request, body: dict[str, Any], realm: str, entity: str) -> Any:
        if request.method == "GET":
            return {"entities": self.emu.entities(realm, entity)}
        return self.emu.user_create(realm, entity, body)

    def entity(self, request: Request, body: dict[str, Any], realm: str, entity: str, record_id: str) -> Any:
        if request.method == "GET":
            found = self.emu.entity(realm, entity, record_id)
            if found is None:
                raise KeyError(f"no {entity} {record_id} in {realm}")
            return found
        if request.method == "DELETE":
            return self.emu.user_delete(realm, entity, record_id)
        return self.emu.user_update(realm, entity, {**body, "Id": record_id})

    def void(self, request: Request, body: dict[str, Any], realm: str, entity: str, record_id: str) -> Any:
        return self.emu.user_void(realm, entity, record_id)

    def apps(self, request: Request, body: dict[str, Any]) -> Any:
        if request.method == "GET":
            return {"apps": [app.public() for app in self.emu.oauth.apps.values()]}
        self.emu.register_app(**body)
        return self.emu.oauth.apps[body["client_id"]].public()

    def faults(self, request: Request, body: dict[str, Any]) -> Any:
        return self.emu.set_faults(**body) if request.method == "POST" else self.emu.faults.snapshot()

    def counters(self, request: Request, body: dict[str, Any]) -> Any:
        return self.emu.counters()

    def counters_reset(self, request: Request, body: dict[str, Any]) -> Any:
        self.emu.reset_counters()
        return self.emu.counters()

    def oauth(self, request: Request, body: dict[str, Any]) -> Any:
        return self.emu.set_oauth(**body)

    def consent(self, request: Request, body: dict[str, Any]) -> Any:
        self.emu.set_consent(**body)
        return {"ok": True}

    def tokens(self, request: Request, body: dict[str, Any]) -> Any:
        return self.emu.issue_tokens(str(body["client_id"]), str(body["realm_id"]))

    def tokens_expire(self, request: Request, body: dict[str, Any]) -> Any:
        return {"expired": self.emu.expire_access_tokens(body.get("realm_id"))}

    def clock(self, request: Request, body: dict[str, Any]) -> Any:
        return {"now": self.emu.clock.now().isoformat(), "epoch": self.emu.clock.time()}

    def clock_advance(self, request: Request, body: dict[str, Any]) -> Any:
        self.emu.clock.advance(float(body["seconds"]))
        return self.clock(request, body)

    def settings(self, request: Request, body: dict[str, Any]) -> Any:
        if request.method == "POST":
            self.emu.configure(**body)
        return dict(self.emu.settings)

    def webhooks(self, request: Request, body: dict[str, Any]) -> Any:
        if request.method == "POST":
            self.emu.set_webhooks(**body)
        return {"auto": self.emu.webhooks.auto, "pending": self.emu.webhooks.pending()}

    def webhooks_send(self, request: Request, body: dict[str, Any]) -> Any:
        return {"deliveries": self.emu.send_webhooks(body.get("realm_id"))}

    def webhooks_deliveries(self, request: Request, body: dict[str, Any]) -> Any:
        return {"deliveries": self.emu.webhook_deliveries()}
