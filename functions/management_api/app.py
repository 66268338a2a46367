"""The API-key-protected tenant API: disconnect, settings, status, sync, failures, redrive, invoice actions.

The OpenAPI document, the dry run and the invoice actions (which need the QBO client) are imported by their
routes: a request uses one route, and importing them all made this the slowest cold start (bench/).
"""

from typing import TYPE_CHECKING

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync import composition
from qbsync.api.http import Response
from qbsync.api.log_context import request_log_keys
from qbsync.api.management import json_body, public_base_url, require_api_key, tenant_realm
from qbsync.api.resolver import build_resolver, json_response
from qbsync.composition import connect_flow
from qbsync.errors import BadRequestError
from qbsync.models.field_errors import parse_model
from qbsync.models.identifiers import is_crm_id, is_qbo_id, is_single_email
from qbsync.models.management_api import FailuresAnswer, RedriveAnswer, RedriveRequest, SyncAccepted, SyncRequest
from qbsync.sync import failures, settings_document
from qbsync.sync.sync_now import sync_now
from qbsync.sync.tenant_status import status_of
from qbsync.sync.tenants import known_tenant
from qbsync.observability import logger, trace_handler

if TYPE_CHECKING:
    from qbsync.sync.invoice_actions import InvoiceTarget

app = build_resolver()
# Log keys first, so that even a refused request's lines carry its tenant and correlation id.
app.use(middlewares=[request_log_keys, require_api_key])


def _settings_answer(versioned) -> Response:  # noqa: ANN001 - a VersionedSettings
    return json_response(200, versioned.settings.model_dump(mode="json"),
                         headers={"ETag": versioned.etag, "Cache-Control": "no-store"})


def _query(name: str) -> str | None:
    return (app.current_event.query_string_parameters or {}).get(name)


def _realm_query() -> str | None:
    realm_id = _query("realm_id")
    if realm_id is not None and not is_qbo_id(realm_id):
        raise BadRequestError("realm_id must be a QuickBooks company id", code="invalid_realm_id")
    return realm_id


