"""The API-key-protected tenant API: disconnect, settings, status, sync, failures, redrive, invoice actions."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from aws_lambda_powertools.event_handler import Response

from qbsync import composition
from qbsync.api.management import json_body, public_base_url, require_api_key, tenant_realm
from qbsync.api.not_implemented import not_implemented
from qbsync.api.resolver import build_resolver, json_response
from qbsync.composition import connect_flow
from qbsync.errors import BadRequestError
from qbsync.models.identifiers import is_crm_id, is_qbo_id
from qbsync.sync import invoice_actions
from qbsync.sync.invoice_actions import InvoiceTarget
from qbsync.observability import logger

app = build_resolver()
app.use(middlewares=[require_api_key])


@app.post("/tenants/<tenant_id>/disconnect")
def disconnect(tenant_id: str):
    realm_id = json_body(app, optional=True).get("realm_id")
    if realm_id is not None and not (isinstance(realm_id, str) and is_qbo_id(realm_id)):
        raise BadRequestError("realm_id must be a QuickBooks company id", code="invalid_realm_id")
    flow = connect_flow(f"{public_base_url(app)}/oauth/callback")
    disconnected = flow.disconnect(tenant_id, realm_id)
    return json_response(200, {"tenant_id": tenant_id, "disconnected": disconnected})


@app.get("/tenants/<tenant_id>/settings")
def get_settings_route(tenant_id: str):
    not_implemented("F18 tenant settings")


@app.put("/tenants/<tenant_id>/settings")
def put_settings_route(tenant_id: str):
    not_implemented("F18 tenant settings")


@app.get("/tenants/<tenant_id>/status")
def status(tenant_id: str):
    not_implemented("F20 tenant status")


@app.post("/tenants/<tenant_id>/sync")
def sync_now(tenant_id: str):
    not_implemented("F19 sync now / dry run")


@app.get("/tenants/<tenant_id>/failures")
def list_failures(tenant_id: str):
    not_implemented("F21 failures")


@app.post("/tenants/<tenant_id>/failures/redrive")
def redrive_failures(tenant_id: str):
    not_implemented("F21 redrive")


def _invoice_target(tenant_id: str, crm_invoice_id: str) -> InvoiceTarget:
    if not is_crm_id(crm_invoice_id):
        raise BadRequestError("crm_invoice_id is malformed", code="invalid_crm_id")
    return InvoiceTarget(tenant_id, tenant_realm(app, tenant_id), crm_invoice_id)


def _qbo(target: InvoiceTarget):
    return composition.qbo_client(target.tenant_id, target.realm_id, lifecycle=composition.token_lifecycle())


@app.post("/tenants/<tenant_id>/invoices/<crm_invoice_id>/send")
def send_invoice(tenant_id: str, crm_invoice_id: str):
    target = _invoice_target(tenant_id, crm_invoice_id)
    send_to = json_body(app, optional=True).get("email")
    if send_to is not None and (not isinstance(send_to, str) or "@" not in send_to or len(send_to) > 100):
        raise BadRequestError("email must be an e-mail address", code="invalid_email")
    result = invoice_actions.send_invoice(_qbo(target), composition.mappings_repository(), target, send_to=send_to,
                                          idempotency_key=app.current_event.headers.get("idempotency-key"))
    return json_response(200, result)


@app.get("/tenants/<tenant_id>/invoices/<crm_invoice_id>/pdf")
def invoice_pdf(tenant_id: str, crm_invoice_id: str):
    target = _invoice_target(tenant_id, crm_invoice_id)
    qbo_id, pdf = invoice_actions.invoice_pdf(_qbo(target), composition.mappings_repository(), target)
    return Response(status_code=200, content_type="application/pdf", body=pdf,
                    headers={"Content-Disposition": f'inline; filename="invoice-{qbo_id}.pdf"'})


@app.post("/tenants/<tenant_id>/invoices/<crm_invoice_id>/link")
def link_invoice(tenant_id: str, crm_invoice_id: str):
    target = _invoice_target(tenant_id, crm_invoice_id)
    body = json_body(app)
    qbo_invoice_id, doc_number = body.get("qbo_invoice_id"), body.get("doc_number")
    for name, value in (("qbo_invoice_id", qbo_invoice_id), ("doc_number", doc_number)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 40):
            raise BadRequestError(f"{name} must be a non-empty string", code="invalid_link_request")
    result = invoice_actions.link_invoice(_qbo(target), composition.mappings_repository(), target,
                                          qbo_invoice_id=qbo_invoice_id, doc_number=doc_number)
    return json_response(200, result)


@app.delete("/tenants/<tenant_id>/links/<object_type>/<crm_id>")
def unlink(tenant_id: str, object_type: str, crm_id: str):
    if not is_crm_id(crm_id):
        raise BadRequestError("crm_id is malformed", code="invalid_crm_id")
    invoice_actions.unlink(composition.mappings_repository(), tenant_id=tenant_id,
                           realm_id=tenant_realm(app, tenant_id), object_type=object_type, crm_id=crm_id)
    return Response(status_code=204, content_type="application/json", body="")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
