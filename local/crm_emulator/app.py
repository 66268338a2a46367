"""The emulator's WSGI app: every contract call goes through the same checks, in this order.

1. injected fault (429/5xx with Retry-After), as a gateway in front of the CRM would answer;
2. Standard Webhooks signature under the outbound secret(s), 5-minute tolerance → 401;
3. `Idempotency-Key` present and 1-255 printable ASCII → else 400;
4. a key seen before: same method, path and body → the first answer replayed (`Idempotent-Replayed:
   true`); anything different → 409;
5. JSON body → else 400; the `qbsync.models.crm_api` model → else 422 naming the field;
6. the route's handler; its answer is stored under the key.
Faults, 401, 400, 409 and 422 answers are not stored under the key (as Stripe does): the caller may
retry them with the same key once it has fixed the cause.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from flask import Flask, Response, request
from pydantic import ValidationError

from crm_emulator.contract import ROUTES, ContractRoute
from crm_emulator.control_api import control_api
from crm_emulator.state import EmulatorState, StoredAnswer
from qbsync.signatures.standard_webhooks import WebhookVerificationError, verify
from qbsync.utils.jsonio import dumps

MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def json_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def _fingerprint(method: str, path: str, raw: bytes) -> str:
    # Same JSON document = same body, whatever its key order or whitespace.
    try:
        canonical = json.dumps(json.loads(raw, parse_float=Decimal), sort_keys=True, default=str).encode()
    except ValueError:
        canonical = raw
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


class ContractPipeline:
    def __init__(self, state: EmulatorState, secrets: Sequence[str], tolerance_seconds: int) -> None:
        self.state = state
        self.secrets = list(secrets)
        self.tolerance_seconds = tolerance_seconds

    def handle(self, route: ContractRoute, ids: dict[str, str]) -> Response:
        state = self.state
        raw = request.get_data(cache=True)
        with state.lock:
            request_id = state.new_id("req")
            call: dict[str, Any] = {
                "request_id": request_id, "method": request.method, "path": request.path, "route": route.name,
                "tenant_id": ids.get("tenant_id"), "idempotency_key": request.headers.get("Idempotency-Key"),
                "webhook_id": request.headers.get("webhook-id"), "replayed": False, "fault": False,
                "error_code": None, "body": _parsed_or_none(raw), "at": time.time(),
            }
            state.counts["calls"] += 1
            state.by_route[route.name] += 1
            status, body, headers = self._answer(route, ids, raw, call)
            call["status"] = status
            state.call_log.append(call)
            return json_answer(status, body, {"X-Request-Id": request_id, **headers})

    def _answer(self, route: ContractRoute, ids: dict[str, str], raw: bytes,
                call: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        state = self.state

        fault_status = state.faults.draw()
        if fault_status is not None:
            state.counts["faults"] += 1
            call["fault"] = True
            call["error_code"] = "emulated_fault"
            headers = {}
            if state.faults.retry_after is not None:
                headers["Retry-After"] = str(state.faults.retry_after)
            return fault_status, error_body("emulated_fault", "fault injected by the CRM emulator"), headers

        try:
            verify(self.secrets, request.headers, raw, tolerance_seconds=self.tolerance_seconds)
        except WebhookVerificationError as error:
            state.counts["rejected_signature"] += 1
            call["error_code"] = error.code
            return 401, error_body(error.code, error.message), {}
        webhook_id = request.headers["webhook-id"]
        if webhook_id in state.seen_webhook_ids:
            # Not refused (the contract does not say so) but counted: a retry must get a fresh webhook-id.
            state.counts["duplicate_webhook_ids"] += 1
        state.seen_webhook_ids.add(webhook_id)

        key = request.headers.get("Idempotency-Key")
        if not key:
            call["error_code"] = "missing_idempotency_key"
            message = "every call needs an Idempotency-Key header"
            return 400, error_body("missing_idempotency_key", message), {}
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isascii() or not key.isprintable():
            call["error_code"] = "invalid_idempotency_key"
            message = "Idempotency-Key must be 1-255 printable ASCII"
            return 400, error_body("invalid_idempotency_key", message), {}

        fingerprint = _fingerprint(request.method, request.path, raw)
        stored = state.answers.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                state.counts["conflicts"] += 1
                call["error_code"] = "idempotency_key_reused"
                return 409, error_body("idempotency_key_reused",
                                       "this Idempotency-Key was used with a different request"), {}
            state.counts["replayed"] += 1
            call["replayed"] = True
            return stored.status, copy.deepcopy(stored.body), {"Idempotent-Replayed": "true"}

        try:
            document = json.loads(raw, parse_float=Decimal)
        except ValueError:
            call["error_code"] = "malformed_json"
            return 400, error_body("malformed_json", "the body is not JSON"), {}
        try:
            route.model.model_validate(document)
        except ValidationError as error:
            state.counts["invalid_bodies"] += 1
            first = error.errors(include_url=False, include_input=False, include_context=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or "(body)"
            call["error_code"] = "validation_failed"
            return 422, error_body("validation_failed", f"{field}: {first['msg']}", field=field), {}

        records = state.tenant(ids["tenant_id"])
        status, body = route.handler(state, records, ids, copy.deepcopy(document))
        state.answers[key] = StoredAnswer(fingerprint=fingerprint, status=status, body=copy.deepcopy(body))
        return status, body, {}


def _parsed_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal) if raw else None
    except ValueError:
        return None


def create_app(state: EmulatorState, outbound_secrets: Sequence[str], *,
               tolerance_seconds: int = 300) -> Flask:
    app = Flask("crm_emulator")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["crm_emulator_state"] = state
    pipeline = ContractPipeline(state, outbound_secrets, tolerance_seconds)

    for route in ROUTES:
        def view(_route: ContractRoute = route, **ids: str) -> Response:
            return pipeline.handle(_route, ids)

        app.add_url_rule(route.rule, endpoint=route.name, view_func=view, methods=[route.method])

    app.register_blueprint(control_api, url_prefix="/_emulator")

    @app.errorhandler(404)
    def _not_found(_error: Exception) -> Response:
        return json_answer(404, error_body("not_found", "no such route"))

    @app.errorhandler(405)
    def _method_not_allowed(_error: Exception) -> Response:
        return json_answer(405, error_body("method_not_allowed", "method not allowed on this route"))

    @app.errorhandler(413)
    def _too_large(_error: Exception) -> Response:
        message = f"bodies are limited to {MAX_BODY_BYTES} bytes"
        return json_answer(413, error_body("payload_too_large", message))

    return app