def _dry_run_flag() -> bool:
    value = (_query("dry_run") or "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise BadRequestError("dry_run must be true or false", code="invalid_dry_run")
    return value in ("true", "1")


def _remaining_seconds() -> float:
    return app.lambda_context.get_remaining_time_in_millis() / 1000


@app.post("/tenants/<tenant_id>/disconnect")
def disconnect(tenant_id: str):
    realm_id = json_body(app, optional=True, allowed_keys=frozenset({"realm_id"})).get("realm_id")
    if realm_id is not None and not (isinstance(realm_id, str) and is_qbo_id(realm_id)):
        raise BadRequestError("realm_id must be a QuickBooks company id", code="invalid_realm_id")
    flow = connect_flow(f"{public_base_url(app)}/oauth/callback")
    disconnected = flow.disconnect(tenant_id, realm_id)
    return json_response(200, {"tenant_id": tenant_id, "disconnected": disconnected})


@app.get("/tenants/<tenant_id>/settings")
def get_settings_route(tenant_id: str):
    return _settings_answer(settings_document.read_settings(
        tenant_id, connections=composition.connections_repository(),
        repository=composition.tenant_settings_repository()))


@app.put("/tenants/<tenant_id>/settings")
def put_settings_route(tenant_id: str):
    return _settings_answer(settings_document.replace_settings(
        tenant_id, json_body(app), if_match=app.current_event.headers.get("if-match"),
        connections=composition.connections_repository(), repository=composition.tenant_settings_repository()))


@app.get("/tenants/<tenant_id>/status")
def status(tenant_id: str):
    answer = status_of(tenant_id, connections=composition.connections_repository(),
                       stats=composition.sync_stats_repository(), poll_state=composition.sync_state_repository(),
                       list_failures=failures.list_failures)
    return json_response(200, answer.model_dump(mode="json"))


@app.post("/tenants/<tenant_id>/sync")
def sync_now_route(tenant_id: str):
    dry_run, realm_id = _dry_run_flag(), _realm_query()
    request = parse_model(SyncRequest, json_body(app, optional=True))
    connections = composition.connections_repository()
    companies = known_tenant(connections, tenant_id)
    if not dry_run:
        if request.event is not None or request.message_id is not None:
            raise BadRequestError("event and message_id are replayed with dry_run=true only", code="not_a_dry_run")
        enqueued = sync_now(tenant_id, companies=companies, sink=composition.poll_job_queue(), realm_id=realm_id)
        return json_response(202, SyncAccepted(enqueued=enqueued).model_dump(mode="json"))
    from qbsync.sync.dry_run.entry import dry_run_sync

    answer = dry_run_sync(
        tenant_id, request, realm_id=realm_id, companies=companies,
        default_realm_id=connections.default_realm(tenant_id),
        event_ports=composition.crm_event_replay_ports,
        poll_dependencies=lambda: composition.poll_dependencies(remaining_seconds=_remaining_seconds),
        find_dead_letter=lambda tenant, message_id: failures.find_dead_letter(tenant, message_id))
    return json_response(200, answer.model_dump(mode="json"))


@app.get("/tenants/<tenant_id>/failures")
def list_failures(tenant_id: str):
    known_tenant(composition.connections_repository(), tenant_id)
    return json_response(200, FailuresAnswer(failures=failures.list_failures(tenant_id)).model_dump(mode="json"))


@app.post("/tenants/<tenant_id>/failures/redrive")
def redrive_failures(tenant_id: str):
    request = parse_model(RedriveRequest, json_body(app, optional=True))
    known_tenant(composition.connections_repository(), tenant_id)
    result = failures.redrive_failures(tenant_id, request.message_ids)
    return json_response(200, RedriveAnswer(redriven=result.redriven, not_found=result.not_found,
                                            failed=result.failed).model_dump(mode="json"))


@app.get("/openapi.json")
def openapi_document():
    from qbsync.api import openapi

    return Response(status_code=200, content_type="application/json", body=openapi.openapi_json(),
                    headers={"Cache-Control": "public, max-age=300"})


@app.get("/docs")
def swagger_ui():
    from qbsync.api import openapi

    return Response(status_code=200, content_type="text/html; charset=utf-8", body=openapi.swagger_page(),
                    headers={"Cache-Control": "public, max-age=300"})


def _invoice_target(tenant_id: str, crm_invoice_id: str) -> "InvoiceTarget":
    from qbsync.sync.invoice_actions import InvoiceTarget

    if not is_crm_id(crm_invoice_id):
        raise BadRequestError("crm_invoice_id is malformed", code="invalid_crm_id")
    return InvoiceTarget(tenant_id, tenant_realm(app, tenant_id), crm_invoice_id)


def _qbo(target: "InvoiceTarget"):
    return composition.qbo_client(target.tenant_id, target.realm_id, lifecycle=composition.token_lifecycle())


@app.post("/tenants/<tenant_id>/invoices/<crm_invoice_id>/send")
def send_invoice(tenant_id: str, crm_invoice_id: str):
    target = _invoice_target(tenant_id, crm_invoice_id)
    send_to = json_body(app, optional=True, allowed_keys=frozenset({"email"})).get("email")
    if send_to is not None and not (isinstance(send_to, str) and is_single_email(send_to)):
        # One plain address: no list, no display name, no CR/LF that could smuggle a header (Bcc:).
        raise BadRequestError("email must be one e-mail address", code="invalid_email")
    from qbsync.sync import invoice_actions

    result = invoice_actions.send_invoice(_qbo(target), composition.mappings_repository(), target, send_to=send_to,
                                          idempotency_key=app.current_event.headers.get("idempotency-key"))
    return json_response(200, result)


@app.get("/tenants/<tenant_id>/invoices/<crm_invoice_id>/pdf")
def invoice_pdf(tenant_id: str, crm_invoice_id: str):
    from qbsync.sync import invoice_actions

    target = _invoice_target(tenant_id, crm_invoice_id)
    qbo_id, pdf = invoice_actions.invoice_pdf(_qbo(target), composition.mappings_repository(), target)
    return Response(status_code=200, content_type="application/pdf", body=pdf,
                    headers={"Content-Disposition": f'inline; filename="invoice-{qbo_id}.pdf"'})


@app.post("/tenants/<tenant_id>/invoices/<crm_invoice_id>/link")
def link_invoice(tenant_id: str, crm_invoice_id: str):
    target = _invoice_target(tenant_id, crm_invoice_id)
    body = json_body(app, allowed_keys=frozenset({"qbo_invoice_id", "doc_number"}))
    qbo_invoice_id, doc_number = body.get("qbo_invoice_id"), body.get("doc_number")
    for name, value in (("qbo_invoice_id", qbo_invoice_id), ("doc_number", doc_number)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 40):
            raise BadRequestError(f"{name} must be a non-empty string", code="invalid_link_request")
    from qbsync.sync import invoice_actions

    result = invoice_actions.link_invoice(_qbo(target), composition.mappings_repository(), target,
                                          qbo_invoice_id=qbo_invoice_id, doc_number=doc_number)
    return json_response(200, result)


@app.delete("/tenants/<tenant_id>/links/<object_type>/<crm_id>")
def unlink(tenant_id: str, object_type: str, crm_id: str):
    if not is_crm_id(crm_id):
        raise BadRequestError("crm_id is malformed", code="invalid_crm_id")
    from qbsync.sync import invoice_actions

    invoice_actions.unlink(composition.mappings_repository(), tenant_id=tenant_id,
                           realm_id=tenant_realm(app, tenant_id), object_type=object_type, crm_id=crm_id)
    return Response(status_code=204, content_type="application/json", body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@trace_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
