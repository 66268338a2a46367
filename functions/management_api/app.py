"""The API-key-protected tenant API: disconnect, settings, status, sync, failures, redrive, invoice actions."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from qbsync.api.management import json_body, public_base_url, require_api_key
from qbsync.api.not_implemented import not_implemented
from qbsync.api.resolver import build_resolver, json_response
from qbsync.composition import connect_flow
from qbsync.errors import BadRequestError
from qbsync.models.identifiers import is_qbo_id
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


@app.post("/tenants/<tenant_id>/invoices/<crm_invoice_id>/send")
def send_invoice(tenant_id: str, crm_invoice_id: str):
    not_implemented("F17 send invoice")


@app.get("/tenants/<tenant_id>/invoices/<crm_invoice_id>/pdf")
def invoice_pdf(tenant_id: str, crm_invoice_id: str):
    not_implemented("F17 invoice PDF")


@app.post("/tenants/<tenant_id>/invoices/<crm_invoice_id>/link")
def link_invoice(tenant_id: str, crm_invoice_id: str):
    not_implemented("F17 link invoice")


@app.delete("/tenants/<tenant_id>/links/<object_type>/<crm_id>")
def unlink(tenant_id: str, object_type: str, crm_id: str):
    not_implemented("unlink")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
