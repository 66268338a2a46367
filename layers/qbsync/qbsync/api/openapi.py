"""The management API's OpenAPI 3.1 document (`GET /openapi.json`) and its Swagger UI page (`GET /docs`).

Built here from the pydantic models in `qbsync.models.management_api` and `qbsync.models.tenant_settings`,
rather than by Powertools' `enable_swagger`: Powertools derives request bodies only from parameters its own
validation injects, and our handlers validate bodies themselves (404 for an unknown tenant before 422,
If-Match before the write, every bad field named in our error format). The Swagger UI page is Powertools'
(`generate_swagger_html`) with the Swagger UI assets Powertools ships inside its package, inlined into the
page: nothing is loaded from a CDN, so the page works offline and under a strict CSP.

Both routes are public (no API key, no secret in them); "Authorize" in Swagger UI takes the API key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from qbsync.models import management_api as api
from qbsync.models.identifiers import CRM_ID_PATTERN, QBO_ID_PATTERN
from qbsync.models.tenant_settings import TenantSettings
from qbsync.utils.jsonio import dumps

TITLE = "qbsync management API"
VERSION = "1"
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    tag: str
    request: type[BaseModel] | None = None
    request_required: bool = True
    ok_status: int = 200
    ok: type[BaseModel] | str | None = None  # a model, "pdf", or None for an empty answer
    ok_description: str = "OK"
    errors: dict[int, str] = field(default_factory=dict)
    query: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    headers_in: tuple[tuple[str, str], ...] = ()
    headers_out: tuple[tuple[str, str], ...] = ()


_REALM_QUERY = ("realm_id", "One of the tenant's QBO companies (realm id); default: the tenant's default",
                {"type": "string", "pattern": QBO_ID_PATTERN})
_CRM_ID = {"type": "string", "pattern": CRM_ID_PATTERN}
_ETAG_OUT = (("ETag", 'The document\'s version, e.g. `"v3"`; send it back in If-Match'),)
_TENANT_404 = "`tenant_not_found`: the tenant never connected QuickBooks"

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/tenants/{tenant_id}/settings", "Read the tenant's settings", (
        "The whole settings document (F18). Never written yet: the defaults, with ETag `\"v0\"`."),
        "settings", ok=TenantSettings, headers_out=_ETAG_OUT, errors={404: _TENANT_404}),
    Operation("PUT", "/tenants/{tenant_id}/settings", "Replace the tenant's settings", (
        "Replaces the whole document (keys left out take their defaults; unknown keys are refused). Send "
        "`If-Match` with the ETag you read: a stale one is refused with 412, so two admins never overwrite "
        "each other. Without If-Match the document is replaced whatever its version (the last write wins). "
        "`default_realm_id` must be a connected company of the tenant; it becomes the company events "
        "without a realm_id go to. May be written before the tenant's first connect (e.g. to turn "
        "`backfill_on_connect` off before that import starts)."),
        "settings", request=TenantSettings, ok=TenantSettings, headers_out=_ETAG_OUT,
        headers_in=(("If-Match", 'The ETag from GET (e.g. `"v3"`), or `*`'),),
        errors={412: "`precondition_failed`: the settings changed since that ETag",
                422: "`validation_failed`: `details.fields` names each bad field"}),
    Operation("GET", "/tenants/{tenant_id}/status", "The tenant's sync health", (
        "Each company's connection state, last successful poll, lag and backfill progress; counts by object "
        "and outcome (synced, skipped by reason, failed by reason); the latest dead-lettered failures."),
        "status", ok=api.StatusAnswer, errors={404: _TENANT_404}),
    Operation("POST", "/tenants/{tenant_id}/sync", "Sync now, or dry-run a sync", (
        "Without `dry_run`: queues a poll of QBO for every connected company (or `realm_id`) and answers 202. "
        "With `dry_run=true`: answers 200 with every write the sync would make to QBO and the CRM, and writes "
        "nothing. The body picks what is dry-run: `{\"event\": <CRM envelope>}` (apply a CRM event), "
        "`{\"message_id\": \"...\"}` (replay a dead-lettered CRM event), or no body (a poll of one company)."),
        "sync", request=api.SyncRequest, request_required=False, ok_status=202, ok=api.SyncAccepted,
        ok_description="Queued (without dry_run)",
        query=(("dry_run", "true: show what would be written, write nothing (answers 200 DryRunAnswer)",
                {"type": "boolean", "default": False}), _REALM_QUERY),
        errors={200: "DryRunAnswer (with dry_run=true)", 404: _TENANT_404,
                409: "`not_connected`: no connected company to poll",
                422: "`validation_failed` (body)"}),
    Operation("GET", "/tenants/{tenant_id}/failures", "The tenant's dead-lettered messages", (
        "Both dead-letter queues, this tenant's messages only, newest first, with the reason each failed. "
        "SQS shows at most the first 10 messages of each message group (one invoice's events) until those "
        "are redriven."),
        "failures", ok=api.FailuresAnswer, errors={404: _TENANT_404}),
    Operation("POST", "/tenants/{tenant_id}/failures/redrive", "Redrive dead-lettered messages", (
        "Moves the named messages (`message_ids`: DLQ message ids or original ids) or, with `{}`, all of the "
        "tenant's, back to their queue with their message group. Safe to repeat: a message applied once is "
        "not applied again (the worker is idempotent on business keys). Fix the cause first."),
        "failures", request=api.RedriveRequest, request_required=False, ok=api.RedriveAnswer,
        errors={404: f"{_TENANT_404}; or `failures_not_found`: none of the named ids is this tenant's",
                422: "`validation_failed` (body)"}),
    Operation("POST", "/tenants/{tenant_id}/disconnect", "Disconnect QuickBooks", (
        "Revokes the tokens at Intuit, deletes them, stops syncing and tells the CRM. `realm_id` picks one "
        "company; without it every company of the tenant is disconnected."),
        "connection", request=api.DisconnectRequest, request_required=False, ok=api.DisconnectAnswer,
        errors={404: "`connection_not_found`"}),
    Operation("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/send", "E-mail the invoice from QBO",
              "Repeating the same request with the same `Idempotency-Key` does not send it twice.", "invoices",
              request=api.SendInvoiceRequest, request_required=False, ok=api.SendInvoiceAnswer,
              query=(_REALM_QUERY,), headers_in=(("Idempotency-Key", "Makes a retried request send once"),),
              errors={404: "`invoice_not_linked`"}),
    Operation("GET", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/pdf", "The invoice's PDF from QBO", "",
              "invoices", ok="pdf", query=(_REALM_QUERY,), errors={404: "`invoice_not_linked`"}),
    Operation("POST", "/tenants/{tenant_id}/invoices/{crm_invoice_id}/link", "Link an existing QBO invoice",
              "By `qbo_invoice_id` or `doc_number` (exactly one).", "invoices", request=api.LinkInvoiceRequest,
              ok=api.LinkInvoiceAnswer, query=(_REALM_QUERY,),
              errors={404: "`qbo_invoice_not_found`", 409: "`qbo_invoice_linked`, `crm_invoice_linked`, "
                                                            "`doc_number_ambiguous`"}),
    Operation("DELETE", "/tenants/{tenant_id}/links/{object}/{crm_id}", "Unlink a CRM record from QBO",
              "The next event for the record matches afresh.", "invoices", ok_status=204, ok=None,
              ok_description="Unlinked", query=(_REALM_QUERY,), errors={404: "`link_not_found`"}),
)

_PATH_PARAMETERS = {
    "tenant_id": ("The CRM's id of the tenant", _CRM_ID),
    "crm_invoice_id": ("The CRM invoice id", _CRM_ID),
    "crm_id": ("The CRM record id", _CRM_ID),
    "object": ("What kind of record", {"type": "string", "enum": ["customers", "items", "invoices", "sales_receipts"]}),
}


def _schemas() -> tuple[dict[Any, Any], dict[str, Any]]:
    inputs = {op.request for op in OPERATIONS if op.request is not None}
    outputs = {op.ok for op in OPERATIONS if isinstance(op.ok, type)} | {api.ErrorBody, api.DryRunAnswer}
    models = [(model, "validation") for model in inputs] + [(model, "serialization") for model in outputs]
    refs, document = models_json_schema(sorted(models, key=lambda pair: (pair[0].__name__, pair[1])),
                                        ref_template=_REF)
    return refs, document.get("$defs", {})


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    names = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    parameters = [{"name": name, "in": "path", "required": True, "description": _PATH_PARAMETERS[name][0],
                   "schema": _PATH_PARAMETERS[name][1]} for name in names]
    parameters += [{"name": name, "in": "query", "required": False, "description": text, "schema": schema}
                   for name, text, schema in op.query]
    parameters += [{"name": name, "in": "header", "required": False, "description": text,
                    "schema": {"type": "string"}} for name, text in op.headers_in]
    ok: dict[str, Any] = {"description": op.ok_description}
    if op.ok == "pdf":
        ok["content"] = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
    elif isinstance(op.ok, type):
        ok["content"] = _json(refs[(op.ok, "serialization")])
    if op.headers_out:
        ok["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in op.headers_out}
    error = _json(refs[(api.ErrorBody, "serialization")])
    responses: dict[str, Any] = {str(op.ok_status): ok}
    for status, text in {401: "`missing_api_key` or `invalid_api_key`", 400: "malformed request",
                         **op.errors, 500: "`internal_error` with a correlation id"}.items():
        if status == 200 and op.ok_status != 200:
            responses["200"] = {"description": text, "content": _json(refs[(api.DryRunAnswer, "serialization")])}
            continue
        responses[str(status)] = {"description": text, "content": error}
    operation: dict[str, Any] = {
        "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
        "summary": op.summary, "tags": [op.tag], "parameters": parameters,
        "responses": dict(sorted(responses.items())),
    }
    if op.description:
        operation["description"] = op.description
    if op.request is not None:
        operation["requestBody"] = {"required": op.request_required,
                                    "content": _json(refs[(op.request, "validation")])}
    return operation


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    refs, schemas = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": (
            "The CRM backend's and operators' API (SPEC F17-F21). Every route takes "
            "`Authorization: Bearer <api key>`. Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}`. "
            "Money is a decimal string.")},
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "The management API key (README, \"Secrets\")"}},
        },
    }


@lru_cache(maxsize=1)
def openapi_json() -> str:
    return dumps(openapi_document())


@lru_cache(maxsize=1)
def swagger_page() -> str:
    from pathlib import Path

    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    return generate_swagger_html(
        openapi_json().replace("</", "<\\/"),  # the spec is inlined in a <script>: never let it close the tag
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "", None, persist_authorization=False,
    )
