"""The outbound REST contract as the CRM implements it: one handler per SPEC route.

A handler gets the tenant's records, the path ids and the request's JSON as received, and returns
(status, answer body). Signature, Idempotency-Key and validation against the route's model happen
before (see `app.py`); a handler only applies the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from crm_emulator.state import EmulatorState, TenantRecords
from qbsync.models import crm_api

Ids = dict[str, str]  # the path's ids: tenant_id, crm_invoice_id, deal_id, qbo_invoice_id
Body = dict[str, Any]  # the request's JSON, already validated against the route's model
Answer = tuple[int, dict[str, Any]]
Handler = Callable[[EmulatorState, TenantRecords, Ids, Body], Answer]


@dataclass(frozen=True)
class ContractRoute:
    name: str  # "POST /tenants/{t}/contacts/batch-upsert": the key of counters()["by_route"]
    method: str
    rule: str  # Flask URL rule
    model: type[BaseModel]
    handler: Handler


def _batch_upsert(records: dict[tuple[str, str], dict[str, Any]], items: list[dict[str, Any]],
                  qbo_key: str, crm_key: str, state: EmulatorState, id_prefix: str) -> Answer:
    results = []
    for index, item in enumerate(items):
        key = (item["realm_id"], item[qbo_key])
        existing = records.get(key)
        crm_id = existing[crm_key] if existing else state.new_id(id_prefix)
        # An upsert of an archived record restores it: QBO says it exists (and whether it is active).
        records[key] = {**item, crm_key: crm_id, "archived": False}
        results.append({"index": index, "qbo_id": item[qbo_key], crm_key: crm_id,
                        "created": existing is None})
    return 200, {"results": results}


def _batch_delete(records: dict[tuple[str, str], dict[str, Any]], mode: str, items: list[dict[str, Any]],
                  qbo_key: str, crm_key: str) -> Answer:
    results = []
    for index, item in enumerate(items):
        key = (item["realm_id"], item[qbo_key])
        existing = records.get(key)
        if existing is None:
            results.append({"index": index, "status": "not_found", crm_key: None})
        elif mode == "delete":
            del records[key]
            results.append({"index": index, "status": "deleted", crm_key: existing[crm_key]})
        else:
            existing["archived"] = True
            results.append({"index": index, "status": "archived", crm_key: existing[crm_key]})
    return 200, {"results": results}


def upsert_contacts(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    return _batch_upsert(records.contacts, body["contacts"], "qbo_customer_id", "crm_contact_id", state,
                         "crm_contact")


def delete_contacts(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    return _batch_delete(records.contacts, body["mode"], body["contacts"], "qbo_customer_id",
                         "crm_contact_id")


def upsert_products(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    return _batch_upsert(records.products, body["products"], "qbo_item_id", "crm_product_id", state,
                         "crm_product")


def delete_products(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    return _batch_delete(records.products, body["mode"], body["products"], "qbo_item_id", "crm_product_id")


def put_invoice_accounting(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    records.invoice_accounting[ids["crm_invoice_id"]] = body
    return 200, {}


def put_deal_accounting(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    records.deal_accounting[ids["deal_id"]] = body
    return 200, {}


def put_qbo_invoice(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    key = (body["realm_id"], ids["qbo_invoice_id"])
    existing = records.qbo_invoices.get(key)
    crm_record_id = existing["crm_record_id"] if existing else state.new_id("crm_qbo_invoice")
    records.qbo_invoices[key] = {**body, "qbo_invoice_id": ids["qbo_invoice_id"],
                                 "crm_record_id": crm_record_id}
    return 200, {"crm_record_id": crm_record_id}


def create_review_request(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    review_id = state.new_id("crm_review")
    records.review_requests.append({**body, "id": review_id})
    return 201, {"id": review_id}


def put_connection(state: EmulatorState, records: TenantRecords, ids: Ids, body: Body) -> Answer:
    records.connection_updates.append(body)
    return 200, {}


ROUTES: tuple[ContractRoute, ...] = (
    ContractRoute("POST /tenants/{t}/contacts/batch-upsert", "POST",
                  "/tenants/<tenant_id>/contacts/batch-upsert", crm_api.ContactsBatchUpsert, upsert_contacts),
    ContractRoute("POST /tenants/{t}/contacts/batch-delete", "POST",
                  "/tenants/<tenant_id>/contacts/batch-delete", crm_api.ContactsBatchDelete, delete_contacts),
    ContractRoute("POST /tenants/{t}/products/batch-upsert", "POST",
                  "/tenants/<tenant_id>/products/batch-upsert", crm_api.ProductsBatchUpsert, upsert_products),
    ContractRoute("POST /tenants/{t}/products/batch-delete", "POST",
                  "/tenants/<tenant_id>/products/batch-delete", crm_api.ProductsBatchDelete, delete_products),
    ContractRoute("PUT /tenants/{t}/invoices/{crm_invoice_id}/accounting", "PUT",
                  "/tenants/<tenant_id>/invoices/<crm_invoice_id>/accounting", crm_api.InvoiceAccounting,
                  put_invoice_accounting),
    ContractRoute("PUT /tenants/{t}/deals/{deal_id}/accounting", "PUT",
                  "/tenants/<tenant_id>/deals/<deal_id>/accounting", crm_api.DealAccounting,
                  put_deal_accounting),
    ContractRoute("PUT /tenants/{t}/qbo-invoices/{qbo_invoice_id}", "PUT",
                  "/tenants/<tenant_id>/qbo-invoices/<qbo_invoice_id>", crm_api.QboInvoice, put_qbo_invoice),
    ContractRoute("POST /tenants/{t}/review-requests", "POST",
                  "/tenants/<tenant_id>/review-requests", crm_api.ReviewRequest, create_review_request),
    ContractRoute("PUT /tenants/{t}/connection", "PUT",
                  "/tenants/<tenant_id>/connection", crm_api.ConnectionUpdate, put_connection),
)
