"""`/_emulator/...`: inspect and steer the emulator over HTTP (unsigned: dev only, bound to 127.0.0.1)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from crm_emulator.faults import FaultPlan
from crm_emulator.state import EmulatorState
from qbsync.utils.jsonio import dumps

control_api = Blueprint("crm_emulator_control", __name__)


def _state() -> EmulatorState:
    return current_app.extensions["crm_emulator_state"]


def _json(status: int, body: object) -> Response:
    return Response(dumps(body), status=status, mimetype="application/json")


@control_api.get("/health")
def health() -> Response:
    return _json(200, {"ok": True})


@control_api.get("/state")
def dump_state() -> Response:
    return _json(200, _state().dump())


@control_api.get("/calls")
def calls() -> Response:
    return _json(200, {"calls": _state().calls()})


@control_api.get("/counters")
def counters() -> Response:
    return _json(200, _state().counters())


@control_api.get("/tenants/<tenant_id>")
def tenant(tenant_id: str) -> Response:
    return _json(200, _state().tenant_dump(tenant_id))


@control_api.get("/faults")
def get_faults() -> Response:
    state = _state()
    with state.lock:
        return _json(200, state.faults.describe())


@control_api.put("/faults")
def set_faults() -> Response:
    options = request.get_json(silent=True)
    if not isinstance(options, dict):
        return _json(400, {"error": {"code": "bad_request", "message": "send a JSON object"}})
    allowed = {"status", "rate", "retry_after", "count", "seed"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        return _json(400, {"error": {"code": "bad_request", "message": f"unknown options: {unknown}"}})
    try:
        plan = FaultPlan.build(**options)
    except (TypeError, ValueError) as error:
        return _json(400, {"error": {"code": "bad_request", "message": str(error)}})
    state = _state()
    with state.lock:
        state.faults = plan
        return _json(200, plan.describe())


@control_api.delete("/faults")
def clear_faults() -> Response:
    state = _state()
    with state.lock:
        state.faults = FaultPlan()
        return _json(200, state.faults.describe())


@control_api.post("/reset")
def reset() -> Response:
    _state().reset()
    return _json(200, {"reset": True})
